#!/usr/bin/env bash
# Runs matc's GPU benchmarks and the PyTorch reference in ONE command on the GPU machine and
# writes a side-by-side table (ratios from the same run, same GPU, same clocks).
# From the project root, after `npx tsc` and `bash ../shared/device/pack.sh` here:
#   source .gpu/enter.sh && bash bench/run-device.sh OUTDIR [gpu-bench args, e.g. --tune]
# Writes OUTDIR/{matc.json,matc.log,torch.json,torch.log,compare.md}.
set -euo pipefail
out=${1:?usage: run-device.sh OUTDIR [gpu-bench args]}
shift
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv >"$out/nvidia-smi.csv" 2>/dev/null || true
status=0
node dist/bench/gpu-bench.js --json "$out/matc.json" "$@" 2>&1 | grep -v 'artificially reduced' | tee "$out/matc.log" || status=$?
quick=()
for a in "$@"; do [ "$a" = --quick ] && quick=(--quick); done
PYTHONUNBUFFERED=1 python3 bench/torch_compare.py "${quick[@]}" --json "$out/torch.json" >/dev/null 2> >(tee "$out/torch.log" >&2) || status=$?
node dist/bench/compare.js "$out/matc.json" "$out/torch.json" --markdown "$out/compare.md"
# PACK_AB=1: the same matc run with the scratch liveness planning off (issue 8 item 2), to measure
# what sharing slots does to time (matc-unpacked.json beside matc.json, same run, same GPU)
if [ "${PACK_AB:-0}" = 1 ]; then
  MATC_PACK_SCRATCH=0 node dist/bench/gpu-bench.js --json "$out/matc-unpacked.json" "$@" 2>&1 | grep -v 'artificially reduced' >"$out/matc-unpacked.log" || status=$?
fi
exit $status
