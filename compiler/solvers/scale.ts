// The scale a computation divides its data by so that the sums of squares inside it stay in the
// floating-point range (issue 12: silent wrong results far from 1). Used by the spectral lowerings
// (spectral.ts: eigh, heigh, svd, householder divide their input by it).

import type { Builder } from '../ir/builder.js';
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
  const usable = b.binary('and', b.binary('gt', amax, b.const(0)), b.binary('lt', amax, b.const(Infinity)));
  return b.select(inRange, b.const(1), b.select(usable, amax, b.const(1)));
}
