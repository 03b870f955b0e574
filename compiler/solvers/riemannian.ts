// Riemannian gradient descent on the unit sphere with the LESS paper's variants (seeds-math
// §1.2, PMaF `test_least_squares_sphere.py`):
//   gradient: riemannian (RM, d = −P_x g) or euclidean (PGD, d = −g), retraction x ← x/‖x‖
//   step:     exact  η = dᵀd / (dᵀ∇²f d + 1e-8)  — PMaF's gᵀg/(‖Ag‖²+1e-8), generalised by a
//                    Hessian–vector product; exact for quadratic objectives
//             armijo(α, β) from the exact step (BLS), armijo_one(α, β) from 1 (BLSOne):
//                    while f(x + wηd) > f(x) + α w η ∇fᵀd:  η ← βη  (on the unprojected point,
//                    as PMaF does)
//   direction_weight (DW): w = 1 − |cos(x, g)|. PMaF takes cos(x, ±g) with the sign chosen by
//             whether the unconstrained minimiser lies outside the sphere; at a point on the
//             sphere that sign is the sign of −xᵀg (the multiplier's sign), which gives |cos|.
//   tangent_decay β (TWD): while gᵣ(x)ᵀgᵣ(x⁺) < 0 and |·| > 1e-5: η ← βη; stop when |·| ≤ 1e-5
//   stop:     |f(x_t) − f(x_{t−1})| < tol, or max_iter (reported as not converged).
// argmax runs the same on −f.

import { type Builder, shapeOf } from '../ir/builder.js';
import { buildLoop } from '../ir/loops.js';
import type { Node } from '../ir/node.js';
import { DiffError } from '../diff/vjp-rules.js';
import { directional, gradient, objectiveAt, type Decl } from './problem.js';

import { num, opt, type SolverCtx, type Solution } from './solver.js';

export function riemannianDescent(cx: SolverCtx, d: Decl, x0: Node): Solution {
  const b = cx.b;
  if (d.vars.length !== 1 || d.vars[0]!.domain !== 'sphere' || (d.constraints && d.constraints.results.length > 0)) {
    throw new DiffError('MAT0409', 'riemannian_descent needs one variable on a sphere domain and no other constraints', d.node);
  }
  const sgn = d.sense === 'max' ? -1 : 1;
  const phi = (x: Node): Node => b.scale(sgn, objectiveAt(b, d, [x]));
  const grad = (x: Node): Node => gradient(cx.vcx, phi(x), [x])[0]!;
  const proj = (x: Node, g: Node): Node => b.sub(g, b.mul(b.dot(x, g), x));
  const normalize = (v: Node): Node => b.div(v, b.norm(v));
  const tol = num(cx, d, 'tol', 1e-7);
  const maxIter = num(cx, d, 'max_iter', 100);
  const riem = opt(cx, d, 'gradient', 'riemannian') === 'riemannian';
  const step = opt(cx, d, 'step', 'exact');
  const dw = opt(cx, d, 'direction_weight', false) === true;
  const twd = num(cx, d, 'tangent_decay', 0);
  const eps = b.const(1e-8);
  const lp = buildLoop(
    b,
    { lo: b.iconst(0), hi: b.iconst(maxIter), inits: [x0], names: ['x'], until: true, label: d.label, origin: 'riemannian_descent' },
    (_it, [x]) => {
      const f0 = phi(x!);
      const g = grad(x!);
      const gr = proj(x!, g);
      const dir = riem ? b.neg(gr) : b.neg(g);
      const w = dw ? b.sub(b.const(1), b.div(b.unary('abs', b.dot(x!, g)), b.add(b.mul(b.norm(x!), b.norm(g)), b.const(1e-30)))) : b.const(1);
      const hd = directional(b, [g], [x!], [dir], cx.hooks)[0]!;
      const exact = b.div(b.dot(dir, dir), b.add(b.dot(dir, hd), eps));
      let eta: Node;
      if (typeof step === 'number') eta = b.const(step);
      else if (step === 'exact') eta = exact;
      else {
        const [alpha, beta] = (step as { fn: string; args: number[] }).args as [number, number];
        const start = (step as { fn: string }).fn === 'armijo_one' ? b.const(1) : exact;
        const slope = b.dot(riem ? gr : g, dir);
        eta = armijo(b, (e) => phi(b.add(x!, b.mul(b.mul(w, e), dir))), f0, slope, w, start, alpha, beta, d.label);
      }
      let stopTwd: Node = b.const(0);
      if (twd > 0) {
        const r = tangentDecay(b, (e) => normalize(b.add(x!, b.mul(b.mul(w, e), dir))), (xp) => b.dot(gr, proj(xp, grad(xp))), eta, twd, d.label);
        eta = r.eta;
        stopTwd = r.flat;
      }
      const xn = normalize(b.add(x!, b.mul(b.mul(w, eta), dir)));
      const done = b.binary('or', b.binary('lt', b.unary('abs', b.sub(phi(xn), f0)), b.const(tol)), stopTwd);
      return { next: [xn], done };
    },
  );
  const x = lp.outs[0]!;
  const residual = b.norm(proj(x, grad(x)));
  void shapeOf;
  return { xs: [x], iterations: lp.iterations, converged: lp.converged, residual, checks: [curvature(cx, x, grad, d.label)] };
}

