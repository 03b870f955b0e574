// Compile-time collections on WebGPU (lavapipe in CI): the specialisations of the one-spec
// tensor-train contraction (K = 4, 5) and of the N-mode Kronecker-factor update (N = 2, 3) run as
// instance kernels and agree with the NumPy fixtures within f32 tolerance, forward and backward.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { compile } from '../api/module.js';
import { Tensor } from '../runtime/tensor.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { Rng } from '../runtime/random.js';
import { fixturePath, type FixtureTensor } from './oracles/fixtures.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { relErr } from './util/approx.js';
import { ingdSpec, kronSpec, ttSpec } from './util/collections-specs.js';

after(releaseSharedGpu);

interface Case {
  name: string;
  K?: number;
  N?: number;
  optimizer?: string;
  inputs: Record<string, FixtureTensor>;
  outputs: Record<string, FixtureTensor>;
  cotangents?: Record<string, FixtureTensor>;
  gradients?: Record<string, Record<string, FixtureTensor>>;
}
const fixture = JSON.parse(readFileSync(fixturePath('collections.json'), 'utf8')) as { cases: Case[] };
const T = (f: FixtureTensor): Tensor => new Tensor(f.shape, Float64Array.from(f.data));

test('WebGPU: tt_frame and tt_apply at K = 4 and 5 (one spec), forward and VJP, agree with NumPy in f32', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const m = compile(ttSpec);
  for (const c of fixture.cases.filter((x) => x.K !== undefined)) {
    const cores = Array.from({ length: c.K! }, (_, k) => T(c.inputs[`cores[${k}]`]!));
    const fr = await m.fn('tt_frame').forward({ cores }, { backend });
    assert.ok(relErr(fr.outputs.frame!.data, c.outputs.frame!.data) < 1e-5, `${c.name} frame ${relErr(fr.outputs.frame!.data, c.outputs.frame!.data)}`);
    const g = await m.fn('tt_frame').vjp({ cores }, { frame: T(c.cotangents!.frame!) }, { backend });
    for (let k = 0; k < c.K!; k++) {
      const e = relErr(g.gradientLists.cores![k]!.data, c.gradients!.frame![`cores[${k}]`]!.data);
      assert.ok(e < 1e-4, `${c.name} ∂cores[${k}] ${e}`);
    }
    const ga = await m.fn('tt_apply').vjp({ cores, x: T(c.inputs.x!) }, { y: T(c.cotangents!.y!) }, { backend });
    assert.ok(relErr(ga.outputs.y!.data, c.outputs.y!.data) < 1e-5, `${c.name} y`);
    assert.ok(relErr(ga.gradients.x!.data, c.gradients!.y!.x!.data) < 1e-4, `${c.name} ∂x`);
    for (let k = 0; k < c.K!; k++) assert.ok(relErr(ga.gradientLists.cores![k]!.data, c.gradients!.y![`cores[${k}]`]!.data) < 1e-4, `${c.name} y ∂cores[${k}]`);
  }
});

