// Derivatives of declarative nodes by the implicit function theorem, derived from the node's
// own equations (DESIGN §3, seeds-math §1.3, §1.6):
//
//   root     F(y, θ) = 0:            VJP  solve Jᵀλ = ȳ  (J = ∂F/∂y),  θ̄ = −∇_θ ⟨λ, F(y, θ)⟩
//                                    JVP  J ẏ = −∂_θF θ̇
//   argmin   L = f − νᵀh,  z = (x, ν),  F(z, θ) = [∇ₓf − J_hᵀν ; h] (the KKT conditions):
//                                    VJP  solve Kᵀ [w; μ] = [x̄; 0]  (K = ∂F/∂z),  θ̄ = −∇_θ ⟨[w; μ], F⟩
//
// The second product is reverse mode of the scalar ⟨λ, F⟩ with respect to the values the node
// captures, with the solution held constant, so ∂F/∂θ is never formed: for LESS it becomes
// −(r wᵀ + A w yᵀ) and A w (O(mn)), for IED sym((λI − X)⁺ v yᵀ) up to the symmetrization.
// K and J are formed densely by forward-mode columns along one-hot vectors, which the builder's
// one-hot algebra turns into column reads of the symbolic Hessian (IED: O(m) per column, O(m²)
// for K), and solved with LU; the bordered KKT system needs no ε even where H = ∂²L is singular along the
// constraint normal (IED's λI − X). A grad rule in the spec replaces the generic VJP.

import { type Builder, shapeOf } from '../ir/builder.js';
import { captures, inlineRegion, substitute, type Node, type Region, type StatusEntry } from '../ir/node.js';
import { buildLoop } from '../ir/loops.js';
import { Dim } from '../../core/dims.js';
import { guardedRatio, minres } from '../solvers/krylov.js';
import { equilibrate, kktPrescale, kktSymmetricScale, primalMask, primalScale } from '../solvers/scale.js';
import { tolByPrecision } from '../solvers/solver.js';
import {
  adjointSolve,
  constraintsAt,
  denseJacobian,
  directional,
  option,
  equationsAt,
  flatten,
  gradient,
  kktResidual,
  lsqSolve,
  multipliers,
  objectiveAt,
  readDecl,
  sizeOf,
  unflatten,
  type Decl,
} from '../solvers/problem.js';
import { vjpNodes } from './vjp.js';
import { jvpNodes } from './jvp.js';
import { DiffError, type Contrib, type VjpCtx } from './vjp-rules.js';
import type { JvpCtx } from './jvp-rules.js';
import type { DeriveOptions } from './options.js';

/** Solution values held constant (the IFT differentiates F at a fixed solution). */
function solutionOf(b: Builder, d: Decl): Node[] {
  return d.vars.map((_, i) => b.nograd(b.proj(d.node, i)));
}

interface Linearization {
  /** flat residual F(z, θ) at the solution, differentiable in z and in the captures */
  F: Node;
  /** z: the nodes F is differentiated by (solution, and multipliers for opt nodes) */
  z: Node[];
  /** the size of the solution part of z (the rest are multipliers) */
  nx: Dim;
  /** ∂F/∂z, dense, by forward-mode columns (only the first `hi` are computed when given: a
   *  fallback's matrix whose build may run 0 columns) */
  jacobian(hi?: Node): Node;
  /** (∂F/∂z) v for a flat v, by forward mode (a Hessian–vector product for an argmin) */
  apply(v: Node): Node;
}

function linearize(cx: VjpCtx, d: Decl): Linearization {
  const b = cx.b;
  const xs = solutionOf(b, d);
  const hooks = { implicit: implicitHooks.jvp };
  const make = (F: Node, z: Node[], what: string): Linearization => ({
    F,
    z,
    nx: sizeOf(xs),
    jacobian: (hi) => denseJacobian(b, F, z, hooks, `${d.label}/${what}`, hi),
    apply: (v) => directional(b, [F], z, unflatten(b, v, z), hooks)[0]!,
  });
  if (d.kind === 'root') return make(flatten(b, equationsAt(b, d, xs)), xs, 'jacobian');
  const hs = constraintsAt(b, d, xs);
  if (hs.length === 0) return make(flatten(b, gradient(cx, objectiveAt(b, d, xs), xs)), xs, 'hessian');
  const g = gradient(cx, objectiveAt(b, d, xs), xs);
  const nu = b.nograd(multipliers(cx, hs, xs, g, hooks));
  return make(kktResidual(cx, d, xs, nu), [...xs, nu], 'kkt');
}

