// Tests of the independent TypeScript LESS oracle (test/oracles/less-exact.ts):
//  1. it reproduces the SciPy-generated fixture test/fixtures/less.json to 1e-9;
//  2. on 1,000 random 2×2 problems its f* equals a brute-force minimum over the circle;
//  3. on random deep/square/wide problems it satisfies KKT, ‖x‖ = 1 and the second-order global
//     certificate AᵀA − 2νI ⪰ 0 (checked by a Cholesky factorisation, independent of Jacobi);
//  4. constructed hard cases are flagged and solved;
//  5. the 64×32 and 1024×256 sizes used to score matc run in reasonable time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jacobiEigen, lessExact } from './oracles/less-exact.js';
import { f64, loadFixture } from './oracles/fixtures.js';

// ---- small helpers ---------------------------------------------------------------------------------

/** Deterministic PRNG (mulberry32) with Box–Muller normals. */
function makeRng(seed: number): { normal(): number; uniform(): number } {
  let s = seed >>> 0;
  const uniform = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    uniform,
    normal: () => {
      const u = 1 - uniform();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
    },
  };
}

function randn(rng: { normal(): number }, len: number): Float64Array {
  const a = new Float64Array(len);
  for (let i = 0; i < len; i++) a[i] = rng.normal();
  return a;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

function lessF(A: Float64Array, b: Float64Array, m: number, n: number, x: ArrayLike<number>): number {
  let f = 0;
  for (let k = 0; k < m; k++) {
    let r = -b[k]!;
    for (let i = 0; i < n; i++) r += A[k * n + i]! * x[i]!;
    f += r * r;
  }
  return 0.5 * f;
}

/** max |Aᵀ(Ax − b) − 2νx|, and the scale ‖A‖_F² + ‖A‖_F‖b‖ it should be compared with. */
function kktResidual(A: Float64Array, b: Float64Array, m: number, n: number, x: Float64Array, nu: number): [number, number] {
  const g = new Float64Array(n);
  for (let k = 0; k < m; k++) {
    let r = -b[k]!;
    for (let i = 0; i < n; i++) r += A[k * n + i]! * x[i]!;
    for (let i = 0; i < n; i++) g[i] += A[k * n + i]! * r;
  }
  let res = 0;
  for (let i = 0; i < n; i++) res = Math.max(res, Math.abs(g[i]! - 2 * nu * x[i]!));
  let fa = 0;
  for (const v of A) fa += v * v;
  let fb = 0;
  for (const v of b) fb += v * v;
  return [res, fa + Math.sqrt(fa * fb)];
}

/** Does H = AᵀA − 2νI + δI admit a Cholesky factorisation (i.e. is it positive definite)? */
function choleskyOk(A: Float64Array, m: number, n: number, nu: number, delta: number): boolean {
  const H = new Float64Array(n * n);
  for (let k = 0; k < m; k++)
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) H[i * n + j] += A[k * n + i]! * A[k * n + j]!;
  for (let i = 0; i < n; i++) H[i * n + i] += delta - 2 * nu;
  for (let j = 0; j < n; j++) {
    let s = H[j * n + j]!;
    for (let k = 0; k < j; k++) s -= H[j * n + k]! ** 2;
    if (!(s > 0)) return false;
    const ljj = Math.sqrt(s);
    H[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let t = H[i * n + j]!;
      for (let k = 0; k < j; k++) t -= H[i * n + k]! * H[j * n + k]!;
      H[i * n + j] = t / ljj;
    }
  }
  return true;
}

/** ‖A⁺b‖ for wide full-row-rank A: A⁺b = Aᵀ(AAᵀ)⁻¹b, by a Cholesky solve with AAᵀ. */
function minNormSolutionNorm(A: Float64Array, b: Float64Array, m: number, n: number): number {
  const G = new Float64Array(m * m);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < m; j++) for (let k = 0; k < n; k++) G[i * m + j] += A[i * n + k]! * A[j * n + k]!;
  for (let j = 0; j < m; j++) {
    let s = G[j * m + j]!;
    for (let k = 0; k < j; k++) s -= G[j * m + k]! ** 2;
    const ljj = Math.sqrt(s);
    G[j * m + j] = ljj;
    for (let i = j + 1; i < m; i++) {
      let t = G[i * m + j]!;
      for (let k = 0; k < j; k++) t -= G[i * m + k]! * G[j * m + k]!;
      G[i * m + j] = t / ljj;
    }
  }
  const y = Float64Array.from(b); // L Lᵀ y = b
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < i; k++) y[i] -= G[i * m + k]! * y[k]!;
    y[i] = y[i]! / G[i * m + i]!;
  }
  for (let i = m - 1; i >= 0; i--) {
    for (let k = i + 1; k < m; k++) y[i] -= G[k * m + i]! * y[k]!;
    y[i] = y[i]! / G[i * m + i]!;
  }
  let s = 0;
  for (let k = 0; k < n; k++) {
    let v = 0;
    for (let i = 0; i < m; i++) v += A[i * n + k]! * y[i]!;
    s += v * v;
  }
  return Math.sqrt(s);
}