/**
 * Second-order check: descent stops at any stationary point, and on the sphere some are saddles
 * or maxima (LESS's "hard case" starts at one). At x, the Hessian of the Lagrangian restricted to
 * the tangent space is T v = P(∇²φ Pv − (xᵀ∇φ) Pv), P = I − xxᵀ; a minimum needs T ⪰ 0. Its
 * extreme eigenvalues are estimated by power iteration on T (30 steps, giving c ≥ |λ|max) and on
 * c·I − T (30 steps): λmin ≈ c − μ. Reported as `<node>/curvature`; negative curvature beyond
 * rounding flags the status.
 */
function curvature(cx: SolverCtx, x: Node, grad: (x: Node) => Node, label: string): { name: string; kind: 'curvature'; value: Node; ok: Node } {
  const b = cx.b;
  const g = grad(x);
  const nu2 = b.dot(x, g);
  const P = (v: Node) => b.sub(v, b.mul(b.dot(x, v), x));
  const T = (v: Node) => {
    const pv = P(v);
    return P(b.sub(directional(b, [g], [x], [pv], cx.hooks)[0]!, b.mul(nu2, pv)));
  };
  const n = shapeOf(x)[0]!;
  const v0 = P(b.add(b.fill([n], 1), b.unary('sin', b.scale(2.1, b.iota(n)))));
  const power = (op: (v: Node) => Node, start: Node, name: string) =>
    buildLoop(b, { lo: b.iconst(0), hi: b.iconst(30), inits: [b.div(start, b.add(b.norm(start), b.const(1e-300)))], names: ['v'], label: `${label}/${name}`, origin: 'curvature' }, (_i, [v]) => {
      const w = op(v!);
      return { next: [b.div(w, b.add(b.norm(w), b.const(1e-300)))] };
    }).outs[0]!;
  const v1 = power(T, v0, 'curvature-max');
  const c = b.add(b.scale(1.05, b.unary('abs', b.dot(v1, T(v1)))), b.const(1e-12));
  const v2 = power((v) => b.sub(b.mul(c, v), T(v)), v0, 'curvature-min');
  const lmin = b.dot(v2, T(v2));
  const scale = b.add(c, b.unary('abs', nu2));
  return { name: 'curvature', kind: 'curvature', value: lmin, ok: b.binary('ge', lmin, b.mul(b.const(-1e-6), scale)) };
}

/** Backtracking: the largest η = β^k η₀ with f(η) ≤ f₀ + α w η slope (at most 60 halvings). */
function armijo(b: Builder, f: (eta: Node) => Node, f0: Node, slope: Node, w: Node, eta0: Node, alpha: number, beta: number, label: string): Node {
  const lp = buildLoop(b, { lo: b.iconst(0), hi: b.iconst(60), inits: [eta0], names: ['eta'], until: true, label: `${label}/armijo`, origin: 'armijo' }, (_i, [eta]) => {
    const ok = b.binary('le', f(eta!), b.add(f0, b.mul(b.mul(b.const(alpha), b.mul(w, eta!)), slope)));
    return { next: [b.select(ok, eta!, b.scale(beta, eta!))], done: ok };
  });
  return lp.outs[0]!;
}

/** TWD: shrink η while the Riemannian gradients at x and x⁺ point against each other. */
function tangentDecay(b: Builder, xplus: (eta: Node) => Node, s: (xp: Node) => Node, eta0: Node, beta: number, label: string): { eta: Node; flat: Node } {
  const lp = buildLoop(b, { lo: b.iconst(0), hi: b.iconst(60), inits: [eta0], names: ['eta'], until: true, label: `${label}/tangent_decay`, origin: 'tangent_decay' }, (_i, [eta]) => {
    const sv = s(xplus(eta!));
    const flat = b.binary('le', b.unary('abs', sv), b.const(1e-5));
    const ok = b.binary('or', b.binary('ge', sv, b.const(0)), flat);
    return { next: [b.select(ok, eta!, b.scale(beta, eta!))], done: ok };
  });
  const eta = lp.outs[0]!;
  return { eta, flat: b.binary('le', b.unary('abs', s(xplus(eta))), b.const(1e-5)) };
}
