#!/usr/bin/env bash
# Generates TypeScript from the .proto files into src/gen, unless nothing changed since the
# last generation (so incremental builds stay incremental).
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=src/gen/.stamp
if [ -f "$stamp" ] && [ -z "$(find quire buf.yaml buf.gen.yaml ../node_modules/ts-proto/package.json -newer "$stamp" 2>/dev/null | head -1)" ]; then
  exit 0
fi
rm -rf src/gen
buf generate
touch "$stamp"
