// Householder frames of stdlib/sttp.mat (issue 14, items 1 and 3; seeds-math §3.2–3.3): the
// LAPACK orgqr convention (full and reduced parameterisations) against PyTorch's
// householder_product and its autograd gradient (test/fixtures/sttp.json); the torch-householder
// backward given as a grad rule against matc's own reverse mode through the loop
// (gradRules: false) and against central finite differences in f64; the rule keeps no tape; frames
// batched over a call's batch dimension; geqrf and the qr_eye_randn initialisation against torch
// (the full frame reproduces Q; the reduced one spans it); the spectrum and the D-optimal
// regulariser.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { gradCheck } from '../api/gradcheck.js';
import { stdlibDir } from '../compiler/check/items.js';
import { Tensor } from '../runtime/tensor.js';
import { Rng } from '../runtime/random.js';
import { randomValue } from '../core/philox.js';
import { loadFixture, type FixtureTensor, type SttpCase } from './oracles/fixtures.js';
import { relErr, maxAbs } from './util/approx.js';
import { matmul, transpose } from './util/dense.js';

const path = join(stdlibDir(), 'sttp.mat');
const src = readFileSync(path, 'utf8');
const mod = compile(src, { path });
const derived = compile(src, { path, gradRules: false });
const fx = loadFixture('sttp');
const T = (f: FixtureTensor) => new Tensor(f.shape, f.data);
const cases = (prefix: string): SttpCase[] => fx.cases.filter((c) => c.name.startsWith(prefix));

/** max |QᵀQ − I| */
function orthoErr(q: ArrayLike<number>, d: number, r: number): number {
  const g = matmul(transpose(q, d, r), q, r, d, r);
  let e = 0;
  for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) e = Math.max(e, Math.abs(g[i * r + j]! - (i === j ? 1 : 0)));
  return e;
}

test('frames equal torch.linalg.householder_product (orgqr, τ = 2/‖h‖²), full and reduced', async () => {
  for (const c of [...cases('frame_full'), ...cases('frame_reduced')]) {
    const fn = c.name.startsWith('frame_full') ? 'stiefel_full' : 'stiefel_reduced';
    const f = await mod.fn(fn).forward({ P: T(c.inputs.P!) });
    assert.ok(relErr(f.outputs.Q!.data, c.outputs.Q!.data) < 1e-13, `${c.name}: ${relErr(f.outputs.Q!.data, c.outputs.Q!.data)}`);
    const [d, r] = c.outputs.Q!.shape as [number, number];
    assert.ok(orthoErr(f.outputs.Q!.data, d, r) < 1e-13, `${c.name}: orthonormal`);
    if (fn === 'stiefel_reduced') {
      // the leading r × r block is upper triangular (the gauge the reduced form fixes)
      for (let i = 0; i < r; i++) for (let j = 0; j < i; j++) assert.ok(Math.abs(f.outputs.Q!.data[i * r + j]!) < 1e-14, `${c.name}: Q[${i},${j}]`);
    }
  }
});

test('the frame VJP (the torch-householder rule) equals torch autograd, matc\'s derivation through the loop, and finite differences', async () => {
  for (const c of [...cases('frame_full'), ...cases('frame_reduced')]) {
    const fn = c.name.startsWith('frame_full') ? 'stiefel_full' : 'stiefel_reduced';
    const x = { P: T(c.inputs.P!) };
    const cot = { Q: T(c.cotangents.Q!) };
    const a = await mod.fn(fn).vjp(x, cot);
    const b = await derived.fn(fn).vjp(x, cot);
    const ea = relErr(a.gradients.P!.data, c.gradients.P!.data);
    const eb = relErr(a.gradients.P!.data, b.gradients.P!.data);
    assert.ok(ea < 1e-11, `${c.name}: rule vs torch autograd ${ea}`);
    assert.ok(eb < 1e-11, `${c.name}: rule vs matc's derivation ${eb}`);
    if (c.inputs.P!.data.length > 0) {
      const r = await gradCheck(mod.fn(fn), x, { directions: 3 });
      assert.ok(r.ok && r.maxRelErr < 1e-7, `${c.name}: FD ${r.maxRelErr}`);
    }
  }
  // the raw frame of arbitrary (non-unit-diagonal) columns, rule against derivation
  const rng = new Rng(1401);
  for (const [d, r] of [[7, 3], [4, 4], [10, 6]] as const) {
    const H = new Tensor([d, r], rng.normals(d * r));
    const cot = { Q: new Tensor([d, r], rng.normals(d * r)) };
    const a = await mod.fn('householder_frame').vjp({ H }, cot);
    const b = await derived.fn('householder_frame').vjp({ H }, cot);
    assert.ok(relErr(a.gradients.H!.data, b.gradients.H!.data) < 1e-11, `householder_frame ${d}x${r}`);
    const g = await gradCheck(mod.fn('householder_frame'), { H }, { directions: 3 });
    assert.ok(g.ok, `householder_frame ${d}x${r}: FD ${g.maxRelErr}`);
  }
});

