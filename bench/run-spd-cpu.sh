#!/usr/bin/env bash
# The SPD optimizer steps on the CPU (issue 15; no GPU needed): matc's compiled program on one
# thread in f64 (WebAssembly) and f32 (WebAssembly with f32 buffers, f64 arithmetic)
# (bench/spd.ts --backend cpu) against PyTorch on one thread
# (bench/torch_spd.py --cpu --threads 1, Debian's /usr/bin/python3) in f32 and f64: with the BLAS
# the system's libblas.so.3 alternative gives (on the development machine since 2026-12-07 the
# netlib reference BLAS: libopenblas is no longer installed), and with OpenBLAS from OPENBLAS_DIR
# (a directory holding OpenBLAS's libblas.so.3, put first on LD_LIBRARY_PATH; e.g. Debian's
# libopenblas0-pthread unpacked without installing it: `apt-get download libopenblas0-pthread &&
# dpkg-deb -x libopenblas0-pthread_*.deb DIR`, then DIR/usr/lib/x86_64-linux-gnu/openblas-pthread)
# as detected and with OPENBLAS_CORETYPE=SkylakeX; then the markdown table of bench/RESULTS.md.
# Run it on a quiet machine: the 1-min load before each part is logged beside the raw JSON.
# SKIP_MATC=1 reuses the day's matc JSON.
#   [OPENBLAS_DIR=…] bash bench/run-spd-cpu.sh [SIZES (default 256,1024)] [BATCH (default 128)]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-256,1024}
batch=${2:-128}
stamp=${STAMP:-$(date -u +%Y-%m-%d)}  # STAMP=… keeps an earlier run of the day
out=bench/raw
mkdir -p "$out"
PY=${PYTHON:-/usr/bin/python3}
cases=ingd,kfac,singd_diag,singd_block30
log="$out/spd-cpu-load-$stamp.txt"
: >"$log"
load() { echo "$1: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"; }
for prec in f64 f32; do
  [ -n "${SKIP_MATC:-}" ] && break
  load "matc wasm $prec"
  node dist/bench/spd.js --backend cpu --precision "$prec" --sizes "$sizes" --batch "$batch" --cases "$cases" \
    --reps 5 --budget-ms 15000 --json "$out/spd-cpu-matc-$prec-$stamp.json"
done
blases=(system)
[ -n "${OPENBLAS_DIR:-}" ] && blases+=(openblas openblas-SkylakeX)
for blas in "${blases[@]}"; do
  for dt in f32 f64; do
    [ "$blas" = system ] && [ "$dt" = f64 ] && [ -n "${OPENBLAS_DIR:-}" ] && continue
    load "torch $dt $blas"
    f64=(); [ "$dt" = f64 ] && f64=(--f64)
    ld=(); [ "$blas" != system ] && ld=(env "LD_LIBRARY_PATH=$OPENBLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
    if [ "$blas" = openblas-SkylakeX ]; then export OPENBLAS_CORETYPE=SkylakeX; else unset OPENBLAS_CORETYPE; fi
    "${ld[@]}" "$PY" bench/torch_spd.py --cpu --threads 1 "${f64[@]}" --sizes "$sizes" --batch "$batch" \
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
import os
t = {}
for dt in ('f32', 'f64'):
    for b in ('system', 'openblas', 'openblas-SkylakeX'):
        if os.path.exists(f'{out}/spd-cpu-torch-{dt}-{b}-{stamp}.json'):
            t[(dt, b)] = J(f'spd-cpu-torch-{dt}-{b}-{stamp}.json')
for k, v in t.items():
    print(f'<!-- torch {k}: BLAS {v.get("blas")} -->')
def mrow(prec, case, p):
    for r in m[prec]['rows']:
        if r['case'] == case and r['p'] == p and 'error' not in r:
            return r
def trow(key, case, p):
    for r in t.get(key, {'rows': []})['rows']:
        if r['case'] == case and r['p'] == p and 'error' not in r:
            return r
f = lambda x: '—' if x is None else (f'{x:.3g}' if x < 100 else f'{x:.0f}')
cols = [('f32', 'system'), ('f32', 'openblas'), ('f32', 'openblas-SkylakeX'), ('f64', 'system'), ('f64', 'openblas'), ('f64', 'openblas-SkylakeX')]
cols = [c for c in cols if c in t]
print('| case | p = d | step | matc f64 | matc f32 | ' + ' | '.join(f'torch {dt} {b}' for dt, b in cols) + ' | best torch f32 / matc f32 | best torch f64 / matc f64 |')
print('|---|---:|---|---:|---:|' + '---:|' * len(cols) + '---:|---:|')
for p in m['f64']['sizes']:
    for case in ('ingd', 'kfac', 'singd_diag', 'singd_block30'):
        for step, key in (('update', 'update'), ('plain', 'plain'), ('amortized (T = 10)', 'amortized')):
            a = mrow('f64', case, p); b = mrow('f32', case, p)
            ms = lambda r: None if r is None else (r['amortizedMs'] if key == 'amortized' else (r.get(key) or {}).get('wallMs'))
            tm = lambda r: None if r is None else r[f'{key}_ms']
            tt = [tm(trow(k, case, p)) for k in cols]
            b32 = min([x for k, x in zip(cols, tt) if x is not None and k[0] == 'f32'], default=None)
            b64 = min([x for k, x in zip(cols, tt) if x is not None and k[0] == 'f64'], default=None)
            r32 = f'{b32 / ms(b):.2f}×' if b32 and ms(b) else '—'
            r64 = f'{b64 / ms(a):.2f}×' if b64 and ms(a) else '—'
            print(f'| {case} | {p} | {step} | {f(ms(a))} | {f(ms(b))} | ' + ' | '.join(f(x) for x in tt) + f' | {r32} | {r64} |')
EOF
