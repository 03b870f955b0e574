// stdlib/projunn.mat (issue 13 items 2–3, real orthogonal case): the projUNN-T and projUNN-D
// retractions against dense SciPy computations (test/fixtures/projunn.json, written by
// test/oracles/gen_projunn_fixtures.py: W expm(skew(Wᵀ a bᵀ)) and polar(W + a bᵀ) the O(N³) way)
// on every CPU engine in f64 and f32 and on WebGPU; Δ = 0, a rank-deficient [b, Wᵀa] and repeated
// eigenvalues (finite, exact); the grad rules against central finite differences in f64; the
// O(kN²) structure (no N×N·N×N product in the optimized forward or VJP); the LSI and column-
// sampling rank-k approximations (exact on rank-k input, seeded, zero at zero); the projected
// optimizers (orthogonality kept, a loss decreases, the f32 drift and its re-orthonormalisation).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { gradCheck } from '../api/gradcheck.js';
import { compileProgram } from '../compiler/compile.js';
import { stdlibDir } from '../compiler/check/items.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import type { Backend } from '../runtime/backend.js';
import { Tensor } from '../runtime/tensor.js';
import { Rng } from '../runtime/random.js';
import { fixturePath, type FixtureTensor } from './oracles/fixtures.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { layerGpuOrSkip } from './util/gpu-layers.js';
import { assertFinite, relErr } from './util/approx.js';
import { matmul, transpose } from './util/dense.js';

after(releaseSharedGpu);

interface ProjunnCase {
  name: string;
  inputs: { W: FixtureTensor; a: FixtureTensor; b: FixtureTensor };
  outputs: { T: FixtureTensor; D: FixtureTensor };
  checks: Record<string, number>;
}

const fixture = JSON.parse(readFileSync(fixturePath('projunn.json'), 'utf8')) as { cases: ProjunnCase[] };
const path = join(stdlibDir(), 'projunn.mat');
const source = readFileSync(path, 'utf8');
const mod = compile(source, { path });
const T = (f: FixtureTensor) => new Tensor(f.shape, Float64Array.from(f.data));
const inputsOf = (c: ProjunnCase) => ({ W: T(c.inputs.W), a: T(c.inputs.a), b: T(c.inputs.b) });

/** max |WᵀW − I| */
function orthErr(W: ArrayLike<number>, n: number): number {
  const g = matmul(transpose(W, n, n), W, n, n, n);
  let e = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) e = Math.max(e, Math.abs(g[i * n + j]! - (i === j ? 1 : 0)));
  return e;
}

/** A random orthogonal n×n matrix (modified Gram–Schmidt of a Gaussian matrix, twice). */
function randomOrth(rng: Rng, n: number): Float64Array {
  const A = rng.normals(n * n);
  const Q = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const v = Array.from({ length: n }, (_, i) => A[i * n + j]!);
    for (let pass = 0; pass < 2; pass++)
      for (let p = 0; p < j; p++) {
        let d = 0;
        for (let i = 0; i < n; i++) d += v[i]! * Q[i * n + p]!;
        for (let i = 0; i < n; i++) v[i]! -= d * Q[i * n + p]!;
      }
    const nn = Math.hypot(...v);
    for (let i = 0; i < n; i++) Q[i * n + j] = v[i]! / nn;
  }
  return Q;
}

const f64Backends = (): [string, Backend][] => [
  ['reference', new CpuBackend({ reference: true })],
  ['wasm', new CpuBackend({ engine: 'wasm', threads: 1 })],
  ['js', new CpuBackend({ engine: 'js', threads: 1 })],
];

