#!/usr/bin/env bash
# Layer benchmarks (IED and LESS, forward and backward) of matc on Dawn/Vulkan and of PyTorch on
# CUDA in ONE command on the GPU machine, so the ratios come from the same GPU at the same clocks.
# From the project root, after building and `bash ../shared/device/pack.sh`:
#   source .gpu/enter.sh && bash bench/run-layers.sh OUTDIR [layers.js args, e.g. --quick]
# Environment: DIST (the compiled tree, default dist), STDLIB (default stdlib), NODE_TIMEOUT
# (default 150 s), TORCH_TIMEOUT (default 90 s).
# Writes OUTDIR/{matc.json,matc.log,cli.json,torch.json,torch.log,compare.md,env.txt} (7 files: the
# device tool brings back at most 8).
set -uo pipefail
out=${1:?usage: run-layers.sh OUTDIR [layers.js args]}
shift
DIST=${DIST:-dist}
STDLIB=${STDLIB:-stdlib}
mkdir -p "$out"
{
  date -u +%Y-%m-%dT%H:%M:%SZ
  [ -f "$DIST/REV" ] && cat "$DIST/REV"
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv 2>&1
  node --version
  python3 -c 'import torch; print("torch", torch.__version__)' 2>&1
} >"$out/env.txt"
status=0
quick=()
for a in "$@"; do [ "$a" = --quick ] && quick=(--quick); done

echo "== matc layers (node $DIST/bench/layers.js)"
timeout "${NODE_TIMEOUT:-150}" node "$DIST/bench/layers.js" --stdlib "$STDLIB" --json "$out/matc.json" "$@" 2>&1 \
  | grep -v 'artificially reduced' | tee "$out/matc.log" || status=$?

echo "== matc bench CLI sample"
timeout 25 node "$DIST/cli/matc.js" bench "$STDLIB/ied.mat" --fn ied --dims m=128 --batch 1024 --reps 5 --json \
  >"$out/cli.json" 2> >(grep -v 'artificially reduced' >>"$out/matc.log") || status=$?
cat "$out/cli.json"

echo "== PyTorch (python3 bench/torch_layers.py)"
PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-90}" python3 bench/torch_layers.py "${quick[@]}" --json "$out/torch.json" \
  --matc-json "$out/matc.json" >/dev/null 2> >(tee "$out/torch.log" >&2) || status=$?
sleep 1

echo "== side by side"
node "$DIST/bench/layers.js" compare "$out/matc.json" "$out/torch.json" --markdown "$out/compare.md" || status=$?
nvidia-smi --query-gpu=clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv >>"$out/env.txt" 2>&1
exit $status
