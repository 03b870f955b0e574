// Seeded random inputs that respect a parameter's declared structure (symmetric, SPD,
// triangular, unit sphere, orthonormal columns), for `matc run --random` and for tests.

import type { Struct } from '../compiler/ir/types.js';

/** mulberry32: small, fast, good enough for test data. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let t = (this.s += 0x6d2b79f5);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    const u = Math.max(this.next(), 1e-300);
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  normals(n: number): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal();
    return out;
  }
}

/** One instance of a structured random value, row-major. */
export function randomInstance(rng: Rng, shape: number[], struct: Struct | undefined): Float64Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const x = rng.normals(size);
  if (!struct || struct === 'general') return x;
  if (struct === 'sphere') {
    const n = Math.hypot(...x) || 1;
    return x.map((v) => v / n);
  }
  const [m, n] = shape as [number, number];
  switch (struct) {
    case 'sym': {
      const out = new Float64Array(size);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[i * n + j] = 0.5 * (x[i * n + j]! + x[j * n + i]!);
      return out;
    }
    case 'spd': {
      // R Rᵀ / n + I: well conditioned
      const out = new Float64Array(size);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let k = 0; k < n; k++) s += x[i * n + k]! * x[j * n + k]!;
          out[i * n + j] = s / n + (i === j ? 1 : 0);
        }
      return out;
    }
    case 'tril':
    case 'triu':
    case 'diag':
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          const off = (struct === 'tril' && j > i) || (struct === 'triu' && j < i) || (struct === 'diag' && i !== j);
          if (off) x[i * n + j] = 0;
        }
      return x;
    case 'orth':
    case 'stiefel': {
      // modified Gram–Schmidt on the columns (twice, for orthogonality to rounding)
      for (let pass = 0; pass < 2; pass++)
        for (let c = 0; c < n; c++) {
          for (let p = 0; p < c; p++) {
            let d = 0;
            for (let i = 0; i < m; i++) d += x[i * n + c]! * x[i * n + p]!;
            for (let i = 0; i < m; i++) x[i * n + c]! -= d * x[i * n + p]!;
          }
          let nn = 0;
          for (let i = 0; i < m; i++) nn += x[i * n + c]! ** 2;
          nn = Math.sqrt(nn) || 1;
          for (let i = 0; i < m; i++) x[i * n + c]! /= nn;
        }
      return x;
    }
  }
  return x;
}

/** Projects a perturbation direction onto the structure of a parameter at point x (tangent
 *  space for manifolds, the structured subspace otherwise), so finite differences stay valid. */
export function structuredDirection(v: Float64Array, x: Float64Array, shape: number[], struct: Struct | undefined): Float64Array {
  if (!struct || struct === 'general') return v;
  const out = Float64Array.from(v);
  if (struct === 'sphere') {
    let d = 0;
    for (let i = 0; i < v.length; i++) d += v[i]! * x[i]!;
    for (let i = 0; i < v.length; i++) out[i]! -= d * x[i]!;
    return out;
  }
  const [m, n] = shape as [number, number];
  if (struct === 'sym' || struct === 'spd') {
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[i * n + j] = 0.5 * (v[i * n + j]! + v[j * n + i]!);
    return out;
  }
  if (struct === 'tril' || struct === 'triu' || struct === 'diag') {
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        const off = (struct === 'tril' && j > i) || (struct === 'triu' && j < i) || (struct === 'diag' && i !== j);
        if (off) out[i * n + j] = 0;
      }
    return out;
  }
  // orth / stiefel: V − X sym(Xᵀ V)
  const xtv = new Float64Array(n * n);
  for (let a = 0; a < n; a++) for (let c = 0; c < n; c++) {
    let s = 0;
    for (let i = 0; i < m; i++) s += x[i * n + a]! * v[i * n + c]!;
    xtv[a * n + c] = s;
  }
  for (let i = 0; i < m; i++)
    for (let c = 0; c < n; c++) {
      let s = 0;
      for (let a = 0; a < n; a++) s += x[i * n + a]! * 0.5 * (xtv[a * n + c]! + xtv[c * n + a]!);
      out[i * n + c] = v[i * n + c]! - s;
    }
  return out;
}

/** One instance of a structured random complex value, packed (…, 2) row-major: `shape` is the
 *  shape of the parts and `struct` the structure in the complex sense ('sym' Hermitian, 'spd'
 *  Hermitian positive definite R Rᴴ / n + I, 'orth'/'stiefel' orthonormal columns, XᴴX = I). */
export function randomComplexInstance(rng: Rng, shape: number[], struct: Struct | undefined): Float64Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const x = rng.normals(2 * size);
  if (!struct || struct === 'general' || shape.length !== 2) return x;
  const [m, n] = shape as [number, number];
  const re = (i: number, j: number) => x[2 * (i * n + j)]!;
  const im = (i: number, j: number) => x[2 * (i * n + j) + 1]!;
  const out = new Float64Array(2 * size);
  switch (struct) {
    case 'sym':
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          out[2 * (i * n + j)] = 0.5 * (re(i, j) + re(j, i));
          out[2 * (i * n + j) + 1] = 0.5 * (im(i, j) - im(j, i));
        }
      return out;
    case 'spd':
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          // (R Rᴴ)_ij = Σ_k R_ik conj(R_jk)
          let sr = 0;
          let si = 0;
          for (let k = 0; k < n; k++) {
            sr += re(i, k) * re(j, k) + im(i, k) * im(j, k);
            si += im(i, k) * re(j, k) - re(i, k) * im(j, k);
          }
          out[2 * (i * n + j)] = sr / n + (i === j ? 1 : 0);
          out[2 * (i * n + j) + 1] = i === j ? 0 : si / n;
        }
      return out;
    case 'orth':
    case 'stiefel':
      // complex modified Gram–Schmidt on the columns, twice
      for (let pass = 0; pass < 2; pass++)
        for (let c = 0; c < n; c++) {
          for (let p = 0; p < c; p++) {
            // d = x_pᴴ x_c
            let dr = 0;
            let di = 0;
            for (let i = 0; i < m; i++) {
              dr += re(i, p) * re(i, c) + im(i, p) * im(i, c);
              di += re(i, p) * im(i, c) - im(i, p) * re(i, c);
            }
            for (let i = 0; i < m; i++) {
              const pr = re(i, p);
              const pi = im(i, p);
              x[2 * (i * n + c)]! -= pr * dr - pi * di;
              x[2 * (i * n + c) + 1]! -= pr * di + pi * dr;
            }
          }
          let nn = 0;
          for (let i = 0; i < m; i++) nn += re(i, c) ** 2 + im(i, c) ** 2;
          nn = Math.sqrt(nn) || 1;
          for (let i = 0; i < m; i++) {
            x[2 * (i * n + c)]! /= nn;
            x[2 * (i * n + c) + 1]! /= nn;
          }
        }
      return x;
  }
  return x;
}
