// The routines compiled CPU programs call (compiler/codegen/cpu): dense products over strided
// operands, LU with partial pivoting, triangular solves, and the checks that raise run-time
// errors. Generated code fuses elementwise work itself; what does not fuse is here, written once
// over typed arrays (Float64Array, or Float32Array in f32 mode), like the routines of jax-js.
//
// An operand is (array, offset, row stride, column stride); a vector is (array, offset, stride).
// Results are contiguous (row-major) and written, never accumulated into.

import { roundBF16, roundF16 } from '../../core/lowp.js';
import { InternalError, MatcRuntimeError } from '../../core/errors.js';
import { intDiv, intMod } from '../../core/intops.js';
import { randomValue } from '../../core/philox.js';
import { QR_BLOCKED_FROM, QR_PANEL, REFLECT_MIN_WIDTH, REFLECT_ROWS } from '../../core/qr-blocking.js';
import { runCheckError } from '../../core/run-checks.js';


export type Arr = Float64Array | Float32Array;

/** Rows of C computed together (the WebAssembly routine's, routines.ts: rows past a multiple of it
 *  add one product at a time, so both forms round f32 storage at the same points). */
const ROWS = 2;
/** Depth of a block of the k loop: ROWS rows of A and KB rows of B stay in cache. */
const KB = 128;
/** Width of a block of C's columns. */
const NB = 512;

/**
 * C[m×n] (contiguous at co) = A[m×k] · B[k×n].
 *
 * When B's rows are contiguous (bcs = 1) the product is a sum of scaled rows of B, ROWS rows of C
 * at a time and four steps of p per pass (C[i,:] += Σ A[i,p] · B[p,:]), blocked over k and n so
 * that the rows of B a block uses stay in cache; the inner loop is a contiguous loop that V8
 * compiles tightly. (The code generator copies a transposed B into row-major order first.) When B's
 * columns are contiguous instead (a transposed operand, brs = 1) and A's rows are too, each entry
 * is a contiguous dot product. Anything else uses the plain triple loop.
 */
export function gemm(m: number, n: number, k: number, A: Arr, ao: number, ars: number, acs: number, B: Arr, bo: number, brs: number, bcs: number, C: Arr, co: number): void {
  C.fill(0, co, co + m * n);
  gemmInto(m, n, k, A, ao, ars, acs, B, bo, brs, bcs, C, co, n, false);
}

/** C += A · B on a block of a matrix whose rows are ldc apart (the WebAssembly routine `gemmacc`:
 *  the block reflector's update of the trailing columns), in the additions' order of `gemm`. */
function gemmacc(m: number, n: number, k: number, A: Arr, ao: number, ars: number, acs: number, B: Arr, bo: number, brs: number, bcs: number, C: Arr, co: number, ldc: number): void {
  gemmInto(m, n, k, A, ao, ars, acs, B, bo, brs, bcs, C, co, ldc, true);
}

/** C (rows ldc apart) += A · B; the dot-product form stores its sums (`acc` false: C is zero,
 *  and a sum of −0 stays −0 as in the WebAssembly routine) or adds them. */
