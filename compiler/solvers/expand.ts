// The expand pass: every declarative node becomes its forward solver (an IR loop), its
// orientation rule and its status outputs. Its derivative was taken before this pass, from the
// node's equations (compiler/diff/implicit.ts); here the node's uses are rewired to the solver's
// results.

import type { Builder } from '../ir/builder.js';
import { type Func, type Node, type StatusEntry, freeParams, funcRoots, inlineRegion, mapFuncRoots, mapStatusEntry, reachable, substitute } from '../ir/node.js';
import { implicitHooks } from '../diff/implicit.js';
import { DiffError } from '../diff/vjp-rules.js';
import {
  constraintsAt,
  defaultInit,
  equationsAt,
  flatten,
  gradient,
  kktResidual,
  multipliers,
  objectiveAt,
  orientAt,
  readDecl,
  residualNorm,
  type Decl,
} from './problem.js';
import { num, type SolverCtx, type Solution } from './solver.js';
import { riemannianDescent } from './riemannian.js';
import { powerIteration } from './power.js';
import { lanczos } from './lanczos.js';
import { newton, gaussNewton, gradientDescent } from './newton.js';
import { isSpectral } from '../ir/ops.js';
import { expandSpectralNode, scaledKept } from './spectral.js';

export interface ExpandOptions {
  overrides: Record<string, number>;
  /** primitive ops left in place for a back end that runs them as routines of its own (the grid
   *  model's blocked `householder`); every other back end gets them lowered to loops */
  keep?: ReadonlySet<string>;
}

/** The residual of a solution computed by an expression (`by EXPR`): for a `solve`, the norm of
 *  its equations — a probe estimate unless `check: 1` (problem.ts residualNorm); for an argmin,
 *  the KKT residual. */
function residualAt(cx: SolverCtx, d: Decl, xs: Node[]): { norm: Node; estimate: boolean } {
  const b = cx.b;
  if (d.kind === 'root') return residualNorm(b, equationsAt(b, d, xs), num(cx, d, 'check', 0) > 0);
  const hs = constraintsAt(b, d, xs);
  const nu = hs.length ? multipliers(cx.vcx, hs, xs, gradient(cx.vcx, objectiveAt(b, d, xs), xs), cx.hooks) : null;
  return { norm: b.norm(kktResidual(cx.vcx, d, xs, nu)), estimate: false };
}

function solve(cx: SolverCtx, d: Decl): Solution {
  const b = cx.b;
  if (d.byArgs.length) {
    const r = residualAt(cx, d, d.byArgs);
    return { xs: d.byArgs, iterations: b.iconst(0), converged: b.const(1), residual: r.norm, ...(r.estimate ? { residualEstimate: true } : {}) };
  }
  const x0 = d.initArgs.length ? d.initArgs : d.vars.map((v) => defaultInit(b, v));
  const name = d.solver?.name ?? defaultSolver(d);
  switch (name) {
    case 'riemannian_descent':
      return riemannianDescent(cx, d, x0[0]!);
    case 'power_iteration':
      return powerIteration(cx, d, x0[0]!);
    case 'lanczos':
      return lanczos(cx, d, x0[0]!);
    case 'newton':
      return newton(cx, d, x0);
    case 'gauss_newton':
      return gaussNewton(cx, d, x0);
    case 'gradient_descent':
      return gradientDescent(cx, d, x0);
    default:
      throw new DiffError('MAT0403', `solver ${name} is not available for this node`, d.node);
  }
}

/** `refine: k`: k Newton steps on the node's optimality system after the solver, to polish the
 *  solution to machine precision (the implicit gradient assumes an exact solution). */
function refine(cx: SolverCtx, d: Decl, sol: Solution): Solution {
  const steps = num(cx, d, 'refine', 0);
  if (!(steps > 0)) return sol;
  const r = newton(cx, d, sol.xs, { tol: -1, maxIter: Math.round(steps), damping: 0 });
  return { xs: r.xs, iterations: cx.b.ibin('iadd', sol.iterations, r.iterations), converged: sol.converged, residual: r.residual, ...(r.residualEstimate ? { residualEstimate: true } : {}), ...(sol.checks ? { checks: sol.checks } : {}) };
}

