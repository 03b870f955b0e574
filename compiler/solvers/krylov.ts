// Matrix-free linear solves as IR templates: MINRES for the symmetric (possibly indefinite,
// possibly singular but consistent) systems of the implicit backward, given only v ↦ S v — for
// an argmin's KKT system a Hessian–vector product by forward mode, never the matrix.
//
// MINRES (Paige & Saunders 1975; the recurrences of their SYMMLQ/MINRES paper as in SciPy's
// `minres`, unpreconditioned, x₀ = 0). The Lanczos process builds an orthonormal basis v_k of
// the Krylov space K_k(S, g) with S V_k = V_{k+1} T̄_k (T̄_k tridiagonal: α_k on the diagonal,
// β_k beside it):
//     β₁ v₁ = g,   β_{k+1} v_{k+1} = S v_k − α_k v_k − β_k v_{k−1},   α_k = v_kᵀ S v_k
// x_k minimises ‖g − S x‖ over K_k: a QR factorisation of T̄_k by Givens rotations (c_k, s_k),
// updated one column per step, turns the least-squares problem into a recurrence for the
// search directions w_k = (v_k − ε_k w_{k−2} − δ_k w_{k−1}) / γ_k and x_k = x_{k−1} + φ_k w_k,
// with ‖g − S x_k‖ = φ̄_k = |s_k| φ̄_{k−1} (in exact arithmetic). It stops when φ̄_k ≤ tol·‖g‖;
// because φ̄ is a recurrence that drifts from the true residual in finite precision, the caller
// gets the true relative residual ‖S x − g‖/‖g‖ (one more product) to decide `converged` on.
// Storage: five vectors of the system's length; work per step: one product and O(N).

import type { Builder } from '../ir/builder.js';
import { buildLoop } from '../ir/loops.js';
import type { Node } from '../ir/node.js';

export interface KrylovResult {
  x: Node;
  iterations: Node;
  /** the true relative residual ‖S x − g‖ / ‖g‖ (0 when g = 0) */
  residual: Node;
}

/** a / d where d > 0, else 0: a reciprocal or relative residual that stays finite at d = 0 */
export function guardedRatio(b: Builder, a: Node, d: Node): Node {
  const pos = b.binary('gt', d, b.const(0));
  return b.select(pos, b.div(a, b.select(pos, d, b.const(1))), b.const(0));
}

/** MINRES for S x = g with S symmetric, `apply` computing S v; stops at φ̄ ≤ tol‖g‖ or maxIter. */
export function minres(b: Builder, apply: (v: Node) => Node, g: Node, tol: Node, maxIter: Node, label: string): KrylovResult {
  const zero = b.const(0);
  const z = b.zerosLike(g);
  const beta1 = b.norm(g);
  // a guarded reciprocal: 1/x where x > 0, else 0 (a zero right-hand side, or breakdown once the
  // Krylov space is invariant, which also means φ̄ = 0 and the loop stops)
  const inv = (x: Node) => guardedRatio(b, b.const(1), x);
  const loop = buildLoop(
    b,
    {
      lo: b.iconst(0),
      hi: maxIter,
      inits: [z, z, z, g, g, zero, beta1, zero, zero, beta1, b.const(-1), zero],
      names: ['x', 'w', 'w2', 'r1', 'r2', 'oldb', 'beta', 'dbar', 'epsln', 'phibar', 'cs', 'sn'],
      until: true,
      label,
      origin: 'minres',
    },
    (_k, [x, w, w2, r1, r2, oldb, beta, dbar, epsln, phibar, cs, sn]) => {
      const s = inv(beta!);
      const v = b.mul(s, r2!);
      let y = apply(v);
      // − (β_k/β_{k−1}) r1 from the second step on (oldb = 0 on the first)
      y = b.sub(y, b.mul(b.mul(beta!, inv(oldb!)), r1!));
      const alfa = b.dot(v, y);
      y = b.sub(y, b.mul(b.mul(alfa, s), r2!));
      const betaN = b.norm(y);
      // the next Givens rotation
      const delta = b.add(b.mul(cs!, dbar!), b.mul(sn!, alfa));
      const gbar = b.sub(b.mul(sn!, dbar!), b.mul(cs!, alfa));
      const epslnN = b.mul(sn!, betaN);
      const dbarN = b.neg(b.mul(cs!, betaN));
      const gamma = b.binary('maximum', b.unary('sqrt', b.add(b.mul(gbar, gbar), b.mul(betaN, betaN))), b.const(1e-30));
      const csN = b.div(gbar, gamma);
      const snN = b.div(betaN, gamma);
      const phi = b.mul(csN, phibar!);
      const phibarN = b.mul(snN, phibar!);
      // w_k = (v_k − ε_k w_{k−2} − δ_k w_{k−1}) / γ_k
      const wN = b.div(b.sub(b.sub(v, b.mul(epsln!, w2!)), b.mul(delta, w!)), gamma);
      const xN = b.add(x!, b.mul(phi, wN));
      const done = b.binary('le', phibarN, b.mul(tol, beta1));
      return { next: [xN, wN, w!, r2!, y, beta!, betaN, dbarN, epslnN, phibarN, csN, snN], done };
    },
  );
  const x = loop.outs[0]!;
  const r = b.sub(apply(x), g);
  const residual = guardedRatio(b, b.norm(r), beta1);
  return { x, iterations: loop.iterations, residual };
}