test('identities: projunn_t = W expm(skew(Wᵀ a bᵀ)) and projunn_d = polar(W + a bᵀ) against dense SciPy, f64 on every CPU engine (1e-12) and f32 (1e-4)', async () => {
  const worst: Record<string, number> = {};
  for (const c of fixture.cases) {
    const n = c.inputs.W.shape[0]!;
    for (const [fn, want] of [['projunn_t', c.outputs.T], ['projunn_d', c.outputs.D]] as const) {
      // polar(W + a bᵀ) loses accuracy with the condition number of W + a bᵀ (up to 280 in
      // random_n6_k1): f32 to ~cond·ε₃₂ = 2e-5, the f64 orthogonality to ~1e-12
      const backends: [string, Backend, number][] = [
        ...f64Backends().map(([nm, be]): [string, Backend, number] => [nm, be, 1e-12]),
        ["js f32", new CpuBackend({ engine: "js", precision: "f32", threads: 1 }), 1e-4],
      ];
      for (const [name, backend, tol] of backends) {
        const r = await mod.fn(fn).forward(inputsOf(c), { backend });
        assert.ok(r.status.ok, `${fn} ${c.name} ${name}: status ${JSON.stringify(r.status)}`);
        const got = r.outputs.out!.data;
        assertFinite(got, `${fn} ${c.name} ${name}`);
        const e = relErr(got, want.data);
        worst[`${fn} ${name}`] = Math.max(worst[`${fn} ${name}`] ?? 0, e);
        assert.ok(e <= tol, `${fn} ${c.name} ${name}: relative error ${e.toExponential(2)} > ${tol}`);
        assert.ok(orthErr(got, n) <= (tol === 1e-12 ? 1e-11 : 1e-4), `${fn} ${c.name} ${name}: ‖OᵀO − I‖ = ${orthErr(got, n).toExponential(2)}`);
      }
    }
  }
  console.log('# worst relative errors:', JSON.stringify(Object.fromEntries(Object.entries(worst).map(([k, v]) => [k, v.toExponential(1)]))));
});

test('degenerate inputs: Δ = a bᵀ = 0 gives W exactly-ish, a = W b (rank-deficient [b, Wᵀa]) and repeated eigenvalues give finite, exact results', async () => {
  for (const name of ['delta_zero', 'rank_deficient_a_eq_Wb', 'repeated_eigenvalues_k2']) {
    const c = fixture.cases.find((x) => x.name === name)!;
    for (const fn of ['projunn_t', 'projunn_d']) {
      const r = await mod.fn(fn).forward(inputsOf(c));
      assertFinite(r.outputs.out!.data, `${fn} ${name}`);
      assert.ok(r.status.ok, `${fn} ${name}: status`);
      const want = fn === 'projunn_t' ? c.outputs.T : c.outputs.D;
      assert.ok(relErr(r.outputs.out!.data, want.data) <= 1e-13, `${fn} ${name}: ${relErr(r.outputs.out!.data, want.data)}`);
    }
  }
  // at Δ = 0 and a = W b both retractions return W (skew part 0; polar(W(I + b bᵀ)) = W)
  for (const name of ['delta_zero', 'rank_deficient_a_eq_Wb']) {
    const c = fixture.cases.find((x) => x.name === name)!;
    const r = await mod.fn('projunn_t').forward(inputsOf(c));
    assert.ok(relErr(r.outputs.out!.data, c.inputs.W.data) <= 1e-14, `projunn_t ${name} = W`);
  }
});

test('grad rules of projunn_t and projunn_d against central finite differences in f64 (random, Δ = 0, rank-deficient, repeated eigenvalues)', async () => {
  const report: string[] = [];
  for (const c of fixture.cases.filter((x) => x.inputs.W.shape[0]! <= 9)) {
    for (const fn of ['projunn_t', 'projunn_d']) {
      const r = await gradCheck(mod.fn(fn), inputsOf(c), { directions: 3, tolerance: 1e-6, seed: 5 });
      report.push(`${fn}/${c.name}: ${r.maxRelErr.toExponential(1)}`);
      assert.ok(r.ok, `${fn} ${c.name}: max relative error ${r.maxRelErr} (${JSON.stringify(r.directions)})`);
      for (const d of r.directions) assert.ok(Number.isFinite(d.analytic) && Math.abs(d.analytic) > 0, `${fn} ${c.name}: a nonzero directional derivative`);
    }
  }
  console.log('# grad check:', report.join(', '));
});

/** The N³ products in printed IR: matmul lines whose two operands are both N×N (dims `n, n`). */
function cubicProducts(text: string): string[] {
  // the opt stage prints the forward and the VJP, each with its own ids
  return text.split(/\n\n(?=vjp |fn )/).flatMap(cubicIn);
}

function cubicIn(text: string): string[] {
  const types = new Map<string, string>();
  for (const m of text.matchAll(/(%[\w.]+): f\[([^\]]*)\]/g)) types.set(m[1]!, m[2]!.replace(/\s/g, ''));
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /(%[\w.]+): f\[[^\]]*\] = (matmul|einsum) (%[\w.]+) (%[\w.]+)/.exec(line);
    if (m && types.get(m[3]!) === 'n,n' && types.get(m[4]!) === 'n,n') out.push(line.trim());
  }
  return out;
}

