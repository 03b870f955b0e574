// Issue 9's accuracy property: at DEFAULT options, "converged" must mean the returned solution is
// one whose implicit gradient is right. On the f64 CPU, over many random instances, every LESS and
// IED solution the status calls converged is within 1e-9 of the exact one and its gradient within
// 1e-8 of the exact gradient; and the solvers flag at most 1% (LESS: the global minimum of the
// secular equation every time, or a flag). Oracles share no code with matc: LESS's exact minimiser
// by the secular equation (test/oracles/less-exact.ts) with the closed-form backward of
// seeds-math §1.3 at it; IED's top eigenvector by cyclic Jacobi, oriented 1ᵀu ≥ 0, with the
// closed-form backward sym((λ₁I − X)⁺ v uᵀ) from the eigendecomposition. Plus the easy case the
// issue reported (PMaF's exact step ends uphill there) and f32 on WebGPU (1e-4 or flagged).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { Rng } from '../runtime/random.js';
import { Tensor } from '../runtime/tensor.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { jacobiEigen, lessExact } from './oracles/less-exact.js';
import { lessClosedFormVjp, lessF, type LessProblem } from './util/less-ref.js';
import { repoRoot } from './gen/paths.js';
import { gpuOrSkip } from './gpu-available.js';

const stdlib = (file: string) => {
  const path = join(repoRoot, 'stdlib', file);
  return compile(readFileSync(path, 'utf8'), { path });
};

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>, sign = 1): number => {
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i]! - sign * b[i]!));
  return e;
};
const scaleOf = (a: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s = Math.max(s, Math.abs(a[i]!));
  return Math.max(s, 1e-300);
};

interface LessCase {
  m: number;
  n: number;
  N: number;
  uniformB?: boolean;
}

/** 1,000 instances of each small shape; 1024×256 with fewer (its oracle is an O(n³) Jacobi per
 *  instance), the full count being a benchmark-sized run. */
const LESS_CASES: LessCase[] = [
  { m: 4, n: 3, N: 1000, uniformB: true },
  { m: 6, n: 4, N: 1000 },
  { m: 64, n: 32, N: 1000 },
  { m: 1024, n: 256, N: 6 },
];

for (const c of LESS_CASES) {
  test(`LESS at default options, ${c.N} random ${c.m}×${c.n} problems${c.uniformB ? ' (b ~ U(−2, 2))' : ''}: the exact minimiser and gradient, or a flag (≤ 1%)`, async () => {
    const fn = stdlib('less.mat').fn('less');
    const rng = new Rng(900 + c.m);
    const { m, n, N } = c;
    const A = rng.normals(N * m * n);
    const b = c.uniformB ? Float64Array.from(rng.normals(N * m), (_, i) => 2 * Math.sin(7.1 * i + 0.3) * Math.cos(1.3 * i)) : rng.normals(N * m);
    const v = rng.normals(N * n);
    const r = await fn.vjp({ A: new Tensor([N, m, n], A), b: new Tensor([N, m], b) }, { x: new Tensor([N, n], v) });
    const st = r.status.nodes.find((s) => s.kind === 'solver')!;
    let flagged = 0;
    let worstX = 0;
    let worstG = 0;
    const bad: string[] = [];
    for (let i = 0; i < N; i++) {
      const p: LessProblem = { A: A.subarray(i * m * n, (i + 1) * m * n), b: b.subarray(i * m, (i + 1) * m), m, n };
      const ex = lessExact(p.A, p.b, m, n);
      if (ex.hardCase) continue;
      if (!st.converged[i]) {
        flagged++;
        continue;
      }
      const x = r.outputs.x!.data.subarray(i * n, (i + 1) * n);
      const ex2 = lessClosedFormVjp(p, ex.x, v.subarray(i * n, (i + 1) * n));
      const ex_ = maxAbs(x, ex.x);
      const eg = Math.max(maxAbs(r.gradients.A!.data.subarray(i * m * n, (i + 1) * m * n), ex2.gradA) / scaleOf(ex2.gradA), maxAbs(r.gradients.b!.data.subarray(i * m, (i + 1) * m), ex2.gradB) / scaleOf(ex2.gradB));
      worstX = Math.max(worstX, ex_);
      worstG = Math.max(worstG, eg);
      if (ex_ > 1e-9 || eg > 1e-8) bad.push(`#${i}: |x − x*| ${ex_.toExponential(1)}, gradient ${eg.toExponential(1)}, f ${lessF(p, x)} vs f* ${ex.f}`);
    }
    assert.deepEqual(bad.slice(0, 5), [], `${bad.length} converged instances off the exact solution`);
    assert.ok(flagged <= N / 100, `${flagged} of ${N} flagged`);
    assert.equal(r.status.ok, flagged === 0);
    void worstX;
    void worstG;
  });
}

