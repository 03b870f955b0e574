// Newton-type solvers on dense systems, for small problems:
//   newton (opt)   Newton on the KKT system F(x, ν) = [∇f − J_hᵀν ; h] with K = ∂F/∂(x, ν)
//                  formed by forward-mode columns (Hessian–vector products); unconstrained
//                  problems reduce to Newton on ∇f = 0.
//   newton (root)  Newton on the equations (plus structure equations); over-determined but
//                  consistent systems take Gauss–Newton steps (JᵀJ) δ = Jᵀ F.
//   gauss_newton   for objectives c·sumsq(r(x)): (J_rᵀJ_r + λI) δ = J_rᵀ r.
//   gradient_descent  x ← x ∓ η ∇f with Armijo backtracking from η = 1.
// newton and gauss_newton stop on a componentwise relative residual (componentwiseResidual), by
// default at eps^(3/4); gradient_descent on ‖∇f‖ < tol (absolute). Each returns the iterate that
// met its test, not the step after it.

import { type Builder, shapeOf, constValue } from '../ir/builder.js';
import { buildLoop } from '../ir/loops.js';
import type { Node } from '../ir/node.js';
import { DiffError } from '../diff/vjp-rules.js';
import { constraintsAt, denseJacobian, equationsAt, flatten, gradient, kktResidual, lsqSolve, multipliers, objectiveAt, sizeOf, unflatten, type Decl } from './problem.js';
import { num, opt, tolByPrecision, type SolverCtx, type Solution } from './solver.js';

function damped(b: Builder, J: Node, lambda: number): Node {
  if (lambda === 0) return J;
  const [E, N] = shapeOf(J);
  if (!E!.equals(N!)) return J;
  return b.add(J, b.scale(lambda, b.eye(N!)));
}

/** `fixed`: options given by the caller instead of the node's (`refine`, the descent's polish;
 *  tol 0: by precision, negative: all maxIter steps);
 *  `until` replaces the stopping test with one on the new iterate; `skip` (a 0/1 real) makes the
 *  trip count 0 — no step at all, not one computed and discarded; `scale` (a positive real c)
 *  runs Newton on f/c, whose KKT system has the same solutions (riemannian.ts). */
export function newton(cx: SolverCtx, d: Decl, x0: Node[], fixed?: { tol: number; maxIter: number; damping: number; until?: (xs: Node[]) => Node; skip?: Node; scale?: Node }): Solution {
  const b = cx.b;
  const tolGiven = fixed ? fixed.tol : num(cx, d, 'tol', 0);
  // by precision (eps^(3/4): 1.8e-12 in f64, 6.5e-6 in f32) unless given; a negative tol (the
  // `refine: k` polish) is never met, so every step runs
  const tol = tolGiven !== 0 ? b.const(tolGiven) : tolByPrecision(b);
  const maxIter = fixed ? fixed.maxIter : num(cx, d, 'max_iter', 50);
  const damping = fixed ? fixed.damping : num(cx, d, 'damping', 0);
  if (d.kind === 'root') {
    const F = (ys: Node[]) => flatten(b, equationsAt(b, d, ys));
    const lp = buildLoop(b, { lo: b.iconst(0), hi: b.iconst(maxIter), inits: [flatten(b, x0)], names: ['z'], until: true, label: d.label, origin: 'newton' }, (_i, [z]) => {
      const ys = unflatten(b, z!, x0);
      const r = F(ys);
      const J = denseJacobian(b, r, ys, cx.hooks, `${d.label}/jacobian`);
      const step = lsqSolve(b, damped(b, J, damping), r)[0];
      // the point that met the test is the one returned (not the step after it)
      const met = b.binary('le', componentwiseResidual(b, J, z!, r), tol);
      return { next: [b.select(met, z!, b.sub(z!, step))], done: met };
    });
    const ys = unflatten(b, lp.outs[0]!, x0);
    return { xs: ys, iterations: lp.iterations, converged: lp.converged, residual: b.norm(F(ys)) };
  }
  // opt: Newton on the KKT system in z = (x, ν); the objective's sign does not matter for
  // stationarity, so argmax and argmin share it (the forward finds the stationary point nearest
  // the initial guess).
  const hs0 = constraintsAt(b, d, x0);
  const withNu = hs0.length > 0;
  const sc = fixed?.scale;
  const g0 = () => gradient(cx.vcx, objectiveAt(b, d, x0), x0).map((x) => (sc ? b.div(x, sc) : x));
  const nu0 = withNu ? multipliers(cx.vcx, hs0, x0, g0(), cx.hooks) : null;
  const like = withNu ? [...x0, nu0!] : x0;
  const hi = fixed?.skip ? b.ftoi(b.mul(b.sub(b.const(1), fixed.skip), b.const(maxIter))) : b.iconst(maxIter);
  const lp = buildLoop(b, { lo: b.iconst(0), hi, inits: [flatten(b, like)], names: ['z'], until: true, label: d.label, origin: 'newton' }, (_i, [z]) => {
    const parts = unflatten(b, z!, like);
    const xs = parts.slice(0, x0.length);
    const r = kktResidual(cx.vcx, d, xs, withNu ? parts[x0.length]! : null, sc);
    const K = denseJacobian(b, r, parts, cx.hooks, `${d.label}/kkt`);
    const step = b.solve(damped(b, K, damping), r)[0];
    const next = b.sub(z!, step);
    // the caller's test is on the new iterate (a branch would be needed to skip a step before it)
    if (fixed?.until) return { next: [next], done: fixed.until(unflatten(b, next, like).slice(0, x0.length)) };
    const met = b.binary('le', componentwiseResidual(b, K, z!, r), tol);
    return { next: [b.select(met, z!, next)], done: met };
  });
  const parts = unflatten(b, lp.outs[0]!, like);
  const xs = parts.slice(0, x0.length);
  const res = b.norm(kktResidual(cx.vcx, d, xs, withNu ? parts[x0.length]! : null, sc));
  return { xs, iterations: lp.iterations, converged: lp.converged, residual: sc ? b.mul(res, sc) : res };
}