test('cost O(kN²): the optimized forward and VJP of projunn_t and projunn_d have no N×N·N×N product (and the structure check sees one in a dense expm)', () => {
  const p = compileProgram(source, { path });
  for (const fn of ['projunn_t', 'projunn_d']) {
    const text = p.stage(fn, 'opt');
    assert.ok(text.includes('vjp '), `${fn}: the opt stage has the VJP`);
    assert.ok(/matmul/.test(text), `${fn}: products present`);
    assert.deepEqual(cubicProducts(text), [], `${fn}: N³ products`);
  }
  // the check itself can fail: the dense formula has them
  const dense = compileProgram("fn dense_t(W: mat[n, n], a: mat[n, k], b: mat[n, k]) -> mat[n, n] = let X = W' * a * b' in W * expm(0.5 * (X - X'))", { path: 'dense.mat' });
  assert.ok(cubicProducts(dense.stage('dense_t', 'opt')).length > 0, 'the dense formula has N³ products');
});

/** a bᵀ (m×k times n×k). */
function outerK(a: ArrayLike<number>, b: ArrayLike<number>, m: number, n: number, k: number): Float64Array {
  return matmul(a, transpose(b, n, k), m, k, n);
}

test('rank-k approximations: LSI and column sampling reproduce a rank-k D exactly (eps = 0), are seeded (same key, same result; other key, other factors), and give a = b = 0 at D = 0', async () => {
  const rng = new Rng(41);
  const [m, n, k] = [9, 7, 2];
  const U = rng.normals(m * k);
  const V = rng.normals(n * k);
  const D = outerK(U, V, m, n, k);
  const zero = new Tensor([m, n], new Float64Array(m * n));
  for (const [fn, dims] of [['lsi', { k, key: 3 }], ['column_sampling', { k, oversample: 3, key: 3 }]] as const) {
    for (const [name, backend] of f64Backends()) {
      const r = await mod.fn(fn).forward({ D: new Tensor([m, n], D), eps: 0 }, { backend, dims });
      assert.deepEqual(r.outputs.a!.shape, [m, k]);
      assert.deepEqual(r.outputs.b!.shape, [n, k]);
      const e = relErr(outerK(r.outputs.a!.data, r.outputs.b!.data, m, n, k), D);
      assert.ok(e <= 1e-10, `${fn} ${name}: a bᵀ = D for rank-k D: ${e}`);
      // the default eps (1e-6) perturbs by about eps / σ
      const rd = await mod.fn(fn).forward({ D: new Tensor([m, n], D) }, { backend, dims });
      assert.ok(relErr(outerK(rd.outputs.a!.data, rd.outputs.b!.data, m, n, k), D) <= 1e-5, `${fn} ${name}: default eps`);
      const r0 = await mod.fn(fn).forward({ D: zero }, { backend, dims });
      for (const o of ['a', 'b']) assert.ok(r0.outputs[o]!.data.every((x) => x === 0), `${fn} ${name}: ${o} = 0 at D = 0`);
    }
    // seeded: the same key gives the same factors; another key other factors (same product)
    const full = rng.normals(m * n);
    const again = async (key: number) => (await mod.fn(fn).forward({ D: new Tensor([m, n], full) }, { dims: { ...dims, key } })).outputs;
    const [x1, x2, y] = [await again(3), await again(3), await again(4)];
    assert.deepEqual([...x1.a!.data], [...x2.a!.data], `${fn}: deterministic for one key`);
    assert.ok(relErr(x1.a!.data, y.a!.data) > 1e-6 || relErr(x1.b!.data, y.b!.data) > 1e-6, `${fn}: another key, other random numbers`);
  }
});

