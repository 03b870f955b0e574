// Small dense float64 linear algebra for the declarative-layer tests: everything a test needs to
// compute a reference (a closed-form gradient, a KKT residual, a pseudo-inverse) independently of
// matc. Matrices are row-major Float64Arrays with their sizes passed alongside. The symmetric
// eigen-solver is the oracle's cyclic Jacobi (test/oracles/less-exact.ts), which shares no code
// with matc.

import { jacobiEigen } from '../oracles/less-exact.js';
import { Rng } from '../../runtime/random.js';

export type Vec = Float64Array;

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

/** y = A x, A m×n. */
export function matvec(A: ArrayLike<number>, m: number, n: number, x: ArrayLike<number>): Vec {
  const y = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += A[i * n + j]! * x[j]!;
    y[i] = s;
  }
  return y;
}

/** y = Aᵀ x, A m×n. */
export function matTvec(A: ArrayLike<number>, m: number, n: number, x: ArrayLike<number>): Vec {
  const y = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    const xi = x[i]!;
    for (let j = 0; j < n; j++) y[j] += A[i * n + j]! * xi;
  }
  return y;
}

/** C = A B for A: m × k and B: k × n, row-major (zero entries of A skipped: equal for finite B). */
export function matmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Vec {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) {
    const x = a[i * k + p]!;
    if (x !== 0) for (let j = 0; j < n; j++) out[i * n + j]! += x * b[p * n + j]!;
  }
  return out;
}

/** Aᵀ for A: m × n, row-major. */
export function transpose(a: ArrayLike<number>, m: number, n: number): Vec {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j * m + i] = a[i * n + j]!;
  return out;
}

/** AᵀA (n×n) of an m×n matrix. */
export function gram(A: ArrayLike<number>, m: number, n: number): Vec {
  const M = new Float64Array(n * n);
  for (let k = 0; k < m; k++)
    for (let i = 0; i < n; i++) {
      const a = A[k * n + i]!;
      for (let j = 0; j < n; j++) M[i * n + j] += a * A[k * n + j]!;
    }
  return M;
}

/** a bᵀ. */
export function outer(a: ArrayLike<number>, b: ArrayLike<number>): Vec {
  const out = new Float64Array(a.length * b.length);
  for (let i = 0; i < a.length; i++) for (let j = 0; j < b.length; j++) out[i * b.length + j] = a[i]! * b[j]!;
  return out;
}

/** ½(G + Gᵀ) of an n×n matrix. */
export function sym(G: ArrayLike<number>, n: number): Vec {
  const S = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) S[i * n + j] = 0.5 * (G[i * n + j]! + G[j * n + i]!);
  return S;
}

/** Solves M x = r (n×n) by LU with partial pivoting; throws on an exactly singular pivot. */
export function luSolve(M: ArrayLike<number>, n: number, r: ArrayLike<number>): Vec {
  const a = Float64Array.from(M as ArrayLike<number>);
  const x = Float64Array.from(r as ArrayLike<number>);
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(a[i * n + k]!) > Math.abs(a[p * n + k]!)) p = i;
    if (a[p * n + k] === 0) throw new Error('luSolve: singular matrix');
    if (p !== k) {
      for (let j = 0; j < n; j++) [a[k * n + j], a[p * n + j]] = [a[p * n + j]!, a[k * n + j]!];
      [x[k], x[p]] = [x[p]!, x[k]!];
    }
    const piv = a[k * n + k]!;
    for (let i = k + 1; i < n; i++) {
      const l = a[i * n + k]! / piv;
      if (l === 0) continue;
      for (let j = k; j < n; j++) a[i * n + j]! -= l * a[k * n + j]!;
      x[i]! -= l * x[k]!;
    }
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = x[i]!;
    for (let j = i + 1; j < n; j++) s -= a[i * n + j]! * x[j]!;
    x[i] = s / a[i * n + i]!;
  }
  return x;
}

/** Ascending eigenvalues and eigenvectors (rows of vectorsT) of a symmetric matrix (Jacobi). */
export function symEig(S: ArrayLike<number>, n: number): { values: Vec; vectorsT: Vec } {
  return jacobiEigen(Float64Array.from(S as ArrayLike<number>), n);
}

/** Moore–Penrose pseudo-inverse applied to a vector, for a symmetric matrix: eigenvalues with
 *  |μ| ≤ rcond·max|μ| are treated as zero (numpy's pinv(hermitian=True) convention). */
export function pinvSymApply(S: ArrayLike<number>, n: number, v: ArrayLike<number>, rcond = 1e-10): Vec {
  const { values, vectorsT } = symEig(S, n);
  let big = 0;
  for (const mu of values) big = Math.max(big, Math.abs(mu));
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const mu = values[k]!;
    if (Math.abs(mu) <= rcond * big) continue;
    const row = vectorsT.subarray(k * n, (k + 1) * n);
    const c = dot(row, v) / mu;
    for (let i = 0; i < n; i++) out[i] += c * row[i]!;
  }
  return out;
}

/** ‖a − b‖ / max(‖b‖, floor). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-300): number {
  if (a.length !== b.length) throw new Error(`relErr: lengths ${a.length} and ${b.length} differ`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(d) / Math.max(norm(b), floor);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths ${a.length} and ${b.length} differ`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

/** A Haar-ish random orthogonal n×n matrix (Gram–Schmidt, twice, on Gaussian columns). */
export function randomOrthogonal(rng: Rng, n: number): Vec {
  const Q = rng.normals(n * n);
  for (let pass = 0; pass < 2; pass++)
    for (let c = 0; c < n; c++) {
      for (let p = 0; p < c; p++) {
        let d = 0;
        for (let i = 0; i < n; i++) d += Q[i * n + c]! * Q[i * n + p]!;
        for (let i = 0; i < n; i++) Q[i * n + c]! -= d * Q[i * n + p]!;
      }
      let s = 0;
      for (let i = 0; i < n; i++) s += Q[i * n + c]! ** 2;
      s = Math.sqrt(s);
      for (let i = 0; i < n; i++) Q[i * n + c]! /= s;
    }
  return Q;
}

/** Q diag(ev) Qᵀ, exactly symmetrised. */
export function symFromEigen(Q: ArrayLike<number>, ev: readonly number[]): Vec {
  const n = ev.length;
  const X = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += Q[i * n + k]! * ev[k]! * Q[j * n + k]!;
      X[i * n + j] = s;
      X[j * n + i] = s;
    }
  return X;
}

/** PMaF's IED data: X = |N(0,1)|, X ← X + Xᵀ (positive entries, a large Perron gap). */
export function pmafSym(rng: Rng, m: number): Vec {
  const N = rng.normals(m * m);
  const X = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) X[i * m + j] = Math.abs(N[i * m + j]!) + Math.abs(N[j * m + i]!);
  return X;
}

/** Generic symmetric data with entries of both signs and eigenvalues of both signs, whose top
 *  eigenvalue dominates in magnitude with a clear gap (power iteration's convergence condition):
 *  Q diag(λ) Qᵀ with λ₁ = 3 + U(0, 1) and the others U(−2, 2). */
export function genericSym(rng: Rng, m: number): Vec {
  const ev = [3 + rng.next()];
  for (let i = 1; i < m; i++) ev.push(-2 + 4 * rng.next());
  return symFromEigen(randomOrthogonal(rng, m), ev);
}

export { Rng };