/**
 * The componentwise relative residual of F(z) = 0 at z (Oettli–Prager's backward error for a
 * linear F = A z − b, where J = A and r − J z = −b):
 *     ω = maxᵢ |rᵢ| / (|J| |z| + |r − J z|)ᵢ,   0/0 = 0, x/0 = ∞,
 * each equation measured against the size of its own terms, so the test does not depend on the
 * units of the data, equation by equation. Newton stopped on an absolute ‖F‖ < 1e-10 before: on
 * data scaled by 1e-12 that held at the starting point, and one step later it returned a point
 * whose residual was 3e-2, as converged (issue 12). For an argmin, F is the KKT residual and J the
 * KKT matrix: stationarity rows are measured against the objective's scale, constraint rows against
 * the constraints'.
 */
export function componentwiseResidual(b: Builder, J: Node, z: Node, r: Node): Node {
  const den = b.add(b.matvec(b.unary('abs', J), b.unary('abs', z)), b.unary('abs', b.sub(r, b.matvec(J, z))));
  const ar = b.unary('abs', r);
  const pos = b.binary('gt', den, b.const(0));
  const E = shapeOf(r)[0]!;
  const ratio = b.select(pos, b.div(ar, b.select(pos, den, b.fill([E], 1))), b.select(b.binary('gt', ar, b.const(0)), b.fill([E], Infinity), b.fill([E], 0)));
  return b.rmax(ratio);
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
  const tolGiven = num(cx, d, 'tol', 0);
  const tol = tolGiven > 0 ? b.const(tolGiven) : tolByPrecision(b);
  const maxIter = num(cx, d, 'max_iter', 50);
  const damping = num(cx, d, 'damping', 0);
  const lp = buildLoop(b, { lo: b.iconst(0), hi: b.iconst(maxIter), inits: [flatten(b, x0)], names: ['z'], until: true, label: d.label, origin: 'gauss_newton' }, (_i, [z]) => {
    const xs = unflatten(b, z!, x0);
    const r = flatten(b, [leastSquaresResidual(objectiveAt(b, d, xs))!.r]);
    const J = denseJacobian(b, r, xs, cx.hooks, `${d.label}/jacobian`);
    const Jt = b.transpose(J);
    const N = sizeOf(xs);
    const JtJ = b.matmul(Jt, J);
    const Jtr = b.matvec(Jt, r);
    const step = b.solve(b.add(JtJ, b.scale(damping, b.eye(N))), Jtr)[0];
    // the normal equations' componentwise residual: |Jᵀr|ᵢ against (|JᵀJ| |z| + |Jᵀr − JᵀJ z|)ᵢ
    // (for a linear r = A z − b, Oettli–Prager's backward error of AᵀA z = Aᵀb); 0 at every
    // stationary point, whatever the units of r
    const met = b.binary('le', componentwiseResidual(b, JtJ, z!, Jtr), tol);
    return { next: [b.select(met, z!, b.sub(z!, step))], done: met };
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
    // the point that met the test is the one returned
    const met = b.binary('lt', b.unary('sqrt', gg), b.const(tol));
    return { next: [b.select(met, z!, b.sub(z!, b.mul(eta, g)))], done: met };
  });
  const xs = unflatten(b, lp.outs[0]!, x0);
  return { xs, iterations: lp.iterations, converged: lp.converged, residual: b.norm(flatten(b, gradient(cx.vcx, phi(xs), xs))) };
}
