// LESS far from 1 (issue 12: no silent wrong results). x*(sA, sb) = x*(A, b) for every s > 0, so
// the oracle at every scale is the exact solver (test/oracles/less-exact.ts) and the closed-form
// VJP of seeds-math §1.3 at scale 1 (util/less-ref.ts), both in f64 and independent of matc; the
// gradient at scale s is the one at scale 1 divided by s (chain rule on x*(sA, sb) = x*(A, b)), and
// the JVP along (s dA, s db) is the one at scale 1 along (dA, db).
//
// Before the fix, `riemannian_descent` formed its stopping rule, exact step and CG β from sums of
// squares and products of ∇φ = Aᵀ(Ax − b), which scale with s²: at s = 1e-90 (f64) it returned its
// starting point with `ok: true`, at 1e-80 a point off by 5e-3, and in f32 on WebGPU at 1e-10 a point
// off by 3e-4 — all with `ok: true`. Its Newton polish and the implicit backward were not scale-free
// either: at s = 1e90 the polish never reached eps^(3/4) (flagged), and the backward's dense KKT
// solve reported "singular or ill-conditioned" from s = 1e4 and below 1e-6 although its gradients
// were right (compiler/solvers/scale.ts: the descent runs on φ/c, the KKT matrix is prescaled and
// equilibrated).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../runtime/tensor.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import type { Backend } from '../runtime/backend.js';
import { lessExact } from './oracles/less-exact.js';
import { lessClosedFormVjp, lessKkt, type LessProblem } from './util/less-ref.js';
import { stdlibFn } from './util/layers.js';
import { gpuOrSkip } from './gpu-available.js';

/** PMaF's easy case (A = [I₃; 1ᵀ], b = [1, 2, 3, 4]) and a 6 × 4 of full rank. */
const PROBLEMS: LessProblem[] = [
  { m: 4, n: 3, A: Float64Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1]), b: Float64Array.from([1, 2, 3, 4]) },
  {
    m: 6,
    n: 4,
    A: Float64Array.from({ length: 24 }, (_, i) => Math.sin(i * 1.7 + 0.3) + (i % 5 === 0 ? 1 : 0)),
    b: Float64Array.from({ length: 6 }, (_, i) => 2 * Math.cos(i * 0.9)),
  },
];

const scaled = (p: LessProblem, s: number) => ({ A: new Tensor([p.m, p.n], Array.from(p.A, (v) => v * s)), b: new Tensor([p.m], Array.from(p.b, (v) => v * s)) });
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));
const maxAbs = (a: ArrayLike<number>) => Math.max(...Array.from(a, Math.abs));

const CPU: Record<string, () => Backend> = {
  'reference interpreter': () => new CpuBackend({ reference: true }),
  'compiled, WebAssembly': () => new CpuBackend({ threads: 1, engine: 'wasm' }),
  'compiled, JavaScript': () => new CpuBackend({ threads: 1, engine: 'js' }),
};

const SCALES = [1e-140, 1e-90, 1e-30, 1e-8, 1, 1e4, 1e30, 1e90, 1e140];