function defaultSolver(d: Decl): string {
  if (d.kind === 'root') return 'newton';
  const onlySphere = d.vars.length === 1 && d.vars[0]!.domain === 'sphere' && !(d.constraints && d.constraints.results.length);
  return onlySphere ? 'riemannian_descent' : 'newton';
}

export function expandFunc(b: Builder, f: Func, opts: ExpandOptions): Func {
  const cx: SolverCtx = { b, vcx: { b, implicit: implicitHooks.vjp }, hooks: { implicit: implicitHooks.jvp }, overrides: opts.overrides };
  let cur = f;
  for (let guard = 0; guard < 1000; guard++) {
    const roots = funcRoots(cur);
    const all = reachable(roots);
    // declarative nodes first: their solvers differentiate objectives with the rules of the calls
    // and the spectral ops inside them
    const decl = all.find((n) => n.op === 'opt' || n.op === 'root') ?? all.find((n) => isSpectral(n.op) && !opts.keep?.has(n.op)) ?? all.find((n) => n.op === 'custom');
    if (!decl) {
      // a kept routine runs on its input's scale as the loops would (solvers/spectral.ts inputScale)
      const kept = all.find((n) => n.op === 'householder' && opts.keep?.has(n.op) && !n.attrs.scaled);
      if (!kept) return cur;
      cur = scaledKept(b, cur, roots, kept);
      continue;
    }
    // eigh, svd, expm, sqrtm/invsqrtm, polar: lowered to Jacobi / Padé loops (solvers/spectral.ts)
    if (isSpectral(decl.op)) {
      cur = expandSpectralNode(b, cur, roots, decl);
      continue;
    }
    if (decl.op === 'custom') {
      // a call with a grad rule: its derivative is taken, so it is its body from here on
      const body = inlineRegion(b.g, decl.regions[0]!, decl.args);
      const mapping = new Map<Node, Node>();
      for (const n of all) if (n.op === 'proj' && n.args[0] === decl) mapping.set(n, body[n.attrs.index as number]!);
      cur = rewire(b, cur, roots, mapping);
      continue;
    }
    const d = readDecl(decl);
    const sol = b.at(decl.span, () => refine(cx, d, solve(cx, d)));
    const xs = b.at(decl.span, () => orientAt(b, d, sol.xs));
    const k = d.vars.length;
    const repl = [...xs, sol.iterations, sol.converged, sol.residual];
    const mapping = new Map<Node, Node>();
    for (const n of all) if (n.op === 'proj' && n.args[0] === decl) mapping.set(n, repl[n.attrs.index as number]!);
    const map = substitute(b.g, roots, mapping);
    const m = (n: Node): Node => map.get(n) ?? n;
    // solver checks become status entries when they are per call (not inside a region)
    const allowed = new Set(cur.params.map((p) => p.node));
    const topLevel = (n: Node) => [...freeParams(n)].every((p) => allowed.has(p));
    const extra = (sol.checks ?? [])
      .filter((c) => [c.value, c.ok].every((n) => topLevel(m(n))) && all.some((x) => x.op === 'proj' && x.args[0] === decl && cur.status.some((s) => s.iterations === x || s.converged === x)))
      .map((c): StatusEntry => ({ name: `${d.label}/${c.name}`, kind: c.kind, iterations: b.iconst(0), converged: m(c.ok), residual: m(c.value) }));
    cur = {
      ...cur,
      results: cur.results.map((r) => ({ ...r, node: m(r.node) })),
      status: [...cur.status, ...extra].map((s) => ({
        ...mapStatusEntry(s, m),
        ...(sol.residualEstimate && s.residual && s.residual.op === 'proj' && s.residual.args[0] === decl ? { estimate: true } : {}),
      })),
    };
    void k;
  }
  throw new Error('expand: too many declarative nodes');
}

/** The function with `mapping` applied to its results and status entries. */
function rewire(b: Builder, f: Func, roots: Node[], mapping: Map<Node, Node>): Func {
  const map = substitute(b.g, roots, mapping);
  return mapFuncRoots(f, (n) => map.get(n) ?? n);
}