function gemmInto(m: number, n: number, k: number, A: Arr, ao: number, ars: number, acs: number, B: Arr, bo: number, brs: number, bcs: number, C: Arr, co: number, ldc: number, acc: boolean): void {
  if (k === 0 || m === 0 || n === 0) return;
  if (bcs === 1 && n > 1) {
    for (let j0 = 0; j0 < n; j0 += NB) {
      const j1 = Math.min(n, j0 + NB);
      for (let p0 = 0; p0 < k; p0 += KB) {
        const p1 = Math.min(k, p0 + KB);
        let i = 0;
        for (; i + ROWS <= m; i += ROWS) {
          const c0 = co + i * ldc;
          const a0 = ao + i * ars;
          // DEPTH (4) steps of p per pass over C's rows, added in p's order and stored once: what
          // the WebAssembly routine computes (routines.ts), so that f32 storage rounds C at the
          // same points in both forms
          const pq = p0 + ((p1 - p0) & ~3);
          for (let p = p0; p < pq; p += 4) {
            const ap = a0 + p * acs;
            const b0 = bo + p * brs;
            const b1 = b0 + brs;
            const b2 = b1 + brs;
            const b3 = b2 + brs;
            for (let r = 0; r < ROWS; r++) {
              const ar = ap + r * ars;
              const x0 = A[ar]!;
              const x1 = A[ar + acs]!;
              const x2 = A[ar + 2 * acs]!;
              const x3 = A[ar + 3 * acs]!;
              const cr = c0 + r * ldc;
              for (let j = j0; j < j1; j++) C[cr + j] = C[cr + j]! + x0 * B[b0 + j]! + x1 * B[b1 + j]! + x2 * B[b2 + j]! + x3 * B[b3 + j]!;
            }
          }
          for (let p = pq; p < p1; p++) {
            const b = bo + p * brs;
            for (let r = 0; r < ROWS; r++) {
              const x = A[a0 + r * ars + p * acs]!;
              const cr = c0 + r * ldc;
              for (let j = j0; j < j1; j++) C[cr + j] = C[cr + j]! + x * B[b + j]!;
            }
          }
        }
        for (; i < m; i++) {
          const c0 = co + i * ldc;
          const a0 = ao + i * ars;
          for (let p = p0; p < p1; p++) {
            const x0 = A[a0 + p * acs]!;
            const b = bo + p * brs;
            for (let j = j0; j < j1; j++) C[c0 + j] += x0 * B[b + j]!;
          }
        }
      }
    }
    return;
  }
  for (let i = 0; i < m; i++) {
    const a0 = ao + i * ars;
    const c0 = co + i * ldc;
    for (let j = 0; j < n; j++) {
      const b0 = bo + j * bcs;
      let s = 0;
      if (acs === 1 && brs === 1) for (let p = 0; p < k; p++) s += A[a0 + p]! * B[b0 + p]!;
      else for (let p = 0; p < k; p++) s += A[a0 + p * acs]! * B[b0 + p * brs]!;
      C[c0 + j] = acc ? C[c0 + j]! + s : s;
    }
  }
}

/** Σ x_i y_i over n entries (strided), with four partial sums: the loop is not bound by the
 *  latency of one chain of additions. */
export function dot(n: number, x: Arr, xo: number, xs: number, y: Arr, yo: number, ys: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  if (xs === 1 && ys === 1) {
    for (; i + 4 <= n; i += 4) {
      s0 += x[xo + i]! * y[yo + i]!;
      s1 += x[xo + i + 1]! * y[yo + i + 1]!;
      s2 += x[xo + i + 2]! * y[yo + i + 2]!;
      s3 += x[xo + i + 3]! * y[yo + i + 3]!;
    }
    for (; i < n; i++) s0 += x[xo + i]! * y[yo + i]!;
  } else {
    for (; i + 4 <= n; i += 4) {
      s0 += x[xo + i * xs]! * y[yo + i * ys]!;
      s1 += x[xo + (i + 1) * xs]! * y[yo + (i + 1) * ys]!;
      s2 += x[xo + (i + 2) * xs]! * y[yo + (i + 2) * ys]!;
      s3 += x[xo + (i + 3) * xs]! * y[yo + (i + 3) * ys]!;
    }
    for (; i < n; i++) s0 += x[xo + i * xs]! * y[yo + i * ys]!;
  }
  return s0 + s1 + (s2 + s3);
}

/** y[m] (contiguous at yo) = A[m×n] · x: dot products along A's rows when they are contiguous,
 *  else a sum of scaled columns, four at a time (contiguous when A is a transpose); columns whose
 *  coefficient is zero are skipped (a Householder vector's leading zeros cost nothing). */