for (const [name, make] of Object.entries(CPU)) {
  test(`f64 CPU (${name}): LESS of (sA, sb), its VJP and JVP equal the exact solution and closed form, s from 1e-140 to 1e140, all converged`, async () => {
    const backend = make();
    const fn = stdlibFn('less', 'less');
    for (const p of PROBLEMS) {
      const exact = lessExact(p.A, p.b, p.m, p.n);
      assert.equal(exact.hardCase, false);
      const v = Float64Array.from({ length: p.n }, (_, i) => 1 - 0.7 * i);
      const cf = lessClosedFormVjp(p, exact.x, v);
      const gScale = Math.max(maxAbs(cf.gradA), maxAbs(cf.gradB));
      const dA = Array.from({ length: p.m * p.n }, (_, i) => Math.cos(0.4 * i));
      let t1: Float64Array | null = null;
      for (const s of SCALES) {
        const what = `${p.m}×${p.n} at scale ${s}`;
        const inputs = scaled(p, s);
        const f = await fn.forward(inputs, { backend });
        assert.ok(f.status.ok, `${what}: ${f.status.warnings.join('; ')}`);
        const err = maxDiff(f.outputs.x!.data, exact.x);
        assert.ok(err <= 1e-10, `${what}: x off the exact solution by ${err.toExponential(2)}`);
        const g = await fn.vjp(inputs, { x: new Tensor([p.n], v) }, { backend });
        assert.ok(g.status.ok, `${what} (vjp): ${g.status.warnings.join('; ')}`);
        const gerr = Math.max(maxDiff(Array.from(g.gradients.A!.data, (x) => x * s), cf.gradA), maxDiff(Array.from(g.gradients.b!.data, (x) => x * s), cf.gradB)) / gScale;
        assert.ok(gerr <= 1e-9, `${what}: s·gradient off the closed form by ${gerr.toExponential(2)} (relative)`);
        const j = await fn.jvp(inputs, { A: new Tensor([p.m, p.n], dA.map((x) => x * s)) }, { backend });
        assert.ok(j.status.ok, `${what} (jvp): ${j.status.warnings.join('; ')}`);
        const t = Float64Array.from(j.tangents.x!.data);
        if (s === 1) t1 = t;
        else if (t1) assert.ok(maxDiff(t, t1) <= 1e-9 * maxAbs(t1), `${what}: the JVP along (s dA) differs from the one at scale 1 by ${maxDiff(t, t1).toExponential(2)}`);
      }
      // the JVP at scale 1 against the closed form: ⟨v, ẋ⟩ = ⟨gradA, dA⟩ (duality with the oracle VJP)
      const dual = dA.reduce((acc, x, i) => acc + x * cf.gradA[i]!, 0);
      const jv = Array.from(t1!).reduce((acc, x, i) => acc + x * v[i]!, 0);
      assert.ok(Math.abs(dual - jv) <= 1e-9 * Math.max(1, Math.abs(dual)), `${p.m}×${p.n}: ⟨v, JVP⟩ = ${jv} but ⟨gradA, dA⟩ = ${dual}`);
    }
  });
}

test('f64 CPU: LESS 400×300 (301 unknowns: the backward runs MINRES) — s·gradient equals the closed form at s = 1, 1e2, 1e4 and 1e-8 (at 1e4 it was off by 4.5e-3, reported converged)', async () => {
  const m = 400;
  const n = 300;
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5);
  const p: LessProblem = { m, n, A: Float64Array.from({ length: m * n }, rnd), b: Float64Array.from({ length: m }, () => 3 * rnd()) };
  const fn = stdlibFn('less', 'less');
  const backend = new CpuBackend({ engine: 'wasm' });
  const v = Float64Array.from({ length: n }, rnd);
  const f = await fn.forward(scaled(p, 1), { backend });
  const x = Float64Array.from(f.outputs.x!.data);
  const kkt = lessKkt(p, x);
  assert.ok(f.status.ok && kkt.relative < 1e-12, `the forward at scale 1: KKT ${kkt.relative}`);
  const cf = lessClosedFormVjp(p, x, v);
  const gScale = Math.max(maxAbs(cf.gradA), maxAbs(cf.gradB));
  for (const s of [1, 1e2, 1e4, 1e-8]) {
    const g = await fn.vjp(scaled(p, s), { x: new Tensor([n], v) }, { backend });
    assert.ok(g.status.ok, `scale ${s}: ${g.status.warnings.join('; ')}`);
    const bw = g.status.nodes.find((nd) => nd.name.endsWith('/backward'))!;
    assert.ok(bw.iterations[0]! > 0, 'MINRES ran');
    const err = Math.max(maxDiff(Array.from(g.gradients.A!.data, (e) => e * s), cf.gradA), maxDiff(Array.from(g.gradients.b!.data, (e) => e * s), cf.gradB)) / gScale;
    assert.ok(err <= 1e-9, `scale ${s}: s·gradient off the closed form by ${err.toExponential(2)} (relative); backward ${JSON.stringify(bw)}`);
  }
});

