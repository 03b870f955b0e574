// What the solvers and the implicit-function-theorem rules share: reading a declarative node
// (variables, domains, regions, solver options), instantiating its objective, constraints and
// equations at a point, and the dense linear-algebra building blocks over flattened variables
// (gradients by reverse mode, Hessian–vector products by forward-over-reverse, Jacobians by
// forward-mode columns). Everything here builds IR.
//
// Conventions (seeds-math §1.2–1.4):
//   argmin/argmax  L(x, ν) = f(x) − νᵀ h(x);  stationarity  F₁ = ∇f − J_hᵀ ν = 0,  F₂ = h = 0.
//                  A domain adds constraints: sphere  xᵀx − 1,  none other supported here yet.
//   solve          F(y) = equations; a structured unknown adds equations for its structure:
//                  triu/tril/diag  masked-off entries = 0,  stiefel/orth  YᵀY − I = 0,
//                  sphere  yᵀy − 1 = 0,  sym  Y − Yᵀ = 0.  The system may then be
//                  over-determined but consistent; it is solved in the least-squares sense.

import { ifNonEmpty } from '../ir/empty.js';
import { Dim } from '../../core/dims.js';
import { type Builder, shapeOf } from '../ir/builder.js';
import { buildLoop } from '../ir/loops.js';
import { type Node, type Region, inlineRegion } from '../ir/node.js';
import { type Struct, type TensorType, numel } from '../ir/types.js';
import type { OptValue } from '../check/solver-specs.js';
import { vjpNodes } from '../diff/vjp.js';
import { jvpNodes, type JvpHooks } from '../diff/jvp.js';
import type { VjpCtx } from '../diff/vjp-rules.js';

export interface DeclVar {
  name: string;
  domain: Struct;
  type: TensorType;
}

export interface Decl {
  node: Node;
  kind: 'opt' | 'root';
  sense: 'min' | 'max';
  vars: DeclVar[];
  /** opt: objective and constraints; root: equations */
  objective?: Region;
  constraints?: Region;
  equations?: Region;
  orient?: Region;
  grad?: Region;
  initArgs: Node[];
  byArgs: Node[];
  gradTargets: Node[];
  gradTargetNames: string[];
  solver: { name: string; options: Record<string, OptValue> } | null;
  label: string;
}

export function readDecl(n: Node): Decl {
  const a = n.attrs as Record<string, unknown>;
  const varsA = a.vars as { name: string; domain: Struct }[];
  const rt = a.resultType as { elems: TensorType[] };
  const vars = varsA.map((v, i) => ({ name: v.name, domain: v.domain, type: rt.elems[i]! }));
  const nInit = a.nInit as number;
  const nBy = a.nBy as number;
  const regions = [...n.regions];
  const d: Decl = {
    node: n,
    kind: n.op as 'opt' | 'root',
    sense: (a.sense as 'min' | 'max' | undefined) ?? 'min',
    vars,
    initArgs: n.args.slice(0, nInit),
    byArgs: n.args.slice(nInit, nInit + nBy),
    gradTargets: n.args.slice(nInit + nBy),
    gradTargetNames: (a.grad as string[] | null) ?? [],
    solver: (a.solver as Decl['solver']) ?? null,
    label: String(a.label ?? n.op),
  };
  if (n.op === 'opt') {
    d.objective = regions.shift();
    d.constraints = regions.shift();
  } else d.equations = regions.shift();
  if (a.orient) d.orient = regions.shift();
  if (a.grad) d.grad = regions.shift();
  return d;
}

export function option(d: Decl, key: string, fallback: OptValue, overrides: Record<string, number> = {}): OptValue {
  if (key in overrides) return overrides[key]!;
  return d.solver?.options[key] ?? fallback;
}

// ---- instantiation -------------------------------------------------------------------------------

export function objectiveAt(b: Builder, d: Decl, xs: Node[]): Node {
  return inlineRegion(b.g, d.objective!, xs)[0]!;
}

/** Explicit constraints plus those the domains imply (sphere: xᵀx − 1). */
export function constraintsAt(b: Builder, d: Decl, xs: Node[]): Node[] {
  const hs = d.constraints ? inlineRegion(b.g, d.constraints, xs) : [];
  d.vars.forEach((v, i) => {
    if (v.domain === 'sphere') hs.push(b.sub(b.sumsq(xs[i]!), b.const(1)));
  });
  return hs;
}