test('LSI on a full-rank D captures the dominant rank-k part (‖D − a bᵀ‖_F within 1.5× of the optimal rank-k error for a fast-decaying spectrum)', async () => {
  const rng = new Rng(43);
  const [m, n, k] = [12, 10, 1];
  // D = Σ σ_i u_i v_iᵀ with σ = 10, 1, 0.1, …: the randomized range finder without power
  // iterations is near-optimal when the spectrum decays fast
  const Uo = randomOrth(rng, m);
  const Vo = randomOrth(rng, n);
  const D = new Float64Array(m * n);
  let tail = 0;
  for (let l = 0; l < n; l++) {
    const s = 10 * Math.pow(0.1, l);
    if (l >= k) tail += s * s;
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) D[i * n + j]! += s * Uo[i * m + l]! * Vo[j * n + l]!;
  }
  const r = await mod.fn('lsi').forward({ D: new Tensor([m, n], D) }, { dims: { k, key: 9 } });
  const ab = outerK(r.outputs.a!.data, r.outputs.b!.data, m, n, k);
  let err = 0;
  for (let i = 0; i < m * n; i++) err += (D[i]! - ab[i]!) ** 2;
  assert.ok(Math.sqrt(err) <= 1.5 * Math.sqrt(tail), `‖D − a bᵀ‖ = ${Math.sqrt(err)} vs optimal ${Math.sqrt(tail)}`);
});

test('projected RMSprop and SGD (projUNN-T and -D) minimise ‖W − W*‖²_F over O(N): W stays orthogonal (f64: T 1e-12 unaided, D 1e-10 re-orthonormalised every 5 steps), the loss halves; state from NAME.init', async () => {
  const rng = new Rng(47);
  const N = 8;
  const Wstar = randomOrth(rng, N);
  const loss = (W: ArrayLike<number>) => Array.from(W).reduce((s, w, i) => s + (w - Wstar[i]!) ** 2, 0);
  for (const opt of ['projunn_t_rmsprop', 'projunn_d_rmsprop', 'projunn_t_sgd', 'projunn_d_sgd']) {
    let W = new Tensor([N, N], randomOrth(rng, N));
    const grad = (W: Tensor) => new Tensor([N, N], Float64Array.from(W.data, (w, i) => 2 * (w - Wstar[i]!)));
    const st = await mod.fn(`${opt}.init`).forward({ W, G: grad(W) });
    let state = st.outputs;
    const l0 = loss(W.data);
    const isSgd = opt.endsWith('sgd');
    for (let it = 0; it < 60; it++) {
      // projUNN-D maps an orthogonality error E to H E H (H = (W̃ᵀW̃ − E)^(−1/2), up to cond(W̃)²): with
      // steps this large it grows ~3× a step in f64, so the D optimizers re-orthonormalise every 5
      const reorth = opt.startsWith('projunn_d') ? 5 : 0;
      const r = await mod.fn(opt).forward({ W, G: grad(W), ...state, lr: isSgd ? 0.1 : 0.05 }, { dims: { k: 2, reorth, seed: 1 } });
      assert.ok(r.status.ok, `${opt}: status at step ${it}`);
      const { W: W2, ...rest } = r.outputs;
      W = W2!;
      state = rest;
      assert.ok(orthErr(W.data, N) <= (reorth ? 1e-10 : 1e-12), `${opt}: ‖WᵀW − I‖ = ${orthErr(W.data, N)} at step ${it}`);
    }
    assert.equal(state.t!.data[0], 60, `${opt}: step counter`);
    const l1 = loss(W.data);
    console.log(`# ${opt}: loss ${l0.toFixed(3)} → ${l1.toFixed(3)}, ‖WᵀW − I‖ ${orthErr(W.data, N).toExponential(1)}`);
    assert.ok(l1 < 0.5 * l0, `${opt}: loss ${l0} → ${l1}`);
  }
});

const driftSrc = `
import { projunn_t, projunn_d, reorthonormalize } from "projunn.mat"
// 'steps' random rank-1 steps of a retraction in one call, with a Newton–Schulz re-orthonormalisation
// every 'reorth' steps (0: never)
fn drift_t(W0: mat[n, n], steps: int, reorth: int, scale: real) -> mat[n, n] =
  iterate (W = W0) for t in 0..steps =>
    let W2 = projunn_t(W, scale * randn(t, n, 1), randn(t, n, 1, stream: 1)) in
    if reorth > 0 && mod(t + 1, reorth) == 0 then reorthonormalize(W2) else W2
fn drift_d(W0: mat[n, n], steps: int, reorth: int, scale: real) -> mat[n, n] =
  iterate (W = W0) for t in 0..steps =>
    let W2 = projunn_d(W, scale * randn(t, n, 1), randn(t, n, 1, stream: 1)) in
    if reorth > 0 && mod(t + 1, reorth) == 0 then reorthonormalize(W2) else W2
`;