/** Global minimum of f on the unit circle (n = 2): 4096-point grid, then golden section. */
function bruteForce2(A: Float64Array, b: Float64Array): number {
  const fa = (t: number): number => lessF(A, b, 2, 2, [Math.cos(t), Math.sin(t)]);
  const N = 4096;
  let best = 0;
  let fbest = Infinity;
  for (let i = 0; i < N; i++) {
    const v = fa((2 * Math.PI * i) / N);
    if (v < fbest) {
      fbest = v;
      best = i;
    }
  }
  let lo = (2 * Math.PI * (best - 1)) / N;
  let hi = (2 * Math.PI * (best + 1)) / N;
  const gr = (Math.sqrt(5) - 1) / 2;
  let c = hi - gr * (hi - lo);
  let d = lo + gr * (hi - lo);
  let fc = fa(c);
  let fd = fa(d);
  for (let it = 0; it < 80; it++) {
    if (fc < fd) {
      hi = d;
      d = c;
      fd = fc;
      c = hi - gr * (hi - lo);
      fc = fa(c);
    } else {
      lo = c;
      c = d;
      fc = fd;
      d = lo + gr * (hi - lo);
      fd = fa(d);
    }
  }
  return Math.min(fbest, fc, fd);
}

// ---- tests ----------------------------------------------------------------------------------------

test('lessExact reproduces the SciPy fixture less.json to 1e-9', () => {
  const fx = loadFixture('less');
  assert.ok(fx.cases.length >= 10);
  for (const c of fx.cases) {
    const [m, n] = c.inputs.A!.shape as [number, number];
    const A = f64(c.inputs.A!);
    const b = f64(c.inputs.b!);
    const r = lessExact(A, b, m, n);
    const f = c.outputs.f!.data[0]!;
    const nu = c.outputs.nu!.data[0]!;
    assert.equal(r.hardCase, c.hardCase, `${c.name}: hardCase`);
    assert.ok(Math.abs(r.f - f) <= 1e-9 * Math.max(1, Math.abs(f)), `${c.name}: f ${r.f} vs ${f}`);
    assert.ok(Math.abs(r.nu - nu) <= 1e-9 * Math.max(1, Math.abs(nu)), `${c.name}: nu ${r.nu} vs ${nu}`);
    if (c.unique) {
      const dx = maxAbsDiff(r.x, c.outputs.x!.data);
      assert.ok(dx <= 1e-9, `${c.name}: x differs by ${dx}`);
    } else {
      // Non-unique minimiser: any point with the same f, unit norm and KKT is right.
      const [res, scale] = kktResidual(A, b, m, n, r.x, r.nu);
      assert.ok(res <= 1e-12 * scale, `${c.name}: KKT ${res}`);
    }
  }
});

test('jacobiEigen: V diag(λ) Vᵀ = S, VᵀV = I, ascending', () => {
  const rng = makeRng(7);
  for (const n of [1, 2, 3, 7, 20]) {
    const R = randn(rng, n * n);
    const S = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) S[i * n + j] = R[i * n + j]! + R[j * n + i]!;
    const { values, vectorsT } = jacobiEigen(S, n);
    for (let j = 1; j < n; j++) assert.ok(values[j - 1]! <= values[j]!);
    let rec = 0;
    let orth = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        let o = 0;
        for (let k = 0; k < n; k++) {
          s += vectorsT[k * n + i]! * values[k]! * vectorsT[k * n + j]!;
          o += vectorsT[i * n + k]! * vectorsT[j * n + k]!;
        }
        rec = Math.max(rec, Math.abs(s - S[i * n + j]!));
        orth = Math.max(orth, Math.abs(o - (i === j ? 1 : 0)));
      }
    assert.ok(rec < 1e-13 * n, `n=${n}: reconstruction ${rec}`);
    assert.ok(orth < 1e-14 * n, `n=${n}: orthogonality ${orth}`);
  }
});

