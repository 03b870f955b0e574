// Backend parity: every IR op (through the small specs of parity-specs.ts) runs as a WGSL
// instance kernel on WebGPU (f32) and agrees with the CPU f64 reference, forward and backward,
// at random shapes and batch sizes; plus kernel edge cases (batch 1, a batch beyond one grid
// dimension is not needed to test 2-D grids: a tiny kernel over 70,000 instances is).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compile } from '../api/module.js';
import { Tensor } from '../runtime/tensor.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { paritySpecs } from './parity-specs.js';
import { checkParity } from './util/parity-check.js';
import { layerGpuOrSkip } from './util/gpu-layers.js';

after(releaseSharedGpu);

for (const s of paritySpecs) {
  test(`parity: ${s.name}`, async (t) => {
    const ctx = s.kernelCost === 'slow' ? await layerGpuOrSkip(t) : await gpuOrSkip(t);
    if (!ctx) return;
    const backend = new WebGpuBackend(ctx);
    const fn = compile(s.src, { path: `${s.name}.mat` }).fn(s.fn);
    // random dims around the spec's own and random batch sizes (fast-check, few runs: each run
    // compiles nothing new, kernels are shape-generic)
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 1000 }), async (grow, batch, seed) => {
        const dims: Record<string, number> = {};
        for (const [k, v] of Object.entries(s.dims)) dims[k] = v + grow;
        await checkParity(s, fn, backend, dims, batch, seed);
      }),
      { numRuns: 3, seed: 4242 },
    );
  });
}

test('kernel edge cases: batch 1, a 2-D grid (70,000 instances), an empty dimension, an empty batch refused', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const fn = compile('fn f(x: vec[n], s: real) -> vec[n] = s * x + 1', { path: 'edge.mat' }).fn('f');
  const one = await fn.forward({ x: new Tensor([3], [1, 2, 3]), s: new Tensor([], [2]) }, { backend });
  assert.deepEqual(Array.from(one.outputs.out!.data), [3, 5, 7]);
  const B = 70000;
  const x = new Tensor([B, 2], Float64Array.from({ length: 2 * B }, (_, i) => i % 97));
  const many = await fn.forward({ x, s: new Tensor([], [3]) }, { backend });
  for (let i = 0; i < 2 * B; i += 9973) assert.equal(many.outputs.out!.data[i], 3 * (i % 97) + 1, `instance ${i >> 1}`);
  assert.equal(many.outputs.out!.data[2 * B - 1], 3 * ((2 * B - 1) % 97) + 1, 'last instance (second grid row)');
  // issue 10: an empty dimension runs (an empty output); an empty batch has nothing to run
  const empty = await fn.forward({ x: new Tensor([0], []), s: new Tensor([], [1]) }, { backend });
  assert.deepEqual(empty.outputs.out!.shape, [0]);
  await assert.rejects(fn.forward({ x: new Tensor([0, 2], []), s: new Tensor([], [1]) }, { backend }), /MATR106|batch \[0\] is empty/);
});
