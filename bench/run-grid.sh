#!/usr/bin/env bash
# The grid model's benchmarks (issue 8) in ONE command on the GPU machine, beside PyTorch on the
# same GPU: each case runs `matc bench --json` twice, on the grid model and on the instance model
# (MATC_SCHEDULE), then bench/torch_grid.py times what a PyTorch user would write.
# From the project root, after building and `bash ../shared/device/pack.sh`:
#   source .gpu/enter.sh && bash bench/run-grid.sh OUTDIR [--quick]
# --quick runs small sizes (a check of the script itself, e.g. on lavapipe).
# Writes OUTDIR/{env.txt,matc-grid.jsonl,matc-instance.jsonl,matc-gridlu0.jsonl,matc-gridqr0.jsonl,matc.log,torch.json,compare.md}.
set -uo pipefail
out=${1:?usage: run-grid.sh OUTDIR [--quick]}
shift
quick=0
for a in "$@"; do [ "$a" = --quick ] && quick=1; done
DIST=${DIST:-dist}
mkdir -p "$out"
{
  date -u +%Y-%m-%dT%H:%M:%SZ
  git rev-parse --short HEAD 2>/dev/null || cat "$DIST/REV" 2>/dev/null
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv 2>&1
} >"$out/env.txt"
echo 'fn f(A: mat[m, k], B: mat[k, n], C: mat[m, n]) -> mat[m, n] = A * B + C' >"$out/abc.mat"
echo 'fn f(A: mat[n, n], B: mat[n, k]) -> mat[n, k] = solve(A, B)' >"$out/solve.mat"
if [ $quick = 1 ]; then
  cases=("stdlib/qr.mat qr m=64,n=64 1" "$out/abc.mat f m=128,k=128,n=128 1" "stdlib/less.mat less m=64,n=32 2" "stdlib/ied.mat ied m=64 2")
  solve_cases=("$out/solve.mat f n=256,k=256 1" "$out/solve.mat f n=256,k=1 1")
else
  cases=("stdlib/qr.mat qr m=1024,n=1024 1" "stdlib/qr.mat qr m=4096,n=4096 1" "$out/abc.mat f m=4096,k=4096,n=4096 1"
         "stdlib/less.mat less m=1024,n=256 5" "stdlib/ied.mat ied m=1024 5" "stdlib/qr.mat qr m=1024,n=1024 8")
  solve_cases=("$out/solve.mat f n=1024,k=1024 1" "$out/solve.mat f n=4096,k=1 1" "$out/solve.mat f n=4096,k=4096 1")
fi
cases+=("${solve_cases[@]}")
status=0
for model in grid instance; do
  : >"$out/matc-$model.jsonl"
  for c in "${cases[@]}"; do
    set -- $c
    echo "== matc $model: $2 $3 batch $4" | tee -a "$out/matc.log"
    MATC_SCHEDULE=$model timeout "${NODE_TIMEOUT:-120}" node "$DIST/cli/matc.js" bench "$1" --fn "$2" --dims "$3" --batch "$4" \
      --backend webgpu --reps 5 --json 2>>"$out/matc.log" | tr -d '\n' >>"$out/matc-$model.jsonl" || { status=$?; echo "  (exit $status)" | tee -a "$out/matc.log"; }
    echo >>"$out/matc-$model.jsonl"
  done
done
# the routines' gains, same run: the solves again with the grid model's LU in one workgroup
# (MATC_GRID_LU=0), and QR with the unblocked loops (MATC_GRID_QR=0: one column per iteration)
if [ $quick = 1 ]; then qr0_cases=("stdlib/qr.mat qr m=64,n=64 1"); else qr0_cases=("stdlib/qr.mat qr m=1024,n=1024 1"); fi
for pass in "MATC_GRID_LU gridlu0 solve_cases" "MATC_GRID_QR gridqr0 qr0_cases"; do
  set -- $pass
  var=$1; file=$2; declare -n list=$3
  : >"$out/matc-$file.jsonl"
  for c in "${list[@]}"; do
    set -- $c
    echo "== matc grid, $var=0: $2 $3 batch $4" | tee -a "$out/matc.log"
    env MATC_SCHEDULE=grid "$var=0" timeout "${NODE_TIMEOUT:-120}" node "$DIST/cli/matc.js" bench "$1" --fn "$2" --dims "$3" --batch "$4" \
      --backend webgpu --reps 5 --json 2>>"$out/matc.log" | tr -d '\n' >>"$out/matc-$file.jsonl" || { status=$?; echo "  (exit $status)" | tee -a "$out/matc.log"; }
    echo >>"$out/matc-$file.jsonl"
  done
  unset -n list
done
qflag=(); [ $quick = 1 ] && qflag=(--quick)
PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-180}" python3 bench/torch_grid.py "${qflag[@]}" --json "$out/torch.json" 2>>"$out/matc.log" || status=$?
python3 bench/torch_grid.py --compare "$out" >"$out/compare.md" 2>>"$out/matc.log" || status=$?
cat "$out/compare.md"
exit $status
