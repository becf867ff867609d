#!/usr/bin/env bash
# Makes sure the fault-injection tools of the chaos harness are installed: iproute2 (network
# namespaces), iptables (partitions, packet loss), faketime (clock offsets), fiu-utils (syscall
# errors) and e2fsprogs (loop-mounted disk images). Installs Debian's packages with apt-get when
# we are root; otherwise says exactly what to install.
set -euo pipefail
declare -A need=([ip]=iproute2 [iptables]=iptables [faketime]=faketime [fiu-run]=fiu-utils [mkfs.ext4]=e2fsprogs [losetup]=mount)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing the chaos harness's tools: ${missing[*]}" >&2
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "The chaos harness needs root and these Debian packages: sudo apt-get install ${missing[*]}" >&2
exit 1