test('the easy case of the issue (A = [I₃; 1ᵀ], b = [1, 2, 3, 4]): the default reaches f* = 6.474, PMaF’s step ends uphill and is flagged', async () => {
  const m = stdlib('less.mat');
  const A = new Tensor([4, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1]);
  const b = new Tensor([4], [1, 2, 3, 4]);
  const p: LessProblem = { A: Float64Array.from(A.data), b: Float64Array.from(b.data), m: 4, n: 3 };
  const ex = lessExact(p.A, p.b, 4, 3);
  for (const fn of ['less', 'less_bls']) {
    const r = await m.fn(fn).forward({ A, b });
    assert.equal(r.status.ok, true, `${fn}: ${r.status.warnings}`);
    assert.ok(maxAbs(r.outputs.x!.data, ex.x) < 1e-12, `${fn}: x = ${r.outputs.x!.data}`);
    assert.ok(Math.abs(lessF(p, r.outputs.x!.data) - 6.474104291032442) < 1e-9);
  }
  const pm = await m.fn('less_pmaf').forward({ A, b });
  assert.equal(pm.status.ok, false, 'PMaF’s solver reports its failure');
  assert.ok(lessF(p, pm.outputs.x!.data) > 9, 'and ends where the issue saw it (f = 9.29)');
});

/** PMaF's IED data: |N(0,1)| entries, then X + Xᵀ. */
function pmafSym(rng: Rng, m: number): Float64Array {
  const r = rng.normals(m * m);
  const X = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) X[i * m + j] = Math.abs(r[i * m + j]!) + Math.abs(r[j * m + i]!);
  return X;
}

/** The top eigenvector (oriented 1ᵀu ≥ 0) and the closed-form VJP sym((λ₁I − X)⁺ v uᵀ). */
function iedExact(X: Float64Array, m: number, v: ArrayLike<number>): { u: Float64Array; grad: Float64Array } {
  const e = jacobiEigen(X, m);
  const top = m - 1;
  const u = e.vectorsT.slice(top * m, (top + 1) * m);
  let s = 0;
  for (const x of u) s += x;
  if (s < 0) for (let i = 0; i < m; i++) u[i] = -u[i]!;
  // (λ₁I − X)⁺ v = Σ_{j≠top} (vⱼᵀv)/(λ₁ − λⱼ) vⱼ
  const w = new Float64Array(m);
  for (let j = 0; j < top; j++) {
    const vj = e.vectorsT.subarray(j * m, (j + 1) * m);
    let c = 0;
    for (let i = 0; i < m; i++) c += vj[i]! * v[i]!;
    c /= e.values[top]! - e.values[j]!;
    for (let i = 0; i < m; i++) w[i] += c * vj[i]!;
  }
  const grad = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) grad[i * m + j] = 0.5 * (w[i]! * u[j]! + u[i]! * w[j]!);
  return { u, grad };
}

/** One VJP call of an IED layer over a batch of N symmetric m×m matrices, each converged instance
 *  against the exact eigenvector and closed-form gradient (iedExact): the instances off them, how
 *  many the status flags, and the worst errors. */
async function iedAgainstExact(layer: string, X: Float64Array, N: number, mm: number, rng: Rng) {
  const v = rng.normals(N * mm);
  const r = await stdlib('ied.mat').fn(layer).vjp({ X: new Tensor([N, mm, mm], X) }, { u: new Tensor([N, mm], v) });
  const st = r.status.nodes.find((s) => s.kind === 'solver')!;
  const bad: string[] = [];
  let flagged = 0;
  let worstU = 0;
  let worstG = 0;
  for (let i = 0; i < N; i++) {
    if (!st.converged[i]) {
      flagged++;
      continue;
    }
    const ex = iedExact(X.subarray(i * mm * mm, (i + 1) * mm * mm), mm, v.subarray(i * mm, (i + 1) * mm));
    const eu = maxAbs(r.outputs.u!.data.subarray(i * mm, (i + 1) * mm), ex.u);
    // matc's gradient for a sym input is symmetrised: compare with the symmetric closed form
    const eg = maxAbs(r.gradients.X!.data.subarray(i * mm * mm, (i + 1) * mm * mm), ex.grad) / scaleOf(ex.grad);
    worstU = Math.max(worstU, eu);
    worstG = Math.max(worstG, eg);
    if (eu > 1e-9 || eg > 1e-8) bad.push(`#${i}: |u − u*| ${eu.toExponential(1)}, gradient ${eg.toExponential(1)}`);
  }
  return { bad, flagged, worst: `worst |Δu| ${worstU.toExponential(1)}, gradient ${worstG.toExponential(1)}` };
}

