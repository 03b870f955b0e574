#!/usr/bin/env bash
# The CPU benchmark in one go (issue 11): matc (bench/cpu.ts), then PyTorch and numpy on the same
# inputs with OpenBLAS as installed and with OPENBLAS_CORETYPE=SkylakeX (Debian's 0.3.21 misdetects
# this machine's CPU and runs ~5x slow), then the table (bench/compare-cpu.ts). Raw JSON under
# bench/raw/. Needs Debian's python3-torch and python3-numpy (/usr/bin/python3). Debian's torch
# loads libblas.so.3, which is netlib's reference BLAS unless OpenBLAS is installed; OPENBLAS_DIR
# (a directory holding OpenBLAS's libblas.so.3 and liblapack.so.3, e.g. Debian's
# libopenblas0-pthread unpacked with `apt-get download` + `dpkg-deb -x`) is put first on
# LD_LIBRARY_PATH for the peers. Each peer JSON lists the BLAS libraries its process mapped.
#   [OPENBLAS_DIR=…] [STAMP=…] bash bench/run-cpu.sh [--quick] [--only qr,ied]
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json
stamp=${STAMP:-$(date +%Y-%m-%d)}
ld=(); [ -n "${OPENBLAS_DIR:-}" ] && ld=(env "LD_LIBRARY_PATH=$OPENBLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
out=bench/raw
mkdir -p "$out/cpu-inputs"
node dist/bench/cpu.js --out "$out/cpu-inputs" --json "$out/cpu-matc-$stamp.json" "$@"
${ld[@]+"${ld[@]}"} /usr/bin/python3 bench/torch_cpu.py "$out/cpu-matc-$stamp.json" --json "$out/cpu-torch-$stamp.json"
OPENBLAS_CORETYPE=SkylakeX ${ld[@]+"${ld[@]}"} /usr/bin/python3 bench/torch_cpu.py "$out/cpu-matc-$stamp.json" --json "$out/cpu-torch-skylakex-$stamp.json"
node dist/bench/compare-cpu.js "$out/cpu-matc-$stamp.json" "$out/cpu-torch-$stamp.json" "$out/cpu-torch-skylakex-$stamp.json"
rm -rf "$out/cpu-inputs"
