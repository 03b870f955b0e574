#!/usr/bin/env node
// The bundled build (esbuild), run by `npm run build` after tsc:
//
//   dist/vendor/chevrotain.js   tsc's re-export of the package (vendor/chevrotain.ts) replaced by
//                               one bundled module: chevrotain's entry is ~640 modules (lodash-es)
//                               that take ~0.4 s to load
//   dist/bundle/                the CLI (matc.js), the library (index.js), the runtime of compiled
//                               modules (runtime.js) and the CPU worker (worker.js), as ES modules
//                               with shared chunks: `matc --help` loads in < 0.1 s, the compiler in
//                               < 0.3 s. One build, so the library and the runtime share one copy
//                               of every class (Tensor, the error types); those also recognise
//                               each other's instances across copies (Symbol.hasInstance brands).
//
// The unbundled dist/ stays what the tests import. `webgpu` (a native addon) stays external.
import { build } from 'esbuild';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const common = { bundle: true, format: 'esm', platform: 'node', target: 'node20', logLevel: 'warning' };
await build({ ...common, entryPoints: [join(root, 'vendor/chevrotain.ts')], outfile: join(root, 'dist/vendor/chevrotain.js') });
await build({
  ...common,
  entryPoints: {
    matc: join(root, 'dist/cli/matc.js'),
    index: join(root, 'dist/index.js'),
    runtime: join(root, 'dist/runtime/aot/index.js'),
    // runtime/cpu/threads.ts starts workers from './worker.js' next to itself
    worker: join(root, 'dist/runtime/cpu/worker.js'),
  },
  outdir: join(root, 'dist/bundle'),
  splitting: true,
  external: ['webgpu'],
  chunkNames: 'chunk-[hash]',
});