for (const [mm, N] of [
  [8, 1000],
  [32, 1000],
] as const) {
  test(`IED at default options, ${N} instances of PMaF's data at m = ${mm}: the exact eigenvector and gradient, or a flag`, async () => {
    const rng = new Rng(77 + mm);
    const X = new Float64Array(N * mm * mm);
    for (let i = 0; i < N; i++) X.set(pmafSym(rng, mm), i * mm * mm);
    const { bad, flagged } = await iedAgainstExact('ied', X, N, mm, rng);
    assert.deepEqual(bad.slice(0, 5), [], `${bad.length} converged instances off the exact solution`);
    assert.ok(flagged <= N / 100, `${flagged} of ${N} flagged`);
  });

  test(`ied_lanczos at default options, ${N} Wigner matrices at m = ${mm} (eigenvalues of both signs, where power iteration mostly falls short): the exact eigenvector and gradient, every instance converged`, async () => {
    const rng = new Rng(91 + mm);
    const X = new Float64Array(N * mm * mm);
    for (let i = 0; i < N; i++) {
      const G = rng.normals(mm * mm);
      for (let r = 0; r < mm; r++) for (let c = 0; c < mm; c++) X[i * mm * mm + r * mm + c] = (G[r * mm + c]! + G[c * mm + r]!) / 2;
    }
    const { bad, flagged, worst } = await iedAgainstExact('ied_lanczos', X, N, mm, rng);
    assert.deepEqual(bad.slice(0, 5), [], `${bad.length} converged instances off the exact solution (${worst})`);
    assert.equal(flagged, 0, `${flagged} of ${N} not converged`);
  });
}

test('IED with a small eigengap: flagged when 100 iterations fall short, exact with polish', async () => {
  // X = diag(1, 0.999, 0.5, …) rotated: λ₂/λ₁ = 0.999, far too slow for 100 power iterations
  const mm = 6;
  const rng = new Rng(5);
  const Q = jacobiEigen(pmafSym(rng, mm), mm).vectorsT;
  const lam = [0.1, 0.2, 0.3, 0.5, 0.999, 1];
  const X = new Float64Array(mm * mm);
  for (let i = 0; i < mm; i++) for (let j = 0; j < mm; j++) for (let k = 0; k < mm; k++) X[i * mm + j] += Q[k * mm + i]! * lam[k]! * Q[k * mm + j]!;
  for (let i = 0; i < mm; i++) for (let j = 0; j < i; j++) X[i * mm + j] = X[j * mm + i]!;
  const r = await stdlib('ied.mat').fn('ied').forward({ X: new Tensor([mm, mm], X) });
  assert.equal(r.status.ok, false, 'not converged: said so');
  const src = `layer ied(X: sym[m]) -> u: sphere[m] =\n  argmax u: sphere[m] of u' * X * u\n    by power_iteration(max_iter: 100, polish: 3)\n    orient sum(u) >= 0\n`;
  const p = await compile(src, { path: 'ied-polish.mat' }).fn('ied').forward({ X: new Tensor([mm, mm], X) });
  assert.equal(p.status.ok, true, p.status.warnings.join('; '));
  const ex = iedExact(X, mm, new Float64Array(mm));
  assert.ok(maxAbs(p.outputs.u!.data, ex.u) < 1e-10, `u = ${p.outputs.u!.data} vs ${ex.u}`);
});

test('f32 on WebGPU: LESS and IED within 1e-4 of the exact solutions, or flagged', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const rng = new Rng(31);
  const N = 64;
  const [m, n] = [12, 6];
  const A = rng.normals(N * m * n);
  const b = rng.normals(N * m);
  const r = await stdlib('less.mat').fn('less').forward({ A: new Tensor([N, m, n], A), b: new Tensor([N, m], b) }, { backend });
  const st = r.status.nodes.find((s) => s.kind === 'solver')!;
  let flagged = 0;
  for (let i = 0; i < N; i++) {
    if (!st.converged[i]) {
      flagged++;
      continue;
    }
    const ex = lessExact(A.subarray(i * m * n, (i + 1) * m * n), b.subarray(i * m, (i + 1) * m), m, n);
    assert.ok(maxAbs(r.outputs.x!.data.subarray(i * n, (i + 1) * n), ex.x) < 1e-4, `LESS #${i}`);
  }
  assert.ok(flagged <= 2, `LESS f32: ${flagged} flagged`);
  const mm = 10;
  const X = new Float64Array(N * mm * mm);
  for (let i = 0; i < N; i++) X.set(pmafSym(rng, mm), i * mm * mm);
  const u = await stdlib('ied.mat').fn('ied').forward({ X: new Tensor([N, mm, mm], X) }, { backend });
  const su = u.status.nodes.find((s) => s.kind === 'solver')!;
  for (let i = 0; i < N; i++) {
    if (!su.converged[i]) continue;
    const ex = iedExact(X.subarray(i * mm * mm, (i + 1) * mm * mm), mm, new Float64Array(mm));
    assert.ok(maxAbs(u.outputs.u!.data.subarray(i * mm, (i + 1) * mm), ex.u) < 1e-4, `IED #${i}`);
  }
  assert.ok(su.converged.filter((c) => !c).length <= 1);
});