/** Equations of a root node plus the structure equations of its unknowns. */
export function equationsAt(b: Builder, d: Decl, ys: Node[]): Node[] {
  const es = inlineRegion(b.g, d.equations!, ys);
  d.vars.forEach((v, i) => es.push(...structureEquations(b, v.domain, ys[i]!)));
  return es;
}

export function structureEquations(b: Builder, domain: Struct, y: Node): Node[] {
  const sh = shapeOf(y);
  switch (domain) {
    case 'triu':
      return [b.tril(y, -1)];
    case 'tril':
      return [b.triu(y, 1)];
    case 'diag':
      // the entries off the diagonal: y − triu(tril(y)), for square and rectangular y alike
      // (diag(diagvec(y)) is square, so it does not fit a diag[k, n] unknown)
      return [b.sub(y, b.triu(b.tril(y, 0), 0))];
    case 'sym':
      return [b.sub(y, b.raw('transpose', [y]))];
    case 'sphere':
      return [b.sub(b.sumsq(y), b.const(1))];
    case 'stiefel':
    case 'orth':
      return [b.sub(b.matmul(b.raw('transpose', [y]), y), b.eye(sh[1]!))];
    default:
      return [];
  }
}

// ---- residual norms ---------------------------------------------------------------------------------

/**
 * ‖[E₁; E₂; …]‖, the norm of a system's residual blocks, exactly or by probing. Exactly, a
 * matrix block such as Q R − A or QᵀQ − I costs as much as the factorization it checks (n³). A
 * probe estimate applies each matrix block to two fixed vectors z (entries cos(2.4 j + φ)) by
 * pushing the product through the block's expression — (Q R − A) z = Q (R z) − A z,
 * (QᵀQ − I) z = Qᵀ(Q z) − z, so O(n²) — and uses E‖E z‖² = ‖E‖²_F ‖z‖² / n for z uniform on a
 * sphere: ‖E‖²_F ≈ n ‖E z‖² / ‖z‖², averaged over the two probes. Vector and scalar blocks are
 * exact. The status says which a residual is (StatusEntry.estimate).
 */
export function residualNorm(b: Builder, blocks: Node[], exact: boolean): { norm: Node; estimate: boolean } {
  if (exact || blocks.every((e) => shapeOf(e).length < 2)) return { norm: b.norm(flatten(b, blocks)), estimate: false };
  let sq: Node = b.const(0);
  for (const e of blocks) {
    const sh = shapeOf(e);
    if (sh.length < 2) {
      sq = b.add(sq, b.sumsq(e));
      continue;
    }
    const n = sh[1]!;
    const nf = b.itof(b.dim(n));
    let est: Node = b.const(0);
    for (const phase of [0.7, 2.1]) {
      const z = b.unary('cos', b.add(b.mul(b.const(2.4), b.iota(n)), b.const(phase)));
      // ‖z‖ > 0 unless the block has no columns, where ‖E‖ = 0 (issue 10: empty dimensions)
      est = b.add(est, ifNonEmpty(b, n, b.div(b.sumsq(applyTo(b, e, z)), b.sumsq(z)), b.const(0)));
    }
    sq = b.add(sq, b.mul(b.mul(nf, b.const(0.5)), est));
  }
  return { norm: b.unary('sqrt', sq), estimate: true };
}

/** X z without forming X where X is built of products, sums, scalings and transposes. */
function applyTo(b: Builder, x: Node, z: Node): Node {
  const [p, q] = x.args;
  const isMat = (n: Node) => shapeOf(n).length === 2;
  switch (x.op) {
    case 'matmul':
      return applyTo(b, p!, applyTo(b, q!, z));
    case 'add':
    case 'sub':
      if (isMat(p!) && isMat(q!)) return x.op === 'add' ? b.add(applyTo(b, p!, z), applyTo(b, q!, z)) : b.sub(applyTo(b, p!, z), applyTo(b, q!, z));
      break;
    case 'mul':
      if (!isMat(p!) && isMat(q!)) return b.mul(p!, applyTo(b, q!, z));
      if (isMat(p!) && !isMat(q!)) return b.mul(q!, applyTo(b, p!, z));
      break;
    case 'neg':
      return b.neg(applyTo(b, p!, z));
    case 'eye':
      if (shapeOf(x)[0]!.equals(shapeOf(x)[1]!)) return z;
      break;
    case 'outer':
      return b.mul(b.dot(q!, z), p!);
    case 'transpose':
      // (P Q)ᵀ z = Qᵀ (Pᵀ z)
      if (p!.op === 'matmul') return applyTo(b, b.transpose(p!.args[1]!), applyTo(b, b.transpose(p!.args[0]!), z));
      break;
    default:
  }
  return b.matvec(x, z);
}