export function gemv(m: number, n: number, A: Arr, ao: number, ars: number, acs: number, x: Arr, xo: number, xs: number, y: Arr, yo: number): void {
  if (acs === 1 && xs === 1) {
    // two rows at a time, two partial sums each: x is loaded once per pair of rows
    let i = 0;
    for (; i + 2 <= m; i += 2) {
      const a0 = ao + i * ars;
      const a1 = a0 + ars;
      let s0 = 0;
      let s1 = 0;
      let t0 = 0;
      let t1 = 0;
      let j = 0;
      for (; j + 2 <= n; j += 2) {
        const x0 = x[xo + j]!;
        const x1 = x[xo + j + 1]!;
        s0 += A[a0 + j]! * x0;
        s1 += A[a0 + j + 1]! * x1;
        t0 += A[a1 + j]! * x0;
        t1 += A[a1 + j + 1]! * x1;
      }
      if (j < n) {
        s0 += A[a0 + j]! * x[xo + j]!;
        t0 += A[a1 + j]! * x[xo + j]!;
      }
      y[yo + i] = s0 + s1;
      y[yo + i + 1] = t0 + t1;
    }
    if (i < m) y[yo + i] = dot(n, A, ao + i * ars, 1, x, xo, 1);
    return;
  }
  if (ars !== 1) {
    for (let i = 0; i < m; i++) y[yo + i] = dot(n, A, ao + i * ars, acs, x, xo, xs);
    return;
  }
  // columns of A are contiguous: y = Σ_j x_j A[:, j]
  y.fill(0, yo, yo + m);
  let j = 0;
  while (j < n && x[xo + j * xs] === 0) j++;
  for (; j + 4 <= n; j += 4) {
    const x0 = x[xo + j * xs]!;
    const x1 = x[xo + (j + 1) * xs]!;
    const x2 = x[xo + (j + 2) * xs]!;
    const x3 = x[xo + (j + 3) * xs]!;
    const a0 = ao + j * acs;
    const a1 = a0 + acs;
    const a2 = a1 + acs;
    const a3 = a2 + acs;
    for (let i = 0; i < m; i++) y[yo + i] += x0 * A[a0 + i]! + x1 * A[a1 + i]! + (x2 * A[a2 + i]! + x3 * A[a3 + i]!);
  }
  for (; j < n; j++) {
    const xj = x[xo + j * xs]!;
    if (xj === 0) continue;
    const a0 = ao + j * acs;
    for (let i = 0; i < m; i++) y[yo + i] += xj * A[a0 + i]!;
  }
}

/**
 * Solves A X = B in place by LU with partial pivoting: M (n×n, contiguous at mo) holds A and is
 * overwritten by its factors, X (n×nrhs, contiguous at xo) holds B and is overwritten by the solution.
 * Returns the reciprocal condition estimate min|u_ii| / max|u_ii|; an exactly singular pivot is
 * replaced by a tiny multiple of the largest entry so the result stays finite, and rcond is 0
 * (the same rule as the reference interpreter, runtime/cpu/kernels.ts luSolve).
 */
export function lu(n: number, nrhs: number, Mb: Arr, mo: number, Xb: Arr, xo: number): number {
  const M = mo === 0 ? Mb : Mb.subarray(mo);
  const X = xo === 0 ? Xb : Xb.subarray(xo);
  let maxPiv = 0;
  let minPiv = Infinity;
  let singular = false;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale = Math.max(scale, Math.abs(M[i]!));
  for (let c = 0; c < n; c++) {
    let p = c;
    let best = Math.abs(M[c * n + c]!);
    for (let r = c + 1; r < n; r++) {
      const v = Math.abs(M[r * n + c]!);
      if (v > best) {
        best = v;
        p = r;
      }
    }
    if (p !== c) {
      for (let j = 0; j < n; j++) {
        const t = M[c * n + j]!;
        M[c * n + j] = M[p * n + j]!;
        M[p * n + j] = t;
      }
      for (let j = 0; j < nrhs; j++) {
        const t = X[c * nrhs + j]!;
        X[c * nrhs + j] = X[p * nrhs + j]!;
        X[p * nrhs + j] = t;
      }
    }
    let piv = M[c * n + c]!;
    if (!(Math.abs(piv) > 1e-300 * Math.max(1, scale))) {
      singular = true;
      piv = (scale || 1) * 1e-15;
      M[c * n + c] = piv;
    }
    maxPiv = Math.max(maxPiv, Math.abs(piv));
    minPiv = Math.min(minPiv, Math.abs(piv));
    const rc = c * n;
    const xc = c * nrhs;
    for (let r = c + 1; r < n; r++) {
      const f = M[r * n + c]! / piv;
      if (f === 0) continue;
      M[r * n + c] = f;
      const rr = r * n;
      for (let j = c + 1; j < n; j++) M[rr + j] -= f * M[rc + j]!;
      const xr = r * nrhs;
      for (let j = 0; j < nrhs; j++) X[xr + j] -= f * X[xc + j]!;
    }
  }
  for (let c = n - 1; c >= 0; c--) {
    const d = M[c * n + c]!;
    for (let j = 0; j < nrhs; j++) {
      let s = X[c * nrhs + j]!;
      for (let k = c + 1; k < n; k++) s -= M[c * n + k]! * X[k * nrhs + j]!;
      X[c * nrhs + j] = s / d;
    }
  }
  return n === 0 ? 1 : singular ? 0 : minPiv / maxPiv;
}

