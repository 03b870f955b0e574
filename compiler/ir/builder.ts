// Smart constructors over a Graph. Every pass and rule table builds IR through these, so cheap
// always-valid simplifications (x+0, x*1, --x, constant folding, (Aᵀ)ᵀ) happen at construction
// and derivative IR starts small. Heavier rewriting lives in compiler/opt.

import { roundBF16, roundF16 } from '../../core/lowp.js';
import { Dim } from '../../core/dims.js';
import type { CallSite, Span } from '../source.js';
import { type Attrs, type Node, type Region, Graph } from './node.js';
import type { OpKind, UnaryKind, BinaryKind, IntBinaryKind } from './ops.js';
import { type IrType, type TensorType, tensorT, typeEquals } from './types.js';
import { shapeEquals } from '../../core/dims.js';
import { intAdd, intDiv, intMod, intMul, intSub } from '../../core/intops.js';

export function tt(n: Node): TensorType {
  if (n.type.kind !== 'tensor') throw new Error(`node %${n.id} (${n.op}) is a tuple`);
  return n.type;
}

export function shapeOf(n: Node): readonly Dim[] {
  return tt(n).shape;
}

export function isConst(n: Node, v?: number): boolean {
  if (n.op === 'const' || n.op === 'fill') return v === undefined || n.attrs.value === v;
  return false;
}

export function constValue(n: Node): number | undefined {
  return n.op === 'const' || n.op === 'fill' ? (n.attrs.value as number) : undefined;
}

export function isZero(n: Node): boolean {
  return isConst(n, 0);
}

const foldUnary: Partial<Record<UnaryKind, (x: number) => number>> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  sign: Math.sign,
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  not: (x) => (x === 0 ? 1 : 0),
  half: roundF16,
  bfloat: roundBF16,
};

const foldBinary: Partial<Record<BinaryKind, (a: number, b: number) => number>> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => Math.pow(a, b),
  maximum: Math.max,
  minimum: Math.min,
  atan2: Math.atan2,
  hypot: Math.hypot,
  lt: (a, b) => +(a < b),
  le: (a, b) => +(a <= b),
  gt: (a, b) => +(a > b),
  ge: (a, b) => +(a >= b),
  eq: (a, b) => +(a === b),
  ne: (a, b) => +(a !== b),
  and: (a, b) => +(a !== 0 && b !== 0),
  or: (a, b) => +(a !== 0 || b !== 0),
};

/**
 * The one-hot vector e_j spelled eq(iota(N), itof(j)) (either operand order): its int index j
 * and length N. e_j is all zeros when j ∉ [0, N). Forward-mode Jacobian columns are JVPs along
 * e_j; the smart constructors below keep them structured (one-hot algebra):
 *   slice(e_j^N, off, L)        = e_{j−off}^L
 *   reshape(e_j^{rc}, [r, c])   = e_{⌊j/c⌋}^r (e_{j mod c}^c)ᵀ        (row-major; zero off range)
 *   reshape(e_j^1, [])          = [j = 0]
 *   A e_j                       = [0 ≤ j < N] · A[:, clamp(j)]
 *   xᵀ e_j                      = [0 ≤ j < N] · x[clamp(j)]
 *   sum(e_j)                    = [0 ≤ j < N]
 * so a Hessian–vector product along e_j costs a column read, not a matvec, and the dense
 * Jacobian loop writes each column in O(rows) (IED's bordered KKT in O(m²)).
 */
export function oneHotOf(n: Node): { j: Node; len: Dim } | undefined {
  if (n.op !== 'eq') return undefined;
  const [a, c] = n.args as [Node, Node];
  const [io, s] = a.op === 'iota' ? [a, c] : [c, a];
  if (io.op !== 'iota' || s.op !== 'itof') return undefined;
  return { j: s.args[0]!, len: io.attrs.n as Dim };
}

function stripVia(s: Span): Span {
  return s.via ? { file: s.file, start: s.start, end: s.end } : s;
}

export class Builder {
  span: Span | undefined;

  constructor(readonly g: Graph = new Graph()) {}

