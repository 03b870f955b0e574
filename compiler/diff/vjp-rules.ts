// Reverse-mode rules, one per IR op: given a node, its operands and the cotangent of its output,
// give the cotangent contributions to its operands. Every rule builds IR through the smart
// constructors, so the backward is ordinary IR that is simplified and fused like any other.
// Notation: g = output cotangent, y = the node's output.

import type { DeriveOptions } from './options.js';
import { Dim } from '../../core/dims.js';
import { type Builder, shapeOf, tt } from '../ir/builder.js';
import type { Node, StatusEntry } from '../ir/node.js';
import type { OpKind } from '../ir/ops.js';
import { InternalError } from '../../core/errors.js';
import { parseEinsum } from '../ir/ops.js';
import { loopVjp, type RetapedEntry } from './loop-vjp.js';
import { customVjp } from './custom.js';
import { condVjp } from './cond-rules.js';
import { spectralVjpRules } from './spectral-rules.js';
import { contractEinsum } from '../opt/einsum.js';
import { vjpNodes } from './vjp.js';

export type Contrib = [target: Node, cotangent: Node];

/** Cotangent of a tuple node: one entry per element, undefined = zero. */
export type Cot = Node | (Node | undefined)[];

export class DiffError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly node: Node,
  ) {
    super(message);
  }
}

export interface VjpCtx {
  b: Builder;
  /** rules for nodes with regions (declarative nodes) are supplied by compiler/diff/implicit.ts */
  implicit?(cx: VjpCtx, n: Node, g: (Node | undefined)[]): Contrib[];
  /** statuses the backward reports (conditioning of implicit solves) */
  notes?: StatusEntry[];
  /** solver option overrides and the target the backward is for */
  opts?: DeriveOptions;
  /** the nodes the sweep in progress differentiates (set by vjpNodes while it runs) */
  active?: ReadonlySet<Node>;
  /** loops rewritten to record their carries for their reverse mode (compiler/diff/loop-vjp.ts);
   *  the derived function uses them in place of the originals */
  retaped?: RetapedEntry[];
}

type Rule = (cx: VjpCtx, n: Node, g: Cot) => Contrib[];

function single(g: Cot): Node {
  if (Array.isArray(g)) throw new Error('tensor cotangent expected');
  return g;
}

/** Sums a cotangent down to the operand's shape when a scalar operand was broadcast. */
function fit(b: Builder, g: Node, x: Node): Node {
  return b.unbroadcast(g, x);
}

const none: Rule = () => [];

const elementwise = (f: (b: Builder, g: Node, n: Node) => Contrib[]): Rule => (cx, n, g) => f(cx.b, single(g), n).map(([t, c]) => [t, fit(cx.b, c, t)]);

/** Cotangent of an operand of an einsum: contract the other operands with g. */
function einsumVjp(b: Builder, n: Node, g: Node, i: number): Node {
  const { inputs, output } = parseEinsum(String(n.attrs.spec));
  const target = inputs[i]!;
  const others = inputs.filter((_, j) => j !== i);
  const present = new Set([...others.join(''), ...output]);
  const sizes = new Map<string, Dim>();
  [...target].forEach((c, k) => sizes.set(c, shapeOf(n.args[i]!)[k]!));
  // Indices only in the target (summed inside it) are broadcast back with a ones tensor.
  const missing = [...new Set(target)].filter((c) => !present.has(c));
  const ops: Node[] = n.args.filter((_, j) => j !== i);
  const specs = [...others, output];
  ops.push(g);
  if (missing.length) {
    specs.push(missing.join(''));
    ops.push(b.fill(missing.map((c) => sizes.get(c)!), 1));
  }
  // An index repeated in the target (a diagonal, "ii,i->i"): the cotangent lives on the diagonal,
  // so each repeat gets a fresh letter joined to the first by δ = eye(n), and the result has
  // distinct indices (a repeated output index means this same δ, but is not what the code
  // generators index by).
  const used = new Set(String(n.attrs.spec));
  const fresh = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'].filter((c) => !used.has(c));
  const seen = new Set<string>();
  let out = '';
  for (const c of target) {
    if (!seen.has(c)) {
      seen.add(c);
      out += c;
      continue;
    }
    const f = fresh.shift();
    if (f === undefined) throw new InternalError('einsum VJP: no letter left for a repeated index');
    out += f;
    specs.push(c + f);
    ops.push(b.eye(sizes.get(c)!, sizes.get(c)!));
  }
  return b.einsum(`${specs.join(',')}->${out}`, ops);
}

