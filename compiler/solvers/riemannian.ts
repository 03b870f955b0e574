// Riemannian descent on the unit sphere (retraction x ← x/‖x‖), for LESS and any smooth objective
// of one sphere variable; argmax runs the same on φ = −f.
//
// The default (issue 9) is a solver whose answer the implicit gradient can trust:
//   direction  steepest (d = −P_x g) or cg: Riemannian conjugate gradient (Polak–Ribière⁺ with the
//              projection as vector transport, restarted when d is not a descent direction)
//   step       exact: the minimiser of the second-order model along d on the sphere,
//              η = −gᵣᵀd / κ with the Riemannian curvature κ = dᵀ∇²φ d − (xᵀ∇φ)‖d‖² (the sphere's
//              curvature term included; the Euclidean dᵀ∇²φ d alone overshoots wherever the
//              multiplier is negative, and can go uphill); where κ ≤ 0 (the model is not convex
//              along d) the trial step moves x by half a radian and the safeguard shortens it
//   monotone   no accepted step increases φ: the step is halved (up to 30 times) until φ(x⁺) ≤ φ(x);
//              if none decreases it, x stays
//   stop       kkt: the relative KKT residual ‖P_x ∇φ‖ / (‖∇φ‖ + ‖∇²φ‖ + tiny) ≤ tol, tol = √eps by
//              default (the Hessian scale is |∇²φ[d]|/‖d‖ in the loop, ∇²φ[x] at the end)
//   polish     then Newton on the KKT system until the relative residual is at eps^(3/4) (≤ 3 steps,
//              quadratic convergence from √eps); `converged` means the returned x meets eps^(3/4), so
//              the implicit gradient — the derivative of the exact solution map — is the gradient of
//              what was returned
//
// PMaF's variants stay for reproducing the paper (seeds-math §1.2, `test_least_squares_sphere.py`),
// with `pmaf: true`:
//   gradient: riemannian (RM, d = −P_x g) or euclidean (PGD, d = −g)
//   step:     exact  η = dᵀd / (dᵀ∇²f d + 1e-8)  — PMaF's gᵀg/(‖Ag‖²+1e-8), by a Hessian–vector
//                    product; armijo(α, β) from that step (BLS), armijo_one(α, β) from 1 (BLSOne):
//                    while f(x + wηd) > f(x) + α w η ∇fᵀd:  η ← βη  (on the unprojected point)
//   direction_weight (DW): w = 1 − |cos(x, g)|
//   tangent_decay β (TWD): while gᵣ(x)ᵀgᵣ(x⁺) < 0 and |·| > 1e-5: η ← βη; stop when |·| ≤ 1e-5
//   stop:     |f(x_t) − f(x_{t−1})| < tol (1e-7), or max_iter (reported as not converged)
// DW, TWD and the Armijo steps combine with the default as well (the safeguard then applies).

import { type Builder, shapeOf } from '../ir/builder.js';
import { buildLoop } from '../ir/loops.js';
import type { Node } from '../ir/node.js';
import { DiffError } from '../diff/vjp-rules.js';
import { directional, gradient, objectiveAt, type Decl } from './problem.js';
import { newton } from './newton.js';
import { inputScale } from './scale.js';
import { num, opt, tolByPrecision, type SolverCtx, type Solution } from './solver.js';