  at<T>(span: Span | undefined, f: () => T): T {
    const prev = this.span;
    this.span = span ? this.located(span) : prev;
    try {
      return f();
    } finally {
      this.span = prev;
    }
  }

  // The calls being inlined (compiler/check/items.ts inlineCall), outermost first: spans set
  // while one is open carry the chain (Span.via), so a diagnostic raised when the IR is
  // differentiated names how the user's function reached the construct. One span object per
  // source span and chain (cached per open call).
  private calls: { site: CallSite; cache: Map<Span, Span> }[] = [];

  /** Runs `f` (the elaboration of an inlined body) with `site` on the call chain. */
  inCall<T>(site: CallSite, f: () => T): T {
    const plain: CallSite = { span: stripVia(site.span), callee: site.callee };
    this.calls.push({ site: plain, cache: new Map() });
    try {
      return f();
    } finally {
      this.calls.pop();
    }
  }

  private located(span: Span): Span {
    const top = this.calls[this.calls.length - 1];
    if (!top || span.via) return span;
    let hit = top.cache.get(span);
    if (!hit) {
      hit = { file: span.file, start: span.start, end: span.end, via: this.calls.map((c) => c.site) };
      top.cache.set(span, hit);
    }
    return hit;
  }

  raw(op: OpKind, args: readonly Node[], attrs: Attrs = {}, regions: readonly Region[] = []): Node {
    return this.g.node(op, args, attrs, regions, this.span);
  }

  // ---- leaves ----

  const(v: number): Node {
    return this.raw('const', [], { value: v });
  }

  /** the machine epsilon of the precision the function runs in */
  eps(): Node {
    return this.raw('eps', []);
  }

  iconst(v: number): Node {
    return this.raw('iconst', [], { value: v });
  }

  dim(d: Dim): Node {
    const c = d.constValue();
    if (c !== undefined && Number.isInteger(c)) return this.iconst(c);
    return this.raw('dim', [], { dim: d });
  }

  fill(shape: readonly Dim[], v: number): Node {
    if (shape.length === 0) return this.const(v);
    return this.raw('fill', [], { shape: [...shape], value: v });
  }

  zeros(shape: readonly Dim[]): Node {
    return this.fill(shape, 0);
  }

  zerosLike(n: Node): Node {
    return this.zeros(shapeOf(n));
  }

  eye(rows: Dim, cols: Dim = rows): Node {
    return this.raw('eye', [], { shape: [rows, cols] });
  }

  iota(n: Dim): Node {
    return this.raw('iota', [], { n });
  }

  /** e_j of length n (j an int node). */
  oneHot(n: Dim, j: Node): Node {
    return this.binary('eq', this.iota(n), this.itof(j));
  }

  /** [0 ≤ j < n] as 1/0 and j clamped into [0, n): reads through a one-hot vector. */
  private pick(j: Node, n: Dim): [Node, Node] {
    if (j.op === 'iconst') {
      const v = j.attrs.value as number;
      const c = n.constValue();
      if (c !== undefined) return [this.const(v >= 0 && v < c ? 1 : 0), this.iconst(Math.max(0, Math.min(c - 1, v)))];
    }
    if (n.constValue() === 1) return [this.binary('eq', this.itof(j), this.const(0)), this.iconst(0)];
    const s = this.itof(j);
    const inside = this.mul(this.binary('ge', s, this.const(0)), this.binary('lt', s, this.itof(this.dim(n))));
    const jc = this.ibin('imin', this.ibin('imax', j, this.iconst(0)), this.ibin('isub', this.dim(n), this.iconst(1)));
    return [inside, jc];
  }

  // ---- ints ----

