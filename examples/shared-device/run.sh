#!/usr/bin/env bash
# Installs TF.js (core + WebGPU backend, pinned) into this folder, builds matc if needed, and runs
# the shared-device example. `webgpu` (Dawn) comes from matc's own node_modules.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
[ -f "$root/dist/api/module.js" ] || (cd "$root" && npm run build)
cd "$here"
[ -d node_modules/@tensorflow/tfjs-backend-webgpu ] || npm install --no-audit --no-fund --no-package-lock
[ -e node_modules/webgpu ] || ln -s "$root/node_modules/webgpu" node_modules/webgpu
node tfjs.mjs
