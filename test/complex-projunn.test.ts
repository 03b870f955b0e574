// Complex unitary projUNN and the complex QR (issue 13; stdlib/projunn.mat cprojunn_*, stdlib/qr.mat
// cqr), and grad rules applied to complex arguments (compiler/check/custom.ts):
//   - cprojunn_t = W expm(½(Wᴴ a bᴴ − b aᴴ W)) and cprojunn_d = polar(W + a bᴴ) against dense SciPy
//     complex128 (test/fixtures/cprojunn.json, test/oracles/gen_cprojunn_fixtures.py), f64 on every
//     CPU engine, including Δ = 0, a rank-deficient [b, Wᴴa] and repeated eigenvalues;
//   - their grad rules (applied to complex arguments) against central finite differences on the
//     real and imaginary parts, and against PyTorch complex128 autograd of the dense formulas
//     (test/fixtures/cqr.json, test/oracles/gen_cqr_fixtures.py);
//   - cqr (Householder with complex reflectors, diag(R) real ≥ 0) against torch.linalg.qr and its
//     autograd (tall, square, wide), and against finite differences;
//   - WᴴW − I stays small over repeated steps (f64 and f32), the complex optimizers keep W unitary
//     and decrease a loss;
//   - a grad rule on complex arguments agrees with matc's own derivative of the body.
// WebGPU (f32 pairs of parts): one case of cprojunn_t/cprojunn_d and cqr against SciPy/torch, gated
// on software adapters (MATC_GPU_LAYERS=1: the kernels compile cold for minutes on lavapipe).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile } from '../api/module.js';
import { gradCheck } from '../api/gradcheck.js';
import { stdlibDir } from '../compiler/check/items.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import type { Backend } from '../runtime/backend.js';
import { Tensor } from '../runtime/tensor.js';
import { Rng } from '../runtime/random.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { releaseSharedGpu } from './gpu-available.js';
import { layerGpuOrSkip } from './util/gpu-layers.js';
import { fixturePath, type FixtureTensor } from './oracles/fixtures.js';
import { assertFinite, relErr } from './util/approx.js';

after(releaseSharedGpu);

const load = (name: string) => {
  const path = join(stdlibDir(), name);
  return compile(readFileSync(path, 'utf8'), { path });
};
const pj = load('projunn.mat');
const qr = load('qr.mat');
const T = (f: FixtureTensor) => new Tensor(f.shape, Float64Array.from(f.data));

interface ProjCase {
  name: string;
  inputs: { W: FixtureTensor; a: FixtureTensor; b: FixtureTensor };
  outputs: { T: FixtureTensor; D: FixtureTensor };
}
interface TorchCase {
  name: string;
  fn: 'cqr' | 'cprojunn_t' | 'cprojunn_d';
  inputs: Record<string, FixtureTensor>;
  outputs: Record<string, FixtureTensor>;
  cotangents: Record<string, FixtureTensor>;
  gradients: Record<string, FixtureTensor>;
  tangent_gradients?: Record<string, FixtureTensor>;
}
const scipyCases = (JSON.parse(readFileSync(fixturePath('cprojunn.json'), 'utf8')) as { cases: ProjCase[] }).cases;
const torchCases = (JSON.parse(readFileSync(fixturePath('cqr.json'), 'utf8')) as { cases: TorchCase[] }).cases;
const inputsOf = (c: ProjCase) => ({ W: T(c.inputs.W), a: T(c.inputs.a), b: T(c.inputs.b) });

// ---- packed complex matrices (…, 2): (re, im) interleaved ------------------------------------

/** The conjugate transpose of a packed m×n A (n×m). */
function adjoint(A: ArrayLike<number>, m: number, n: number): Float64Array {
  const H = new Float64Array(2 * m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      H[2 * (j * m + i)] = A[2 * (i * n + j)]!;
      H[2 * (j * m + i) + 1] = -A[2 * (i * n + j) + 1]!;
    }
  return H;
}