  ibin(op: IntBinaryKind, a: Node, b: Node): Node {
    const ca = a.op === 'iconst' ? (a.attrs.value as number) : undefined;
    const cb = b.op === 'iconst' ? (b.attrs.value as number) : undefined;
    if (ca !== undefined && cb !== undefined) {
      // folded exactly as every backend computes it (core/intops.ts: wrapping, floor division,
      // div(a, 0) = 0, mod(a, 0) = a)
      const v = { iadd: intAdd(ca, cb), isub: intSub(ca, cb), imul: intMul(ca, cb), imin: Math.min(ca, cb), imax: Math.max(ca, cb), idiv: intDiv(ca, cb), imod: intMod(ca, cb) }[op];
      return this.iconst(v);
    }
    if ((op === 'iadd' || op === 'isub') && cb === 0) return a;
    if (op === 'iadd' && ca === 0) return b;
    if (op === 'imul' && cb === 1) return a;
    if (op === 'imul' && ca === 1) return b;
    return this.raw(op, [a, b]);
  }

  /** floor(x) as an int (saturated; NaN → 0) */
  ftoi(x: Node): Node {
    const c = constValue(x);
    if (c !== undefined && Number.isFinite(c)) return this.iconst(Math.max(-2147483648, Math.min(2147483647, Math.floor(c))) | 0);
    return this.raw('ftoi', [x]);
  }

  itof(i: Node): Node {
    if (i.op === 'iconst') return this.const(i.attrs.value as number);
    return this.raw('itof', [i]);
  }

  // ---- elementwise ----

  unary(op: UnaryKind, x: Node): Node {
    const c = constValue(x);
    const fold = foldUnary[op];
    if (c !== undefined && fold) return this.fill(shapeOf(x), fold(c));
    if (op === 'neg' && x.op === 'neg') return x.args[0]!;
    if (op === 'neg' && x.op === 'sub') return this.sub(x.args[1]!, x.args[0]!);
    return this.raw(op, [x]);
  }

  binary(op: BinaryKind, a: Node, b: Node): Node {
    const ca = constValue(a);
    const cb = constValue(b);
    const sa = shapeOf(a);
    const sb = shapeOf(b);
    const out = sa.length === 0 ? sb : sa;
    const fold = foldBinary[op];
    if (ca !== undefined && cb !== undefined && fold) return this.fill(out, fold(ca, cb));
    const sameAsA = shapeEquals(sa, out);
    const sameAsB = shapeEquals(sb, out);
    switch (op) {
      case 'add':
        if (cb === 0 && sameAsA) return a;
        if (ca === 0 && sameAsB) return b;
        if (b.op === 'neg' && shapeEquals(sa, sb)) return this.binary('sub', a, b.args[0]!);
        if (shapeEquals(sa, sb)) {
          // X + (0 with column j = v) = X with column j += v: accumulating a sparse cotangent (the
          // VJP of a column, row or entry read, e.g. in a loop's backward) touches O(m), not O(mn)
          const sparse = this.sparseUpdate(a, b) ?? this.sparseUpdate(b, a);
          if (sparse) return sparse;
        }
        break;
      case 'sub':
        if (cb === 0 && sameAsA) return a;
        if (ca === 0 && sameAsB) return this.unary('neg', b);
        if (a === b) return this.zeros(out);
        if (b.op === 'neg' && shapeEquals(sa, sb)) return this.binary('add', a, b.args[0]!);
        break;
      case 'mul':
        if (ca === 0 || cb === 0) return this.zeros(out);
        if (cb === 1 && sameAsA) return a;
        if (ca === 1 && sameAsB) return b;
        if (cb === -1 && sameAsA) return this.unary('neg', a);
        if (ca === -1 && sameAsB) return this.unary('neg', b);
        // keep scalar constants on the left: 2 * x
        if (cb !== undefined && sb.length === 0 && ca === undefined) return this.binary('mul', b, a);
        // fold nested scalar constants: c1 * (c2 * x)
        if (ca !== undefined && sa.length === 0 && b.op === 'mul' && constValue(b.args[0]!) !== undefined && shapeOf(b.args[0]!).length === 0) {
          return this.binary('mul', this.const(ca * constValue(b.args[0]!)!), b.args[1]!);
        }
        break;
      case 'div':
        if (cb === 1 && sameAsA) return a;
        if (ca === 0 && cb !== 0) return this.zeros(out);
        if (cb !== undefined && cb !== 0 && sb.length === 0) return this.binary('mul', this.const(1 / cb), a);
        break;
      case 'pow':
        if (cb === 1 && sameAsA) return a;
        if (cb === 0) return this.fill(out, 1);
        break;
    }
    return this.raw(op, [a, b]);
  }

