// Forward-mode rules, one per IR op: given a node and the tangents of its operands (undefined =
// zero), give the tangent of its output. Linear ops map tangents through themselves; the loop
// rule carries tangents along with the state; declarative nodes use the implicit function theorem
// (compiler/diff/implicit.ts).

import type { DeriveOptions } from './options.js';
import { type Builder, shapeOf } from '../ir/builder.js';
import { captures, inlineRegion, type Node, type StatusEntry } from '../ir/node.js';
import type { OpKind } from '../ir/ops.js';
import { broadcastAxis } from './vjp-rules.js';
import { entries, ifNonEmpty } from '../ir/empty.js';
import { InternalError } from '../../core/errors.js';
import { tangentName } from '../../core/derivative-names.js';
import { customJvp } from './custom.js';
import { condJvp } from './cond-rules.js';
import { spectralJvpRules } from './spectral-rules.js';
import { contractEinsum } from '../opt/einsum.js';

export type Tan = Node | (Node | undefined)[] | undefined;

export interface JvpCtx {
  b: Builder;
  /** tangents of arbitrary nodes (the sweep's map), for rules that need captured values */
  tangentOf(n: Node): Tan;
  /** nested forward mode, for loop bodies */
  jvpNodes(outs: readonly Node[], wrt: readonly Node[], tangents: readonly (Node | undefined)[]): (Node | undefined)[];
  implicit?(n: Node, dargs: (Node | undefined)[]): (Node | undefined)[];
  /** statuses to report (conditioning of implicit solves) */
  notes?: StatusEntry[];
  /** solver option overrides and the target the derivative is for */
  opts?: DeriveOptions;
}

type Rule = (cx: JvpCtx, n: Node, d: (Node | undefined)[]) => Tan;

const zero: Rule = () => undefined;

/** The norm of an empty tensor, sqrt(xᵀx) with no entries, is the constant 0: its tangent is 0,
 *  not 0/0 (issue 10: empty dimensions). At a zero vector with entries the norm has no
 *  derivative and the tangent stays non-finite (flagged by the status). */
function normGuard(b: Builder, n: Node, t: Node): Node {
  const u = n.args[0]!;
  const x = u.op === 'dot' && u.args[0] === u.args[1] ? u.args[0]! : u.op === 'sum' && shapeOf(u).length === 0 && u.args[0]!.op === 'mul' && u.args[0]!.args[0] === u.args[0]!.args[1] ? u.args[0]!.args[0]! : undefined;
  return x ? ifNonEmpty(b, entries(x), t, b.zerosLike(t)) : t;
}

/** Sum of defined terms, each broadcast to the node's shape. */
function total(b: Builder, n: Node, terms: (Node | undefined)[]): Node | undefined {
  const sh = shapeOf(n);
  let acc: Node | undefined;
  for (const t of terms) {
    if (!t) continue;
    const x = b.broadcastTo(t, sh);
    acc = acc ? b.add(acc, x) : x;
  }
  return acc;
}

const lin1 = (f: (b: Builder, dx: Node, n: Node) => Node): Rule => (cx, n, [d]) => (d ? f(cx.b, d, n) : undefined);

const unaryChain = (f: (b: Builder, dx: Node, n: Node) => Node): Rule => lin1(f);