export function riemannianDescent(cx: SolverCtx, d: Decl, x0: Node): Solution {
  const b = cx.b;
  if (d.vars.length !== 1 || d.vars[0]!.domain !== 'sphere' || (d.constraints && d.constraints.results.length > 0)) {
    throw new DiffError('MAT0409', 'riemannian_descent needs one variable on a sphere domain and no other constraints', d.node);
  }
  const sgn = d.sense === 'max' ? -1 : 1;
  // The loop works on φ/c, with c the scale of ∇φ at the start (scale.ts: 1 while max|∇φ(x0)| is
  // in [eps², eps⁻²]). The stopping rule, the exact step and the conjugate-gradient β are ratios of
  // sums of squares and products of ∇φ's entries (‖P∇φ‖, dᵀ∇²φd, gᵀg), which scale with the data
  // squared for LESS (∇φ = Aᵀ(Ax − b)) and once more inside the sums: on A, b scaled by 1e-90 (f64)
  // they underflowed to 0 and the descent returned its starting point as converged, and in f32 a
  // scale of 1e-10 stopped 3e-4 short, also as converged (issue 12). Minimizers are unchanged by
  // c > 0. ∇φ is divided elementwise after differentiation rather than φ before it: the simplifier
  // moves a scalar factor out of a product (dot(s·v, s·v) → s²·dot(v, v)), which would bring the
  // squares of the unscaled entries back.
  const phiRaw = (x: Node): Node => b.scale(sgn, objectiveAt(b, d, [x]));
  const c = inputScale(b, [gradient(cx.vcx, phiRaw(x0), [x0])[0]!]);
  const phi = (x: Node): Node => b.div(phiRaw(x), c);
  const grad = (x: Node): Node => b.div(gradient(cx.vcx, phiRaw(x), [x])[0]!, c);
  const hess = (x: Node, g: Node, v: Node): Node => directional(b, [g], [x], [v], cx.hooks)[0]!;
  const proj = (x: Node, g: Node): Node => b.sub(g, b.mul(b.dot(x, g), x));
  const normalize = (v: Node): Node => b.div(v, b.norm(v));
  const pmaf = opt(cx, d, 'pmaf', false) === true;
  const maxIter = num(cx, d, 'max_iter', 100);
  const riem = opt(cx, d, 'gradient', 'riemannian') === 'riemannian';
  const step = opt(cx, d, 'step', 'exact');
  const dw = opt(cx, d, 'direction_weight', false) === true;
  const twd = num(cx, d, 'tangent_decay', 0);
  const cg = !pmaf && opt(cx, d, 'direction', 'cg') === 'cg';
  const stopKkt = !pmaf && opt(cx, d, 'stop', 'kkt') === 'kkt';
  const monotone = !pmaf && opt(cx, d, 'monotone', true) === true;
  const polish = pmaf ? 0 : num(cx, d, 'polish', 3);
  const tolGiven = num(cx, d, 'tol', 0);
  // tolerances by the precision the function runs in (eps: 2⁻⁵² f64, 2⁻²³ f32)
  const eps = b.eps();
  const tolLoop = tolGiven > 0 ? b.const(tolGiven) : stopKkt ? b.unary('sqrt', eps) : b.const(1e-7);
  const tolFinal = tolByPrecision(b);
  const tiny = b.const(1e-300);
  const n = shapeOf(x0)[0]!;
  const relKkt = (gr: Node, g: Node, hscale: Node): Node => b.div(b.norm(gr), b.add(b.add(b.norm(g), hscale), tiny));
  const lp = buildLoop(
    b,
    {
      lo: b.iconst(0),
      hi: b.iconst(maxIter),
      // conjugate gradient carries the previous direction and Riemannian gradient
      inits: cg ? [x0, b.zeros([n]), b.zeros([n])] : [x0],
      names: cg ? ['x', 'dprev', 'gprev'] : ['x'],
      until: true,
      label: d.label,
      origin: 'riemannian_descent',
    },
    (_it, [x, dprev, gprev]) => {
      const f0 = phi(x!);
      const g = grad(x!);
      const nu = b.dot(x!, g);
      const gr = b.sub(g, b.mul(nu, x!));
      let dir = riem ? b.neg(gr) : b.neg(g);
      if (cg) {
        // Polak–Ribière⁺ on the transported previous gradient and direction (0 on the first step)
        const tg = proj(x!, gprev!);
        const beta = b.binary('maximum', b.div(b.dot(gr, b.sub(gr, tg)), b.add(b.dot(gprev!, gprev!), tiny)), b.const(0));
        const dcg = b.add(dir, b.mul(beta, proj(x!, dprev!)));
        dir = b.select(b.binary('lt', b.dot(gr, dcg), b.const(0)), dcg, dir);
      }
      const w = dw ? b.sub(b.const(1), b.div(b.unary('abs', nu), b.add(b.mul(b.norm(x!), b.norm(g)), b.const(1e-30)))) : b.const(1);
      const hd = hess(x!, g, dir);
      const dd = b.dot(dir, dir);
      const slope = b.dot(riem ? gr : g, dir);
      // PMaF's step (the Euclidean model), or the sphere's second-order model with its fallback
      const pmafExact = b.div(dd, b.add(b.dot(dir, hd), b.const(1e-8)));
      const kappa = b.sub(b.dot(dir, hd), b.mul(nu, dd));
      const fallback = b.div(b.const(0.5), b.add(b.unary('sqrt', dd), tiny));
      const model = b.select(b.binary('gt', kappa, b.mul(b.const(1e-12), b.add(b.unary('abs', b.dot(dir, hd)), b.mul(b.unary('abs', nu), dd)))), b.div(b.neg(slope), kappa), fallback);
      const exact = pmaf ? pmafExact : model;
      let eta: Node;
      if (typeof step === 'number') eta = b.const(step);
      else if (step === 'exact') eta = exact;
      else {
        const [alpha, beta] = (step as { fn: string; args: number[] }).args as [number, number];
        const start = (step as { fn: string }).fn === 'armijo_one' ? b.const(1) : exact;
        eta = armijo(b, (e) => phi(b.add(x!, b.mul(b.mul(w, e), dir))), f0, slope, w, start, alpha, beta, d.label);
      }
      let stopTwd: Node = b.const(0);
      if (twd > 0) {
        const r = tangentDecay(b, (e) => normalize(b.add(x!, b.mul(b.mul(w, e), dir))), (xp) => b.dot(gr, proj(xp, grad(xp))), eta, twd, d.label);
        eta = r.eta;
        stopTwd = r.flat;
      }
      let xn = normalize(b.add(x!, b.mul(b.mul(w, eta), dir)));
      if (monotone) {
        const s = safeguard(b, (e) => normalize(b.add(x!, b.mul(b.mul(w, e), dir))), phi, f0, eta, d.label);
        xn = b.select(s.ok, s.x, x!);
      }
      let done: Node;
      if (stopKkt) {
        // at x: the step above is not taken when x already meets the tolerance (or nothing decreases φ)
        const rel = relKkt(gr, g, b.div(b.norm(hd), b.add(b.unary('sqrt', dd), tiny)));
        const met = b.binary('or', b.binary('le', rel, tolLoop), stopTwd);
        done = met;
        xn = b.select(met, x!, xn);
      } else done = b.binary('or', b.binary('lt', b.unary('abs', b.sub(phi(xn), f0)), tolLoop), stopTwd);
      return { next: cg ? [xn, dir, gr] : [xn], done };
    },
  );
  let x = lp.outs[0]!;
  let iterations: Node = lp.iterations;
  const relAt = (y: Node): Node => {
    const g = grad(y);
    return relKkt(proj(y, g), g, b.norm(hess(y, g, y)));
  };
  if (polish > 0) {
    // Newton on the KKT system while the relative residual is above eps^(3/4)
    const met = (y: Node) => b.binary('le', relAt(y), tolFinal);
    const r = newton(cx, d, [x], { tol: 0, maxIter: Math.round(polish), damping: 0, until: (xs) => met(xs[0]!), skip: met(x), scale: c });
    // Newton keeps the norm only to first order: back onto the sphere
    x = normalize(r.xs[0]!);
    iterations = b.ibin('iadd', iterations, r.iterations);
  }
  const rel = relAt(x);
  const converged = stopKkt ? b.binary('le', rel, polish > 0 ? tolFinal : tolLoop) : lp.converged;
  // reported in the units of ∇φ
  const residual = b.mul(b.norm(proj(x, grad(x))), c);
  // the curvature check runs on φ/c too (its floor 1e-12 is absolute); its value is reported in φ's units
  const curv = curvature(cx, x, grad, d.label);
  return { xs: [x], iterations, converged, residual, checks: [{ ...curv, value: b.mul(curv.value, c) }] };
}

/** Halves η (up to 30 times) until φ(x(η)) ≤ φ(x); `ok` is false when no step decreases φ. */
function safeguard(b: Builder, at: (eta: Node) => Node, phi: (x: Node) => Node, f0: Node, eta0: Node, label: string): { x: Node; ok: Node } {
  // a rounding-level increase is no increase: φ values of nearby points differ by ~eps·|φ|
  const slack = b.mul(b.mul(b.const(4), b.eps()), b.unary('abs', f0));
  const lp = buildLoop(b, { lo: b.iconst(0), hi: b.iconst(31), inits: [eta0], names: ['eta'], until: true, label: `${label}/safeguard`, origin: 'safeguard' }, (_i, [eta]) => {
    const ok = b.binary('le', phi(at(eta!)), b.add(f0, slack));
    return { next: [b.select(ok, eta!, b.scale(0.5, eta!))], done: ok };
  });
  const eta = lp.outs[0]!;
  const x = at(eta);
  return { x, ok: b.binary('le', phi(x), b.add(f0, slack)) };
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