/** C = A B for packed A: m×p, B: p×q. */
function cmul(A: ArrayLike<number>, B: ArrayLike<number>, m: number, p: number, q: number): Float64Array {
  const C = new Float64Array(2 * m * q);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < q; j++) {
      let re = 0;
      let im = 0;
      for (let r = 0; r < p; r++) {
        const ar = A[2 * (i * p + r)]!;
        const ai = A[2 * (i * p + r) + 1]!;
        const br = B[2 * (r * q + j)]!;
        const bi = B[2 * (r * q + j) + 1]!;
        re += ar * br - ai * bi;
        im += ar * bi + ai * br;
      }
      C[2 * (i * q + j)] = re;
      C[2 * (i * q + j) + 1] = im;
    }
  return C;
}

/** C = Aᴴ B for packed A: m×p, B: m×q. */
const hmul = (A: ArrayLike<number>, B: ArrayLike<number>, m: number, p: number, q: number): Float64Array => cmul(adjoint(A, m, p), B, p, m, q);

/** max |UᴴU − I| for a packed m×n U. */
function unitaryErr(U: ArrayLike<number>, m: number, n = m): number {
  const g = hmul(U, U, m, n, n);
  let e = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) e = Math.max(e, Math.abs(g[2 * (i * n + j)]! - (i === j ? 1 : 0)), Math.abs(g[2 * (i * n + j) + 1]!));
  return e;
}

/** W skewH(Wᴴ G): the part of a gradient G along the tangent space of the unitary group at W. */
function tangentPart(W: ArrayLike<number>, G: ArrayLike<number>, n: number): Float64Array {
  const M = hmul(W, G, n, n, n);
  const S = new Float64Array(M.length);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      S[2 * (i * n + j)] = 0.5 * (M[2 * (i * n + j)]! - M[2 * (j * n + i)]!);
      S[2 * (i * n + j) + 1] = 0.5 * (M[2 * (i * n + j) + 1]! + M[2 * (j * n + i) + 1]!);
    }
  return cmul(W, S, n, n, n);
}

/** A random unitary n×n matrix, packed (complex modified Gram–Schmidt of a Gaussian, twice). */
function randomUnitary(rng: Rng, n: number): Float64Array {
  const A = rng.normals(2 * n * n);
  const Q = new Float64Array(2 * n * n);
  for (let j = 0; j < n; j++) {
    const vr = Array.from({ length: n }, (_, i) => A[2 * (i * n + j)]!);
    const vi = Array.from({ length: n }, (_, i) => A[2 * (i * n + j) + 1]!);
    for (let pass = 0; pass < 2; pass++)
      for (let p = 0; p < j; p++) {
        // d = q_pᴴ v
        let dr = 0;
        let di = 0;
        for (let i = 0; i < n; i++) {
          const qr_ = Q[2 * (i * n + p)]!;
          const qi = Q[2 * (i * n + p) + 1]!;
          dr += qr_ * vr[i]! + qi * vi[i]!;
          di += qr_ * vi[i]! - qi * vr[i]!;
        }
        for (let i = 0; i < n; i++) {
          const qr_ = Q[2 * (i * n + p)]!;
          const qi = Q[2 * (i * n + p) + 1]!;
          vr[i] = vr[i]! - (qr_ * dr - qi * di);
          vi[i] = vi[i]! - (qr_ * di + qi * dr);
        }
      }
    const nn = Math.hypot(...vr, ...vi);
    for (let i = 0; i < n; i++) {
      Q[2 * (i * n + j)] = vr[i]! / nn;
      Q[2 * (i * n + j) + 1] = vi[i]! / nn;
    }
  }
  return Q;
}

const f64Backends = (): [string, Backend][] => [
  ['reference', new CpuBackend({ reference: true })],
  ['wasm', new CpuBackend({ engine: 'wasm', threads: 1 })],
  ['js', new CpuBackend({ engine: 'js', threads: 1 })],
];

