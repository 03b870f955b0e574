// Restarted Lanczos for objectives quadratic in x on the unit sphere, the problems power iteration
// takes (solvers/power.ts): the extreme eigenvector of the linear operator A v = ±∇f(v) (+ for
// argmax, − for argmin; for f = xᵀXx, A = 2X), found as the largest Ritz pair of a Krylov space.
// Power iteration needs O(1/δ) steps for a relative eigengap δ and converges to the eigenvalue of
// largest magnitude; Lanczos needs O(1/√δ) (Saad, Numerical Methods for Large Eigenvalue
// Problems, 2nd ed., §6.6: Kaniel–Paige–Saad bounds) and its largest Ritz value tends to the
// largest eigenvalue whatever the signs of the spectrum. matc's `ied` on random symmetric
// matrices is the case: power iteration converges on 5 % of Wigner matrices of order 32 in 100
// steps (stdlib/ied.mat).
//
// Lanczos steps, for j = 0, 1, … (K = min(n, krylov) basis vectors at most, krylov = 16):
//   Q[:, j] = q_j,  W[:, j] = A q_j,
//   r = W[:, j] − Q (Qᵀ W[:, j]), twice (classical Gram–Schmidt with reorthogonalization, against
//       every basis vector so far: full reorthogonalization, so Q stays orthonormal to rounding),
//   q_{j+1} = r / ‖r‖, or, where ‖r‖ ≤ 1e-10 ‖A q_j‖ (the space is invariant under A: a lucky
//       breakdown), a fixed generic vector orthogonalized the same way, so that the basis still
//       grows (the Ritz pairs of any orthonormal basis are valid; with K = n the basis spans
//       everything and one cycle is exact).
// Rayleigh–Ritz on the dense projection H = Qᵀ W = Qᵀ A Q (symmetrized; tridiagonal, plus the
// kept block's arrow after a restart, in exact arithmetic — the dense form needs no three-term
// recurrence and tolerates the fallback vectors): eigh(H) (Jacobi, solvers/spectral.ts), the
// largest eigenvalue's eigenvector y, x = Q y / ‖Q y‖. The first cycle is P = max(1, ⌊K/2⌋)
// steps from x₀ and K − P more; each later cycle keeps the P largest Ritz pairs (below) and adds
// K − P steps, until the relative eigen-residual ‖g − (xᵀg)x‖ / ‖g‖, g = A x, is at most tol
// (eps^(3/4) by precision, as power iteration's), at most max_iter (50) cycles; `converged` means
// the returned x meets eps^(3/4), which the implicit gradient assumes. A cycle costs K − P
// operator applications, 4nK per step for the orthogonalization and O(K³) for eigh(H).
// Measured (f64 CPU, `--random` Wigner matrices, 2026-12-07): every instance converged at m = 8,
// 32, 100, 300 and 1024, in 1, ~4, ~7, ~11 and ~17 cycles; krylov = 32 takes about half the
// cycles for about as many operator applications, and its eigh(32) made it up to 2× slower
// below m = 1024.

import { Dim } from '../../core/dims.js';
import { shapeOf } from '../ir/builder.js';
import { buildLoop } from '../ir/loops.js';
import type { Node } from '../ir/node.js';
import { DiffError } from '../diff/vjp-rules.js';
import { eighOf } from '../diff/spectral-rules.js';
import { gradient, objectiveAt, type Decl } from './problem.js';
import { requireSphereQuadratic } from './power.js';
import { num, tolByPrecision, type SolverCtx, type Solution } from './solver.js';