/**
 * Triangular solve in place: X holds B (contiguous, n×nrhs for a left solve, nrhs×n for a right
 * one) and is overwritten by the solution of op(T) X = B (left) or X op(T) = B (right). T is
 * (arr, offset, row stride, column stride); `trans` reads it transposed.
 */
export function trisolve(n: number, nrhs: number, T: Arr, to: number, trs: number, tcs: number, Xb: Arr, xo: number, lowerFlag: number | boolean, transFlag: number | boolean, unitFlag: number | boolean, leftFlag: number | boolean): void {
  const X = xo === 0 ? Xb : Xb.subarray(xo);
  const lower = !!lowerFlag;
  const trans = !!transFlag;
  const unit = !!unitFlag;
  const left = !!leftFlag;
  // op(T)[i, j] = T[j, i] when transposed: swap the strides
  const rs = trans ? tcs : trs;
  const cs = trans ? trs : tcs;
  const isLower = lower !== trans;
  if (left) {
    // rows of X in dependency order; X[i, :] -= op(T)[i, k] X[k, :]
    for (let s = 0; s < n; s++) {
      const i = isLower ? s : n - 1 - s;
      const xi = i * nrhs;
      const lo = isLower ? 0 : i + 1;
      const hi = isLower ? i : n;
      for (let k = lo; k < hi; k++) {
        const t = T[to + i * rs + k * cs]!;
        if (t === 0) continue;
        const xk = k * nrhs;
        for (let j = 0; j < nrhs; j++) X[xi + j] -= t * X[xk + j]!;
      }
      if (!unit) {
        const d = T[to + i * rs + i * cs]!;
        for (let j = 0; j < nrhs; j++) X[xi + j] /= d;
      }
    }
    return;
  }
  // X op(T) = B, X is nrhs×n: column j of X depends on the columns that op(T)'s column j mixes
  // in; op(T)ᵀ Xᵀ = Bᵀ, i.e. a left solve with the other triangle, column by column
  for (let s = 0; s < n; s++) {
    const j = isLower ? n - 1 - s : s;
    const lo = isLower ? j + 1 : 0;
    const hi = isLower ? n : j;
    for (let k = lo; k < hi; k++) {
      const t = T[to + k * rs + j * cs]!;
      if (t === 0) continue;
      for (let r = 0; r < nrhs; r++) X[r * n + j] -= t * X[r * n + k]!;
    }
    if (!unit) {
      const d = T[to + j * rs + j * cs]!;
      for (let r = 0; r < nrhs; r++) X[r * n + j] /= d;
    }
  }
}

/** An index outside its dimension (a loop index past the bound the checker could not prove):
 *  a run-time error that names the operation, never a read of a neighbouring value. */
export function oob(what: string, i: number, n: number): never {
  // MATR107, or MATR170 for maxloc/minloc of an empty vector (core/run-checks.ts)
  throw runCheckError(what, i, n);
}

/** floor(x) as an int, saturated to the i32 range; NaN gives 0 (WebAssembly's trunc_sat, WGSL's). */
export function ftoi(x: number): number {
  if (x !== x) return 0;
  return Math.max(-2147483648, Math.min(2147483647, Math.floor(x))) | 0; // | 0: floor(−0) is the int 0
}

export const sgn = (x: number): number => (x > 0 ? 1 : x < 0 ? -1 : 0);
export const sigm = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** What generated code receives as `H`. */
/** Element e of rand (normal = 0) or randn (1) with this key and stream (core/philox.ts); the f32
 *  form where the program runs in f32 (eps = 2⁻²³). Also the WebAssembly program's import. */
export function rand(normal: number, key: number, stream: number, e: number, eps: number): number {
  return randomValue(normal ? 'normal' : 'uniform', key, stream, e, eps > 2 ** -40);
}