test('cprojunn_t = W expm(½(Wᴴ a bᴴ − b aᴴ W)) and cprojunn_d = polar(W + a bᴴ) against dense SciPy complex128, f64 on every CPU engine (1e-12), unitary to 1e-12', async () => {
  const worst: Record<string, number> = {};
  for (const c of scipyCases) {
    const n = c.inputs.W.shape[0]!;
    for (const [fn, want] of [['cprojunn_t', c.outputs.T], ['cprojunn_d', c.outputs.D]] as const) {
      for (const [name, backend] of f64Backends()) {
        const r = await pj.fn(fn).forward(inputsOf(c), { backend });
        assert.ok(r.status.ok, `${fn} ${c.name} ${name}: status ${JSON.stringify(r.status)}`);
        const got = r.outputs.out!.data;
        assert.deepEqual(r.outputs.out!.shape, [n, n, 2]);
        assertFinite(got, `${fn} ${c.name} ${name}`);
        const e = relErr(got, want.data);
        worst[`${fn} ${name}`] = Math.max(worst[`${fn} ${name}`] ?? 0, e);
        assert.ok(e <= 1e-12, `${fn} ${c.name} ${name}: relative error ${e.toExponential(2)}`);
        assert.ok(unitaryErr(got, n) <= 1e-12, `${fn} ${c.name} ${name}: ‖OᴴO − I‖ = ${unitaryErr(got, n).toExponential(2)}`);
      }
    }
  }
  // Δ = 0: both return W; a = c W b (rank-deficient basis) is exact too (checked above)
  const z = scipyCases.find((x) => x.name === 'delta_zero')!;
  for (const fn of ['cprojunn_t', 'cprojunn_d']) {
    const r = await pj.fn(fn).forward(inputsOf(z));
    assert.ok(relErr(r.outputs.out!.data, z.inputs.W.data) <= 1e-14, `${fn}(W, 0, b) = W`);
  }
  console.log('# worst relative errors against SciPy:', JSON.stringify(Object.fromEntries(Object.entries(worst).map(([k, v]) => [k, v.toExponential(1)]))));
});

test('grad rules of cprojunn_t and cprojunn_d on complex arguments: against central finite differences on the real and imaginary parts (f64; random, Δ = 0, rank-deficient, repeated eigenvalues)', async () => {
  const report: string[] = [];
  for (const c of scipyCases.filter((x) => x.inputs.W.shape[0]! <= 9)) {
    for (const fn of ['cprojunn_t', 'cprojunn_d']) {
      const r = await gradCheck(pj.fn(fn), inputsOf(c), { directions: 3, tolerance: 1e-6, seed: 5 });
      report.push(`${fn}/${c.name}: ${r.maxRelErr.toExponential(1)}`);
      assert.ok(r.ok, `${fn} ${c.name}: max relative error ${r.maxRelErr} (${JSON.stringify(r.directions)})`);
      for (const d of r.directions) assert.ok(Number.isFinite(d.analytic) && Math.abs(d.analytic) > 0, `${fn} ${c.name}: a nonzero directional derivative`);
    }
  }
  console.log('# grad check:', report.join(', '));
});

test('against PyTorch complex128 autograd: cqr (tall, square, wide) forward and VJP, cprojunn_t VJP, cprojunn_d VJP of a, b and the tangent part of W (1e-12)', async () => {
  const report: string[] = [];
  for (const c of torchCases) {
    const fn = (c.fn === 'cqr' ? qr : pj).fn(c.fn);
    const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, T(v)]));
    const cts = Object.fromEntries(Object.entries(c.cotangents).map(([k, v]) => [k, T(v)]));
    const o = await fn.forward(inputs);
    assert.ok(o.status.ok, `${c.name}: status`);
    for (const [k, want] of Object.entries(c.outputs)) {
      const e = relErr(o.outputs[k]!.data, want.data);
      assert.ok(e <= 1e-12, `${c.name}: output ${k} relative error ${e.toExponential(2)}`);
    }
    const g = (await fn.vjp(inputs, cts)).gradients;
    let worst = 0;
    for (const [k, want] of Object.entries(c.gradients)) {
      const e = relErr(g[k]!.data, want.data);
      worst = Math.max(worst, e);
      assert.ok(e <= 1e-12, `${c.name}: gradient of ${k} relative error ${e.toExponential(2)} against torch`);
    }
    for (const [k, want] of Object.entries(c.tangent_gradients ?? {})) {
      const n = c.inputs.W.shape[0]!;
      const e = relErr(tangentPart(c.inputs.W.data, g[k]!.data, n), want.data);
      worst = Math.max(worst, e);
      assert.ok(e <= 1e-12, `${c.name}: tangent part of the gradient of ${k} relative error ${e.toExponential(2)} against torch`);
    }
    report.push(`${c.name} ${worst.toExponential(1)}`);
  }
  console.log('# worst gradient error against torch:', report.join(', '));
});