/** Leaves: values no smart constructor can fold into something else. */
const isLeaf = (n: Node): boolean => n.args.length === 0 && n.regions.length === 0;

/**
 * The node's regions with every computed capture (not a parameter or constant) replaced by an
 * opaque placeholder, and the way back. The smart constructors fold across the boundary of the
 * region otherwise: the gradient of uᵀ(Mᵀ)u with a captured Mᵀ = transpose(3X) contains
 * transpose(transpose(3X)) = 3X, a value that is not a capture, and the derivative through it was
 * lost (issue 12: ied(3 * X) had half its gradient). Placeholders keep F a function of the
 * captures alone; `back` puts the captured values in again.
 */
function opaque(b: Builder, d: Decl, caps: Node[]): { d: Decl; wrt: Node[]; back: (outs: Node[]) => Node[] } {
  const computed = caps.filter((c) => !isLeaf(c));
  if (computed.length === 0) return { d, wrt: caps, back: (outs) => outs };
  const holder = new Map<Node, Node>(computed.map((c) => [c, b.g.regionParam('capture', c.type, c.span)]));
  const swap = (r: Region | undefined): Region | undefined => {
    if (!r) return r;
    const m = substitute(b.g, r.results, holder);
    return { params: r.params, results: r.results.map((x) => m.get(x) ?? x) };
  };
  const d2: Decl = { ...d };
  if (d.objective) d2.objective = swap(d.objective);
  if (d.constraints) d2.constraints = swap(d.constraints);
  if (d.equations) d2.equations = swap(d.equations);
  const inverse = new Map<Node, Node>([...holder].map(([c, h]) => [h, c]));
  return {
    d: d2,
    wrt: caps.map((c) => holder.get(c) ?? c),
    back: (outs) => {
      const m = substitute(b.g, outs, inverse);
      return outs.map((x) => m.get(x) ?? x);
    },
  };
}

/** The solution and status of a linear solve with the placeholders of `opaque` put back. */
function solveBack(ls: LinearSolve, back: (outs: Node[]) => Node[]): LinearSolve {
  const s = ls.status;
  const extra = s.extra ?? [];
  const nodes = [ls.sol, s.iterations, s.converged, ...(s.residual ? [s.residual] : []), ...extra.map((e) => e.node)];
  const m = back(nodes);
  let i = 0;
  const sol = m[i++]!;
  const iterations = m[i++]!;
  const converged = m[i++]!;
  const residual = s.residual ? m[i++]! : undefined;
  const ex = extra.map((e) => ({ ...e, node: m[i++]! }));
  return { sol, status: { ...s, iterations, converged, ...(residual ? { residual } : {}), ...(s.extra ? { extra: ex } : {}) } };
}

// ---- the linear solve of the backward ----------------------------------------------------------------
//
// dense   J (or K) assembled column by column and LU-factored; the status reports its rcond.
// minres  matrix-free, for argmin/argmax only. K = [H, −J_hᵀ; J_h, 0] is not symmetric, but
//         S = D K with D = diag(I, −I) (the multiplier rows negated) is, so
//             Kᵀ y = g  ⇔  S (D y) = g  ⇔  y = D · S⁻¹ g        (VJP; Kᵀ = S D)
//             K ż = r   ⇔  S ż = D r                          (JVP; K = D S)
//         and S v = D (K v) is one forward-mode product: the Hessian–vector product of the
//         Lagrangian bordered by J_h v and J_hᵀ v — the matrix is never formed. MINRES handles the
//         symmetric indefinite S (krylov.ts) and reports its iterations and true relative residual.
// auto    minres from AUTO_MINRES unknowns on (decided at run time: dimensions are symbolic),
//         with the dense solve as a fallback for instances where it does not reach its tolerance
//         within N/4 + 20 steps; below that, dense only. That is the CPU form (and the printed
//         reference IR). The WebGPU instance kernel of `auto` is the dense solve: one kernel holds
//         every path of a function, and MINRES beside the dense fallback made the IED backward
//         kernel take 22 s instead of 4.7 s to compile on lavapipe (f32 per-instance kernels are
//         the small-problem model; large single problems are the grid model's, issue 8).
//         `backward: minres` is MINRES on both.

/** Unknowns from which `backward: auto` solves matrix-free first. */
export const AUTO_MINRES = 256;

interface LinearSolve {
  sol: Node;
  status: Omit<StatusEntry, 'name'>;
}

/** An argmin's or argmax's KKT system: square, and S = D K symmetric (D the multiplier rows
 *  negated). MINRES needs it; the dense adjoint solve uses Kᵀ = D K D. */