// ---- flattening ------------------------------------------------------------------------------------

export function sizeOf(nodes: Node[]): Dim {
  return nodes.reduce((acc, n) => acc.add(numel(n.type as TensorType)), Dim.const(0));
}

export function flatten(b: Builder, nodes: Node[]): Node {
  const parts = nodes.map((n) => b.reshape(n, [numel(n.type as TensorType)]));
  return parts.length === 1 ? parts[0]! : b.concat(parts, 0);
}

/** Splits a flat vector into pieces shaped like `like`. */
export function unflatten(b: Builder, v: Node, like: readonly { type: TensorType }[] | readonly Node[]): Node[] {
  const out: Node[] = [];
  let off = Dim.const(0);
  for (const l of like) {
    const t = (l as { type: TensorType }).type;
    const len = numel(t);
    out.push(b.reshape(b.slice(v, [off], [len]), t.shape));
    off = off.add(len);
  }
  return out;
}

// ---- derivatives -------------------------------------------------------------------------------------

/** ∇ of a scalar with respect to nodes (zeros where it does not depend on them). */
export function gradient(cx: VjpCtx, f: Node, xs: Node[]): Node[] {
  const g = vjpNodes(cx, [f], [cx.b.const(1)], xs);
  return g.map((x, i) => x ?? cx.b.zerosLike(xs[i]!));
}

/** Directional derivative of `outs` along `ds` at `xs` (forward mode). */
export function directional(b: Builder, outs: Node[], xs: Node[], ds: Node[], hooks: JvpHooks = {}): Node[] {
  const t = jvpNodes(b, outs, xs, ds, hooks);
  return t.map((x, i) => x ?? b.zerosLike(outs[i]!));
}

/**
 * Dense Jacobian ∂F/∂x of the flat vector F (length E) with respect to the nodes xs (total N),
 * one forward-mode column per iteration of an IR loop: J[:, j] = dF(x)[e_j]. `hi` (default N)
 * may cut the loop short: 0 skips the build (J = 0), for a build needed only conditionally.
 */
export function denseJacobian(b: Builder, F: Node, xs: Node[], hooks: JvpHooks = {}, label = 'jacobian', hi?: Node): Node {
  const E = shapeOf(F)[0]!;
  const N = sizeOf(xs);
  const loop = buildLoop(b, { lo: b.iconst(0), hi: hi ?? b.dim(N), inits: [b.zeros([E, N])], names: ['J'], label, origin: 'jacobian' }, (j, [J]) => {
    const e = b.binary('eq', b.iota(N), b.itof(j));
    const ts = unflatten(b, e, xs);
    const col = jvpNodes(b, [F], xs, ts, hooks)[0] ?? b.zeros([E]);
    return { next: [b.setcol(J!, j, col)] };
  });
  return loop.outs[0]!;
}

/**
 * Solves the (possibly over-determined, consistent) system J x = r: by LU when square, else by
 * the normal equations (JᵀJ) x = Jᵀ r. Returns [x, rcond].
 */
export function lsqSolve(b: Builder, J: Node, r: Node): [Node, Node] {
  const [E, N] = shapeOf(J);
  if (E!.equals(N!)) return b.solve(J, r);
  const Jt = b.transpose(J);
  return b.solve(b.matmul(Jt, J), shapeOf(r).length === 1 ? b.matvec(Jt, r) : b.matmul(Jt, r));
}

/**
 * Solves Jᵀ λ = g for the adjoint of J x = r: exact when J is square, else the minimum-norm
 * solution λ = J (JᵀJ)⁻¹ g (any solution gives the same gradient when the extra equations are
 * consistent redundancies). Returns [λ, rcond].
 */
