// The scale a computation divides its data by so that the sums of squares inside it stay in the
// floating-point range (issue 12: silent wrong results far from 1). Used by the spectral lowerings
// (spectral.ts: eigh, heigh, svd, householder divide their input by it).

import { type Builder, shapeOf } from '../ir/builder.js';
import type { Dim } from '../../core/dims.js';
import type { Node } from '../ir/node.js';

/**
 * The scale s that eigh, heigh, svd and householder divide their input by before the loops, and
 * multiply the eigenvalues, singular values or R by after them. Each is homogeneous —
 * eigh(A/s) = (λ/s, V), svd(A/s) = (U, σ/s, V), qr(A/s) = (Q, R/s) — and its stopping and
 * zero thresholds are relative, so only the range changes: the loops form sums of squares of the
 * entries (‖y‖ of a reflector, ‖S‖_F of a Jacobi tolerance, w_pᵀw_p of Hestenes), which overflow past
 * √max ≈ 1.3e154 (f64) / 1.8e19 (f32) and underflow below √tiny ≈ 1.5e-154 / 1.1e-19. There they gave
 * silent wrong results: a QR of 1e-170·A skipped every reflection (R = triu(A), status ok), eigh of
 * 1e-170·A or 1e200·A stopped after one sweep as converged (its tolerance n·eps·‖S‖_F was 0 or ∞),
 * svd of 1e-170·A returned σ = 0.
 *
 * s = 1 while max|A| lies in [eps², eps⁻²] (f64: [4.9e-32, 2.0e31]; f32: [1.4e-14, 7.0e13]), so the
 * numbers there are exactly those of the unscaled loops, and the sums of squares stay in range
 * (eps⁻⁴ times the count of entries is far from overflow in both precisions); outside it s =
 * max|A| when that is positive and finite, else 1 (a zero, infinite, NaN or empty input: its
 * results are what they were). Applied where the node is lowered — after differentiation, whose
 * rules are matrix-level — and where a back end keeps the node as a routine (scaledKept).
 */
export function inputScale(b: Builder, parts: readonly Node[]): Node {
  let amax = b.rmax(b.unary('abs', parts[0]!));
  for (const p of parts.slice(1)) amax = b.binary('maximum', amax, b.rmax(b.unary('abs', p)));
  const e2 = b.mul(b.eps(), b.eps());
  const inRange = b.binary('and', b.binary('ge', amax, e2), b.binary('le', b.mul(amax, e2), b.const(1)));
  return b.select(inRange, b.const(1), b.select(positiveFinite(b, amax), amax, b.const(1)));
}

/** 0 < x < ∞ (elementwise): where a scale may be divided by. */
export function positiveFinite(b: Builder, x: Node): Node {
  return b.binary('and', b.binary('gt', x, b.const(0)), b.binary('lt', x, b.const(Infinity)));
}

/**
 * Row and column equilibration of a square matrix (LAPACK's dgeequ): M = R K C with
 * rᵢ = 1 / maxⱼ |Kᵢⱼ| and then cⱼ = 1 / maxᵢ |rᵢ Kᵢⱼ| (1 where that maximum is 0 or not finite).
 * K y = g ⇔ M w = R g, y = C w; Kᵀ y = g ⇔ Mᵀ w = C g, y = R w.
 *
 * The implicit backward's KKT matrix mixes blocks of different scales: for an argmin of f with
 * constraints h, K = [[∇²f − Σνᵢ∇²hᵢ, −J_hᵀ], [J_h, 0]], whose stationarity rows and multiplier
 * columns carry the scale of f (LESS: the data squared) and whose constraint block does not. LU's
 * pivot ratio min|uᵢᵢ| / max|uᵢᵢ| (the rcond the status reports) then fell with that scale: LESS's
 * backward on A, b scaled by 1e4 was flagged "singular or ill-conditioned" although its gradient
 * was right to 1e-15 (issue 12). On M the blocks are of one scale and the ratio measures the
 * system, not the units of the data.
 */