/**
 * householder(A) → Q, R: the reflections of compiler/codegen/cpu/routines.ts `householder` (its
 * comment has the math), in the same order. A m×n in W (row-major, overwritten); Q m×k and R k×n
 * contiguous, k = min(m, n); scratch Vt (k×m), t (n), TT (QR_PANEL²), WB (2·QR_PANEL·n).
 */
export function householder(m: number, n: number, W: Arr, wo: number, Vt: Arr, vo: number, t: Arr, to: number, Q: Arr, qo: number, R: Arr, ro: number, TT: Arr, tto: number, WB: Arr, wbo: number): void {
  const k = Math.min(m, n);
  const blk = k >= QR_BLOCKED_FROM;
  const P = QR_PANEL;
  const npan = Math.ceil(k / P);
  // rows j … m−1 of X (rows ld apart from xo), columns j … ce−1: t = Xᵀv, then X −= 2 v tᵀ, both
  // passes REFLECT_ROWS (4) rows at a time and the rows left over one by one, each sum in the
  // routine's order: t_c + (v_i X_ic + v_{i+1} X_{i+1,c} + v_{i+2} X_{i+2,c} + v_{i+3} X_{i+3,c})
  const reflectRows = (vr: number, X: Arr, xo: number, ld: number, j: number, ce: number): void => {
    if (REFLECT_ROWS !== 4) throw new InternalError('householder: the JavaScript form takes rows in fours (core/qr-blocking.ts REFLECT_ROWS)');
    const rest = ce - j >= REFLECT_MIN_WIDTH ? j + Math.floor((m - j) / REFLECT_ROWS) * REFLECT_ROWS : j;
    for (let c = j; c < ce; c++) t[to + c] = 0;
    for (let i = j; i < rest; i += 4) {
      const v0 = Vt[vr + i]!, v1 = Vt[vr + i + 1]!, v2 = Vt[vr + i + 2]!, v3 = Vt[vr + i + 3]!;
      const x0 = xo + i * ld, x1 = x0 + ld, x2 = x1 + ld, x3 = x2 + ld;
      for (let c = j; c < ce; c++) t[to + c] = t[to + c]! + (v0 * X[x0 + c]! + v1 * X[x1 + c]! + v2 * X[x2 + c]! + v3 * X[x3 + c]!);
    }
    for (let i = rest; i < m; i++) {
      const v = Vt[vr + i]!;
      const xr = xo + i * ld;
      for (let c = j; c < ce; c++) t[to + c] = t[to + c]! + v * X[xr + c]!;
    }
    for (let i = j; i < rest; i += 4) {
      const f0 = 2 * Vt[vr + i]!, f1 = 2 * Vt[vr + i + 1]!, f2 = 2 * Vt[vr + i + 2]!, f3 = 2 * Vt[vr + i + 3]!;
      const x0 = xo + i * ld, x1 = x0 + ld, x2 = x1 + ld, x3 = x2 + ld;
      for (let c = j; c < ce; c++) {
        const tc = t[to + c]!;
        X[x0 + c] = X[x0 + c]! - f0 * tc;
        X[x1 + c] = X[x1 + c]! - f1 * tc;
        X[x2 + c] = X[x2 + c]! - f2 * tc;
        X[x3 + c] = X[x3 + c]! - f3 * tc;
      }
    }
    for (let i = rest; i < m; i++) {
      const f = 2 * Vt[vr + i]!;
      const xr = xo + i * ld;
      for (let c = j; c < ce; c++) X[xr + c] = X[xr + c]! - f * t[to + c]!;
    }
  };
  // T of the panel j0 … j1−1 (dlarft, forward, columnwise)
  const tFactor = (j0: number, j1: number): void => {
    const nb = j1 - j0;
    for (let a = 0; a < nb; a++) {
      const ja = j0 + a;
      const tau = Vt[vo + ja * m + ja] !== 0 ? 2 : 0;
      const va = vo + ja * m;
      for (let b = 0; b < a; b++) {
        const vb = vo + (j0 + b) * m;
        let z = 0;
        for (let i = ja; i < m; i++) z += Vt[vb + i]! * Vt[va + i]!;
        TT[tto + b * P + a] = z;
      }
      for (let c = 0; c < a; c++) {
        let y = 0;
        for (let d = c; d < a; d++) y += TT[tto + c * P + d]! * TT[tto + d * P + a]!;
        TT[tto + c * P + a] = -tau * y;
      }
      TT[tto + a * P + a] = tau;
      for (let e = a + 1; e < nb; e++) TT[tto + e * P + a] = 0;
    }
  };
  // Y (rows × cols at yo, row stride ld) −= V op(T) Vᵀ Y
  const applyBlock = (j0: number, nb: number, Y: Arr, yo: number, ld: number, rows: number, cols: number, trans: boolean): void => {
    const v0 = vo + j0 * m + j0;
    const w2 = wbo + P * cols;
    gemm(nb, cols, rows, Vt, v0, m, 1, Y, yo, ld, 1, WB, wbo);
    gemm(nb, cols, nb, TT, tto, trans ? 1 : P, trans ? P : 1, WB, wbo, cols, 1, WB, w2);
    // Y += V (−W), in place
    for (let s = 0; s < nb * cols; s++) WB[w2 + s] = -WB[w2 + s]!;
    gemmacc(rows, cols, nb, Vt, v0, 1, m, WB, w2, cols, 1, Y, yo, ld);
  };
  for (let pn = 0; pn < npan; pn++) {
    const j0 = pn * P;
    const j1 = Math.min(k, j0 + P);
    const ce = blk ? j1 : n;
    for (let j = j0; j < j1; j++) {
      let ss = 0;
      for (let i = j; i < m; i++) {
        const y = W[wo + i * n + j]!;
        ss += y * y;
      }
      const yj = W[wo + j * n + j]!;
      const uj = yj + (yj >= 0 ? 1 : -1) * Math.sqrt(ss);
      let nu2 = uj * uj;
      for (let i = j + 1; i < m; i++) {
        const y = W[wo + i * n + j]!;
        nu2 += y * y;
      }
      const nu = Math.sqrt(nu2);
      const vr = vo + j * m;
      for (let i = 0; i < j; i++) Vt[vr + i] = 0;
      if (nu > 0) {
        Vt[vr + j] = uj / nu;
        for (let i = j + 1; i < m; i++) Vt[vr + i] = W[wo + i * n + j]! / nu;
        reflectRows(vr, W, wo, n, j, ce);
      } else for (let i = j; i < m; i++) Vt[vr + i] = 0;
    }
    if (blk && j1 < n) {
      tFactor(j0, j1);
      applyBlock(j0, j1 - j0, W, wo + j0 * n + j1, n, m - j0, n - j1, true);
    }
  }
  Q.fill(0, qo, qo + m * k);
  for (let c = 0; c < k; c++) Q[qo + c * k + c] = 1;
  for (let pq = 0; pq < npan; pq++) {
    const j0 = (npan - 1 - pq) * P;
    const j1 = Math.min(k, j0 + P);
    if (blk) {
      tFactor(j0, j1);
      applyBlock(j0, j1 - j0, Q, qo + j0 * k + j0, k, m - j0, k - j0, false);
      continue;
    }
    for (let jq = j1 - 1; jq >= j0; jq--) {
      const vq = vo + jq * m;
      if (Vt[vq + jq] === 0) continue;
      reflectRows(vq, Q, qo, k, jq, k);
    }
  }
  for (let c = 0; c < k; c++) t[to + c] = W[wo + c * n + c]! >= 0 ? 1 : -1;
  for (let i = 0; i < m; i++) {
    const qr = qo + i * k;
    for (let c = 0; c < k; c++) Q[qr + c] = Q[qr + c]! * t[to + c]!;
  }
  for (let r = 0; r < k; r++) {
    const rr = ro + r * n;
    const wr = wo + r * n;
    const d = t[to + r]!;
    for (let c = 0; c < r; c++) R[rr + c] = 0;
    for (let c = r; c < n; c++) R[rr + c] = d * W[wr + c]!;
  }
}

export const helpers = { gemm, gemv, dot, lu, trisolve, householder, oob, sgn, sigm, rf16: roundF16, rbf16: roundBF16, ftoi, idiv: intDiv, imod: intMod, rand };
export type Helpers = typeof helpers;