test('f32 drift over 10⁴ steps (N = 32, compiled WASM f32): projUNN-T keeps ‖WᵀW − I‖ < 1e-5 unaided; projUNN-D needs the re-orthonormalisation (every 100 steps: < 1e-5)', async () => {
  const dm = compile(driftSrc, { path: 'drift.mat' });
  const N = 32;
  const I = new Float64Array(N * N);
  for (let i = 0; i < N; i++) I[i * N + i] = 1;
  const backend = new CpuBackend({ engine: 'wasm', precision: 'f32', threads: 1 });
  const run = async (fn: string, steps: number, reorth: number) => {
    const r = await dm.fn(fn).forward({ W0: new Tensor([N, N], I), scale: 0.01 }, { backend, dims: { steps, reorth } });
    return { err: orthErr(r.outputs.out!.data, N), ok: r.status.ok };
  };
  const t0 = await run('drift_t', 10000, 0);
  const t100 = await run('drift_t', 10000, 100);
  const d100 = await run('drift_d', 10000, 100);
  const d0 = await run('drift_d', 1000, 0);
  console.log(`# ‖WᵀW − I‖_max after 10⁴ f32 steps: T ${t0.err.toExponential(2)}, T reorth 100 ${t100.err.toExponential(2)}, D reorth 100 ${d100.err.toExponential(2)}; D without, 10³ steps: ${d0.err.toExponential(2)}`);
  assert.ok(t0.ok && t0.err < 1e-5, `projUNN-T unaided: ${t0.err}`);
  assert.ok(t100.ok && t100.err < 1e-6, `projUNN-T, reorth 100: ${t100.err}`);
  assert.ok(d100.ok && d100.err < 1e-5, `projUNN-D, reorth 100: ${d100.err}`);
  // D maps an error E = WᵀW − I to H E H (H = (W̃ᵀW̃ − E)^(−1/2)): it does not contract it, so
  // f32 rounding accumulates faster than with T (T multiplies by an orthogonal factor)
  assert.ok(d0.err > t0.err, `projUNN-D drifts faster than T unaided: ${d0.err} vs ${t0.err}`);
});

/** projunn_t and projunn_d of some fixture cases on WebGPU against SciPy. Each new shape compiles its
 *  kernels cold (about a minute of CPU per case on lavapipe), so CI runs one case and the
 *  degenerate ones run with MATC_GPU_LAYERS=1 (test/util/gpu-layers.ts). */
async function gpuCases(ctx: NonNullable<Awaited<ReturnType<typeof gpuOrSkip>>>, names: string[]): Promise<void> {
  const backend = new WebGpuBackend(ctx);
  for (const name of names) {
    const c = fixture.cases.find((x) => x.name === name)!;
    const n = c.inputs.W.shape[0]!;
    for (const [fn, want] of [['projunn_t', c.outputs.T], ['projunn_d', c.outputs.D]] as const) {
      const r = await mod.fn(fn).forward(inputsOf(c), { backend });
      const got = r.outputs.out!.data;
      assertFinite(got, `${fn} ${name} webgpu`);
      const e = relErr(got, want.data);
      console.log(`# webgpu ${fn} ${name}: relative error ${e.toExponential(1)}, ‖OᵀO − I‖ ${orthErr(got, n).toExponential(1)}`);
      assert.ok(e <= 1e-4, `${fn} ${name} webgpu: ${e}`);
      assert.ok(orthErr(got, n) <= 1e-5, `${fn} ${name} webgpu: orthogonality ${orthErr(got, n)}`);
    }
  }
}

test('WebGPU (f32, lavapipe in CI): projunn_t and projunn_d against dense SciPy (1e-4) and orthogonal to 1e-5, N = 16', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx) await gpuCases(ctx, ['random_n16_k1']);
});

test('WebGPU, gated (MATC_GPU_LAYERS=1): Δ = 0 and repeated eigenvalues on the GPU', async (t) => {
  const ctx = await layerGpuOrSkip(t);
  if (ctx) await gpuCases(ctx, ['repeated_eigenvalues_k2', 'delta_zero']);
});