  add(a: Node, b: Node): Node {
    return this.binary('add', a, b);
  }

  /** x + u where u writes one column, row or entry into zeros: that part of x, updated. */
  private sparseUpdate(x: Node, u: Node): Node | undefined {
    if ((u.op !== 'setcol' && u.op !== 'setrow' && u.op !== 'setindex') || !isZero(u.args[0]!)) return undefined;
    switch (u.op) {
      case 'setcol':
        return this.setcol(x, u.args[1]!, this.add(this.getcol(x, u.args[1]!), u.args[2]!));
      case 'setrow':
        return this.setrow(x, u.args[1]!, this.add(this.getrow(x, u.args[1]!), u.args[2]!));
      case 'setindex': {
        const ix = u.args.slice(1, -1);
        return this.setindex(x, ix, this.add(this.index(x, ix), u.args[u.args.length - 1]!));
      }
      default:
        return undefined;
    }
  }
  sub(a: Node, b: Node): Node {
    return this.binary('sub', a, b);
  }
  mul(a: Node, b: Node): Node {
    return this.binary('mul', a, b);
  }
  div(a: Node, b: Node): Node {
    return this.binary('div', a, b);
  }
  neg(a: Node): Node {
    return this.unary('neg', a);
  }
  scale(c: number, a: Node): Node {
    return this.mul(this.const(c), a);
  }
  select(c: Node, a: Node, b: Node): Node {
    const cv = constValue(c);
    if (cv !== undefined) {
      const pick = cv !== 0 ? a : b;
      const out = [c, a, b].map(shapeOf).find((s) => s.length > 0) ?? [];
      if (shapeEquals(shapeOf(pick), out)) return pick;
    }
    if (a === b && shapeEquals(shapeOf(c), shapeOf(a))) return a;
    return this.raw('select', [c, a, b]);
  }

  /** Sum of a list of same-shaped terms (undefined entries are zero). */
  sumOf(terms: readonly (Node | undefined)[], shape: readonly Dim[]): Node {
    let acc: Node | undefined;
    for (const t of terms) if (t) acc = acc ? this.add(acc, t) : t;
    return acc ?? this.zeros(shape);
  }

  // ---- linear algebra ----

  transpose(a: Node): Node {
    if (a.op === 'transpose') return a.args[0]!;
    if (isZero(a)) return this.zeros([shapeOf(a)[1]!, shapeOf(a)[0]!]);
    if (a.op === 'eye' && shapeOf(a)[0]!.equals(shapeOf(a)[1]!)) return a;
    if (a.op === 'diag') return a;
    const st = tt(a).struct;
    if (st === 'sym' || st === 'spd') return a;
    if (a.op === 'outer') return this.outer(a.args[1]!, a.args[0]!);
    if (a.op === 'fill') return this.fill([shapeOf(a)[1]!, shapeOf(a)[0]!], a.attrs.value as number);
    return this.raw('transpose', [a]);
  }

  matmul(a: Node, b: Node): Node {
    const [m] = shapeOf(a);
    const [, n] = shapeOf(b);
    if (isZero(a) || isZero(b)) return this.zeros([m!, n!]);
    if (a.op === 'eye' && shapeOf(a)[0]!.equals(shapeOf(a)[1]!)) return b;
    if (b.op === 'eye' && shapeOf(b)[0]!.equals(shapeOf(b)[1]!)) return a;
    return this.raw('matmul', [a, b]);
  }

  matvec(a: Node, x: Node): Node {
    const [m] = shapeOf(a);
    if (isZero(a) || isZero(x)) return this.zeros([m!]);
    if (a.op === 'eye' && shapeOf(a)[0]!.equals(shapeOf(a)[1]!)) return x;
    const e = oneHotOf(x);
    if (e) {
      const [inside, jc] = this.pick(e.j, e.len);
      return this.mul(inside, this.getcol(a, jc));
    }
    return this.raw('matvec', [a, x]);
  }