test('cqr: Q unitary columns, R upper triangular with a real nonnegative diagonal, Q R = A; its grad rule against finite differences on the real and imaginary parts (tall, wide)', async () => {
  const rng = new Rng(11);
  for (const [m, n] of [[6, 4], [3, 5]] as const) {
    const A = new Tensor([m, n, 2], rng.normals(2 * m * n));
    const r = await qr.fn('cqr').forward({ A });
    assert.ok(r.status.ok);
    const k = Math.min(m, n);
    const Q = r.outputs.Q!.data;
    const R = r.outputs.R!.data;
    assert.ok(unitaryErr(Q, m, k) < 1e-14, `QᴴQ = I: ${unitaryErr(Q, m, k)}`);
    for (let i = 0; i < k; i++) {
      assert.ok(R[2 * (i * n + i)]! > 0 && Math.abs(R[2 * (i * n + i) + 1]!) <= 1e-15 * R[2 * (i * n + i)]!, `diag(R) real ≥ 0 at ${i}: ${R[2 * (i * n + i)]} + ${R[2 * (i * n + i) + 1]}i`);
      for (let j = 0; j < i; j++) assert.ok(R[2 * (i * n + j)] === 0 && R[2 * (i * n + j) + 1] === 0, 'R upper triangular');
    }
    assert.ok(relErr(cmul(Q, R, m, k, n), A.data) < 1e-14, 'Q R = A');
    const g = await gradCheck(qr.fn('cqr'), { A }, { directions: 4, tolerance: 1e-6, seed: 3 });
    assert.ok(g.ok, `cqr ${m}×${n}: ${g.maxRelErr}`);
  }
});

test('a grad rule applied to complex arguments agrees with matc deriving the body (PyTorch convention; real parameters take the real part)', async () => {
  const m = compile(
    `fn f(z: vec[n], x: vec[n]) -> vec[n] = z .* z .* x
       grad (dy) => z: 2 * conj(z .* x) .* dy, x: conj(z .* z) .* dy
     fn ruled(z: cvec[n], x: vec[n]) -> cvec[n] = f(z, x)
     fn derived(z: cvec[n], x: vec[n]) -> cvec[n] = z .* z .* x
     fn wrong(z: cvec[n], x: vec[n]) -> cvec[n] = g(z, x)
     fn g(z: vec[n], x: vec[n]) -> vec[n] = z .* z .* x
       grad (dy) => z: 2 * z .* x .* dy, x: conj(z .* z) .* dy`,
    { path: 'rule.mat', verify: true },
  );
  const rng = new Rng(3);
  const z = new Tensor([4, 2], rng.normals(8));
  const x = new Tensor([4], rng.normals(4));
  const ct = new Tensor([4, 2], rng.normals(8));
  const a = await m.fn('ruled').vjp({ z, x }, { out: ct });
  const b = await m.fn('derived').vjp({ z, x }, { out: ct });
  assert.ok(relErr(a.gradients.z!.data, b.gradients.z!.data) < 1e-14, 'dz');
  assert.ok(relErr(a.gradients.x!.data, b.gradients.x!.data) < 1e-14, 'dx');
  assert.ok(relErr((await m.fn('ruled').forward({ z, x })).outputs.out!.data, (await m.fn('derived').forward({ z, x })).outputs.out!.data) < 1e-15, 'forward');
  // a rule that forgets the conjugate is caught by the finite-difference check
  const bad = await gradCheck(m.fn('wrong'), { z, x }, { directions: 3, seed: 2 });
  assert.ok(!bad.ok, 'a wrong complex rule fails the check');
  const good = await gradCheck(m.fn('ruled'), { z, x }, { directions: 3, seed: 2 });
  assert.ok(good.ok, `the right one passes: ${good.maxRelErr}`);
});