test('1,000 random 2×2 problems: global minimum (brute force on the circle), KKT, unit norm', () => {
  const rng = makeRng(2023);
  let worstGap = 0;
  for (let trial = 0; trial < 1000; trial++) {
    const A = randn(rng, 4);
    const b = randn(rng, 2);
    const r = lessExact(A, b, 2, 2);
    assert.equal(r.hardCase, false);
    const nx = Math.hypot(r.x[0]!, r.x[1]!);
    assert.ok(Math.abs(nx - 1) <= 1e-15, `trial ${trial}: |x| = ${nx}`);
    const [res, scale] = kktResidual(A, b, 2, 2, r.x, r.nu);
    assert.ok(res <= 1e-13 * scale, `trial ${trial}: KKT ${res}`);
    assert.ok(Math.abs(r.f - lessF(A, b, 2, 2, r.x)) <= 1e-15 * Math.max(1, r.f));
    const fb = bruteForce2(A, b);
    // f* can never exceed the sampled minimum (beyond rounding) ...
    assert.ok(r.f <= fb + 1e-13 * Math.max(1, fb), `trial ${trial}: f* ${r.f} > brute ${fb}`);
    // ... and the refined sampled minimum comes within a tiny gap of it.
    worstGap = Math.max(worstGap, fb - r.f);
    assert.ok(fb - r.f <= 1e-10 * Math.max(1, fb), `trial ${trial}: brute ${fb} vs f* ${r.f}`);
    assert.ok(choleskyOk(A, 2, 2, r.nu, 1e-12 * scale), `trial ${trial}: AᵀA − 2νI not PSD`);
  }
});

test('random deep / square / wide problems: KKT and the second-order global certificate', () => {
  const rng = makeRng(99);
  const shapes: [number, number][] = [[5, 3], [3, 3], [8, 4], [20, 10], [64, 32], [3, 5], [10, 20], [1, 4], [4, 1]];
  for (const [m, n] of shapes) {
    for (let trial = 0; trial < 10; trial++) {
      const A = randn(rng, m * n);
      const b = randn(rng, m);
      const r = lessExact(A, b, m, n);
      const tag = `${m}×${n} #${trial}`;
      // Deep/square random A: never a hard case. Wide A: c = Aᵀb has no null-space component, so it
      // is a hard case exactly when the min-norm solution of Ax = b fits in the ball, ‖A⁺b‖ ≤ 1;
      // then f* = 0 (a whole sphere of minimisers).
      const wideHard = m < n && minNormSolutionNorm(A, b, m, n) <= 1;
      assert.equal(r.hardCase, wideHard, tag);
      if (wideHard) assert.ok(r.f <= 1e-25 * Math.max(1, lessF(A, b, m, n, new Float64Array(n))), `${tag}: f* ${r.f}`);
      let nx = 0;
      for (const v of r.x) nx += v * v;
      assert.ok(Math.abs(Math.sqrt(nx) - 1) <= 1e-15, `${tag}: |x|`);
      const [res, scale] = kktResidual(A, b, m, n, r.x, r.nu);
      assert.ok(res <= 1e-12 * scale, `${tag}: KKT ${res} (scale ${scale})`);
      // KKT + (AᵀA − 2νI ⪰ 0) certify global optimality: f(y) − f(x) = ½(y−x)ᵀH(y−x) on the sphere.
      assert.ok(choleskyOk(A, m, n, r.nu, 1e-11 * scale), `${tag}: AᵀA − 2νI not PSD`);
      // and a cheap sanity check of that identity at random points of the sphere
      for (let k = 0; k < 5; k++) {
        const y = randn(rng, n);
        const ny = Math.sqrt(y.reduce((s, v) => s + v * v, 0));
        for (let i = 0; i < n; i++) y[i] = y[i]! / ny;
        assert.ok(lessF(A, b, m, n, y) >= r.f - 1e-12 * scale, `${tag}: random point beats f*`);
      }
    }
  }
});