test('the rule stores nothing: its backward has no tape, matc\'s derivation through the loop keeps one', () => {
  const vjpText = (m: typeof mod) => m.program.stage('householder_frame', 'opt').split(/\n\n(?=vjp )/)[1]!;
  assert.doesNotMatch(vjpText(mod), /tape\./);
  assert.match(vjpText(derived), /tape\.M/);
});

test('frames are batched by the call: one call on stacked parameters gives every frame and its gradient', async () => {
  const rng = new Rng(1402);
  const b = 5, d = 9, r = 4;
  const P = new Tensor([b, d, r], rng.normals(b * d * r));
  const G = new Tensor([b, d, r], rng.normals(b * d * r));
  const all = await mod.fn('stiefel_full').vjp({ P }, { Q: G });
  for (let k = 0; k < b; k++) {
    const Pk = new Tensor([d, r], P.data.slice(k * d * r, (k + 1) * d * r));
    const Gk = new Tensor([d, r], G.data.slice(k * d * r, (k + 1) * d * r));
    const one = await mod.fn('stiefel_full').vjp({ P: Pk }, { Q: Gk });
    assert.ok(relErr(all.outputs.Q!.data.slice(k * d * r, (k + 1) * d * r), one.outputs.Q!.data) < 1e-15, `frame ${k}`);
    assert.ok(relErr(all.gradients.P!.data.slice(k * d * r, (k + 1) * d * r), one.gradients.P!.data) < 1e-14, `gradient ${k}`);
  }
  // the diagonal and upper triangle of a full parameter are unused: zero gradient
  for (let k = 0; k < b; k++) for (let i = 0; i < d; i++) for (let j = i; j < r; j++) assert.equal(all.gradients.P!.data[k * d * r + i * r + j], 0);
});

test('a full frame needs d ≥ r: the call is refused, not a NaN', async () => {
  await assert.rejects(mod.fn('stiefel_full').forward({ P: new Tensor([2, 3], [1, 2, 3, 4, 5, 6]) }), (e: Error & { code?: string }) => e.code === 'MATR103' && /p = -1/.test(e.message));
});

test('geqrf (dlarfg vectors, v_j = 1) equals torch.geqrf; where LAPACK does not reflect (τ = 0) the frame convention does, and β flips', async () => {
  for (const c of cases('geqrf')) {
    const f = await mod.fn('sttp_geqrf').forward({ A: T(c.inputs.A!) });
    assert.ok(relErr(f.outputs.V!.data, c.outputs.V!.data) < 1e-13, `${c.name}: V ${relErr(f.outputs.V!.data, c.outputs.V!.data)}`);
    const want = c.outputs.beta!.data.map((b, j) => (c.outputs.tau!.data[j] === 0 ? -b : b));
    assert.ok(relErr(f.outputs.beta!.data, want) < 1e-13, `${c.name}: beta`);
  }
});