/** The VJP of an einsum of three or more operands: reverse mode through the pairwise tree that
 *  the optimizer builds for it (compiler/opt/einsum.ts, the same nodes by hash-consing), so the
 *  backward reuses the forward's intermediates and costs about twice the forward, instead of one
 *  n-ary contraction per operand. */
function einsumTreeVjp(cx: VjpCtx, n: Node, g: Node): Contrib[] {
  const args = [...new Set(n.args)].filter((a) => !cx.active || cx.active.has(a));
  const root = contractEinsum(cx.b, String(n.attrs.spec), n.args);
  const grads = vjpNodes(cx, [root], [g], args, new Set(n.args));
  const out: Contrib[] = [];
  args.forEach((a, i) => {
    if (grads[i]) out.push([a, grads[i]!]);
  });
  return out;
}

/** Broadcasts a reduced tensor back along `axis` (inverse of sum over that axis). */
export function broadcastAxis(b: Builder, g: Node, full: readonly Dim[], axis: number): Node {
  const letters = 'abcdefgh'.slice(0, full.length);
  const reduced = letters.slice(0, axis) + letters.slice(axis + 1);
  return b.einsum(`${reduced},${letters[axis]}->${letters}`, [g, b.fill([full[axis]!], 1)]);
}

function reduceExtremum(cx: VjpCtx, n: Node, g: Node): Contrib[] {
  const b = cx.b;
  const x = n.args[0]!;
  const axis = n.attrs.axis as number;
  const full = shapeOf(x);
  const yb = axis < 0 ? n : broadcastAxis(b, n, full, axis);
  const mask = b.binary('eq', x, yb);
  // Ties share the cotangent equally.
  const count = axis < 0 ? b.sum(mask) : broadcastAxis(b, b.sum(mask, axis), full, axis);
  const gb = axis < 0 ? g : broadcastAxis(b, g, full, axis);
  return [[x, b.div(b.mul(gb, mask), count)]];
}

/** Masks a triangular solve's matrix cotangent to the stored triangle. */
function triMask(b: Builder, m: Node, lower: boolean, unit: boolean): Node {
  return lower ? b.tril(m, unit ? -1 : 0) : b.triu(m, unit ? 1 : 0);
}

