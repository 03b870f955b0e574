// Power iteration for objectives quadratic in x on the unit sphere: x ← ±∇f(x)/‖∇f(x)‖ (+ for
// argmax, − for argmin), i.e. for f = xᵀXx the classic x ← Xx/‖Xx‖ (PMaF "PI", seeds-math
// §1.5). It stops when the iterate stops moving up to sign (max |Δx| ≤ tol, compared with
// both ±x so a negative dominant eigenvalue still converges), or at max_iter.

import { buildLoop } from '../ir/loops.js';
import { freeParams, type Node } from '../ir/node.js';
import { DiffError } from '../diff/vjp-rules.js';
import { directional, gradient, objectiveAt, type Decl } from './problem.js';
import { num, type SolverCtx, type Solution } from './solver.js';

export function powerIteration(cx: SolverCtx, d: Decl, x0: Node): Solution {
  const b = cx.b;
  if (d.vars.length !== 1 || d.vars[0]!.domain !== 'sphere' || (d.constraints && d.constraints.results.length > 0)) {
    throw new DiffError('MAT0409', 'power_iteration needs one variable on a sphere domain and no other constraints', d.node);
  }
  // The gradient must be linear in x (a quadratic objective): its directional derivative may not
  // depend on x.
  const probe = b.regionParam('x', d.vars[0]!.type);
  const v = b.regionParam('v', d.vars[0]!.type);
  const hv = directional(b, [gradient(cx.vcx, objectiveAt(b, d, [probe]), [probe])[0]!], [probe], [v], cx.hooks)[0]!;
  if (freeParams(hv).has(probe)) {
    throw new DiffError('MAT0409', 'power_iteration needs an objective quadratic in the variable (its gradient must be linear)', d.node);
  }
  const sgn = d.sense === 'max' ? 1 : -1;
  const grad = (x: Node): Node => gradient(cx.vcx, objectiveAt(b, d, [x]), [x])[0]!;
  const tol = num(cx, d, 'tol', 1e-7);
  const maxIter = num(cx, d, 'max_iter', 100);
  const lp = buildLoop(
    b,
    { lo: b.iconst(0), hi: b.iconst(maxIter), inits: [x0], names: ['x'], until: true, label: d.label, origin: 'power_iteration' },
    (_i, [x]) => {
      const g = b.scale(sgn, grad(x!));
      const xn = b.div(g, b.norm(g));
      const dm = b.rmax(b.unary('abs', b.sub(xn, x!)));
      const dp = b.rmax(b.unary('abs', b.add(xn, x!)));
      const done = b.binary('le', b.binary('minimum', dm, dp), b.const(tol));
      return { next: [xn], done };
    },
  );
  const x = lp.outs[0]!;
  const g = grad(x);
  const residual = b.norm(b.sub(g, b.mul(b.dot(x, g), x)));
  return { xs: [x], iterations: lp.iterations, converged: lp.converged, residual };
}
