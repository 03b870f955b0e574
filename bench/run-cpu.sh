#!/usr/bin/env bash
# The CPU benchmark in one go (issue 11): matc (bench/cpu.ts), then PyTorch and numpy on the same
# inputs with OpenBLAS as installed and with OPENBLAS_CORETYPE=SkylakeX (Debian's 0.3.21 misdetects
# this machine's CPU and runs ~5x slow), then the table (bench/compare-cpu.ts). Raw JSON under
# bench/raw/. Needs Debian's python3-torch and python3-numpy (/usr/bin/python3).
#   bash bench/run-cpu.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json
stamp=$(date +%Y-%m-%d)
out=bench/raw
mkdir -p "$out/cpu-inputs"
node dist/bench/cpu.js --out "$out/cpu-inputs" --json "$out/cpu-matc-$stamp.json" "$@"
/usr/bin/python3 bench/torch_cpu.py "$out/cpu-matc-$stamp.json" --json "$out/cpu-torch-$stamp.json"
OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/torch_cpu.py "$out/cpu-matc-$stamp.json" --json "$out/cpu-torch-skylakex-$stamp.json"
node dist/bench/compare-cpu.js "$out/cpu-matc-$stamp.json" "$out/cpu-torch-$stamp.json" "$out/cpu-torch-skylakex-$stamp.json"
rm -rf "$out/cpu-inputs"