const dSymmetricSystem = (d: Decl, N: Dim, E: Dim): boolean => d.kind === 'opt' && E.equals(N);

function backwardMode(cx: { opts?: DeriveOptions }, d: Decl, N: Dim, E: Dim): 'dense' | 'minres' | 'auto' | 'auto-dense' {
  const mode = String(option(d, 'backward', 'auto'));
  const symmetric = dSymmetricSystem(d, N, E);
  if (mode === 'minres' && !symmetric) {
    throw new DiffError('MAT0409', `backward: minres needs a symmetric system (an argmin or argmax); the backward of a ${d.kind === 'root' ? 'solve' : 'structured argmin'} node is dense (backward: dense or auto)`, d.node);
  }
  if (!symmetric || mode === 'dense') return 'dense';
  if (mode === 'auto' && N.constValue() !== undefined && N.constValue()! < AUTO_MINRES) return 'dense';
  if (mode === 'auto') {
    // the WebGPU instance kernel: dense (see AUTO_MINRES); the form depends on the target
    if (cx.opts?.targetDependent) cx.opts.targetDependent.value = true;
    if (cx.opts?.target === 'gpu') return 'auto-dense';
  }
  return mode === 'minres' ? 'minres' : 'auto';
}

function denseSolve(b: Builder, J: Node, rhs: Node, adjoint: boolean): { sol: Node; rcond: Node } {
  const [sol, rcond] = adjoint ? adjointSolve(b, J, rhs) : lsqSolve(b, J, rhs);
  return { sol, rcond };
}

