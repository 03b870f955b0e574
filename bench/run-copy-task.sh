#!/usr/bin/env bash
# The copy task (issue 13 item 4) on the GPU machine, matc (WebGPU through Dawn) beside PyTorch (CUDA),
# in one device call:
#   source .gpu/enter.sh && bash bench/run-copy-task.sh OUTDIR
# Both train the same orthogonal ReLU RNN with projected RMSprop (projUNN-T, LSI k = 1, lr 7e-4,
# lr_divider 32, batch 128, N = 190) at delay L; both write their curve as JSON and the mean wall
# time of a training step (forward, BPTT, projected update; matc's from step 2 on, after compiling
# the pipelines). The comparison SVG is drawn from the two JSON files. The environment picks the
# size: L (default 1000), N (190), STEPS (200: a timing run that fits one call; the reference's full
# run is STEPS=20000, five epochs of 4000 steps, far longer than one 10-minute call), EVAL (100).
# Issue 13's target: a training step faster than PyTorch's on the same GPU.
set -uo pipefail
out=${1:?usage: run-copy-task.sh OUTDIR}
DIST=${DIST:-dist}
L=${L:-1000}; N=${N:-190}; STEPS=${STEPS:-200}; EVAL=${EVAL:-100}
# BACKEND=cpu and TORCH_DEVICE= (empty) run both on the CPU (a local check of this script);
# OPT_BACKEND=cpu runs matc's optimizer steps on the host (the loss and BPTT stay on the GPU)
# (the default, OPT_BACKEND=cpu, is the form checked end to end on lavapipe; OPT_BACKEND=same puts
# the optimizer on WebGPU too, whose LSI/QR/expm kernels did not compile on lavapipe in 400 s)
BACKEND=${BACKEND:-webgpu}; OPT_BACKEND=${OPT_BACKEND:-cpu}; TORCH_DEVICE=${TORCH_DEVICE---cuda}; PYTHON=${PYTHON:-python3}
mkdir -p "$out"
status=0
{ date -u +%Y-%m-%dT%H:%M:%SZ; nvidia-smi --query-gpu=name,driver_version --format=csv 2>&1; } >"$out/copy-env.txt"
echo "== PyTorch copy task (${TORCH_DEVICE:-cpu}, f32)"
PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-240}" "$PYTHON" bench/torch_copy_task.py $TORCH_DEVICE --L "$L" --N "$N" --steps "$STEPS" \
  --eval-every "$EVAL" --json "$out/copy-torch.json" 2>&1 | tee "$out/copy-torch.log" || status=$?
echo "== matc copy task ($BACKEND, optimizer on $OPT_BACKEND)"
timeout "${NODE_TIMEOUT:-300}" node "$DIST/examples/copy-task/trainer.js" --backend "$BACKEND" --opt-backend "$OPT_BACKEND" --quiet --L "$L" --N "$N" \
  --steps "$STEPS" --eval-every "$EVAL" --out "$out/copy-matc" 2>&1 | grep -v 'artificially reduced' | tee "$out/copy-matc.log" || status=$?
if [ -f "$out/copy-matc.json" ]; then
  with=(); [ -f "$out/copy-torch.json" ] && with=(--with "$out/copy-torch.json")
  node "$DIST/examples/copy-task/trainer.js" --plot "$out/copy-matc.json" "${with[@]}" --out "$out/copy-L$L" || status=$?
fi
exit $status