export const jvpRules: Record<OpKind, Rule> = {
  param: zero, const: zero, eps: zero, iconst: zero, fill: zero, eye: zero, iota: zero, dim: zero,
  iadd: zero, isub: zero, imul: zero, imin: zero, imax: zero, idiv: zero, imod: zero, itof: zero, ftoi: zero,
  sign: zero, not: zero, maxloc: zero, minloc: zero, lt: zero, le: zero, gt: zero, ge: zero, eq: zero, ne: zero, and: zero, or: zero,
  nograd: zero,
  rand: zero,

  neg: lin1((b, d) => b.neg(d)),
  exp: unaryChain((b, d, n) => b.mul(d, n)),
  log: unaryChain((b, d, n) => b.div(d, n.args[0]!)),
  sqrt: unaryChain((b, d, n) => normGuard(b, n, b.div(b.scale(0.5, d), n))),
  abs: unaryChain((b, d, n) => b.mul(d, b.unary('sign', n.args[0]!))),
  sin: unaryChain((b, d, n) => b.mul(d, b.unary('cos', n.args[0]!))),
  cos: unaryChain((b, d, n) => b.neg(b.mul(d, b.unary('sin', n.args[0]!)))),
  tanh: unaryChain((b, d, n) => b.mul(d, b.sub(b.const(1), b.mul(n, n)))),
  sigmoid: unaryChain((b, d, n) => b.mul(d, b.mul(n, b.sub(b.const(1), n)))),
  // rounding to a storage format differentiates as the identity, as PyTorch's dtype casts do (the
  // derivative of the step function itself is zero almost everywhere and useless to a user)
  half: lin1((_b, d) => d),
  bfloat: lin1((_b, d) => d),

  add: (cx, n, [da, db]) => total(cx.b, n, [da, db]),
  sub: (cx, n, [da, db]) => total(cx.b, n, [da, db ? cx.b.neg(db) : undefined]),
  mul: (cx, n, [da, db]) => total(cx.b, n, [da ? cx.b.mul(da, n.args[1]!) : undefined, db ? cx.b.mul(n.args[0]!, db) : undefined]),
  // d(a/b) = (da − y db)/b
  div: (cx, n, [da, db]) => {
    const b = cx.b;
    const num = total(b, n, [da, db ? b.neg(b.mul(n, db)) : undefined]);
    return num ? b.div(num, n.args[1]!) : undefined;
  },
  pow: (cx, n, [da, dp]) => {
    const b = cx.b;
    const [a, p] = n.args as [Node, Node];
    return total(b, n, [
      da ? b.mul(da, b.mul(p, b.binary('pow', a, b.sub(p, b.const(1))))) : undefined,
      dp ? b.mul(dp, b.mul(n, b.unary('log', a))) : undefined,
    ]);
  },
  maximum: (cx, n, [da, db]) => {
    const b = cx.b;
    const m = b.binary('ge', n.args[0]!, n.args[1]!);
    return total(b, n, [da ? b.mul(da, m) : undefined, db ? b.mul(db, b.sub(b.const(1), m)) : undefined]);
  },
  minimum: (cx, n, [da, db]) => {
    const b = cx.b;
    const m = b.binary('le', n.args[0]!, n.args[1]!);
    return total(b, n, [da ? b.mul(da, m) : undefined, db ? b.mul(db, b.sub(b.const(1), m)) : undefined]);
  },
  hypot: (cx, n, [dx, dy]) => {
    const b = cx.b;
    const [x, y] = n.args as [Node, Node];
    const num = total(b, n, [dx ? b.mul(x, dx) : undefined, dy ? b.mul(y, dy) : undefined]);
    if (!num) return undefined;
    const pos = b.binary('gt', n, b.const(0));
    return b.mul(pos, b.div(num, b.select(pos, n, b.const(1))));
  },
  atan2: (cx, n, [dy, dx]) => {
    const b = cx.b;
    const [y, x] = n.args as [Node, Node];
    const num = total(b, n, [dy ? b.mul(x, dy) : undefined, dx ? b.neg(b.mul(y, dx)) : undefined]);
    if (!num) return undefined;
    const r2 = b.add(b.mul(x, x), b.mul(y, y));
    const pos = b.binary('gt', r2, b.const(0));
    return b.mul(pos, b.div(num, b.select(pos, r2, b.const(1))));
  },
  select: (cx, n, [, da, db]) => {
    if (!da && !db) return undefined;
    const b = cx.b;
    const sh = shapeOf(n);
    const z = b.zeros(sh);
    return b.select(n.args[0]!, da ? b.broadcastTo(da, sh) : z, db ? b.broadcastTo(db, sh) : z);
  },

  matmul: (cx, n, [da, db]) => total(cx.b, n, [da ? cx.b.matmul(da, n.args[1]!) : undefined, db ? cx.b.matmul(n.args[0]!, db) : undefined]),
  matvec: (cx, n, [da, dx]) => total(cx.b, n, [da ? cx.b.matvec(da, n.args[1]!) : undefined, dx ? cx.b.matvec(n.args[0]!, dx) : undefined]),
  dot: (cx, n, [dx, dy]) => total(cx.b, n, [dx ? cx.b.dot(dx, n.args[1]!) : undefined, dy ? cx.b.dot(n.args[0]!, dy) : undefined]),
  outer: (cx, n, [dx, dy]) => total(cx.b, n, [dx ? cx.b.outer(dx, n.args[1]!) : undefined, dy ? cx.b.outer(n.args[0]!, dy) : undefined]),
  transpose: lin1((b, d) => b.transpose(d)),
  einsum: (cx, n, ds) => {
    // three or more operands: forward mode through the optimizer's pairwise tree (compiler/opt/
    // einsum.ts), so the tangent shares the forward's intermediates
    if (n.args.length >= 3) {
      const args = [...new Set(n.args)];
      const tans = args.map((a) => ds[n.args.indexOf(a)]);
      if (tans.every((t) => !t)) return undefined;
      return cx.jvpNodes([contractEinsum(cx.b, String(n.attrs.spec), n.args)], args, tans)[0];
    }
    return total(
      cx.b,
      n,
      ds.map((d, i) => (d ? cx.b.einsum(String(n.attrs.spec), n.args.map((a, j) => (j === i ? d : a))) : undefined)),
    );
  },

  sum: lin1((b, d, n) => b.sum(d, n.attrs.axis as number)),
  // The extremum's tangent is the tangent at the (tie-averaged) arg-extremum.
  rmax: (cx, n, [d]) => extremumJvp(cx.b, n, d),
  rmin: (cx, n, [d]) => extremumJvp(cx.b, n, d),

  diag: lin1((b, d) => b.diag(d)),
  diagvec: lin1((b, d) => b.diagvec(d)),
  tril: lin1((b, d, n) => b.tril(d, n.attrs.k as number)),
  triu: lin1((b, d, n) => b.triu(d, n.attrs.k as number)),
  reshape: lin1((b, d, n) => b.reshape(d, shapeOf(n))),
  slice: lin1((b, d, n) => b.raw('slice', [d], n.attrs)),
  pad: lin1((b, d, n) => b.raw('pad', [d], n.attrs)),
  concat: (cx, n, ds) => (ds.some((d) => d) ? cx.b.concat(n.args.map((a, i) => ds[i] ?? cx.b.zerosLike(a)), n.attrs.axis as number) : undefined),
  index: (cx, n, [d]) => (d ? cx.b.index(d, n.args.slice(1)) : undefined),
  setindex: (cx, n, ds) => {
    const da = ds[0];
    const dv = ds[ds.length - 1];
    if (!da && !dv) return undefined;
    const b = cx.b;
    return b.setindex(da ?? b.zerosLike(n.args[0]!), n.args.slice(1, -1), dv ?? b.const(0));
  },
  getcol: (cx, n, [d]) => (d ? cx.b.getcol(d, n.args[1]!) : undefined),
  getrow: (cx, n, [d]) => (d ? cx.b.getrow(d, n.args[1]!) : undefined),
  setcol: (cx, n, [da, , dv]) => (da || dv ? cx.b.setcol(da ?? cx.b.zerosLike(n.args[0]!), n.args[1]!, dv ?? cx.b.zerosLike(n.args[2]!)) : undefined),
  setrow: (cx, n, [da, , dv]) => (da || dv ? cx.b.setrow(da ?? cx.b.zerosLike(n.args[0]!), n.args[1]!, dv ?? cx.b.zerosLike(n.args[2]!)) : undefined),

  // dX = A⁻¹ (dB − dA X)
  solve: (cx, n, [da, dr]) => {
    if (!da && !dr) return undefined;
    const b = cx.b;
    const [a, rhs] = n.args as [Node, Node];
    const x = b.proj(n, 0);
    const dax = da ? (shapeOf(rhs).length === 1 ? b.matvec(da, x) : b.matmul(da, x)) : undefined;
    const r = dr && dax ? b.sub(dr, dax) : dr ?? b.neg(dax!);
    return [b.solve(a, r)[0], undefined];
  },
  // dX = op(T)⁻¹ (dB − op(dT) X)   (left);   dX = (dB − X op(dT)) op(T)⁻¹   (right)
  trisolve: (cx, n, [dt, dr]) => {
    if (!dt && !dr) return undefined;
    const b = cx.b;
    const [tm, rhs] = n.args as [Node, Node];
    const { lower, trans, unit } = n.attrs as { lower: boolean; trans: boolean; unit: boolean };
    const left = n.attrs.left !== false;
    let r = dr;
    if (dt) {
      const masked = lower ? b.tril(dt, unit ? -1 : 0) : b.triu(dt, unit ? 1 : 0);
      const op = trans ? b.transpose(masked) : masked;
      const prod = left ? (shapeOf(rhs).length === 1 ? b.matvec(op, n) : b.matmul(op, n)) : b.matmul(n, op);
      r = r ? b.sub(r, prod) : b.neg(prod);
    }
    return b.trisolve(tm, r!, { lower, trans, unit, left });
  },

  // eigh, svd, expm, symfun, polar: matrix-level rules (compiler/diff/spectral-rules.ts)
  ...spectralJvpRules,

  proj: (cx, n, [d]) => {
    const t = cx.tangentOf(n.args[0]!);
    if (!t) return undefined;
    if (!Array.isArray(t)) throw new Error('proj of a non-tuple tangent');
    return t[n.attrs.index as number];
    void d;
  },

  loop: (cx, n, ds) => loopJvp(cx, n, ds),
  custom: (cx, n, ds) => customJvp(cx, n, ds),
  // a real branch: a branch of the branches' JVPs (compiler/diff/cond-rules.ts)
  cond: (cx, n, ds) => condJvp(cx, n, ds),
  opt: (cx, n, ds) => {
    if (!cx.implicit) throw new InternalError('forward mode reached a declarative node without the implicit rule');
    return cx.implicit(n, ds);
  },
  root: (cx, n, ds) => {
    if (!cx.implicit) throw new InternalError('forward mode reached a declarative node without the implicit rule');
    return cx.implicit(n, ds);
  },
};

