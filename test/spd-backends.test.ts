// stdlib/spd.mat's structured optimizers on every backend (issue 15): three steps (T = 2, so a step
// with and one without the factor update) of the generic singd at diagonal, lower and upper Toeplitz,
// a triangular rank-one-plus-diagonal class and dense, and if_shampoo at small
// sizes, on the reference interpreter, the compiled WASM and JS programs in f64 and f32 and WebGPU
// (lavapipe in CI), each against the compiled f64 WASM program (itself checked against singd's
// transcription in test/spd-singd.test.ts): 1e-12 in f64, 1e-4 (relative to max(1, |x|)) in f32.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import type { Backend } from '../runtime/backend.js';
import { Tensor } from '../runtime/tensor.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { rnd, threeSteps } from './util/spd.js';

after(releaseSharedGpu);

const mod = compile('import "spd.mat"', { path: 'spd-backends.mat' });

const [D, P, N] = [3, 5, 4];
interface Case {
  fn: string;
  hyper: Record<string, number>;
  inputs: (s: number) => Record<string, Tensor>;
  /** its WebGPU kernels take 25–75 s to compile cold on lavapipe (2 shared cores): on a software
   *  adapter only with MATC_GPU_LAYERS=1, as test/util/gpu-layers.ts */
  slowGpu?: boolean;
}
const layerInputs = (s: number): Record<string, Tensor> => ({
  G: new Tensor([D, P], rnd(10 + s, D * P)),
  a: new Tensor([N, P], rnd(20 + s, N * P, 2)),
  g: new Tensor([N, D], rnd(30 + s, N * D, 2)),
});
const hyper = { lr: 0.1, damping: 1e-3, lr_cov: 0.05, weight_decay: 0.01 };
const CASES: Case[] = [
  { fn: 'singd_dense', hyper, inputs: layerInputs, slowGpu: true },
  { fn: 'singd_diag', hyper: { ...hyper, normalize_lr_cov: 1 }, inputs: layerInputs },
  { fn: 'singd_triltoeplitz', hyper, inputs: layerInputs, slowGpu: true },
  { fn: 'singd_triutoeplitz', hyper: { ...hyper, kfac_like: 1 }, inputs: layerInputs, slowGpu: true },
  { fn: 'singd_tril_bottomright_diag', hyper, inputs: layerInputs, slowGpu: true },
  { fn: 'if_shampoo', hyper: { lr: 0.1, nbatch: 4 }, inputs: (s) => ({ G: new Tensor([D, P], rnd(10 + s, D * P)) }) },
];

const run = (c: Case, backend: Backend): Promise<Record<string, Float64Array>> => threeSteps(mod, c.fn, new Tensor([D, P], rnd(1, D * P)), c.inputs, c.hyper, backend);

test('structured SPD optimizers: interpreter, WASM/JS f64 and f32, WebGPU agree over three steps', async (t) => {
  const base = new CpuBackend({ engine: 'wasm', threads: 1 });
  const backends: [string, Backend, number][] = [
    ['reference', new CpuBackend({ reference: true }), 1e-12],
    ['js', new CpuBackend({ engine: 'js', threads: 1 }), 1e-12],
    ['wasm f32', new CpuBackend({ engine: 'wasm', precision: 'f32', threads: 1 }), 1e-4],
  ];
  const ctx = await gpuOrSkip(t);
  if (ctx) backends.push(['webgpu', new WebGpuBackend(ctx), 1e-4]);
  const software = ctx !== null && /llvmpipe|lavapipe|swiftshader|warp/i.test(ctx.describe()) && process.env.MATC_GPU_LAYERS !== '1';
  for (const c of CASES) {
    const want = await run(c, base);
    // the factors moved (the comparison is not of initial states)
    const moved = Object.entries(want).some(([k, v]) => k !== 'W' && k !== 't' && v.some((x) => x !== 0 && x !== 1));
    assert.ok(moved, `${c.fn}: the factor update ran`);
    for (const [name, backend, tol] of backends) {
      if (name === 'webgpu' && c.slowGpu && software) {
        console.log(`# ${c.fn} ${JSON.stringify(c.hyper)} on webgpu: skipped on a software adapter (MATC_GPU_LAYERS=1 runs it)`);
        continue;
      }
      const t0 = performance.now();
      const got = await run(c, backend);
      let worst = 0;
      for (const [k, v] of Object.entries(want)) {
        const g = got[k]!;
        assert.equal(g.length, v.length, `${c.fn} ${name} ${k}`);
        v.forEach((x, i) => (worst = Math.max(worst, Math.abs(g[i]! - x) / Math.max(1, Math.abs(x)))));
      }
      console.log(`# ${c.fn} ${JSON.stringify(c.hyper)} on ${name}: worst ${worst.toExponential(2)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      assert.ok(worst <= tol, `${c.fn} on ${name}: ${worst}`);
    }
  }
});