test('qr_eye_randn: the full parameters equal torch\'s geqrf(QR(I + std·clip(N))) and their frame reproduces Q', async () => {
  for (const c of cases('qr_eye_randn')) {
    const [d, r] = c.inputs.N!.shape as [number, number];
    const std = c.inputs.std!.data[0]!;
    const A = new Tensor([d, r], c.inputs.N!.data.map((x, e) => (Math.floor(e / r) === e % r ? 1 : 0) + std * Math.max(-1, Math.min(1, x))));
    const P = (await mod.fn('frame_params_full').forward({ A })).outputs.P!;
    assert.ok(relErr(P.data, c.outputs.P_full!.data) < 1e-9, `${c.name}: P ${relErr(P.data, c.outputs.P_full!.data)}`);
    const Q = (await mod.fn('stiefel_full').forward({ P })).outputs.Q!;
    assert.ok(relErr(Q.data, c.outputs.Q_frame!.data) < 1e-12, `${c.name}: frame`);
    // Q itself, exactly where the frame convention can represent it (all but the last column of a square Q)
    const s = c.outputs.signs!.data;
    assert.ok(relErr(Q.data, c.outputs.Q!.data.map((q, e) => q * s[e % r]!)) < 1e-12, `${c.name}: frame = Q diag(s)`);
    if (d > r) assert.ok(s.every((x) => x === 1), `${c.name}: a non-square frame is Q itself`);
    // reduced: an upper-triangular leading block spanning the same columns as Q
    const Pr = (await mod.fn('frame_params_reduced').forward({ A })).outputs.P!;
    assert.deepEqual(Pr.shape, [d - r, r]);
    const F = (await mod.fn('stiefel_reduced').forward({ P: Pr })).outputs.Q!.data;
    const q = c.outputs.Q!.data;
    const proj = matmul(q, matmul(transpose(q, d, r), F, r, d, r), d, r, r);
    assert.ok(relErr(proj, F) < 1e-12, `${c.name}: the reduced frame spans Q (${relErr(proj, F)})`);
    // and is Q O with O orthogonal, |O| near the identity for a noisy identity
    const O = matmul(transpose(q, d, r), F, r, d, r);
    assert.ok(orthoErr(O, r, r) < 1e-12, `${c.name}: O orthogonal`);
    // the reference's truncation geqrf(Q)[r:, :] spans Q only up to O(std)
    const Fref = c.outputs.Q_reduced_reference!.data;
    const projRef = matmul(q, matmul(transpose(q, d, r), Fref, r, d, r), d, r, r);
    if (d > r) assert.ok(relErr(projRef, Fref) > 1e-10 && relErr(projRef, Fref) < 10 * std, `${c.name}: the reference's reduced init is off by O(std): ${relErr(projRef, Fref)}`);
  }
  const c = cases('qr_randn')[0]!;
  const P = (await mod.fn('frame_params_full').forward({ A: T(c.inputs.A!) })).outputs.P!;
  assert.ok(relErr(P.data, c.outputs.P_full!.data) < 1e-12, 'qr_randn: P');
});

test('the seeded initialisers use matc\'s randn (key seed, stream) and give orthonormal frames near the identity', async () => {
  const d = 10, r = 4, seed = 7, stream = 3, std = 1e-4;
  const N = Array.from({ length: d * r }, (_, e) => randomValue('normal', seed, stream, e));
  const A = new Tensor([d, r], N.map((x, e) => (Math.floor(e / r) === e % r ? 1 : 0) + std * Math.max(-1, Math.min(1, x))));
  const want = (await mod.fn('frame_params_full').forward({ A })).outputs.P!;
  const got = (await mod.fn('qr_eye_randn_full').forward({ std }, { dims: { d, r, seed, stream } })).outputs.P!;
  assert.ok(relErr(got.data, want.data) < 1e-15, 'qr_eye_randn_full = frame_params_full of the seeded noisy identity');
  const other = (await mod.fn('qr_eye_randn_full').forward({ std }, { dims: { d, r, seed, stream: 4 } })).outputs.P!;
  assert.ok(relErr(other.data, got.data) > 1e-3, 'another stream, other numbers');
  const Q = (await mod.fn('stiefel_full').forward({ P: got })).outputs.Q!.data;
  assert.ok(orthoErr(Q, d, r) < 1e-14);
  for (let i = 0; i < d; i++) for (let j = 0; j < r; j++) assert.ok(Math.abs(Q[i * r + j]! - (i === j ? -1 : 0)) < 1e-3, 'QR(I + noise) ≈ −I');
  const Pr = (await mod.fn('qr_eye_randn_reduced').forward({ std }, { dims: { d, r, seed, stream } })).outputs.P!;
  assert.deepEqual(Pr.shape, [d - r, r]);
  assert.ok(maxAbs(Pr.data) < 1e-3, 'reduced parameters of a noisy identity are small');
});

test('spectrum S/max|S| and the D-optimal regulariser: values and gradients (away from ties of the max)', async () => {
  const S = new Tensor([5], [0.3, -1.7, 0.9, 1.2, -0.05]);
  const f = await mod.fn('spectrum').forward({ S });
  assert.ok(relErr(f.outputs.out!.data, S.data.map((x) => x / 1.7)) < 1e-15);
  const z = await mod.fn('spectrum').forward({ S: new Tensor([3], [0, 0, 0]) });
  assert.deepEqual(Array.from(z.outputs.out!.data), [0, 0, 0], 'the max is clamped at 1e-8: no NaN');
  const d = await mod.fn('d_optimal').forward({ S });
  const want = -Array.from(S.data).reduce((a, x) => a + Math.log(Math.max(Math.abs(x) / 1.7, 1e-7)), 0);
  assert.ok(Math.abs(d.outputs.out!.data[0]! - want) < 1e-13);
  for (const name of ['spectrum', 'd_optimal']) {
    const r = await gradCheck(mod.fn(name), { S }, { directions: 3 });
    assert.ok(r.ok, `${name}: FD ${r.maxRelErr}`);
  }
});
