#!/usr/bin/env bash
# Compiles stdlib/less.mat into examples/build/less.js and less.d.ts, the module both examples
# import. `--runtime ./dist` makes the module import matc's runtime from this checkout's dist/ by a
# relative path (../../dist/runtime/aot/index.js) instead of the package `matc`, so it runs from
# here in Node and, served from the repository root, in a browser.
# Builds matc first when dist/ has no AOT runtime (MATC_REBUILD=1 forces it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ "${MATC_REBUILD:-0}" = 1 ] || [ ! -f dist/runtime/aot/index.js ] || [ ! -f dist/cli/matc.js ]; then
  npx tsc -p tsconfig.json
fi
node dist/cli/matc.js compile stdlib/less.mat -o examples/build --runtime ./dist