export const vjpRules: Record<OpKind, Rule> = {
  param: none, const: none, eps: none, iconst: none, fill: none, eye: none, iota: none, dim: none,
  iadd: none, isub: none, imul: none, imin: none, imax: none, idiv: none, imod: none, itof: none, ftoi: none,
  sign: none, not: none, maxloc: none, minloc: none, lt: none, le: none, gt: none, ge: none, eq: none, ne: none, and: none, or: none,
  nograd: none,
  // random numbers are constants of differentiation (their operands are ints)
  rand: none,

  neg: elementwise((b, g, n) => [[n.args[0]!, b.neg(g)]]),
  exp: elementwise((b, g, n) => [[n.args[0]!, b.mul(g, n)]]),
  log: elementwise((b, g, n) => [[n.args[0]!, b.div(g, n.args[0]!)]]),
  sqrt: elementwise((b, g, n) => [[n.args[0]!, b.div(b.scale(0.5, g), n)]]),
  abs: elementwise((b, g, n) => [[n.args[0]!, b.mul(g, b.unary('sign', n.args[0]!))]]),
  sin: elementwise((b, g, n) => [[n.args[0]!, b.mul(g, b.unary('cos', n.args[0]!))]]),
  cos: elementwise((b, g, n) => [[n.args[0]!, b.neg(b.mul(g, b.unary('sin', n.args[0]!)))]]),
  // d tanh = 1 − tanh²
  tanh: elementwise((b, g, n) => [[n.args[0]!, b.mul(g, b.sub(b.const(1), b.mul(n, n)))]]),
  // d σ = σ (1 − σ)
  sigmoid: elementwise((b, g, n) => [[n.args[0]!, b.mul(g, b.mul(n, b.sub(b.const(1), n)))]]),
  // rounding to a storage format: the identity (jvp-rules.ts says why)
  half: elementwise((_b, g, n) => [[n.args[0]!, g]]),
  bfloat: elementwise((_b, g, n) => [[n.args[0]!, g]]),

  add: elementwise((_b, g, n) => [[n.args[0]!, g], [n.args[1]!, g]]),
  sub: elementwise((b, g, n) => [[n.args[0]!, g], [n.args[1]!, b.neg(g)]]),
  mul: elementwise((b, g, n) => [[n.args[0]!, b.mul(g, n.args[1]!)], [n.args[1]!, b.mul(g, n.args[0]!)]]),
  // y = a/b: ā = g/b, b̄ = −g y / b
  div: elementwise((b, g, n) => [[n.args[0]!, b.div(g, n.args[1]!)], [n.args[1]!, b.neg(b.div(b.mul(g, n), n.args[1]!))]]),
  // y = a^p: ā = g p a^(p−1), p̄ = g y log a (only when p is differentiated)
  pow: elementwise((b, g, n) => {
    const [a, p] = n.args as [Node, Node];
    const out: Contrib[] = [[a, b.mul(g, b.mul(p, b.binary('pow', a, b.sub(p, b.const(1)))))]];
    if (p.op !== 'const' && p.op !== 'fill') out.push([p, b.mul(g, b.mul(n, b.unary('log', a)))]);
    return out;
  }),
  maximum: elementwise((b, g, n) => {
    const [x, y] = n.args as [Node, Node];
    const m = b.binary('ge', x, y);
    return [[x, b.mul(g, m)], [y, b.mul(g, b.sub(b.const(1), m))]];
  }),
  minimum: elementwise((b, g, n) => {
    const [x, y] = n.args as [Node, Node];
    const m = b.binary('le', x, y);
    return [[x, b.mul(g, m)], [y, b.mul(g, b.sub(b.const(1), m))]];
  }),
  // h = hypot(x, y): x̄ = g x/h, ȳ = g y/h, and 0 where h = 0 (the subgradient torch takes for |z|
  // at 0: compiler/check/complex.ts)
  hypot: elementwise((b, g, n) => {
    const [x, y] = n.args as [Node, Node];
    const pos = b.binary('gt', n, b.const(0));
    const r = b.mul(pos, b.div(g, b.select(pos, n, b.const(1))));
    return [[x, b.mul(r, x)], [y, b.mul(r, y)]];
  }),
  // θ = atan2(y, x): ȳ = g x/(x² + y²), x̄ = −g y/(x² + y²), 0 at the origin
  atan2: elementwise((b, g, n) => {
    const [y, x] = n.args as [Node, Node];
    const r2 = b.add(b.mul(x, x), b.mul(y, y));
    const pos = b.binary('gt', r2, b.const(0));
    const r = b.mul(pos, b.div(g, b.select(pos, r2, b.const(1))));
    return [[y, b.mul(r, x)], [x, b.neg(b.mul(r, y))]];
  }),
  select: (cx, n, gc) => {
    const b = cx.b;
    const g = single(gc);
    const [c, x, y] = n.args as [Node, Node, Node];
    const z = b.zeros(shapeOf(g));
    return [
      [x, fit(b, b.select(c, g, z), x)],
      [y, fit(b, b.select(c, z, g), y)],
    ];
  },

  // C = A B: Ā = G Bᵀ, B̄ = Aᵀ G
  matmul: (cx, n, gc) => {
    const g = single(gc);
    const [a, bb] = n.args as [Node, Node];
    return [[a, cx.b.matmul(g, cx.b.transpose(bb))], [bb, cx.b.matmul(cx.b.transpose(a), g)]];
  },
  // y = A x: Ā = g xᵀ, x̄ = Aᵀ g
  matvec: (cx, n, gc) => {
    const g = single(gc);
    const [a, x] = n.args as [Node, Node];
    return [[a, cx.b.outer(g, x)], [x, cx.b.vecmat(g, a)]];
  },
  dot: (cx, n, gc) => {
    const g = single(gc);
    const [x, y] = n.args as [Node, Node];
    return [[x, cx.b.mul(g, y)], [y, cx.b.mul(g, x)]];
  },
  // Y = x yᵀ: x̄ = G y, ȳ = Gᵀ x
  outer: (cx, n, gc) => {
    const g = single(gc);
    const [x, y] = n.args as [Node, Node];
    return [[x, cx.b.matvec(g, y)], [y, cx.b.vecmat(x, g)]];
  },
  transpose: (cx, n, g) => [[n.args[0]!, cx.b.transpose(single(g))]],
  einsum: (cx, n, gc) => (n.args.length >= 3 ? einsumTreeVjp(cx, n, single(gc)) : n.args.map((a, i) => [a, einsumVjp(cx.b, n, single(gc), i)] as Contrib)),

  sum: (cx, n, gc) => {
    const g = single(gc);
    const x = n.args[0]!;
    const axis = n.attrs.axis as number;
    if (axis < 0) return [[x, cx.b.broadcastTo(g, shapeOf(x))]];
    return [[x, broadcastAxis(cx.b, g, shapeOf(x), axis)]];
  },
  rmax: (cx, n, g) => reduceExtremum(cx, n, single(g)),
  rmin: (cx, n, g) => reduceExtremum(cx, n, single(g)),

  diag: (cx, n, g) => [[n.args[0]!, cx.b.diagvec(single(g))]],
  diagvec: (cx, n, gc) => {
    const a = n.args[0]!;
    const [m, k] = shapeOf(a);
    const d = cx.b.diag(single(gc));
    return [[a, cx.b.pad(d, [Dim.const(0), Dim.const(0)], [m!, k!])]];
  },
  tril: (cx, n, g) => [[n.args[0]!, cx.b.tril(single(g), n.attrs.k as number)]],
  triu: (cx, n, g) => [[n.args[0]!, cx.b.triu(single(g), n.attrs.k as number)]],

  reshape: (cx, n, g) => [[n.args[0]!, cx.b.reshape(single(g), shapeOf(n.args[0]!))]],
  slice: (cx, n, g) => [[n.args[0]!, cx.b.pad(single(g), n.attrs.start as Dim[], shapeOf(n.args[0]!))]],
  pad: (cx, n, g) => [[n.args[0]!, cx.b.slice(single(g), n.attrs.start as Dim[], shapeOf(n.args[0]!))]],
  concat: (cx, n, gc) => {
    const g = single(gc);
    const axis = n.attrs.axis as number;
    let off = Dim.const(0);
    const out: Contrib[] = [];
    for (const a of n.args) {
      const sh = shapeOf(a);
      out.push([a, cx.b.slice(g, sh.map((_, i) => (i === axis ? off : Dim.const(0))), sh)]);
      off = off.add(sh[axis]!);
    }
    return out;
  },
  index: (cx, n, g) => {
    const [a, ...ix] = n.args as [Node, ...Node[]];
    return [[a, cx.b.setindex(cx.b.zerosLike(a), ix, single(g))]];
  },
  setindex: (cx, n, gc) => {
    const g = single(gc);
    const a = n.args[0]!;
    const ix = n.args.slice(1, -1);
    const v = n.args[n.args.length - 1]!;
    return [[a, cx.b.setindex(g, ix, cx.b.const(0))], [v, cx.b.index(g, ix)]];
  },
  getcol: (cx, n, g) => [[n.args[0]!, cx.b.setcol(cx.b.zerosLike(n.args[0]!), n.args[1]!, single(g))]],
  getrow: (cx, n, g) => [[n.args[0]!, cx.b.setrow(cx.b.zerosLike(n.args[0]!), n.args[1]!, single(g))]],
  setcol: (cx, n, gc) => {
    const g = single(gc);
    const [a, j, v] = n.args as [Node, Node, Node];
    return [[a, cx.b.setcol(g, j, cx.b.zerosLike(v))], [v, cx.b.getcol(g, j)]];
  },
  setrow: (cx, n, gc) => {
    const g = single(gc);
    const [a, i, v] = n.args as [Node, Node, Node];
    return [[a, cx.b.setrow(g, i, cx.b.zerosLike(v))], [v, cx.b.getrow(g, i)]];
  },

  // X = A⁻¹B: B̄ = A⁻ᵀ X̄, Ā = −B̄ Xᵀ (the rcond output is not differentiated)
  solve: (cx, n, gc) => {
    const b = cx.b;
    const gx = Array.isArray(gc) ? gc[0] : gc;
    if (!gx) return [];
    const [a, rhs] = n.args as [Node, Node];
    const x = b.proj(n, 0);
    const gb = b.solve(b.transpose(a), gx)[0];
    const ga = shapeOf(rhs).length === 1 ? b.outer(gb, x) : b.matmul(gb, b.transpose(x));
    return [[a, b.neg(ga)], [rhs, gb]];
  },
  // X = op(T)⁻¹ B (left) or B op(T)⁻¹ (right); T̄ masked to the stored triangle.
  trisolve: (cx, n, gc) => {
    const b = cx.b;
    const g = single(gc);
    const [tm, rhs] = n.args as [Node, Node];
    const { lower, trans, unit } = n.attrs as { lower: boolean; trans: boolean; unit: boolean };
    const left = n.attrs.left !== false;
    const x = n;
    const gb = b.trisolve(tm, g, { lower, trans: !trans, unit, left });
    let gop: Node;
    if (left) gop = shapeOf(rhs).length === 1 ? b.outer(gb, x) : b.matmul(gb, b.transpose(x));
    else gop = b.matmul(b.transpose(x), gb);
    const gt = trans ? b.transpose(gop) : gop;
    return [[tm, b.neg(triMask(b, gt, lower, unit))], [rhs, gb]];
  },

  // eigh, svd, expm, symfun, polar: matrix-level rules (compiler/diff/spectral-rules.ts)
  ...spectralVjpRules,

  proj: none, // handled by the sweep (tuple slots)
  loop: (cx, n, g) => loopVjp(cx, n, g),
  custom: (cx, n, g) => customVjp(cx, n, g),
  opt: (cx, n, g) => {
    if (!cx.implicit) throw new InternalError('reverse mode reached a declarative node without the implicit rule');
    return cx.implicit(cx, n, Array.isArray(g) ? g : [g]);
  },
  root: (cx, n, g) => {
    if (!cx.implicit) throw new InternalError('reverse mode reached a declarative node without the implicit rule');
    return cx.implicit(cx, n, Array.isArray(g) ? g : [g]);
  },
  // a real branch: a branch of the branches' VJPs (compiler/diff/cond-rules.ts)
  cond: (cx, n, g) => condVjp(cx, n, Array.isArray(g) ? g : [g]),
};

export { tt };