test('WebGPU: the Kronecker-factor update at N = 2 and 3 (one spec) agrees with NumPy in f32, batched', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const m = compile(kronSpec);
  for (const c of fixture.cases.filter((x) => x.optimizer === 'kron_factors')) {
    const inputs: Record<string, Tensor | Tensor[]> = { W: T(c.inputs.W!), G: T(c.inputs.G!) };
    inputs.B = Array.from({ length: c.N! }, (_, k) => T(c.inputs[`B[${k}]`]!));
    inputs.m = Array.from({ length: c.N! }, (_, k) => T(c.inputs[`m[${k}]`]!));
    for (const h of ['lr', 'lr_cov', 'damping', 'beta2']) inputs[h] = T(c.inputs[h]!);
    const r = await m.fn('kron_factors').forward(inputs as Record<string, Tensor>, { backend });
    for (const [k, want] of Object.entries(c.outputs)) assert.ok(relErr(r.outputs[k]!.data, want.data) < 1e-4, `${c.name} ${k}: ${relErr(r.outputs[k]!.data, want.data)}`);
  }
  // a batch of 3 instances (W, G and the state batched; hyper-parameters broadcast) against the f64 CPU
  const rng = new Rng(9);
  const shape = [2, 3, 4];
  const size = 24;
  const batched = {
    W: new Tensor([3, ...shape], rng.normals(3 * size)),
    G: new Tensor([3, ...shape], rng.normals(3 * size)),
    B: shape.map((d) => new Tensor([3, d, d], Float64Array.from(rng.normals(3 * d * d), (v, i) => (i % (d * d)) % (d + 1) === 0 ? 1 + 0.2 * v : 0.2 * v))),
    m: shape.map((d) => new Tensor([3, d, d], new Float64Array(3 * d * d))),
  };
  const g = await m.fn('kron_factors').forward(batched as unknown as Record<string, Tensor>, { backend });
  const c = await m.fn('kron_factors').forward(batched as unknown as Record<string, Tensor>, { backend: new CpuBackend({ threads: 1 }) });
  for (const k of Object.keys(c.outputs)) assert.ok(relErr(g.outputs[k]!.data, c.outputs[k]!.data) < 1e-4, `batched ${k}`);
});

test('WebGPU: the INGD update with a factor and a statistic per mode (N = 2, 3; one spec) agrees with NumPy in f32', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const m = compile(ingdSpec);
  for (const c of fixture.cases.filter((x) => x.optimizer === 'ingd')) {
    const inputs: Record<string, Tensor | Tensor[]> = { W: T(c.inputs.W!), G: T(c.inputs.G!) };
    for (const g of ['S', 'K', 'mK']) inputs[g] = Array.from({ length: c.N! }, (_, k) => T(c.inputs[`${g}[${k}]`]!));
    for (const h of ['lr', 'beta1', 'alpha1', 'damping']) inputs[h] = T(c.inputs[h]!);
    const r = await m.fn('ingd').forward(inputs as unknown as Record<string, Tensor>, { backend });
    for (const [k, want] of Object.entries(c.outputs)) assert.ok(relErr(r.outputs[k]!.data, want.data) < 1e-4, `${c.name} ${k}: ${relErr(r.outputs[k]!.data, want.data)}`);
  }
});

test('WebGPU: partial indexing of a rank-3 tensor by dynamic indices agrees with the CPU', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const m = compile(`
fn parts(T: tensor[a, b, c], i: int, j: int) -> (P: mat[b, c], Q: mat[a, c]) = (T[i, :, :], T[:, j, :])
fn sweep(T: tensor[a, b, c]) -> mat[a, c] = iterate (S = zeros(a, c)) for j in 0..b => S + sin(T[:, j, :])
`);
  const rng = new Rng(4);
  const Tt = new Tensor([2, 3, 4, 5], rng.normals(120));
  const opts = { dims: { i: 2, j: 1 } };
  const c = await m.fn('parts').forward({ T: Tt }, opts);
  const g = await m.fn('parts').forward({ T: Tt }, { ...opts, backend });
  for (const k of ['P', 'Q']) assert.ok(relErr(g.outputs[k]!.data, c.outputs[k]!.data) < 1e-6, k);
  const cs = await m.fn('sweep').forward({ T: Tt });
  const gs = await m.fn('sweep').forward({ T: Tt }, { backend });
  assert.ok(relErr(gs.outputs.out!.data, cs.outputs.out!.data) < 1e-5, 'sweep');
  // the VJP of the partial indices (the gradient lands in the indexed slices)
  const cot = { P: new Tensor([2, 4, 5], rng.normals(40)), Q: new Tensor([2, 3, 5], rng.normals(30)) };
  const cg = await m.fn('parts').vjp({ T: Tt }, cot, opts);
  const gg = await m.fn('parts').vjp({ T: Tt }, cot, { ...opts, backend });
  assert.ok(relErr(gg.gradients.T!.data, cg.gradients.T!.data) < 1e-6, 'parts gradient');
});
