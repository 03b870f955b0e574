#!/usr/bin/env bash
# Device-resident QR 16384 × 32×32 fwd+bwd against its GPU time (issue 8 item 5), one command on
# the GPU machine:   source .gpu/enter.sh && bash bench/run-resident.sh OUTDIR [--quick]
set -uo pipefail
out=${1:?usage: run-resident.sh OUTDIR [--quick]}
shift
DIST=${DIST:-dist}
mkdir -p "$out"
{ date -u +%Y-%m-%dT%H:%M:%SZ; nvidia-smi --query-gpu=name,driver_version --format=csv 2>&1; } >"$out/resident-env.txt"
timeout "${NODE_TIMEOUT:-300}" node "$DIST/bench/resident.js" --json "$out/resident.json" "$@" 2>&1 | grep -v 'artificially reduced' | tee "$out/resident.log"
exit "${PIPESTATUS[0]}"
