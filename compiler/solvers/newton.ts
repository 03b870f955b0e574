// Newton-type solvers on dense systems, for small problems:
//   newton (opt)   Newton on the KKT system F(x, ν) = [∇f − J_hᵀν ; h] with K = ∂F/∂(x, ν)
//                  formed by forward-mode columns (Hessian–vector products); unconstrained
//                  problems reduce to Newton on ∇f = 0.
//   newton (root)  Newton on the equations (plus structure equations); over-determined but
//                  consistent systems take Gauss–Newton steps (JᵀJ) δ = Jᵀ F.
//   gauss_newton   for objectives c·sumsq(r(x)): (J_rᵀJ_r + λI) δ = J_rᵀ r.
//   gradient_descent  x ← x ∓ η ∇f with Armijo backtracking from η = 1.
// All stop when the residual norm is below tol.

import { type Builder, shapeOf, constValue } from '../ir/builder.js';
import { buildLoop } from '../ir/loops.js';
import type { Node } from '../ir/node.js';
import { DiffError } from '../diff/vjp-rules.js';
import { constraintsAt, denseJacobian, equationsAt, flatten, gradient, kktResidual, lsqSolve, multipliers, objectiveAt, sizeOf, unflatten, type Decl } from './problem.js';
import { num, opt, type SolverCtx, type Solution } from './solver.js';

function damped(b: Builder, J: Node, lambda: number): Node {
  if (lambda === 0) return J;
  const [E, N] = shapeOf(J);
  if (!E!.equals(N!)) return J;
  return b.add(J, b.scale(lambda, b.eye(N!)));
}

/** `fixed`: options given by the caller instead of the node's (`refine`, the descent's polish);
 *  `until` replaces the stopping test with one on the new iterate; `skip` (a 0/1 real) makes the
 *  trip count 0 — no step at all, not one computed and discarded. */
export function newton(cx: SolverCtx, d: Decl, x0: Node[], fixed?: { tol: number; maxIter: number; damping: number; until?: (xs: Node[]) => Node; skip?: Node }): Solution {
  const b = cx.b;
  const tol = fixed ? fixed.tol : num(cx, d, 'tol', 1e-10);
  const maxIter = fixed ? fixed.maxIter : num(cx, d, 'max_iter', 50);
  const damping = fixed ? fixed.damping : num(cx, d, 'damping', 0);
  if (d.kind === 'root') {
    const F = (ys: Node[]) => flatten(b, equationsAt(b, d, ys));
    const lp = buildLoop(b, { lo: b.iconst(0), hi: b.iconst(maxIter), inits: [flatten(b, x0)], names: ['z'], until: true, label: d.label, origin: 'newton' }, (_i, [z]) => {
      const ys = unflatten(b, z!, x0);
      const r = F(ys);
      const J = denseJacobian(b, r, ys, cx.hooks, `${d.label}/jacobian`);
      const step = lsqSolve(b, damped(b, J, damping), r)[0];
      return { next: [b.sub(z!, step)], done: b.binary('lt', b.norm(r), b.const(tol)) };
    });
    const ys = unflatten(b, lp.outs[0]!, x0);
    return { xs: ys, iterations: lp.iterations, converged: lp.converged, residual: b.norm(F(ys)) };
  }
  // opt: Newton on the KKT system in z = (x, ν); the objective's sign does not matter for
  // stationarity, so argmax and argmin share it (the forward finds the stationary point nearest
  // the initial guess).
  const hs0 = constraintsAt(b, d, x0);
  const withNu = hs0.length > 0;
  const nu0 = withNu ? multipliers(cx.vcx, hs0, x0, gradient(cx.vcx, objectiveAt(b, d, x0), x0), cx.hooks) : null;
  const like = withNu ? [...x0, nu0!] : x0;
  const hi = fixed?.skip ? b.ftoi(b.mul(b.sub(b.const(1), fixed.skip), b.const(maxIter))) : b.iconst(maxIter);
  const lp = buildLoop(b, { lo: b.iconst(0), hi, inits: [flatten(b, like)], names: ['z'], until: true, label: d.label, origin: 'newton' }, (_i, [z]) => {
    const parts = unflatten(b, z!, like);
    const xs = parts.slice(0, x0.length);
    const r = kktResidual(cx.vcx, d, xs, withNu ? parts[x0.length]! : null);
    const K = denseJacobian(b, r, parts, cx.hooks, `${d.label}/kkt`);
    const step = b.solve(damped(b, K, damping), r)[0];
    const next = b.sub(z!, step);
    // the caller's test is on the new iterate (a branch would be needed to skip a step before it)
    if (fixed?.until) return { next: [next], done: fixed.until(unflatten(b, next, like).slice(0, x0.length)) };
    return { next: [next], done: b.binary('lt', b.norm(r), b.const(tol)) };
  });
  const parts = unflatten(b, lp.outs[0]!, like);
  const xs = parts.slice(0, x0.length);
  const res = b.norm(kktResidual(cx.vcx, d, xs, withNu ? parts[x0.length]! : null));
  return { xs, iterations: lp.iterations, converged: lp.converged, residual: res };
}