export function lanczos(cx: SolverCtx, d: Decl, x0: Node): Solution {
  const b = cx.b;
  // the operator A v = ±∇f(v) must be linear
  requireSphereQuadratic(cx, d, 'lanczos');
  const shape = shapeOf(x0);
  if (shape.length !== 1) throw new DiffError('MAT0409', 'lanczos needs a vector variable', d.node);
  const n = shape[0]!;
  const sgn = d.sense === 'max' ? 1 : -1;
  const applyRaw = (x: Node): Node => b.scale(sgn, gradient(cx.vcx, objectiveAt(b, d, [x]), [x])[0]!);
  /** the largest entry of a vector's magnitude, or 1 where the vector is 0 */
  const maxAbs = (v: Node): Node => {
    const m = b.rmax(b.unary('abs', v));
    return b.select(b.binary('gt', m, b.const(0)), m, b.const(1));
  };
  // The operator scaled by a constant of the instance, s = max |A x₀| (x₀ normalized): Lanczos,
  // Rayleigh–Ritz and the relative residual do not depend on it, and sums of squares of X's
  // entries past ~1e154 no longer overflow (ied_lanczos on diag(1, 1, 1e200, 1) had found e₃ but
  // reported it not converged with residual ∞).
  const s = maxAbs(applyRaw(b.div(x0, maxAbs(x0))));
  const apply = (x: Node): Node => b.div(applyRaw(x), s);
  // an integer ≥ 2 (solver-specs.ts checks it, in the spec and as an override)
  const krylov = num(cx, d, 'krylov', 16);
  const K = Dim.min(n, Dim.const(krylov));
  const maxIter = num(cx, d, 'max_iter', 50);
  const tolGiven = num(cx, d, 'tol', 0);
  const tolFinal = tolByPrecision(b);
  const tol = tolGiven > 0 ? b.const(tolGiven) : tolFinal;
  /** ‖g − (xᵀg)x‖ / ‖g‖ with g = A x: the relative eigen-residual */
  const relRes = (x: Node): Node => {
    const g = apply(x);
    return b.div(b.norm(b.sub(g, b.mul(b.dot(x, g), x))), b.add(b.norm(g), b.const(1e-300)));
  };
  const unit = (x: Node): Node => b.div(x, b.add(b.norm(x), b.const(1e-300)));
  /** sin(0.9 (i + 1)(j + 2) + 0.3), i = 0 … n − 1: the j-th generic vector (fills a breakdown) */
  const generic = (j: Node): Node =>
    b.unary('sin', b.add(b.mul(b.mul(b.const(0.9), b.add(b.iota(n), b.const(1))), b.add(b.itof(j), b.const(2))), b.const(0.3)));
  /** r without its components along the columns of Q (zero columns do nothing), twice */
  const orth = (Q: Node, r: Node): Node => {
    const once = (v: Node) => b.sub(v, b.matvec(Q, b.vecmat(v, Q)));
    return once(once(r));
  };
  /** the next basis vector: r orthogonalized against Q, or where that leaves nothing (r in the span
   *  of Q: a breakdown) the generic vector j orthogonalized the same way */
  const nextVector = (Q: Node, r: Node, j: Node): Node => {
    const o = orth(Q, r);
    const broke = b.binary('le', b.norm(o), b.add(b.mul(b.const(1e-10), b.norm(r)), b.const(1e-300)));
    return b.select(broke, unit(orth(Q, generic(j))), unit(o));
  };
  // The first P = max(1, ⌊K/2⌋) Lanczos vectors from x₀ with their images, then cycles that each
  // extend P kept columns to K. After a cycle the P largest Ritz vectors Q Y and their images
  // W Y (no operator application: A Q Y = W Y) are kept, and the space grows again from the top
  // Ritz vector's residual A x − θx, to which all the kept Ritz vectors' residuals are parallel in
  // a Krylov space, so the new space is one too (thick restart: Wu & Simon, SIAM J. Matrix Anal.
  // Appl. 22 (2000) 602–616).
  const P = Dim.max(Dim.const(1), Dim.floorDiv(K, Dim.const(2)));
  /** Lanczos steps j = lo … hi − 1: q_j into Q, A q_j into W, the next vector orthogonalized */
  const steps = (lo: Dim, hi: Dim, Q: Node, W: Node, q: Node, label: string) =>
    buildLoop(b, { lo: b.dim(lo), hi: b.dim(hi), inits: [Q, W, q], names: ['Q', 'W', 'q'], label, origin: 'lanczos' }, (j, [Qc, Wc, qj]) => {
      const Q1 = b.setcol(Qc!, j, qj!);
      const w = apply(qj!);
      return { next: [Q1, b.setcol(Wc!, j, w), nextVector(Q1, w, b.ibin('iadd', j, b.iconst(1)))] };
    }).outs as [Node, Node, Node];
  const [Q0, W0, q0] = steps(Dim.const(0), P, b.zeros([n, P]), b.zeros([n, P]), unit(x0), `${d.label}/lanczos-start`);
  const last = (k: Dim) => b.ibin('isub', b.dim(k), b.iconst(1));
  const cycle = (Qk: Node, Wk: Node, q: Node): { Qk: Node; Wk: Node; q: Node; x: Node } => {
    const origin = [Dim.const(0), Dim.const(0)];
    const [Q, W] = steps(P, K, b.pad(Qk, origin, [n, K]), b.pad(Wk, origin, [n, K]), q, `${d.label}/lanczos`);
    // Rayleigh–Ritz on H = Qᵀ A Q = Qᵀ W, symmetrized; eigh sorts ascending, so the p largest
    // Ritz pairs are the last p columns, the top one last
    const H = b.matmul(b.transpose(Q), W);
    const { lam, V } = eighOf(b, b.scale(0.5, b.add(H, b.transpose(H))), undefined);
    const Y = b.slice(V, [Dim.const(0), K.sub(P)], [K, P]);
    const QY = b.matmul(Q, Y);
    const WY = b.matmul(W, Y);
    const x = unit(b.getcol(QY, last(P)));
    const theta = b.index(lam, [last(K)]);
    const res = b.sub(b.getcol(WY, last(P)), b.mul(theta, b.getcol(QY, last(P))));
    return { Qk: QY, Wk: WY, q: nextVector(QY, res, b.dim(K)), x };
  };
  const loop = buildLoop(
    b,
    { lo: b.iconst(0), hi: b.iconst(maxIter), inits: [Q0, W0, q0, x0], names: ['Qk', 'Wk', 'q', 'x'], until: true, label: d.label, origin: 'lanczos' },
    (_i, [Qk, Wk, q]) => {
      const c = cycle(Qk!, Wk!, q!);
      return { next: [c.Qk, c.Wk, c.q, c.x], done: b.binary('le', relRes(c.x), tol) };
    },
  );
  const x = loop.outs[3]!;
  // ‖A x − (xᵀA x)x‖ of the unscaled operator: s times that of the scaled one
  const g = apply(x);
  const residual = b.mul(s, b.norm(b.sub(g, b.mul(b.dot(x, g), x))));
  return { xs: [x], iterations: loop.iterations, converged: b.binary('le', relRes(x), tolFinal), residual };
}
