#!/usr/bin/env bash
# Checks the protocol for breaking changes against the newest commit of main that already
# has this module (on main itself: the previous commit). A repository with no such commit
# (the first one) has nothing to break yet.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(git rev-parse --show-toplevel 2>/dev/null) || { echo "buf breaking: not a git checkout, skipped"; exit 0; }
rel=$(realpath --relative-to="$top" .)
branch=$(git -C "$top" rev-parse --abbrev-ref HEAD)
if [ "$branch" = main ]; then base_ref=HEAD~1; else base_ref=$(git -C "$top" merge-base HEAD main 2>/dev/null || echo HEAD~1); fi
if ! git -C "$top" cat-file -e "$base_ref:$rel/buf.yaml" 2>/dev/null; then
  echo "buf breaking: no earlier commit ($base_ref) has $rel/buf.yaml; nothing to compare"
  exit 0
fi
buf breaking --against "$top/.git#ref=$base_ref,subdir=$rel"
echo "buf breaking: no breaking changes against $base_ref"