  /** xᵀ A as a vector: Aᵀ x. */
  vecmat(x: Node, a: Node): Node {
    return this.matvec(this.transpose(a), x);
  }

  dot(x: Node, y: Node): Node {
    if (isZero(x) || isZero(y)) return this.const(0);
    const ex = oneHotOf(x);
    const ey = oneHotOf(y);
    if (ex && ey) return this.mul(this.pick(ex.j, ex.len)[0], this.binary('eq', this.itof(ex.j), this.itof(ey.j)));
    const e = ex ?? ey;
    if (e) {
      const [inside, jc] = this.pick(e.j, e.len);
      return this.mul(inside, this.index(ex ? y : x, [jc]));
    }
    // xᵀy = yᵀx: a canonical operand order lets hash-consing share both spellings
    return x.id <= y.id ? this.raw('dot', [x, y]) : this.raw('dot', [y, x]);
  }

  outer(x: Node, y: Node): Node {
    if (isZero(x) || isZero(y)) return this.zeros([shapeOf(x)[0]!, shapeOf(y)[0]!]);
    return this.raw('outer', [x, y]);
  }

  einsum(spec: string, args: readonly Node[]): Node {
    return this.raw('einsum', args, { spec });
  }

  // ---- reductions ----

  sum(x: Node, axis = -1): Node {
    if (axis < 0 && shapeOf(x).length === 0) return x;
    if (isZero(x)) return this.zeros(axis < 0 ? [] : shapeOf(x).filter((_, i) => i !== axis));
    const e = oneHotOf(x);
    if (e) return this.pick(e.j, e.len)[0];
    return this.raw('sum', [x], { axis });
  }

  sumsq(x: Node): Node {
    if (shapeOf(x).length === 1) return this.dot(x, x);
    return this.sum(this.mul(x, x));
  }

  norm(x: Node): Node {
    return this.unary('sqrt', this.sumsq(x));
  }

  rmax(x: Node, axis = -1): Node {
    return this.raw('rmax', [x], { axis });
  }

  maxloc(x: Node): Node {
    return this.raw('maxloc', [x]);
  }

  minloc(x: Node): Node {
    return this.raw('minloc', [x]);
  }

  rmin(x: Node, axis = -1): Node {
    return this.raw('rmin', [x], { axis });
  }

  // ---- structure and shape ----

  diag(v: Node): Node {
    if (isZero(v)) return this.zeros([shapeOf(v)[0]!, shapeOf(v)[0]!]);
    return this.raw('diag', [v]);
  }

  diagvec(a: Node): Node {
    if (a.op === 'diag') return a.args[0]!;
    return this.raw('diagvec', [a]);
  }

  /** The entries with j − i ≤ k. Of a triu(X, a) (j − i ≥ a) that is nothing when k < a (the
   *  strict lower part of an upper triangular R: a residual block of QR's `R: triu` unknown), and
   *  of a tril(X, a) it is tril(X, min(a, k)). */
  tril(a: Node, k = 0): Node {
    if (isZero(a)) return a;
    if (a.op === 'triu' && k < (a.attrs.k as number)) return this.zeros(shapeOf(a));
    if (a.op === 'tril') return this.raw('tril', [a.args[0]!], { k: Math.min(k, a.attrs.k as number) });
    return this.raw('tril', [a], { k });
  }

  /** The entries with j − i ≥ k; of a tril(X, a) nothing when k > a, of a triu(X, a) triu(X, max(a, k)). */
  triu(a: Node, k = 0): Node {
    if (isZero(a)) return a;
    if (a.op === 'tril' && k > (a.attrs.k as number)) return this.zeros(shapeOf(a));
    if (a.op === 'triu') return this.raw('triu', [a.args[0]!], { k: Math.max(k, a.attrs.k as number) });
    return this.raw('triu', [a], { k });
  }