test('WebGPU (f32): LESS of (sA, sb) from 1e-15 to 1e15 within f32 accuracy of the exact solution, and never a wrong point reported as converged', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const fn = stdlibFn('less', 'less');
  for (const p of PROBLEMS) {
    const exact = lessExact(p.A, p.b, p.m, p.n);
    for (const s of [1e-15, 1e-10, 1e-5, 1, 1e5, 1e10, 1e15]) {
      const f = await fn.forward(scaled(p, s), { backend });
      const err = maxDiff(f.outputs.x!.data, exact.x);
      // f32 squares leave the range past 1e±19: a converged status must mean a right answer
      const solver = f.status.nodes.find((nd) => nd.name.includes('argmin') && nd.kind === 'solver')!;
      if (solver.converged[0]) assert.ok(err <= 1e-4, `${p.m}×${p.n} at scale ${s}: converged but off by ${err.toExponential(2)}`);
      if (s >= 1e-10 && s <= 1e10) assert.ok(solver.converged[0] && err <= 1e-4, `${p.m}×${p.n} at scale ${s}: converged ${solver.converged[0]}, off by ${err.toExponential(2)}`);
    }
  }
});

// ---- newton and gauss_newton: relative stopping tests ------------------------------------------

const NEWTON_SRC = `layer root(A: mat[n, n], b: vec[n]) -> y: vec[n] =
  solve y: vec[n] such that A * y + 0.1 * (y .* y) == b by newton()
layer gn(A: mat[m, n], b: vec[m]) -> y: vec[n] =
  argmin y: vec[n] of 0.5 * sumsq(A * (y + 0.1 * (y .* y .* y)) - b) by gauss_newton()
`;

test('newton: the returned y solves A y + 0.1 y∘y = b equation by equation at every scale of (A, b), 1e-12 to 1e6 (it returned A⁻¹b, residual 3e-2, as converged at 1e-12)', async () => {
  const { compile } = await import('../api/module.js');
  const mod = compile(NEWTON_SRC, { path: 'solver-range-newton.mat' });
  const A = [3, 1, 0, 1, 4, 1, 0, 1, 5];
  const b = [1, 2, 3];
  for (const s of [1e-12, 1e-6, 1, 1e6]) {
    const As = A.map((v) => v * s);
    const bs = b.map((v) => v * s);
    const r = await mod.fn('root').forward({ A: new Tensor([3, 3], As), b: new Tensor([3], bs) }, { backend: 'cpu' });
    assert.ok(r.status.ok, `scale ${s}: ${r.status.warnings.join('; ')}`);
    const y = r.outputs.y!.data;
    // each equation's residual against the size of its terms, computed here in f64
    for (let i = 0; i < 3; i++) {
      let ay = 0;
      let size = 0;
      for (let j = 0; j < 3; j++) {
        ay += As[i * 3 + j]! * y[j]!;
        size += Math.abs(As[i * 3 + j]! * y[j]!);
      }
      const res = ay + 0.1 * y[i]! * y[i]! - bs[i]!;
      size += 0.1 * y[i]! * y[i]! + Math.abs(bs[i]!);
      assert.ok(Math.abs(res) <= 1e-10 * size, `scale ${s}, equation ${i}: residual ${res.toExponential(2)} against terms of size ${size.toExponential(2)}`);
    }
  }
});

