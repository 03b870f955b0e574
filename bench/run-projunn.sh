#!/usr/bin/env bash
# projUNN benchmarks of matc (Dawn/Vulkan) and PyTorch (CUDA) in one command on the GPU machine:
#   source .gpu/enter.sh && bash bench/run-projunn.sh OUTDIR [--quick]
# matc: one projunn_t / projunn_d step (k = 1, N = 1024 and 4096) on WebGPU; PyTorch: the reference
# algorithm, dense matrix_exp and SVD polar (bench/torch_projunn.py). Issue 13's targets: T ≥ 10×
# the reference (1.65 / 2.52 ms on an H100) and ≥ 50× dense matrix_exp (21.7 ms at 4096).
set -uo pipefail
out=${1:?usage: run-projunn.sh OUTDIR [--quick]}
shift
DIST=${DIST:-dist}
mkdir -p "$out"
status=0
{ date -u +%Y-%m-%dT%H:%M:%SZ; nvidia-smi --query-gpu=name,driver_version --format=csv 2>&1; } >"$out/projunn-env.txt"
echo "== matc projunn"
timeout "${NODE_TIMEOUT:-300}" node "$DIST/bench/projunn.js" --stdlib stdlib --json "$out/projunn-matc.json" "$@" 2>&1 | grep -v 'artificially reduced' | tee "$out/projunn-matc.log" || status=$?
echo "== PyTorch projunn"
PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-180}" python3 bench/torch_projunn.py --json "$out/projunn-torch.json" "$@" >/dev/null 2> >(tee "$out/projunn-torch.log" >&2) || status=$?
exit $status
