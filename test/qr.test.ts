// The QR/LQ family of stdlib/qr.mat (issue: QR/LQ matrix backprop; seeds-math §5): factorization
// invariants, gradients against central finite differences in f64, against PyTorch/SciPy fixtures
// (test/fixtures/qr*.json, lq.json), the closed-form grad rules against matc's generic
// implicit-function-theorem derivation, pivoting against SciPy's pivot order, rank deficiency
// reported in the status, and WebGPU (f32) against the CPU f64 reference.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { gradCheck } from '../api/gradcheck.js';
import { stdlibDir } from '../compiler/check/items.js';
import { Tensor } from '../runtime/tensor.js';
import { Rng } from '../runtime/random.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { loadFixture, type FixtureTensor } from './oracles/fixtures.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { assertClose, assertFinite, relErr } from './util/approx.js';

after(releaseSharedGpu);

const path = join(stdlibDir(), 'qr.mat');
const mod = compile(readFileSync(path, 'utf8'), { path });
const T = (f: FixtureTensor) => new Tensor(f.shape, f.data);

function randomA(rng: Rng, m: number, n: number, batch: number[] = []): Tensor {
  const size = [...batch, m, n].reduce((a, b) => a * b, 1);
  return new Tensor([...batch, m, n], rng.normals(size));
}

function matmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) out[i * n + j]! += a[i * k + p]! * b[p * n + j]!;
  return out;
}

const shapes: [number, number][] = [
  [5, 5],
  [7, 4],
  [4, 7],
  [1, 5],
  [5, 1],
  [8, 8],
];

test('QR and LQ invariants: Q orthonormal, A reconstructed, exact zeros off the triangle, nonnegative diagonal', async () => {
  const rng = new Rng(11);
  for (const [m, n] of shapes) {
    const k = Math.min(m, n);
    const A = randomA(rng, m, n);
    const { outputs: o } = await mod.fn('qr').forward({ A });
    const Q = o.Q!.data;
    const R = o.R!.data;
    assertClose(matmul(Q, R, m, k, n), A.data, 1e-12, `QR = A (${m}×${n})`);
    const Qt = new Float64Array(k * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) Qt[j * m + i] = Q[i * k + j]!;
    const QtQ = matmul(Qt, Q, k, m, k);
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) assert.ok(Math.abs(QtQ[i * k + j]! - (i === j ? 1 : 0)) < 1e-12, `QᵀQ = I (${m}×${n})`);
    for (let i = 0; i < k; i++) {
      assert.ok(R[i * n + i]! >= 0, 'diag(R) ≥ 0');
      for (let j = 0; j < Math.min(i, n); j++) assert.equal(R[i * n + j], 0, `R[${i},${j}] is exactly zero`);
    }
    const l = await mod.fn('lq').forward({ A });
    const L = l.outputs.L!.data;
    assertClose(matmul(L, l.outputs.Q!.data, m, k, n), A.data, 1e-12, `LQ = A (${m}×${n})`);
    for (let i = 0; i < m; i++) for (let j = i + 1; j < k; j++) assert.equal(L[i * k + j], 0, `L[${i},${j}] is exactly zero`);
  }
});

test('QR, LQ and pivoted QR gradients match central finite differences in f64 (all shapes, batch > 1)', async () => {
  const rng = new Rng(12);
  for (const fn of ['qr', 'lq', 'qr_pivoted']) {
    for (const [m, n] of shapes) {
      const r = await gradCheck(mod.fn(fn), { A: randomA(rng, m, n) }, { seed: m * 10 + n });
      assert.ok(r.ok, `${fn} ${m}×${n}: max relative error ${r.maxRelErr.toExponential(2)}`);
    }
    const rb = await gradCheck(mod.fn(fn), { A: randomA(rng, 4, 3, [3]) }, { seed: 99 });
    assert.ok(rb.ok, `${fn} batch of 3: ${rb.maxRelErr.toExponential(2)}`);
  }
});

test('QR matches the PyTorch fixtures: factors and gradients (square, deep, wide, 1×n, m×1, batched)', async () => {
  const fx = loadFixture('qr');
  for (const c of fx.cases) {
    const A = T(c.inputs.A!);
    const r = await mod.fn('qr').vjp({ A }, { Q: T(c.cotangents.Q!), R: T(c.cotangents.R!) });
    assertClose(r.outputs.Q!.data, c.outputs.Q!.data, 1e-12, `${c.name} Q`);
    assertClose(r.outputs.R!.data, c.outputs.R!.data, 1e-12, `${c.name} R`);
    assertClose(r.gradients.A!.data, c.gradients.A!.data, 1e-9, `${c.name} ∂A`);
    const zQ = Tensor.zeros(c.cotangents.Q!.shape);
    const onlyR = await mod.fn('qr').vjp({ A }, { Q: zQ, R: T(c.cotangents.R!) });
    assertClose(onlyR.gradients.A!.data, c.gradients.A_dR_only!.data, 1e-9, `${c.name} ∂A from R̄ only`);
  }
});

