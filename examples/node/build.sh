#!/usr/bin/env bash
# The Node example, start to end: compile stdlib/less.mat to an ES module (examples/build.sh),
# type-check and compile main.ts against the module's generated .d.ts, run it.
#   bash examples/node/build.sh          WebGPU (Dawn, npm `webgpu`) when an adapter exists, else CPU
#   bash examples/node/build.sh --cpu    the CPU reference
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bash "$root/examples/build.sh"
"$root/node_modules/.bin/tsc" -p "$here/tsconfig.json"
XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}" node "$here/main.js" "$@"
