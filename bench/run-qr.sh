#!/usr/bin/env bash
# QR benchmarks of matc (Dawn/Vulkan) and PyTorch (CUDA) in one command on the GPU machine:
#   source .gpu/enter.sh && bash bench/run-qr.sh OUTDIR [--quick]
set -uo pipefail
out=${1:?usage: run-qr.sh OUTDIR [--quick]}
shift
DIST=${DIST:-dist}
mkdir -p "$out"
status=0
{ date -u +%Y-%m-%dT%H:%M:%SZ; nvidia-smi --query-gpu=name,driver_version --format=csv 2>&1; } >"$out/qr-env.txt"
echo "== matc qr"
timeout "${NODE_TIMEOUT:-240}" node "$DIST/bench/qr.js" --stdlib stdlib --json "$out/qr-matc.json" "$@" 2>&1 | grep -v 'artificially reduced' | tee "$out/qr-matc.log" || status=$?
echo "== PyTorch qr"
PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-120}" python3 bench/torch_qr.py --json "$out/qr-torch.json" "$@" >/dev/null 2> >(tee "$out/qr-torch.log" >&2) || status=$?
sleep 1
exit $status