export function equilibrate(b: Builder, K: Node, pre?: { r: Node; c: Node }): { M: Node; r: Node; c: Node } {
  const [E, N] = shapeOf(K) as [Dim, Dim];
  const inv = (m: Node, len: Dim): Node => {
    const usable = positiveFinite(b, m);
    const ones = b.fill([len], 1);
    return b.select(usable, b.div(ones, b.select(usable, m, ones)), ones);
  };
  const K0 = pre ? b.mul(K, b.outer(pre.r, pre.c)) : K;
  const r1 = inv(b.rmax(b.unary('abs', K0), 1), E);
  const c1 = inv(b.rmax(b.unary('abs', b.mul(K0, b.outer(r1, b.fill([N], 1)))), 0), N);
  const r = pre ? b.mul(pre.r, r1) : r1;
  const c = pre ? b.mul(pre.c, c1) : c1;
  return { M: b.mul(K, b.outer(r, c)), r, c };
}

/**
 * The KKT system K = [[H, −J_hᵀ], [J_h, 0]] (nx primal unknowns, p multipliers) of f / σ, with
 * σ = max|H|: rows [1/σ … 1/σ, 1 … 1], columns [1 … 1, σ … σ] (kktPrescale, for the dense solve), or
 * D = [σ^(−1/2) … σ^(−1/2), σ^(1/2) … σ^(1/2)] on both sides (kktSymmetricScale, for MINRES, which
 * needs the system symmetric). Row and column maxima cannot see this scaling: when f is small, the
 * constraint block J_h (of order 1 for a sphere) dominates every row and column, and the Hessian
 * block stays at the scale of f (LESS on data scaled by 1e-8: H ~ 1e-16, rcond ~ 1e-17). Dividing f
 * by a positive number changes neither the solution nor its derivative.
 */
export function primalMask(b: Builder, nx: Dim, p: Dim): Node {
  return b.concat([b.fill([nx], 1), b.fill([p], 0)], 0);
}

/** σ = the largest |entry| of v's primal block (v the KKT matrix, or a vector of its rows: mask from
 *  primalMask), 1 where that is 0 or not finite. */
export function primalScale(b: Builder, v: Node, mask: Node): Node {
  const h = b.rmax(b.mul(b.unary('abs', v), shapeOf(v).length === 2 ? b.outer(mask, mask) : mask));
  return b.select(positiveFinite(b, h), h, b.const(1));
}

export function kktPrescale(b: Builder, sigma: Node, nx: Dim, p: Dim): { r: Node; c: Node } {
  return {
    r: b.concat([b.div(b.fill([nx], 1), sigma), b.fill([p], 1)], 0),
    c: b.concat([b.fill([nx], 1), b.mul(b.fill([p], 1), sigma)], 0),
  };
}

export function kktSymmetricScale(b: Builder, sigma: Node, nx: Dim, p: Dim): Node {
  const root = b.unary('sqrt', sigma);
  return b.concat([b.div(b.fill([nx], 1), root), b.mul(b.fill([p], 1), root)], 0);
}

/**
 * ‖x‖ (the 2-norm of a vector, Frobenius of a matrix; of re + i·im for complex parts) as
 * s·‖x / s‖ with s = inputScale(parts), held constant for differentiation (the value does not
 * depend on s, so ∂ is exact: x/‖x‖). The language's `norm` and `normalize`: a plain sum of squares
 * underflowed or overflowed far from 1 — normalize of 1e160·x returned 0 with `ok: true` (its
 * norm was ∞), and norm of 1e-160·x lost five digits to subnormals. s = 1 in range, so the numbers
 * there are exactly those of √(Σx²).
 */
export function scaledNorm(b: Builder, parts: readonly Node[]): Node {
  const s = b.nograd(inputScale(b, parts));
  const sq = parts.map((p) => b.sumsq(b.div(p, s)));
  return b.mul(s, b.unary('sqrt', sq.slice(1).reduce((acc, q) => b.add(acc, q), sq[0]!)));
}
