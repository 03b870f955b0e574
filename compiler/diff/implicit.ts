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
import { captures, inlineRegion, substitute, type Node, type Region } from '../ir/node.js';
import {
  adjointSolve,
  constraintsAt,
  denseJacobian,
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
import type { Contrib, VjpCtx } from './vjp-rules.js';
import type { JvpCtx } from './jvp-rules.js';

/** Solution values held constant (the IFT differentiates F at a fixed solution). */
function solutionOf(b: Builder, d: Decl): Node[] {
  return d.vars.map((_, i) => b.nograd(b.proj(d.node, i)));
}

interface Linearization {
  /** flat residual F(z, θ) at the solution, differentiable in z and in the captures */
  F: Node;
  /** z: the nodes F is differentiated by (solution, and multipliers for opt nodes) */
  z: Node[];
  /** ∂F/∂z, dense */
  J: Node;
}

function linearize(cx: VjpCtx, d: Decl): Linearization {
  const b = cx.b;
  const xs = solutionOf(b, d);
  if (d.kind === 'root') {
    const F = flatten(b, equationsAt(b, d, xs));
    return { F, z: xs, J: denseJacobian(b, F, xs, { implicit: implicitHooks.jvp }, `${d.label}/jacobian`) };
  }
  const hs = constraintsAt(b, d, xs);
  if (hs.length === 0) {
    const F = flatten(b, gradient(cx, objectiveAt(b, d, xs), xs));
    return { F, z: xs, J: denseJacobian(b, F, xs, { implicit: implicitHooks.jvp }, `${d.label}/hessian`) };
  }
  const g = gradient(cx, objectiveAt(b, d, xs), xs);
  const nu = b.nograd(multipliers(cx, hs, xs, g, { implicit: implicitHooks.jvp }));
  const F = kktResidual(cx, d, xs, nu);
  return { F, z: [...xs, nu], J: denseJacobian(b, F, [...xs, nu], { implicit: implicitHooks.jvp }, `${d.label}/kkt`) };
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

function note(cx: VjpCtx, d: Decl, rcond: Node): void {
  const b = cx.b;
  cx.notes?.push({
    name: `${d.label}/backward`,
    kind: 'implicit',
    iterations: b.iconst(0),
    converged: b.binary('gt', rcond, b.const(1e-13)),
    residual: rcond,
    extra: [{ name: 'rcond', node: rcond }],
  });
}

export const implicitHooks = {
  /** The reverse-mode rule for opt and root nodes. */
  vjp(cx: VjpCtx, n: Node, g: (Node | undefined)[]): Contrib[] {
      const b = cx.b;
      const d = readDecl(n);
      const k = d.vars.length;
      const gs = d.vars.map((v, i) => g[i] ?? b.zeros(v.type.shape));
      if (g.slice(0, k).every((x) => x === undefined)) return [];
      if (d.grad) {
        // grad (dx, ...) => target: expr, ...   evaluated at the solution
        const xs = d.vars.map((_, i) => b.proj(n, i));
        const outs = inlineRegion(b.g, d.grad, [...xs, ...gs]);
        return d.gradTargets.map((t, i) => [t, outs[i]!] as Contrib);
      }
      const caps = captures(n);
      const op = opaque(b, d, caps);
      const lin = linearize(cx, op.d);
      const zbar = d.kind === 'opt' && lin.z.length > k ? b.concat([flatten(b, gs), b.zeros([sizeOf(lin.z.slice(k))])], 0) : flatten(b, gs);
      const [lambda, rcond] = adjointSolve(b, lin.J, zbar);
      note(cx, d, op.back([rcond])[0]!);
      const lam = b.nograd(lambda);
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
    const vcx: VjpCtx = { b, implicit: implicitHooks.vjp };
    const op = opaque(b, d, caps);
    const lin = linearize(vcx, op.d);
    const dF = jvpNodes(b, [lin.F], op.wrt, caps.map((c) => cx.tangentOf(c) as Node), { implicit: implicitHooks.jvp })[0];
    if (!dF) return out;
    const [dz0, rcond0] = lsqSolve(b, lin.J, b.neg(dF));
    const [dz, rcond] = op.back([dz0, rcond0]) as [Node, Node];
    cx.notes?.push({
      name: `${d.label}/tangent`,
      kind: 'implicit',
      iterations: b.iconst(0),
      converged: b.binary('gt', rcond, b.const(1e-13)),
      residual: rcond,
      extra: [{ name: 'rcond', node: rcond }],
    });
    const parts = unflatten(b, dz, lin.z);
    for (let i = 0; i < k; i++) out[i] = parts[i]!;
    void shapeOf;
    return out;
  },
};