/** The residual r of an objective c·sumsq(r) or c·rᵀr, or null. */
function leastSquaresResidual(f: Node): { c: number; r: Node } | null {
  let c = 1;
  let x = f;
  if (x.op === 'mul' && constValue(x.args[0]!) !== undefined && shapeOf(x.args[0]!).length === 0) {
    c = constValue(x.args[0]!)!;
    x = x.args[1]!;
  }
  if (x.op === 'dot' && x.args[0] === x.args[1]) return { c, r: x.args[0]! };
  if (x.op === 'sum' && x.args[0]!.op === 'mul' && x.args[0]!.args[0] === x.args[0]!.args[1]) return { c, r: x.args[0]!.args[0]! };
  return null;
}

export function gaussNewton(cx: SolverCtx, d: Decl, x0: Node[]): Solution {
  const b = cx.b;
  if (d.sense !== 'min' || (d.constraints && d.constraints.results.length > 0) || d.vars.some((v) => v.domain !== 'general')) {
    throw new DiffError('MAT0409', 'gauss_newton solves unconstrained argmin problems of the form c * sumsq(r(x))', d.node);
  }
  const probe = leastSquaresResidual(objectiveAt(b, d, x0));
  if (!probe || probe.c <= 0) throw new DiffError('MAT0409', 'gauss_newton needs an objective c * sumsq(r(x)) with c > 0', d.node);
  const tol = num(cx, d, 'tol', 1e-10);
  const maxIter = num(cx, d, 'max_iter', 50);
  const damping = num(cx, d, 'damping', 0);
  const lp = buildLoop(b, { lo: b.iconst(0), hi: b.iconst(maxIter), inits: [flatten(b, x0)], names: ['z'], until: true, label: d.label, origin: 'gauss_newton' }, (_i, [z]) => {
    const xs = unflatten(b, z!, x0);
    const r = flatten(b, [leastSquaresResidual(objectiveAt(b, d, xs))!.r]);
    const J = denseJacobian(b, r, xs, cx.hooks, `${d.label}/jacobian`);
    const Jt = b.transpose(J);
    const N = sizeOf(xs);
    const step = b.solve(b.add(b.matmul(Jt, J), b.scale(damping, b.eye(N))), b.matvec(Jt, r))[0];
    const g = flatten(b, gradient(cx.vcx, objectiveAt(b, d, xs), xs));
    return { next: [b.sub(z!, step)], done: b.binary('lt', b.norm(g), b.const(tol)) };
  });
  const xs = unflatten(b, lp.outs[0]!, x0);
  return { xs, iterations: lp.iterations, converged: lp.converged, residual: b.norm(flatten(b, gradient(cx.vcx, objectiveAt(b, d, xs), xs))) };
}

export function gradientDescent(cx: SolverCtx, d: Decl, x0: Node[]): Solution {
  const b = cx.b;
  if ((d.constraints && d.constraints.results.length > 0) || d.vars.some((v) => v.domain !== 'general')) {
    throw new DiffError('MAT0409', 'gradient_descent solves unconstrained problems over plain vectors and matrices', d.node);
  }
  const sgn = d.sense === 'max' ? -1 : 1;
  const tol = num(cx, d, 'tol', 1e-7);
  const maxIter = num(cx, d, 'max_iter', 1000);
  const step = opt(cx, d, 'step', { fn: 'armijo', args: [0.5, 0.8] });
  const phi = (xs: Node[]) => b.scale(sgn, objectiveAt(b, d, xs));
  const lp = buildLoop(b, { lo: b.iconst(0), hi: b.iconst(maxIter), inits: [flatten(b, x0)], names: ['z'], until: true, label: d.label, origin: 'gradient_descent' }, (_i, [z]) => {
    const xs = unflatten(b, z!, x0);
    const f0 = phi(xs);
    const g = flatten(b, gradient(cx.vcx, f0, xs));
    const gg = b.dot(g, g);
    let eta: Node;
    if (typeof step === 'number') eta = b.const(step);
    else {
      const [alpha, beta] = (step as { args: number[] }).args as [number, number];
      const bt = buildLoop(b, { lo: b.iconst(0), hi: b.iconst(60), inits: [b.const(1)], names: ['eta'], until: true, label: `${d.label}/armijo`, origin: 'armijo' }, (_k, [e]) => {
        const ok = b.binary('le', phi(unflatten(b, b.sub(z!, b.mul(e!, g)), x0)), b.sub(f0, b.mul(b.const(alpha), b.mul(e!, gg))));
        return { next: [b.select(ok, e!, b.scale(beta, e!))], done: ok };
      });
      eta = bt.outs[0]!;
    }
    return { next: [b.sub(z!, b.mul(eta, g))], done: b.binary('lt', b.unary('sqrt', gg), b.const(tol)) };
  });
  const xs = unflatten(b, lp.outs[0]!, x0);
  return { xs, iterations: lp.iterations, converged: lp.converged, residual: b.norm(flatten(b, gradient(cx.vcx, phi(xs), xs))) };
}