test('gauss_newton: the minimizer of ½‖A(y + 0.1 y³) − b‖² is stationary (Jᵀr = 0, checked here in f64) and the same for (sA, sb), s from 1e-12 to 1e6', async () => {
  const { compile } = await import('../api/module.js');
  const mod = compile(NEWTON_SRC, { path: 'solver-range-newton.mat' });
  const m = 4;
  const n = 3;
  const A = [3, 1, 0, 1, 4, 1, 0, 1, 5, 1, 1, 1];
  const b = [1, 2, 3, 4];
  let y1: Float64Array | null = null;
  for (const s of [1, 1e-12, 1e-6, 1e6]) {
    const r = await mod.fn('gn').forward({ A: new Tensor([m, n], A.map((v) => v * s)), b: new Tensor([m], b.map((v) => v * s)) }, { backend: 'cpu' });
    assert.ok(r.status.ok, `scale ${s}: ${r.status.warnings.join('; ')}`);
    const y = Float64Array.from(r.outputs.y!.data);
    if (s === 1) {
      // r = A u − b with u = y + 0.1 y³; ∇ = diag(1 + 0.3 y²) Aᵀ r; compared against |diag(1 + 0.3y²)| |Aᵀ| |r| + …
      const u = Array.from(y, (v) => v + 0.1 * v ** 3);
      const res = Array.from({ length: m }, (_, i) => A.slice(i * n, i * n + n).reduce((acc, a, j) => acc + a * u[j]!, 0) - b[i]!);
      for (let j = 0; j < n; j++) {
        let g = 0;
        let size = 0;
        for (let i = 0; i < m; i++) {
          g += A[i * n + j]! * res[i]!;
          size += Math.abs(A[i * n + j]!) * (Math.abs(A.slice(i * n, i * n + n).reduce((acc, a, k) => acc + Math.abs(a * u[k]!), 0)) + Math.abs(b[i]!));
        }
        assert.ok(Math.abs(g) <= 1e-10 * size, `gradient entry ${j}: ${g.toExponential(2)} against ${size.toExponential(2)}`);
      }
      y1 = y;
    } else assert.ok(maxDiff(y, y1!) <= 1e-9, `scale ${s}: y differs from scale 1 by ${maxDiff(y, y1!).toExponential(2)}`);
  }
});

// ---- norm and normalize ------------------------------------------------------------------------

const NORM_SRC = `fn nz(x: vec[n]) -> vec[n] = normalize(x)
fn nm(X: mat[m, n]) -> real = norm(X)
`;

/** normalize(s x) = x/‖x‖ and its VJP s·∂ = (I − u uᵀ) v / ‖x‖; norm(s X) = s ‖X‖_F (closed forms). */
async function normsAt(backend: Backend | 'cpu', scales: number[], tol: number): Promise<void> {
  const { compile } = await import('../api/module.js');
  const mod = compile(NORM_SRC, { path: 'solver-range-norm.mat' });
  const x = [1, -2, 3, 0.5];
  const nx = Math.hypot(...x);
  const u = x.map((v) => v / nx);
  const v = [0.3, 1, -0.2, 2];
  const uv = u.reduce((a, ui, i) => a + ui * v[i]!, 0);
  const grad = v.map((vi, i) => (vi - u[i]! * uv) / nx);
  const X = [1, 2, 3, 4, 5, 6];
  const nX = Math.hypot(...X);
  for (const s of scales) {
    const xs = new Tensor([4], x.map((e) => e * s));
    const f = await mod.fn('nz').forward({ x: xs }, { backend });
    assert.ok(f.status.ok, `normalize at ${s}: ${f.status.warnings.join('; ')}`);
    assert.ok(maxDiff(f.outputs.out!.data, u) <= tol, `normalize at ${s}: ${Array.from(f.outputs.out!.data).join(', ')}`);
    const g = await mod.fn('nz').vjp({ x: xs }, { out: new Tensor([4], v) }, { backend });
    assert.ok(maxDiff(Array.from(g.gradients.x!.data, (e) => e * s), grad) <= tol, `normalize's VJP at ${s}`);
    const nrm = await mod.fn('nm').forward({ X: new Tensor([2, 3], X.map((e) => e * s)) }, { backend });
    assert.ok(nrm.status.ok && Math.abs(nrm.outputs.out!.data[0]! / s - nX) <= tol * nX, `norm at ${s}: ${nrm.outputs.out!.data[0]}`);
  }
}

for (const [name, make] of Object.entries(CPU)) {
  test(`f64 CPU (${name}): norm and normalize of s·x and normalize's VJP from 1e-300 to 1e300 (normalize of 1e160·x returned 0 with ok: true)`, async () => {
    await normsAt(make(), [1e-300, 1e-200, 1e-160, 1, 1e160, 1e200, 1e300], 1e-14);
  });
}

test('WebGPU (f32): norm and normalize of s·x from 1e-30 to 1e30', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  await normsAt(new WebGpuBackend(ctx), [1e-30, 1e-22, 1, 1e22, 1e30], 2e-6);
});