test('matrix-chain order (compiler/opt/chain.ts): W Q E Qᵀ with W: mat[n, n], Q: mat[n, p] is ordered O(p n²) from the parameter types, not by one representative size', () => {
  // at n = p = 64 the representative order W (Q (E Qᵀ)) costs as much as ((W Q) E) Qᵀ, but for
  // p ≪ n it forms an n×n·n×n product; the square W (n×n) sharing n with Q tells the orderer p ≤ n
  const p = compileProgram("fn f(W: mat[n, n], Q: mat[n, p], E: mat[p, p]) -> mat[n, n] = W * Q * E * Q'", { path: 'chain.mat' });
  assert.deepEqual(cubicProducts(p.stage('f', 'opt')), [], 'no n×n·n×n product');
  // and a 2-name chain with no size relation keeps a valid product (values checked)
  const m = compile("fn g(A: mat[m, n], B: mat[n, m], C: mat[m, n]) -> mat[m, n] = A * B * C", { path: 'chain2.mat' });
  return m.fn('g').forward({ A: new Tensor([2, 3], [1, 2, 3, 4, 5, 6]), B: new Tensor([3, 2], [1, 0, 0, 1, 1, 1]), C: new Tensor([2, 3], [1, 0, 0, 0, 1, 0]) }).then((r) => {
    // A B = [[4, 5], [10, 11]]; (A B) C = [[4, 5, 0], [10, 11, 0]]
    assert.deepEqual([...r.outputs.out!.data], [4, 5, 0, 10, 11, 0]);
  });
});

test('CLI (issue 13 item 5): matc run stdlib/projunn.mat --fn projunn_t|projunn_d --random --check-grad; an optimizer step with state from NAME.init', () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = [resolve(here, '../..'), resolve(here, '..')].find((p) => existsSync(join(p, 'stdlib', 'projunn.mat')))!;
  const matc = (args: string[]) => spawnSync(process.execPath, [join(root, 'dist', 'cli', 'matc.js'), ...args], { cwd: root, encoding: 'utf8', timeout: 240_000, maxBuffer: 64 << 20 });
  for (const fn of ['projunn_t', 'projunn_d']) {
    const r = matc(['run', 'stdlib/projunn.mat', '--fn', fn, '--random', '--dims', 'n=6,k=2', '--backend', 'cpu', '--check-grad', '--json']);
    assert.equal(r.status, 0, `${fn}: ${r.stderr}`);
    const j = JSON.parse(r.stdout) as { outputs: Record<string, { shape: number[]; data: number[] }>; gradCheck: { ok: boolean; maxRelErr: number } };
    assert.ok(j.gradCheck.ok && j.gradCheck.maxRelErr < 1e-6, `${fn}: --check-grad ${JSON.stringify(j.gradCheck).slice(0, 200)}`);
    // --random draws an orthogonal W (orth[n]): the result is orthogonal
    assert.ok(orthErr(j.outputs.out!.data, 6) < 1e-12, `${fn}: orthogonal result from --random`);
  }
  const r = matc(['run', 'stdlib/projunn.mat', '--fn', 'projunn_t_rmsprop', '--random', '--dims', 'n=6', '--backend', 'cpu', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { outputs: Record<string, { shape: number[]; data: number[] }> };
  assert.deepEqual(j.outputs.t!.data, [1], 'the step counter starts at 0 (from .init) and is 1 after one step');
  assert.ok(j.outputs.sq!.data.every((x) => Number.isFinite(x) && x >= 0), 'RMS statistics from zeros(n, n)');
});

test('2k > N (the basis of [b, Wᵀa] has 2k columns) is MATR103 naming the function (retractions and optimizers), not an index error inside it', async () => {
  const rng = new Rng(11);
  const n = 4;
  const k = 3;
  const W = new Tensor([n, n], Float64Array.from({ length: n * n }, (_, i) => (Math.floor(i / n) === i % n ? 1 : 0)));
  const a = new Tensor([n, k], Float64Array.from(rng.normals(n * k)));
  const b = new Tensor([n, k], Float64Array.from(rng.normals(n * k)));
  for (const name of ['projunn_t', 'projunn_d']) {
    await assert.rejects(mod.fn(name).forward({ W, a, b }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'MATR103');
      assert.match(e.message, new RegExp(`${name}: dimension n_minus_2k = -2`));
      return true;
    });
  }
  for (const name of ['projunn_t_rmsprop', 'projunn_d_rmsprop', 'projunn_t_sgd', 'projunn_d_sgd']) {
    await assert.rejects(mod.fn(`${name}.init`).forward({ W, G: W }, { dims: { k } }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'MATR103');
      assert.match(e.message, new RegExp(`${name}.init: dimension n_minus_2k = -2`));
      return true;
    });
  }
});