/** Solves Kᵀ y = rhs (adjoint) or K y = rhs (tangent) for the linearization, as the options say. */
function linearSolve(cx: { b: Builder; opts?: DeriveOptions }, d: Decl, lin: Linearization, rhs: Node, adjoint: boolean): LinearSolve {
  const b = cx.b;
  const N = sizeOf(lin.z);
  const E = shapeOf(lin.F)[0]!;
  const mode = backwardMode(cx, d, N, E);
  const num = (key: string, fallback: number): number => {
    const v = option(d, key, fallback, cx.opts?.overrides ?? {});
    return typeof v === 'number' ? v : fallback;
  };
  const rcondOk = (rc: Node) => b.binary('gt', rc, b.const(1e-13));
  // D: the multiplier rows negated
  const p = N.sub(lin.nx);
  const flip = (v: Node): Node => (p.constValue() === 0 ? v : b.concat([b.slice(v, [Dim.const(0)], [lin.nx]), b.neg(b.slice(v, [lin.nx], [p]))], 0));
  const S = (v: Node): Node => flip(lin.apply(v));
  // An argmin's (argmax's) K is D-symmetric: S = D K is symmetric, so Kᵀ = D K D and the adjoint
  // system is solved with K itself, Kᵀ y = g ⇔ K (D y) = D g: no transposed copy of K for the LU
  // (a contiguous copy, coalesced reads on the GPU), and ‖Kᵀ y − g‖ = ‖K (D y) − D g‖ (D is
  // orthogonal). Other systems (solve nodes, structured argmins) take Kᵀ.
  const dSymmetric = adjoint && dSymmetricSystem(d, N, E);
  // Square systems are solved equilibrated (scale.ts: M = R K C), so that rcond does not depend on
  // the units of the objective or the equations: K y = g ⇔ M w = R g, y = C w; Kᵀ y = g ⇔
  // Mᵀ w = C g, y = R w. The residual reported is the equilibrated system's, ‖M w − R g‖ / ‖R g‖:
  // K's rows carry different units (an argmin's stationarity rows the objective's, its constraint
  // rows the constraints'), and a norm across them measured the largest. Over-determined systems
  // keep the normal equations and K's own residual.
  const kkt = d.kind === 'opt' && p.constValue() !== 0;
  const solveDense = (K: Node): { sol: Node; rcond: Node; residual: Node } => {
    if (!E.equals(N)) {
      const { sol, rcond } = denseSolve(b, K, rhs, adjoint);
      return { sol, rcond, residual: relResidual(K, sol) };
    }
    const { M, r, c } = equilibrate(b, K, kkt ? kktPrescale(b, primalScale(b, K, primalMask(b, lin.nx, p)), lin.nx, p) : undefined);
    const solved = (A: Node, rhsScaled: Node) => {
      const [w, rcond] = b.solve(A, rhsScaled);
      return { w, rcond, residual: guardedRatio(b, b.norm(b.sub(b.matvec(A, w), rhsScaled)), b.norm(rhsScaled)) };
    };
    if (dSymmetric) {
      // Kᵀ y = g ⇔ K (D y) = D g
      const { w, rcond, residual } = solved(M, b.mul(r, flip(rhs)));
      return { sol: flip(b.mul(c, w)), rcond, residual };
    }
    const { w, rcond, residual } = adjoint ? solved(b.transpose(M), b.mul(c, rhs)) : solved(M, b.mul(r, rhs));
    return { sol: b.mul(adjoint ? r : c, w), rcond, residual };
  };
  /** ‖K y − rhs‖ / ‖rhs‖ (adjoint: ‖Kᵀ y − rhs‖) of a dense solution, with the matrix it solved */
  function relResidual(K: Node, sol: Node): Node {
    const r = dSymmetric ? b.sub(b.matvec(K, flip(sol)), flip(rhs)) : b.sub(b.matvec(adjoint ? b.transpose(K) : K, sol), rhs);
    return guardedRatio(b, b.norm(r), b.norm(rhs));
  }
  if (mode === 'dense') {
    const { sol, rcond } = solveDense(lin.jacobian());
    return { sol, status: { kind: 'implicit', iterations: b.iconst(0), converged: rcondOk(rcond), residual: rcond, extra: [{ name: 'rcond', node: rcond }] } };
  }
  if (mode === 'auto-dense') {
    // auto's form for the WebGPU kernel: the dense solve only, reported as auto reports it when
    // MINRES takes no step (kind 'iterative', 0 iterations, the solution's relative residual)
    const { sol, rcond, residual } = solveDense(lin.jacobian());
    return { sol, status: { kind: 'iterative', iterations: b.iconst(0), converged: rcondOk(rcond), residual, extra: [{ name: 'rcond', node: rcond }] } };
  }
  const tolGiven = num('backward_tol', 0);
  const tol = tolGiven > 0 ? b.const(tolGiven) : tolByPrecision(b);
  // the true relative residual may sit a little above the recurrence's estimate
  const accept = (r: Node) => b.binary('le', r, b.mul(b.const(10), tol));
  const maxGiven = num('backward_max_iter', 0);
  const nNode = b.dim(N);
  const cap =
    maxGiven > 0
      ? b.iconst(Math.floor(maxGiven))
      : mode === 'minres'
        ? b.ibin('iadd', nNode, b.iconst(20))
        : b.ibin('iadd', b.ibin('idiv', nNode, b.iconst(4)), b.iconst(20));
  // auto: matrix-free only from AUTO_MINRES unknowns (0 steps below, so the fallback runs)
  const large = mode === 'auto' ? b.ftoi(b.binary('ge', b.itof(nNode), b.const(AUTO_MINRES))) : b.iconst(1);
  const steps = mode === 'auto' ? b.ibin('imul', cap, large) : cap;
  const g = adjoint ? rhs : flip(rhs);
  // An argmin's KKT system is solved as D S D y' = D g, y = D y', with D = diag(σ^(−1/2) I, σ^(1/2) I)
  // (σ the scale of the Lagrangian's Hessian, from one product with a fixed probe): the symmetric
  // counterpart of the dense solve's prescaling. MINRES stops on ‖S y − g‖ ≤ tol ‖g‖, a norm across
  // rows of different units: on LESS with A, b scaled by 1e4 (n = 300) the constraint rows, whose
  // solution entries are σ times smaller, met it without being solved, and the gradient was off by
  // 4.5e-3 with the status converged (issue 12).
  const sigmaByProbe = (): Node => {
    const probe = b.concat([b.unary('cos', b.add(b.mul(b.const(2.4), b.iota(lin.nx)), b.const(0.7))), b.zeros([p])], 0);
    const mask = primalMask(b, lin.nx, p);
    return primalScale(b, S(probe), mask);
  };
  const Ds = kkt ? kktSymmetricScale(b, sigmaByProbe(), lin.nx, p) : null;
  const kr = Ds
    ? minres(b, (v) => b.mul(Ds, S(b.mul(Ds, v))), b.mul(Ds, g), tol, steps, `${d.label}/${adjoint ? 'backward' : 'tangent'}/minres`)
    : minres(b, S, g, tol, steps, `${d.label}/${adjoint ? 'backward' : 'tangent'}/minres`);
  const y = Ds ? b.mul(Ds, kr.x) : kr.x;
  const mfSol = adjoint ? flip(y) : y;
  const mfOk = b.mul(accept(kr.residual), b.binary('gt', b.itof(large), b.const(0)));
  if (mode === 'minres') {
    return { sol: mfSol, status: { kind: 'iterative', iterations: kr.iterations, converged: accept(kr.residual), residual: kr.residual } };
  }
  // The dense fallback, only where MINRES did not converge: the KKT build runs 0 or N columns and
  // the LU solve sits in a loop of 0 or 1 trips with the matrix as a carry (a value the loop body
  // depends on, so no pass hoists the factorization out of it).
  const fallback = b.ftoi(b.sub(b.const(1), mfOk));
  const J = lin.jacobian(b.ibin('imul', nNode, fallback));
  const fb = buildLoop(
    b,
    { lo: b.iconst(0), hi: fallback, inits: [J, mfSol, kr.residual, b.const(0)], names: ['K', 'y', 'residual', 'rcond'], label: `${d.label}/${adjoint ? 'backward' : 'tangent'}/dense`, origin: 'fallback' },
    (_i, [K]) => {
      const { sol, rcond, residual } = solveDense(K!);
      return { next: [K!, sol, residual, rcond] };
    },
  );
  const [, sol, residual, rcond] = fb.outs as [Node, Node, Node, Node];
  const usedDense = b.binary('gt', b.itof(fallback), b.const(0));
  const converged = b.select(usedDense, rcondOk(rcond), mfOk);
  return {
    sol,
    status: {
      kind: 'iterative',
      iterations: kr.iterations,
      converged,
      residual,
      extra: [
        { name: 'dense_fallback', node: usedDense },
        { name: 'rcond', node: rcond },
      ],
    },
  };
}

