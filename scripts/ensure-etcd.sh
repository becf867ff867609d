#!/usr/bin/env bash
# Makes sure the etcd server binary is available: Debian's etcd-server package, installed
# with apt-get when we are root on a Debian-like system; otherwise says exactly what to run.
set -euo pipefail
if command -v etcd >/dev/null 2>&1; then exit 0; fi
echo "etcd not found; installing Debian's etcd-server package" >&2
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends etcd-server >/dev/null
  # The package may start a system etcd on 2379; Quire runs its own etcd as a child process.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
    systemctl stop etcd || true
    systemctl disable etcd || true
  fi
  command -v etcd >/dev/null && { echo "Installed $(etcd --version | head -1)" >&2; exit 0; }
fi
cat >&2 <<'MSG'
Quire needs the etcd server binary (3.4 or newer) on PATH.
  Debian/Ubuntu:  sudo apt-get install etcd-server
  Other systems:  install etcd from https://github.com/etcd-io/etcd/releases and put `etcd` on PATH
MSG
exit 1
