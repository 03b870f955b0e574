// Gradients of inputs shared by a batched call (runtime/call.ts vjpResults): the VJP of the
// batched function F(θ, x₁ … x_B) = (f(θ, x₁) … f(θ, x_B)) with respect to an input θ passed
// without batch dimensions is Σ_b ∂f(θ, x_b)ᵀ c_b — summed over the batch, with θ's own shape —
// while an input passed with batch dimensions gets one gradient per instance. Checked against the
// per-instance gradients of the same call with θ tiled over the batch, against central differences
// of the batched loss, on the CPU and on WebGPU.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { Tensor } from '../runtime/tensor.js';
import { Rng } from '../runtime/random.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { relErr } from './util/approx.js';

after(releaseSharedGpu);

const mod = compile('fn f(W: mat[n, n], x: vec[n]) -> y: vec[n] = tanh(W * x) .* x\n', { path: 'shared.mat' });
const n = 3;
const B = 5;

function setup(seed: number) {
  const rng = new Rng(seed);
  const W = new Tensor([n, n], rng.normals(n * n));
  const x = new Tensor([B, n], rng.normals(B * n));
  const c = new Tensor([B, n], rng.normals(B * n));
  const tiled = new Tensor([B, n, n], Float64Array.from({ length: B * n * n }, (_, i) => W.data[i % (n * n)]!));
  return { W, x, c, tiled };
}

test('a shared input gets the gradient of the whole batch, a batched one per instance', async () => {
  const { W, x, c, tiled } = setup(301);
  const shared = await mod.fn('f').vjp({ W, x }, { y: c });
  const each = await mod.fn('f').vjp({ W: tiled, x }, { y: c });
  assert.deepEqual(shared.gradients.W!.shape, [n, n]);
  assert.deepEqual(each.gradients.W!.shape, [B, n, n]);
  assert.deepEqual(shared.gradients.x!.shape, [B, n]);
  const sum = new Float64Array(n * n);
  for (let b = 0; b < B; b++) for (let i = 0; i < n * n; i++) sum[i] += each.gradients.W!.data[b * n * n + i]!;
  assert.ok(relErr(shared.gradients.W!.data, sum) < 1e-14);
  assert.ok(relErr(shared.gradients.x!.data, each.gradients.x!.data) < 1e-14);
  // ⟨∇_W, D⟩ against central differences of Σ_b ⟨c_b, f(W, x_b)⟩
  const rng = new Rng(302);
  const D = rng.normals(n * n);
  const loss = async (s: number) => {
    const out = (await mod.fn('f').forward({ W: new Tensor([n, n], W.data.map((w, i) => w + s * D[i]!)), x })).outputs.y!.data;
    let l = 0;
    for (let i = 0; i < out.length; i++) l += out[i]! * c.data[i]!;
    return l;
  };
  const h = 1e-5;
  const numeric = ((await loss(h)) - (await loss(-h))) / (2 * h);
  let analytic = 0;
  for (let i = 0; i < n * n; i++) analytic += shared.gradients.W!.data[i]! * D[i]!;
  assert.ok(Math.abs(analytic - numeric) < 1e-8 * Math.max(1, Math.abs(numeric)), `${analytic} vs ${numeric}`);
});

test('WebGPU sums the shared input\'s gradient the same way', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const { W, x, c } = setup(303);
  const cpu = await mod.fn('f').vjp({ W, x }, { y: c });
  const gpu = await mod.fn('f').vjp({ W, x }, { y: c }, { backend: new WebGpuBackend(ctx) });
  assert.deepEqual(gpu.gradients.W!.shape, [n, n]);
  assert.ok(relErr(gpu.gradients.W!.data, cpu.gradients.W!.data) < 1e-4);
});
