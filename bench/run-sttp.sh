#!/usr/bin/env bash
# STTP benchmarks (issue 14 targets) of matc on Dawn/Vulkan and of PyTorch on CUDA in ONE command on
# the GPU machine, so the ratios come from the same GPU at the same clocks. From the project root,
# after building and `bash ../shared/device/pack.sh`:
#   source .gpu/enter.sh && bash bench/run-sttp.sh OUTDIR [--quick]
# Writes OUTDIR/{matc.json,matc.log,torch.json,torch.log,env.txt}. On lavapipe, --quick checks
# correctness only (the shapes are small and the timings of a software adapter mean nothing).
set -uo pipefail
out=${1:?usage: run-sttp.sh OUTDIR [--quick]}
shift
DIST=${DIST:-dist}
mkdir -p "$out"
{
  date -u +%Y-%m-%dT%H:%M:%SZ
  [ -f "$DIST/REV" ] && cat "$DIST/REV"
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv 2>&1
  node --version
  python3 -c 'import torch; print("torch", torch.__version__)' 2>&1
} >"$out/env.txt"
status=0
echo "== matc (node $DIST/bench/sttp.js)"
timeout "${NODE_TIMEOUT:-300}" node "$DIST/bench/sttp.js" --json "$out/matc.json" "$@" 2>&1 \
  | grep -v 'artificially reduced' | tee "$out/matc.log" || status=$?
echo "== PyTorch (python3 bench/torch_sttp.py)"
PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-120}" python3 bench/torch_sttp.py --json "$out/torch.json" "$@" \
  2>&1 | tee "$out/torch.log" || status=$?
exit $status