test('LQ matches the PyTorch fixtures (square, wide, deep, 1×n, m×1)', async () => {
  const fx = loadFixture('lq');
  for (const c of fx.cases) {
    const A = T(c.inputs.A!);
    const r = await mod.fn('lq').vjp({ A }, { L: T(c.cotangents.L!), Q: T(c.cotangents.Q!) });
    assertClose(r.outputs.L!.data, c.outputs.L!.data, 1e-12, `${c.name} L`);
    assertClose(r.outputs.Q!.data, c.outputs.Q!.data, 1e-12, `${c.name} Q`);
    assertClose(r.gradients.A!.data, c.gradients.A!.data, 1e-9, `${c.name} ∂A`);
  }
});

test('pivoted QR: SciPy\'s pivot order and the fixed-permutation gradient', async () => {
  const fx = loadFixture('qr_pivoted');
  for (const c of fx.cases) {
    const A = T(c.inputs.A!);
    const r = await mod.fn('qr_pivoted').vjp({ A }, { Q: T(c.cotangents.Q!), R: T(c.cotangents.R!), p: Tensor.zeros([c.perm.length]) });
    assert.deepEqual(Array.from(r.outputs.p!.data), c.perm, `${c.name}: permutation`);
    assertClose(r.outputs.R!.data, c.outputs.R!.data, 1e-12, `${c.name} R`);
    assertClose(r.gradients.A!.data, c.gradients.A!.data, 1e-9, `${c.name} ∂A`);
  }
});

test('the closed-form QR grad rule equals the generic implicit derivation from A = QR, QᵀQ = I, R triangular', async () => {
  const rng = new Rng(13);
  for (const [m, n] of [...shapes, [6, 3] as [number, number], [3, 6] as [number, number]]) {
    const A = randomA(rng, m, n);
    const k = Math.min(m, n);
    const cot = { Q: new Tensor([m, k], rng.normals(m * k)), R: new Tensor([k, n], rng.normals(k * n)) };
    const closed = await mod.fn('qr').vjp({ A }, cot);
    const generic = await mod.fn('qr_implicit').vjp({ A }, cot);
    assert.ok(relErr(closed.gradients.A!.data, generic.gradients.A!.data) < 1e-9, `${m}×${n}: closed form vs generic IFT`);
  }
});

test('JVP agrees with the VJP: ⟨JVP(u), v⟩ = ⟨u, VJP(v)⟩ through the generic derivation', async () => {
  const rng = new Rng(14);
  for (const [m, n] of [[5, 3], [3, 5], [4, 4]] as [number, number][]) {
    const A = randomA(rng, m, n);
    const k = Math.min(m, n);
    const u = new Tensor([m, n], rng.normals(m * n));
    const v = { Q: new Tensor([m, k], rng.normals(m * k)), R: new Tensor([k, n], rng.normals(k * n)) };
    const j = await mod.fn('qr').jvp({ A }, { A: u });
    const g = await mod.fn('qr').vjp({ A }, v);
    let lhs = 0;
    for (const name of ['Q', 'R'] as const) {
      const t = j.tangents[name]!.data;
      const w = v[name].data;
      for (let i = 0; i < t.length; i++) lhs += t[i]! * w[i]!;
    }
    let rhs = 0;
    for (let i = 0; i < u.size; i++) rhs += u.data[i]! * g.gradients.A!.data[i]!;
    assert.ok(Math.abs(lhs - rhs) <= 1e-9 * Math.max(1, Math.abs(rhs)), `${m}×${n}: ${lhs} vs ${rhs}`);
  }
});

test('rank deficiency is reported in the status, outputs stay finite', async () => {
  // column 2 = column 0 + column 1: rank 2 of 3
  const rng = new Rng(15);
  const a = rng.normals(5 * 3);
  for (let i = 0; i < 5; i++) a[i * 3 + 2] = a[i * 3]! + a[i * 3 + 1]!;
  const A = new Tensor([5, 3], a);
  const f = await mod.fn('qr').forward({ A });
  assertFinite(f.outputs.Q!.data, 'Q');
  assertFinite(f.outputs.R!.data, 'R');
  assert.equal(f.status.ok, false, 'status flags the rank deficiency');
  assert.ok(f.status.warnings.some((w) => w.includes('rcond(R)')), f.status.warnings.join('; '));
  const full = await mod.fn('qr').forward({ A: randomA(rng, 5, 3) });
  assert.equal(full.status.ok, true, full.status.warnings.join('; '));
});

test('WebGPU (f32) agrees with the CPU f64 reference for QR, LQ and pivoted QR, forward and backward', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const rng = new Rng(16);
  for (const [fn, m, n] of [['qr', 6, 4], ['qr', 3, 5], ['lq', 4, 6], ['qr_pivoted', 5, 5]] as [string, number, number][]) {
    const A = randomA(rng, m, n, [3]);
    const c = await mod.fn(fn).forward({ A });
    const g = await mod.fn(fn).forward({ A }, { backend });
    for (const k of Object.keys(c.outputs)) assert.ok(relErr(g.outputs[k]!.data, c.outputs[k]!.data) < 1e-4, `${fn} ${m}×${n} ${k}`);
    const cot: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(c.outputs)) cot[k] = new Tensor(v.shape, rng.normals(v.size));
    const cg = await mod.fn(fn).vjp({ A }, cot);
    const gg = await mod.fn(fn).vjp({ A }, cot, { backend });
    assert.ok(relErr(gg.gradients.A!.data, cg.gradients.A!.data) < 1e-3, `${fn} ${m}×${n} ∂A: ${relErr(gg.gradients.A!.data, cg.gradients.A!.data)}`);
  }
});
