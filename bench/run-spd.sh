#!/usr/bin/env bash
# Structured SPD optimizer steps (issue 15's targets) of matc on Dawn/Vulkan and of PyTorch on CUDA
# in ONE command on the GPU machine, so the ratios come from the same GPU at the same clocks. From
# the project root, after building and `bash ../shared/device/pack.sh`:
#   source .gpu/enter.sh && bash bench/run-spd.sh "$OUT" [--quick]
# (PYTHON=/usr/bin/python3 where the python3 on PATH has no torch, e.g. the development machine)
# Writes OUTDIR/{spd-env.txt, spd-matc.json, spd-matc.log, spd-torch.json, spd-torch.log,
# spd-torch-verify.json, spd-matc-f32buffers.json}: raw
# JSON of both sides (bench/spd.ts, bench/torch_spd.py; read them into bench/RESULTS.md).
#   matc:    INGD, KFAC, SINGD-diag, SINGD-block30 (and ingd_f16/kfac_f16 where the stdlib has them)
#            at p = d = 1024 and 4096, n = m = 128, state resident on the device, first a
#            correctness check of 4 chained steps at p = d = 256 against the CPU f64 reference.
#   PyTorch: the same steps as the same products in f32 (TF32 off) and f16, KFAC with
#            torch.linalg.inv, CUDA events.
# On lavapipe (no GPU), `--quick` runs p = d = 64, 128 with the check at both sizes (correctness
# only: the timings of a software adapter mean nothing).
set -uo pipefail
out=${1:?usage: run-spd.sh OUTDIR [--quick]}
shift
DIST=${DIST:-dist}
mkdir -p "$out"
quick=()
for a in "$@"; do [ "$a" = --quick ] && quick=(--quick); done
{
  date -u +%Y-%m-%dT%H:%M:%SZ
  [ -f "$DIST/REV" ] && cat "$DIST/REV"
  git rev-parse HEAD 2>/dev/null
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv 2>&1
  node --version
  "${PYTHON:-python3}" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1
} >"$out/spd-env.txt"
status=0
# PyTorch first: short, and its numbers survive a matc run cut off by the time limit
echo "== PyTorch (python3 bench/torch_spd.py)"
PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-150}" "${PYTHON:-python3}" bench/torch_spd.py "${quick[@]}" --json "$out/spd-torch.json" \
  >/dev/null 2> >(tee "$out/spd-torch.log" >&2) || status=$?
echo "== matc (node $DIST/bench/spd.js)"
# full run: the check at 256, then at most ~5 min of timing (the O(p³) cases past 60 s a step are
# skipped, predicted from p = 1024), within one device call of 10 min
full=()
[ ${#quick[@]} -eq 0 ] && full=(--check-sizes 256 --budget-ms 4000 --deadline-s 300 --skip-s 60)
timeout "${NODE_TIMEOUT:-420}" node "$DIST/bench/spd.js" "${full[@]}" --dump "$out/spd-check-inputs.json" --json "$out/spd-matc.json" "$@" 2>&1 \
  | grep -v 'artificially reduced' | tee "$out/spd-matc.log" || status=$?
# A/B of 16-bit storage (docs/language.md "16-bit storage"): the binary16 / bfloat16 instances
# again with f32 buffers (MATC_HALF_STORAGE=0); the ratio to spd-matc.json's rows of the same cases
# is the gain of holding their factors and statistics in 16 bits
echo "== matc with f32 buffers for the 16-bit cases (MATC_HALF_STORAGE=0)"
ab=(--cases ingd_f16,kfac_f16)
[ ${#quick[@]} -eq 0 ] && ab+=(--budget-ms 2000 --deadline-s 90 --skip-s 60)
MATC_HALF_STORAGE=0 timeout "${AB_TIMEOUT:-120}" node "$DIST/bench/spd.js" "${ab[@]}" --json "$out/spd-matc-f32buffers.json" "$@" 2>&1 \
  | grep -v 'artificially reduced' | tee "$out/spd-matc-f32buffers.log" || status=$?
# the PyTorch steps are the same update: matc's check inputs, 4 steps in f64, W against matc's f64 reference
echo "== PyTorch --verify (f64, CPU) against matc's CPU f64 reference"
timeout 60 "${PYTHON:-python3}" bench/torch_spd.py --verify "$out/spd-check-inputs.json" --json "$out/spd-torch-verify.json" \
  >/dev/null 2> >(tee "$out/spd-torch-verify.log" >&2) || status=$?
rm -f "$out/spd-check-inputs.json"
exit $status