  reshape(a: Node, shape: readonly Dim[]): Node {
    if (shapeEquals(shapeOf(a), shape)) return a;
    if (isZero(a)) return this.zeros(shape);
    const e = oneHotOf(a);
    if (e && shape.length === 0) return this.binary('eq', this.itof(e.j), this.const(0));
    if (e && shape.length === 2) {
      const c = shape[1]!;
      return this.outer(this.oneHot(shape[0]!, this.ibin('idiv', e.j, this.dim(c))), this.oneHot(c, this.ibin('imod', e.j, this.dim(c))));
    }
    return this.raw('reshape', [a], { shape: [...shape] });
  }

  slice(a: Node, start: readonly Dim[], size: readonly Dim[]): Node {
    const sh = shapeOf(a);
    if (start.every((s) => s.constValue() === 0) && shapeEquals(size, sh)) return a;
    if (isZero(a)) return this.zeros(size);
    const e = oneHotOf(a);
    if (e && start.length === 1) return this.oneHot(size[0]!, this.ibin('isub', e.j, this.dim(start[0]!)));
    return this.raw('slice', [a], { start: [...start], size: [...size] });
  }

  pad(a: Node, start: readonly Dim[], shape: readonly Dim[]): Node {
    if (start.every((s) => s.constValue() === 0) && shapeEquals(shape, shapeOf(a))) return a;
    if (isZero(a)) return this.zeros(shape);
    return this.raw('pad', [a], { start: [...start], shape: [...shape] });
  }

  concat(parts: readonly Node[], axis: number): Node {
    if (parts.length === 1) return parts[0]!;
    return this.raw('concat', parts, { axis });
  }

  index(a: Node, ix: readonly Node[]): Node {
    return this.raw('index', [a, ...ix]);
  }

  setindex(a: Node, ix: readonly Node[], v: Node): Node {
    return this.raw('setindex', [a, ...ix, v]);
  }

  getcol(a: Node, j: Node): Node {
    if (isZero(a)) return this.zeros([shapeOf(a)[0]!]);
    return this.raw('getcol', [a, j]);
  }

  getrow(a: Node, i: Node): Node {
    if (isZero(a)) return this.zeros([shapeOf(a)[1]!]);
    return this.raw('getrow', [a, i]);
  }

  setcol(a: Node, j: Node, v: Node): Node {
    return this.raw('setcol', [a, j, v]);
  }

  setrow(a: Node, i: Node, v: Node): Node {
    return this.raw('setrow', [a, i, v]);
  }

  // ---- solves ----

  /** A⁻¹ B; returns [X, rcond]. */
  solve(a: Node, b: Node): [Node, Node] {
    const t = this.raw('solve', [a, b]);
    return [this.proj(t, 0), this.proj(t, 1)];
  }

  trisolve(t: Node, b: Node, o: { lower: boolean; trans?: boolean; unit?: boolean; left?: boolean }): Node {
    if (isZero(b)) return b;
    return this.raw('trisolve', [t, b], { lower: o.lower, trans: o.trans ?? false, unit: o.unit ?? false, left: o.left ?? true });
  }

  // ---- tuples and control ----

  proj(t: Node, i: number): Node {
    return this.raw('proj', [t], { index: i });
  }

  nograd(x: Node): Node {
    if (x.op === 'nograd' || x.op === 'const' || x.op === 'fill' || x.op === 'eye' || x.op === 'iota') return x;
    return this.raw('nograd', [x]);
  }

  regionParam(name: string, type: IrType): Node {
    return this.g.regionParam(name, type, this.span);
  }

  /** Broadcasts a scalar to a shape (used where an op needs equal shapes). */
  broadcastTo(x: Node, shape: readonly Dim[]): Node {
    if (shapeEquals(shapeOf(x), shape)) return x;
    if (shapeOf(x).length !== 0) throw new Error('broadcastTo: only scalars broadcast');
    return this.mul(x, this.fill(shape, 1));
  }

  /** Sums away a broadcast: the cotangent of a scalar operand that was broadcast to `g`'s shape. */
  unbroadcast(g: Node, target: Node): Node {
    if (shapeOf(target).length === 0 && shapeOf(g).length > 0) return this.sum(g);
    return g;
  }

  sameType(a: Node, b: Node): boolean {
    return typeEquals(a.type, b.type);
  }
}

export { tensorT };