/** The tangent of max/min is the tangent at the arg-extremum (ties averaged), per slice. */
function extremumJvp(b: Builder, n: Node, d: Node | undefined): Node | undefined {
  if (!d) return undefined;
  const x = n.args[0]!;
  const axis = n.attrs.axis as number;
  if (axis < 0) {
    const mask = b.binary('eq', x, n);
    return b.div(b.sum(b.mul(d, mask)), b.sum(mask));
  }
  const mask = b.binary('eq', x, broadcastAxis(b, n, shapeOf(x), axis));
  return b.div(b.sum(b.mul(d, mask), axis), b.sum(mask, axis));
}

/** Tangent of a loop: a new loop carrying (state, tangent of state). Captured values' tangents
 *  enter the body as constants of the iteration. */
function loopJvp(cx: JvpCtx, n: Node, ds: (Node | undefined)[]): Tan {
  const b = cx.b;
  const region = n.regions[0]!;
  const k = n.args.length - 2;
  const caps = captures(n).filter((c) => cx.tangentOf(c) !== undefined);
  const carryTans = ds.slice(2);
  if (caps.length === 0 && carryTans.every((d) => !d)) return undefined;
  const inits = n.args.slice(2);
  const tInits = inits.map((a, i) => carryTans[i] ?? b.zerosLike(a));
  const idx = b.regionParam('i', region.params[0]!.type);
  const cs = inits.map((a, i) => b.regionParam(String(region.params[i + 1]!.attrs.name), a.type));
  const dcs = inits.map((a, i) => b.regionParam(tangentName(String(region.params[i + 1]!.attrs.name)), a.type));
  const res = inlineRegion(b.g, region, [idx, ...cs]);
  const next = res.slice(0, k);
  const done = res[k]!;
  const capT = caps.map((c) => cx.tangentOf(c) as Node);
  const dnext = cx.jvpNodes(next, [...cs, ...caps], [...dcs, ...capT]);
  const loop = b.raw('loop', [n.args[0]!, n.args[1]!, ...inits, ...tInits], { ...n.attrs, names: [...(n.attrs.names as string[]), ...(n.attrs.names as string[]).map(tangentName)] }, [
    { params: [idx, ...cs, ...dcs], results: [...next, ...dnext.map((d, i) => d ?? b.zerosLike(inits[i]!)), done] },
  ]);
  const out: (Node | undefined)[] = [];
  for (let i = 0; i < k; i++) out.push(b.proj(loop, k + i));
  out.push(undefined, undefined);
  return out;
}