const driftSrc = `
import { projunn_t, projunn_d, reorthonormalize } from "projunn.mat"
// 'steps' random complex rank-1 steps of a retraction in one call, re-orthonormalised every
// 'reorth' steps (0: never)
fn cdrift_t(W0: unitary[n], steps: int, reorth: int, scale: real) -> cmat[n, n] =
  iterate (W = W0) for t in 0..steps =>
    let W2 = projunn_t(W, scale * complex(randn(t, n, 1), randn(t, n, 1, stream: 2)), complex(randn(t, n, 1, stream: 1), randn(t, n, 1, stream: 3))) in
    if reorth > 0 && mod(t + 1, reorth) == 0 then reorthonormalize(W2) else W2
fn cdrift_d(W0: unitary[n], steps: int, reorth: int, scale: real) -> cmat[n, n] =
  iterate (W = W0) for t in 0..steps =>
    let W2 = projunn_d(W, scale * complex(randn(t, n, 1), randn(t, n, 1, stream: 2)), complex(randn(t, n, 1, stream: 1), randn(t, n, 1, stream: 3))) in
    if reorth > 0 && mod(t + 1, reorth) == 0 then reorthonormalize(W2) else W2
`;

test('WᴴW − I over repeated complex steps (N = 16, compiled WASM, 2000 steps): T unaided and D re-orthonormalised every 100 stay unitary (f64 < 1e-12, f32 < 1e-5)', async () => {
  const dm = compile(driftSrc, { path: 'cdrift.mat' });
  const N = 16;
  const W0 = new Tensor([N, N, 2], randomUnitary(new Rng(5), N));
  const out: string[] = [];
  for (const precision of ['f64', 'f32'] as const) {
    const backend = new CpuBackend({ engine: 'wasm', precision, threads: 1 });
    // projUNN-D does not contract an orthogonality error (docs/projunn.md): unaided, these walks
    // reach NaN within 2000 steps in f64 as in the real case, so D runs with its Newton–Schulz step
    for (const [fn, reorth] of [['cdrift_t', 0], ['cdrift_d', 100]] as const) {
      const r = await dm.fn(fn).forward({ W0, scale: 0.01 }, { backend, dims: { steps: 2000, reorth } });
      assert.ok(r.status.ok, `${fn} ${precision}: status`);
      const e = unitaryErr(r.outputs.out!.data, N);
      out.push(`${fn} ${precision}${reorth ? ` reorth ${reorth}` : ''}: ${e.toExponential(1)}`);
      assert.ok(e < (precision === 'f64' ? 1e-12 : 1e-5), `${fn} ${precision}: ‖WᴴW − I‖ = ${e}`);
      // the walk moved W
      assert.ok(relErr(r.outputs.out!.data, W0.data) > 0.1, `${fn}: W moved`);
    }
  }
  console.log('# max|WᴴW − I| after 2000 steps:', out.join(', '));
});

test('complex projected RMSprop and SGD (T and D) minimise ‖W − W*‖²_F over U(N): W stays unitary, the loss halves; state from NAME.init (sq real, the others complex)', async () => {
  const rng = new Rng(48);
  const N = 8;
  const Wstar = randomUnitary(rng, N);
  const loss = (W: ArrayLike<number>) => Array.from(W).reduce((s, w, i) => s + (w - Wstar[i]!) ** 2, 0);
  // torch's z.grad of ‖W − W*‖²_F: 2 (W − W*), per part
  const grad = (W: Tensor) => new Tensor([N, N, 2], Float64Array.from(W.data, (w, i) => 2 * (w - Wstar[i]!)));
  for (const opt of ['cprojunn_t_rmsprop', 'cprojunn_d_rmsprop', 'cprojunn_t_sgd', 'cprojunn_d_sgd']) {
    let W = new Tensor([N, N, 2], randomUnitary(rng, N));
    const st = await pj.fn(`${opt}.init`).forward({ W, G: grad(W) });
    let state = st.outputs;
    if (opt.endsWith('rmsprop')) {
      assert.deepEqual(state.sq!.shape, [N, N]);
      assert.deepEqual(state.buf!.shape, [N, N, 2]);
    }
    const l0 = loss(W.data);
    const isSgd = opt.endsWith('sgd');
    const reorth = opt.startsWith('cprojunn_d') ? 5 : 0;
    for (let it = 0; it < 60; it++) {
      const r = await pj.fn(opt).forward({ W, G: grad(W), ...state, lr: isSgd ? 0.1 : 0.05 }, { dims: { k: 2, reorth, seed: 1 } });
      assert.ok(r.status.ok, `${opt}: status at step ${it}`);
      const { W: W2, ...rest } = r.outputs;
      W = W2!;
      state = rest;
      assert.ok(unitaryErr(W.data, N) <= (reorth ? 1e-10 : 1e-12), `${opt}: ‖WᴴW − I‖ = ${unitaryErr(W.data, N)} at step ${it}`);
    }
    assert.equal(state.t!.data[0], 60, `${opt}: step counter`);
    const l1 = loss(W.data);
    console.log(`# ${opt}: loss ${l0.toFixed(3)} → ${l1.toFixed(3)}, ‖WᴴW − I‖ ${unitaryErr(W.data, N).toExponential(1)}`);
    assert.ok(l1 < 0.5 * l0, `${opt}: loss ${l0} → ${l1}`);
  }
});