export const implicitHooks = {
  /** The reverse-mode rule for opt and root nodes. */
  vjp(cx: VjpCtx, n: Node, g: (Node | undefined)[]): Contrib[] {
      const b = cx.b;
      const d = readDecl(n);
      const k = d.vars.length;
      const gs = d.vars.map((v, i) => g[i] ?? b.zeros(v.type.shape));
      if (g.slice(0, k).every((x) => x === undefined)) return [];
      if (d.grad && cx.opts?.gradRules !== false) {
        // grad (dx, ...) => target: expr, ...   evaluated at the solution
        const xs = d.vars.map((_, i) => b.proj(n, i));
        const outs = inlineRegion(b.g, d.grad, [...xs, ...gs]);
        return d.gradTargets.map((t, i) => [t, outs[i]!] as Contrib);
      }
      const caps = captures(n);
      const op = opaque(b, d, caps);
      const lin = linearize(cx, op.d);
      const zbar = d.kind === 'opt' && lin.z.length > k ? b.concat([flatten(b, gs), b.zeros([sizeOf(lin.z.slice(k))])], 0) : flatten(b, gs);
      const ls = linearSolve(cx, d, lin, zbar, true);
      // λ stays in terms of the placeholders: the gradient below is taken with respect to them
      cx.notes?.push({ name: `${d.label}/backward`, ...solveBack(ls, op.back).status });
      const lam = b.nograd(ls.sol);
      const grads = vjpNodes(cx, [lin.F], [b.neg(lam)], op.wrt);
      const present = grads.flatMap((g0, i) => (g0 ? [i] : []));
      const back = op.back(present.map((i) => grads[i]!));
      return present.map((i, j) => [caps[i]!, back[j]!] as Contrib);
  },

  /** The forward-mode rule: solve J ż = −∂_θF θ̇. */
  jvp(cx: JvpCtx, n: Node, _dargs: (Node | undefined)[]): (Node | undefined)[] {
    const b = cx.b;
    const d = readDecl(n);
    const k = d.vars.length;
    const caps = captures(n).filter((c) => cx.tangentOf(c) !== undefined && !Array.isArray(cx.tangentOf(c)));
    const out: (Node | undefined)[] = new Array(k + 3).fill(undefined);
    if (caps.length === 0) return out;
    const vcx: VjpCtx = { b, implicit: implicitHooks.vjp, ...(cx.opts ? { opts: cx.opts } : {}) };
    const op = opaque(b, d, caps);
    const lin = linearize(vcx, op.d);
    const dF = jvpNodes(b, [lin.F], op.wrt, caps.map((c) => cx.tangentOf(c) as Node), { implicit: implicitHooks.jvp })[0];
    if (!dF) return out;
    const ls = solveBack(linearSolve(cx, d, lin, b.neg(dF), false), op.back);
    cx.notes?.push({ name: `${d.label}/tangent`, ...ls.status });
    const parts = unflatten(b, ls.sol, lin.z);
    for (let i = 0; i < k; i++) out[i] = parts[i]!;
    return out;
  },
};