test('hard cases are flagged and solved', () => {
  // (a) A = diag(1, 2), b = (0, 0.6): c = (0, 1.2) ⟂ e₁, x_p = (0, 0.4), τ = √0.84, θ = μ₁ = 1.
  {
    const A = Float64Array.from([1, 0, 0, 2]);
    const b = Float64Array.from([0, 0.6]);
    const r = lessExact(A, b, 2, 2);
    assert.equal(r.hardCase, true);
    assert.ok(Math.abs(r.nu - 0.5) < 1e-14);
    assert.ok(Math.abs(r.f - 0.44) < 1e-14, `f ${r.f}`); // ½(0.84 + (0.8 − 0.6)²)
    assert.ok(Math.abs(Math.abs(r.x[0]!) - Math.sqrt(0.84)) < 1e-14 && Math.abs(r.x[1]! - 0.4) < 1e-14);
  }
  // (b) doubly degenerate μ₁: A = Q diag(1, 1, √3) with b ⟂ the μ₁-eigenspace.
  {
    const rng = makeRng(5);
    // a random rotation of R³ from a normalised quaternion
    const [w, x, y, z] = (() => {
      const q = randn(rng, 4);
      const s = Math.hypot(...q);
      return Array.from(q, (v) => v / s) as [number, number, number, number];
    })();
    const Q = [
      1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
      2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
      2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ];
    const D = [1, 1, Math.sqrt(3)];
    const A = new Float64Array(9);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) A[i * 3 + j] = Q[i * 3 + j]! * D[j]!;
    // b = Q (0, 0, β): c = AᵀQ(0,0,β) = (0, 0, √3 β); x_p = √3 β/(3 − 1) e₃; choose β = 0.5 → 0.433.
    const b = Float64Array.from([Q[2]! * 0.5, Q[5]! * 0.5, Q[8]! * 0.5]);
    const r = lessExact(A, b, 3, 3);
    assert.equal(r.hardCase, true);
    assert.ok(Math.abs(r.nu - 0.5) < 1e-13, `nu ${r.nu}`);
    const [res, scale] = kktResidual(A, b, 3, 3, r.x, r.nu);
    assert.ok(res <= 1e-13 * scale);
    const xp = (Math.sqrt(3) * 0.5) / 2;
    assert.ok(Math.abs(Math.abs(r.x[2]!) - xp) < 1e-13, `x3 ${r.x[2]}`);
  }
  // (c) b = 0: x is the smallest right singular vector, f = μ₁/2, ν = μ₁/2.
  {
    const A = Float64Array.from([3, 1, 1, 2]);
    const r = lessExact(A, new Float64Array(2), 2, 2);
    assert.equal(r.hardCase, true);
    const { values } = jacobiEigen(Float64Array.from([10, 5, 5, 5]), 2);
    assert.ok(Math.abs(r.f - values[0]! / 2) < 1e-14 && Math.abs(r.nu - values[0]! / 2) < 1e-14);
  }
  // (d) wide A with ‖A⁺b‖ < 1: Ax = b is solvable on the sphere, f* = 0.
  {
    const rng = makeRng(11);
    const A = randn(rng, 3 * 6);
    const b = randn(rng, 3);
    for (let i = 0; i < 3; i++) b[i] = b[i]! * 0.05;
    const r = lessExact(A, b, 3, 6);
    assert.equal(r.hardCase, true);
    assert.ok(r.f < 1e-25, `f ${r.f}`);
    assert.ok(Math.abs(r.nu) < 1e-13);
  }
});

test('64×32 and 1024×256 run fast enough and satisfy KKT', (t) => {
  const rng = makeRng(314);
  for (const [m, n] of [[64, 32], [1024, 256]] as const) {
    const A = randn(rng, m * n);
    const b = randn(rng, m);
    const t0 = performance.now();
    const r = lessExact(A, b, m, n);
    const ms = performance.now() - t0;
    t.diagnostic(`lessExact ${m}×${n}: ${ms.toFixed(0)} ms, f* = ${r.f}, nu = ${r.nu}`);
    assert.ok(ms < 60_000, `${m}×${n} took ${ms} ms`);
    const [res, scale] = kktResidual(A, b, m, n, r.x, r.nu);
    assert.ok(res <= 1e-12 * scale, `${m}×${n}: KKT ${res} (scale ${scale})`);
    assert.ok(choleskyOk(A, m, n, r.nu, 1e-11 * scale), `${m}×${n}: not PSD`);
  }
});