test('run-time checks of complex structures (MATR105): unitary and cstiefel inputs need orthonormal columns in the complex sense, herm and hpd inputs Hermitian; valid inputs bind', async () => {
  const m = compile(
    `fn u(W: unitary[n]) -> real = real(trace(W))
     fn s(X: cstiefel[n, k]) -> real = real(sum(X))
     fn h(H: herm[n]) -> real = real(trace(H))
     fn p(H: hpd[n]) -> real = real(trace(H))`,
    { path: 'checks.mat' },
  );
  const rejects = async (fn: string, x: Tensor, what: RegExp) => {
    await assert.rejects(m.fn(fn).forward({ [fn === 'u' ? 'W' : fn === 's' ? 'X' : 'H']: x }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'MATR105', e.message);
      assert.match(e.message, what);
      return true;
    });
  };
  const N = 5;
  const U = randomUnitary(new Rng(9), N);
  // a complex unitary matrix passes, and so does its conjugate (still unitary)
  assert.ok((await m.fn('u').forward({ W: new Tensor([N, N, 2], U) })).status.ok);
  assert.ok((await m.fn('u').forward({ W: new Tensor([N, N, 2], U.map((v, i) => (i % 2 ? -v : v))) })).status.ok);
  // W = U with one entry's imaginary part perturbed
  const bad = Float64Array.from(U);
  bad[2 * (1 * N + 2) + 1] += 1e-2;
  await rejects('u', new Tensor([N, N, 2], bad), /declared unitary but its columns are not orthonormal/);
  // 2U: orthogonal columns, not normalised
  const twice = new Float64Array(U.length);
  for (let i = 0; i < U.length; i++) twice[i] = 2 * U[i]!;
  await rejects('u', new Tensor([N, N, 2], twice), /max \|XᴴX − I\|/);
  // cstiefel: the first 3 columns of U pass; scaled ones fail
  const X = new Float64Array(2 * N * 3);
  for (let i = 0; i < N; i++) for (let j = 0; j < 3; j++) for (let c = 0; c < 2; c++) X[2 * (i * 3 + j) + c] = U[2 * (i * N + j) + c]!;
  assert.ok((await m.fn('s').forward({ X: new Tensor([N, 3, 2], X) })).status.ok);
  await rejects('s', new Tensor([N, 3, 2], X.map((v) => 1.01 * v)), /declared cstiefel/);
  // Hermitian: A + Aᴴ passes (h and p); a complex symmetric matrix and an imaginary diagonal fail
  const A = new Rng(10).normals(2 * N * N);
  const H = new Float64Array(A.length);
  const S = new Float64Array(A.length);
  for (let i = 0; i < N; i++)
    for (let j = 0; j < N; j++) {
      H[2 * (i * N + j)] = A[2 * (i * N + j)]! + A[2 * (j * N + i)]!;
      H[2 * (i * N + j) + 1] = A[2 * (i * N + j) + 1]! - A[2 * (j * N + i) + 1]!;
      S[2 * (i * N + j)] = A[2 * (i * N + j)]! + A[2 * (j * N + i)]!;
      // complex symmetric (Sᵀ = S), real diagonal: not Hermitian off the diagonal
      S[2 * (i * N + j) + 1] = i === j ? 0 : A[2 * (i * N + j) + 1]! + A[2 * (j * N + i) + 1]!;
    }
  assert.ok((await m.fn('h').forward({ H: new Tensor([N, N, 2], H) })).status.ok);
  assert.ok((await m.fn('p').forward({ H: new Tensor([N, N, 2], H) })).status.ok);
  await rejects('h', new Tensor([N, N, 2], S), /declared herm but X\[\d,\d\] = .* is not the conjugate of/);
  await rejects('p', new Tensor([N, N, 2], S), /declared hpd/);
  const D = Float64Array.from(H);
  D[1] = 0.5; // an imaginary part on the diagonal
  await rejects('h', new Tensor([N, N, 2], D), /imaginary part 0.5 \(a Hermitian diagonal is real\)/);
  // the data passed in is not modified by the checks
  assert.equal(D[1], 0.5);
  // cprojunn_t checks its unitary W (stdlib)
  const c = scipyCases[0]!;
  const Wbad = Float64Array.from(c.inputs.W.data);
  Wbad[0] += 0.1;
  await assert.rejects(pj.fn('cprojunn_t').forward({ ...inputsOf(c), W: new Tensor(c.inputs.W.shape, Wbad) }), /MATR105|declared unitary/);
});

