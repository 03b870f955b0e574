#!/usr/bin/env bash
# The SPD optimizer steps on the CPU (issue 15; no GPU needed): matc's compiled program on one
# thread in f64 (WebAssembly) and f32 (the JavaScript program: WebAssembly is f64 only)
# (bench/spd.ts --backend cpu) against PyTorch on one thread
# (bench/torch_spd.py --cpu --threads 1, Debian's /usr/bin/python3) in f32 and f64, with OpenBLAS
# as installed and with OPENBLAS_CORETYPE=SkylakeX; then the markdown table of bench/RESULTS.md.
# Run it on a quiet machine: the 1-min load before each part is logged beside the raw JSON.
#   bash bench/run-spd-cpu.sh [SIZES (default 256,1024)] [BATCH (default 128)]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-256,1024}
batch=${2:-128}
stamp=$(date -u +%Y-%m-%d)
out=bench/raw
mkdir -p "$out"
PY=${PYTHON:-/usr/bin/python3}
cases=ingd,kfac,singd_diag,singd_block30
log="$out/spd-cpu-load-$stamp.txt"
: >"$log"
load() { echo "$1: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"; }
for prec in f64 f32; do
  load "matc wasm $prec"
  node dist/bench/spd.js --backend cpu --precision "$prec" --sizes "$sizes" --batch "$batch" --cases "$cases" \
    --reps 5 --budget-ms 15000 --json "$out/spd-cpu-matc-$prec-$stamp.json"
done
for blas in installed SkylakeX; do
  for dt in f32 f64; do
    load "torch $dt OpenBLAS $blas"
    f64=(); [ "$dt" = f64 ] && f64=(--f64)
    if [ "$blas" = SkylakeX ]; then export OPENBLAS_CORETYPE=SkylakeX; else unset OPENBLAS_CORETYPE; fi
    "$PY" bench/torch_spd.py --cpu --threads 1 "${f64[@]}" --sizes "$sizes" --batch "$batch" \
      --cases "$cases" --reps 5 --budget-s 15 --json "$out/spd-cpu-torch-$dt-$blas-$stamp.json" 2>/dev/null >/dev/null
  done
done
unset OPENBLAS_CORETYPE
load "end"
"$PY" - "$out" "$stamp" <<'EOF'
import json, sys
out, stamp = sys.argv[1], sys.argv[2]
J = lambda f: json.load(open(f'{out}/{f}'))
m = {p: J(f'spd-cpu-matc-{p}-{stamp}.json') for p in ('f64', 'f32')}
t = {(dt, b): J(f'spd-cpu-torch-{dt}-{b}-{stamp}.json') for dt in ('f32', 'f64') for b in ('installed', 'SkylakeX')}
def mrow(prec, case, p):
    for r in m[prec]['rows']:
        if r['case'] == case and r['p'] == p and 'error' not in r:
            return r
def trow(key, case, p):
    for r in t[key]['rows']:
        if r['case'] == case and r['p'] == p and 'error' not in r:
            return r
f = lambda x: '—' if x is None else (f'{x:.3g}' if x < 100 else f'{x:.0f}')
print('| case | p = d | step | matc f64 | matc f32 | torch f32 | torch f32 SkylakeX | torch f64 | torch f64 SkylakeX | best torch f32 / matc f32 | best torch f64 / matc f64 |')
print('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|')
for p in m['f64']['sizes']:
    for case in ('ingd', 'kfac', 'singd_diag', 'singd_block30'):
        for step, key in (('update', 'update'), ('plain', 'plain'), ('amortized (T = 10)', 'amortized')):
            a = mrow('f64', case, p); b = mrow('f32', case, p)
            ms = lambda r: None if r is None else (r['amortizedMs'] if key == 'amortized' else (r.get(key) or {}).get('wallMs'))
            tm = lambda r: None if r is None else r[f'{key}_ms']
            tt = [tm(trow(k, case, p)) for k in (('f32', 'installed'), ('f32', 'SkylakeX'), ('f64', 'installed'), ('f64', 'SkylakeX'))]
            b32 = min([x for x in tt[:2] if x is not None], default=None)
            b64 = min([x for x in tt[2:] if x is not None], default=None)
            r32 = f'{b32 / ms(b):.2f}×' if b32 and ms(b) else '—'
            r64 = f'{b64 / ms(a):.2f}×' if b64 and ms(a) else '—'
            print(f'| {case} | {p} | {step} | {f(ms(a))} | {f(ms(b))} | ' + ' | '.join(f(x) for x in tt) + f' | {r32} | {r64} |')
EOF
