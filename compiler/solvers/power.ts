// Power iteration for objectives quadratic in x on the unit sphere: x ← ±∇f(x)/‖∇f(x)‖ (+ for
// argmax, − for argmin), i.e. for f = xᵀXx the classic x ← Xx/‖Xx‖ (PMaF "PI", seeds-math
// §1.5). By default it stops on the relative eigen-residual ‖g − (xᵀg)x‖ / ‖g‖ ≤ tol (g = ±∇f;
// for xᵀXx: ‖Xx − λx‖/‖Xx‖), tol = eps^(3/4) by precision, and when max_iter ends it short of
// that (a small eigengap), Newton on the KKT system polishes it (at most `polish` steps, skipped
// when not needed): `converged` means the returned x meets the tolerance, which is what the
// implicit gradient assumes. PMaF's rule — stop when the iterate stops moving up to sign,
// max |Δx| ≤ tol, compared with both ±x so a negative dominant eigenvalue still converges — is
// `stop: delta_x`.
//
// Plain power iteration finds the eigenvalue of largest MAGNITUDE; when that one has the wrong
// sign (for argmax: the most negative eigenvalue dominates), it converged to the minimiser. A
// second phase then iterates on ±∇f(x) + σx with σ = |ρ| (ρ the Rayleigh quotient of phase 1),
// which shifts the spectrum to be nonnegative so that the wanted extreme eigenvalue dominates,
// starting again from the initial point. When phase 1 is right, σ = 0 and phase 2 stops after
// one step.

import { buildLoop } from '../ir/loops.js';
import { freeParams, type Node } from '../ir/node.js';
import { DiffError } from '../diff/vjp-rules.js';
import { directional, gradient, objectiveAt, type Decl } from './problem.js';
import { newton } from './newton.js';
import { num, opt, tolByPrecision, type SolverCtx, type Solution } from './solver.js';

/** The problems of the eigenvector solvers (power iteration, Lanczos): one variable on the
 *  sphere, no other constraint, and an objective quadratic in it — its gradient linear, so that
 *  its directional derivative does not depend on x; MAT0409 naming `solver` otherwise. */
export function requireSphereQuadratic(cx: SolverCtx, d: Decl, solver: string): void {
  const b = cx.b;
  if (d.vars.length !== 1 || d.vars[0]!.domain !== 'sphere' || (d.constraints && d.constraints.results.length > 0)) {
    throw new DiffError('MAT0409', `${solver} needs one variable on a sphere domain and no other constraints`, d.node);
  }
  const probe = b.regionParam('x', d.vars[0]!.type);
  const v = b.regionParam('v', d.vars[0]!.type);
  const hv = directional(b, [gradient(cx.vcx, objectiveAt(b, d, [probe]), [probe])[0]!], [probe], [v], cx.hooks)[0]!;
  if (freeParams(hv).has(probe)) {
    throw new DiffError('MAT0409', `${solver} needs an objective quadratic in the variable (its gradient must be linear)`, d.node);
  }
}

export function powerIteration(cx: SolverCtx, d: Decl, x0: Node): Solution {
  const b = cx.b;
  requireSphereQuadratic(cx, d, 'power_iteration');
  const sgn = d.sense === 'max' ? 1 : -1;
  const grad = (x: Node): Node => gradient(cx.vcx, objectiveAt(b, d, [x]), [x])[0]!;
  const byResidual = opt(cx, d, 'stop', 'residual') === 'residual';
  const tolGiven = num(cx, d, 'tol', 0);
  const maxIter = num(cx, d, 'max_iter', 100);
  const polish = byResidual ? num(cx, d, 'polish', 0) : 0;
  const tolFinal = tolByPrecision(b);
  const tol = tolGiven > 0 ? b.const(tolGiven) : byResidual ? tolFinal : b.const(1e-7);
  /** g / max |g| (g itself where it is 0): the direction of g with entries of at most 1, so that
   *  ‖·‖, a sum of squares, cannot overflow — with X's entries past ~1e154, ‖Xx‖ was ∞, the next
   *  iterate 0 and its residual 0, and `ied` returned u = 0 as converged */
  const scaled = (g: Node): Node => {
    const m = b.rmax(b.unary('abs', g));
    return b.div(g, b.select(b.binary('gt', m, b.const(0)), m, b.const(1)));
  };
  /** ‖g − (xᵀg)x‖ / ‖g‖ with g = ±∇f(x) (+ σx): the relative eigen-residual (of the scaled g, the
   *  same ratio) */
  const relRes = (x: Node, g0: Node): Node => {
    const g = scaled(g0);
    return b.div(b.norm(b.sub(g, b.mul(b.dot(x, g), x))), b.add(b.norm(g), b.const(1e-300)));
  };
  /** x on the sphere: a zero or non-finite iterate is never converged */
  const onSphere = (x: Node): Node => b.binary('le', b.unary('abs', b.sub(b.dot(x, x), b.const(1))), b.const(1e-6));
  const phase = (start: Node, sigma: Node | null, label: string) =>
    buildLoop(b, { lo: b.iconst(0), hi: b.iconst(maxIter), inits: [start], names: ['x'], until: true, label, origin: 'power_iteration' }, (_i, [x]) => {
      let g = b.scale(sgn, grad(x!));
      if (sigma) g = b.add(g, b.mul(sigma, x!));
      const gs = scaled(g);
      const xn = b.div(gs, b.norm(gs));
      let done: Node;
      if (byResidual) {
        // the residual at x: x already meets it, so it is returned unchanged
        done = b.binary('le', relRes(x!, g), tol);
        return { next: [b.select(done, x!, xn)], done };
      }
      const dm = b.rmax(b.unary('abs', b.sub(xn, x!)));
      const dp = b.rmax(b.unary('abs', b.add(xn, x!)));
      done = b.binary('le', b.binary('minimum', dm, dp), tol);
      return { next: [xn], done };
    });
  const p1 = phase(x0, null, d.label);
  const x1 = p1.outs[0]!;
  const rho = b.dot(x1, b.scale(sgn, grad(x1)));
  const wrong = b.binary('lt', rho, b.const(0));
  const sigma = b.binary('maximum', b.neg(rho), b.const(0));
  const p2 = phase(b.select(wrong, x0, x1), sigma, `${d.label}/shifted`);
  let x = p2.outs[0]!;
  let iterations: Node = b.ibin('iadd', p1.iterations, p2.iterations);
  let converged: Node = p2.converged;
  if (byResidual) {
    const met = (y: Node) => b.mul(b.binary('le', relRes(y, b.scale(sgn, grad(y))), tolFinal), onSphere(y));
    if (polish > 0) {
      const r = newton(cx, d, [x], { tol: 0, maxIter: Math.round(polish), damping: 0, until: (xs) => met(xs[0]!), skip: met(x) });
      x = b.div(r.xs[0]!, b.norm(r.xs[0]!));
      iterations = b.ibin('iadd', iterations, r.iterations);
    }
    converged = met(x);
  }
  // ‖g − (xᵀg)x‖ as max|r| · ‖r / max|r|‖, which does not overflow where ‖r‖ does not
  const g = grad(x);
  const r = b.sub(g, b.mul(b.dot(x, g), x));
  const rm = b.rmax(b.unary('abs', r));
  const rs = b.select(b.binary('gt', rm, b.const(0)), rm, b.const(1));
  const residual = b.mul(rs, b.norm(b.div(r, rs)));
  return { xs: [x], iterations, converged, residual };
}