export function adjointSolve(b: Builder, J: Node, g: Node): [Node, Node] {
  const [E, N] = shapeOf(J);
  if (E!.equals(N!)) return b.solve(b.transpose(J), g);
  const Jt = b.transpose(J);
  const [y, rc] = b.solve(b.matmul(Jt, J), g);
  return [b.matvec(J, y), rc];
}

/** Flips the sign of a solution where the orientation expression is negative. */
export function orientAt(b: Builder, d: Decl, xs: Node[]): Node[] {
  if (!d.orient) return xs;
  const s = inlineRegion(b.g, d.orient, xs)[0]!;
  const sgn = b.select(b.binary('ge', s, b.const(0)), b.const(1), b.const(-1));
  const x = xs[0]!;
  if (shapeOf(s).length === 0) return [b.mul(sgn, x), ...xs.slice(1)];
  // one sign per column of a matrix variable
  const sgnv = b.select(b.binary('ge', s, b.const(0)), b.fill(shapeOf(s), 1), b.fill(shapeOf(s), -1));
  return [b.mul(x, b.outer(b.fill([shapeOf(x)[0]!], 1), sgnv)), ...xs.slice(1)];
}

/** A deterministic starting point when the spec gives no init. */
export function defaultInit(b: Builder, v: DeclVar): Node {
  const sh = v.type.shape;
  if (v.domain === 'sphere') {
    // ones plus a small non-constant perturbation, normalized: never orthogonal to a whole
    // family of eigenvectors the way ones alone can be
    const n = sh[0]!;
    const w = b.add(b.fill([n], 1), b.scale(0.05, b.unary('sin', b.scale(1.618, b.iota(n)))));
    return b.div(w, b.norm(w));
  }
  if (v.domain === 'stiefel' || v.domain === 'orth') return b.eye(sh[0]!, sh[1]!);
  return b.zeros(sh);
}

/** The least-squares multipliers ν of L = f − νᵀh at x: (J_h J_hᵀ) ν = J_h ∇f. */
export function multipliers(cx: VjpCtx, hs: Node[], xs: Node[], g: Node[], hooks: JvpHooks = {}): Node {
  const b = cx.b;
  const gf = flatten(b, g);
  const hflat = flatten(b, hs);
  const p = shapeOf(hflat)[0]!;
  if (p.constValue() === 1) {
    // one constraint: ν = (∇hᵀ∇f) / (∇hᵀ∇h)
    const gh = flatten(b, gradient(cx, b.reshape(hflat, []), xs));
    return b.reshape(b.div(b.dot(gh, gf), b.dot(gh, gh)), [p]);
  }
  const Jh = denseJacobian(b, hflat, xs, hooks, 'constraint-jacobian');
  return lsqSolve(b, b.transpose(Jh), gf)[0];
}

/** J_h(x)ᵀ ν as a function of x (symbolic in x, for the Lagrangian's derivatives). */
export function constraintPullback(cx: VjpCtx, hs: Node[], xs: Node[], nu: Node): Node[] {
  const b = cx.b;
  const parts = unflatten(b, nu, hs);
  const r = vjpNodes(cx, hs, parts, xs);
  return r.map((x, i) => x ?? b.zerosLike(xs[i]!));
}

/** Flat optimality residual of an opt node at (x, ν): [∇f − J_hᵀν ; h], or [∇f/c − J_hᵀν ; h]
 *  when the caller works on f/c (`scale`: riemannian.ts keeps the data's scale out of the sums). */
export function kktResidual(cx: VjpCtx, d: Decl, xs: Node[], nu: Node | null, scale?: Node): Node {
  const b = cx.b;
  const f = objectiveAt(b, d, xs);
  const g = gradient(cx, f, xs).map((x) => (scale ? b.div(x, scale) : x));
  const hs = constraintsAt(b, d, xs);
  if (hs.length === 0 || !nu) return flatten(b, g);
  const pull = constraintPullback(cx, hs, xs, nu);
  const st = flatten(b, g.map((x, i) => b.sub(x, pull[i]!)));
  return b.concat([st, flatten(b, hs)], 0);
}