test('CLI: matc run --random draws a unitary W for cprojunn_t/cprojunn_d (the result is unitary) and --check-grad passes; cqr too', () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = [resolve(here, '../..'), resolve(here, '..')].find((p) => existsSync(join(p, 'stdlib', 'projunn.mat')))!;
  const matc = (args: string[]) => spawnSync(process.execPath, [join(root, 'dist', 'cli', 'matc.js'), ...args], { cwd: root, encoding: 'utf8', timeout: 240_000, maxBuffer: 64 << 20 });
  for (const [file, fn, dims] of [['projunn', 'cprojunn_t', 'n=6,k=2'], ['projunn', 'cprojunn_d', 'n=6,k=1'], ['qr', 'cqr', 'm=5,n=3']] as const) {
    const r = matc(['run', `stdlib/${file}.mat`, '--fn', fn, '--random', '--dims', dims, '--backend', 'cpu', '--check-grad', '--json']);
    assert.equal(r.status, 0, `${fn}: ${r.stderr}`);
    const j = JSON.parse(r.stdout) as { outputs: Record<string, { shape: number[]; data: number[] }>; gradCheck: { ok: boolean; maxRelErr: number } };
    assert.ok(j.gradCheck.ok && j.gradCheck.maxRelErr < 1e-6, `${fn}: --check-grad ${JSON.stringify(j.gradCheck).slice(0, 200)}`);
    if (fn === 'cqr') assert.ok(unitaryErr(j.outputs.Q!.data, 5, 3) < 1e-13, 'cqr: Q has orthonormal columns');
    else assert.ok(unitaryErr(j.outputs.out!.data, 6) < 1e-12, `${fn}: unitary result from --random`);
  }
});

test('WebGPU, gated (MATC_GPU_LAYERS=1 on software adapters): cprojunn_t and cprojunn_d (N = 6, k = 1) against SciPy and unitary in f32, cqr against torch', async (t) => {
  const ctx = await layerGpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const c = scipyCases.find((x) => x.name === 'random_n6_k1')!;
  for (const [fn, want] of [['cprojunn_t', c.outputs.T], ['cprojunn_d', c.outputs.D]] as const) {
    const r = await pj.fn(fn).forward(inputsOf(c), { backend });
    const got = r.outputs.out!.data;
    assertFinite(got, `${fn} webgpu`);
    const e = relErr(got, want.data);
    console.log(`# webgpu ${fn}: relative error ${e.toExponential(1)}, ‖OᴴO − I‖ ${unitaryErr(got, 6).toExponential(1)}`);
    assert.ok(e <= 1e-4, `${fn} webgpu: ${e}`);
    assert.ok(unitaryErr(got, 6) <= 1e-5, `${fn} webgpu: unitarity ${unitaryErr(got, 6)}`);
  }
  const q = torchCases.find((x) => x.name === 'tall_5x3')!;
  const r = await qr.fn('cqr').forward({ A: T(q.inputs.A!) }, { backend });
  for (const k of ['Q', 'R']) {
    const e = relErr(r.outputs[k]!.data, q.outputs[k]!.data);
    console.log(`# webgpu cqr ${k}: relative error ${e.toExponential(1)}`);
    assert.ok(e <= 1e-5, `cqr ${k} webgpu: ${e}`);
  }
});
