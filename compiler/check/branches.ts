// Real branches (issue 10 item 7). `if c then a else b` with a real scalar condition — every value
// of one problem instance is uniform across the instance, so the condition is too — elaborates both
// sides as before, then decides:
//
//   - a constant condition keeps only the taken side (its statuses too);
//   - cheap sides (elementwise views, index remappings, whole reductions, int arithmetic: what
//     the code generators fuse into element expressions or one pass) stay a `select`, which
//     evaluates both and fuses with its consumers;
//   - sides that do real work (products, contractions, solves, loops, declarative nodes, random
//     numbers, nested branches), index with an index not proved in range, or give ints become a
//     `cond` node (compiler/ir/ops.ts) whose two regions hold the sides: only the taken one runs.
//
// Outlining. Each side was built in the enclosing graph; its own nodes are those made while it was
// elaborated (ids ≥ a mark taken before it). Values from before the mark that a side reads —
// function parameters, enclosing loops' indices and carries, anything computed earlier — become
// the cond's operands ("captures") and the regions' parameters, and the sides are rebuilt over
// those parameters (`substitute`). A node belongs to the innermost region whose parameters it
// depends on (compiler/ir/node.ts scopes), so every rebuilt node that reads a capture lives in its
// region and runs only with it. Constants (const, fill, eye, iota, dim, …) are read directly, so
// the simplifier still sees them — except where a computation depends on nothing but constants (a
// loop over constant bounds from a constant start, an index of a constant): such a computation
// would depend on no region parameter and be hoisted out of the branch, so its constant operands
// are captured too, which anchors it in the region.
//
// Status entries made inside a side (its solvers, `until` loops, solves, monitors) become extra
// results of the cond: the taken side gives its values, the other "did not run" (0 iterations,
// converged, residual 0 — rcond 1 for linear and implicit solves). So a call reports each of them
// per instance for the side that ran.

import type * as A from '../../grammar/ast.js';
import { shapeEquals } from '../../core/dims.js';
import { shapeOf } from '../ir/builder.js';
import { type Node, type StatusEntry, peekNextId, substitute } from '../ir/node.js';
import type { OpKind } from '../ir/ops.js';
import { jsClass } from '../codegen/cpu/ops.js';
import { forEachIndexCheck, provablyInRange } from '../codegen/index-checks.js';
import type { Struct } from '../ir/types.js';
import { lineCol, type Span } from '../source.js';
import type { Scope } from './scope.js';
import { type Val, arr, describeVal, poison, shapeLabel } from './values.js';
import type { Elab } from './elaborate.js';
import { parts } from './complex.js';

type IfExpr = Extract<A.Expr, { kind: 'if' }>;

/** Leaves: read directly by a region (not captured), unless they anchor a constant computation. */
const LEAVES: ReadonlySet<OpKind> = new Set<OpKind>(['const', 'eps', 'iconst', 'fill', 'eye', 'iota', 'dim']);

/** Does a side need a real branch? One that does work — anything but what the code generators
 *  fuse into element expressions (views, index remappings, int arithmetic), whole reductions or
 *  leaves — or that
 *  indexes with an index not proved in range: `if k < n then x[k] else 0` must not raise MATR107
 *  where the guard is false, as a select evaluating both sides would. */
function heavy(n: Node): boolean {
  if (n.regions.length > 0) return true;
  if (n.op === 'rand') return true;
  let checked = false;
  forEachIndexCheck(n, (_what, i, size) => {
    if (!provablyInRange(i, size)) checked = true;
  });
  if (checked) return true;
  // reductions (sum, dot, max, …) cost what an elementwise pass over their operand costs: cheap
  const cls = jsClass[n.op];
  return !(cls === 'view' || cls === 'remap' || cls === 'int' || cls === 'reduction' || n.op === 'param' || n.op === 'proj');
}

/** A side's result leaves, paired with the other side's: values of one type each. */
type Pair = { k: 'int'; t: Node; f: Node } | { k: 'arr'; t: Node; f: Node; struct: Struct; row: boolean };

export function elaborateIf(el: Elab, e: IfExpr, env: Scope): Val {
  const c = el.toScalar(el.expr(e.cond, env), e.cond.span, 'the condition');
  const mark = peekNextId();
  const st0 = el.statuses.length;
  const t = el.expr(e.then, env);
  const stT = el.statuses.splice(st0);
  const f = el.expr(e.else, env);
  const stF = el.statuses.splice(st0);
  const keepAll = () => el.statuses.push(...stT, ...stF);
  if (!c || t.k === 'error' || f.k === 'error') {
    keepAll();
    return poison;
  }
  const pairs: Pair[] = [];
  const shape = pairUp(el, t, f, e, pairs);
  if (!shape) {
    keepAll();
    return poison;
  }
  // a constant condition: the taken side only (the sides were still checked against each other)
  if (c.op === 'const') {
    const taken = (c.attrs.value as number) !== 0;
    el.statuses.push(...(taken ? stT : stF));
    return taken ? t : f;
  }
  const leaves = pairs.flatMap((p) => [p.t, p.f]);
  const useCond = pairs.some((p) => p.k === 'int') || sideNodes(leaves, mark).some(heavy);
  if (!useCond) {
    keepAll();
    let i = 0;
    return rebuild(shape, () => {
      const p = pairs[i++] as Extract<Pair, { k: 'arr' }>;
      return arr(el.b.select(c, p.t, p.f), p.struct, p.row);
    });
  }
  const outs = outline(el, c, pairs, mark, stT, stF, e.span);
  let i = 0;
  return rebuild(shape, () => {
    const p = pairs[i]!;
    const node = outs[i++]!;
    return p.k === 'int' ? { k: 'int', node } : arr(node, p.struct, p.row);
  });
}

/** The tuple and collection structure of a value, its leaves replaced by markers (rebuilt in
 *  order). */
type Shape = 'leaf' | { k: 'cx'; struct: Struct; row: boolean } | { k: 'tuple' | 'list'; elems: Shape[] };

function rebuild(s: Shape, leaf: () => Val): Val {
  if (s === 'leaf') return leaf();
  if (s.k === 'cx') {
    // a complex value: two leaves, its real and imaginary parts (complex.ts)
    const re = leaf();
    const im = leaf();
    if (re.k !== 'arr' || im.k !== 'arr') return poison;
    return { k: 'cx', re: re.node, im: im.node, struct: s.struct, row: s.row };
  }
  return { k: s.k, elems: s.elems.map((x) => rebuild(x, leaf)) } as Val;
}

/** Pairs the leaves of the two sides (checking tuple sizes and shapes); null after a diagnostic. */
function pairUp(el: Elab, t: Val, f: Val, e: IfExpr, out: Pair[]): Shape | null {
  if (t.k === 'list' || f.k === 'list') {
    // collections (compiler/check/collections.ts): element by element, of one length
    const [l, o, lspan] = t.k === 'list' ? [t, f, e.then.span] : [f as Val & { k: 'list' }, t, e.else.span];
    if (o.k !== 'list' || o.elems.length !== l.elems.length) {
      el.diag.error('MAT0246', 'the branches of if are collections of different lengths', e.span, {
        label: `${lspan === e.then.span ? 'then' : 'else'} has ${l.elems.length} element${l.elems.length === 1 ? '' : 's'}, the other ${o.k === 'list' ? `${o.elems.length}` : `is ${describeVal(o)}`}`,
      });
      return null;
    }
  }
  if (t.k === 'tuple' || f.k === 'tuple' || t.k === 'list') {
    const k = t.k === 'list' ? 'list' : 'tuple';
    if (t.k !== k || f.k !== k || t.elems.length !== f.elems.length) {
      el.diag.error('MAT0205', 'the branches of if have different tuple sizes', e.span);
      return null;
    }
    const s: Shape[] = [];
    for (let i = 0; i < t.elems.length; i++) {
      const x = pairUp(el, t.elems[i]!, f.elems[i]!, e, out);
      if (!x) return null;
      s.push(x);
    }
    return { k, elems: s };
  }
  if (t.k === 'error' || f.k === 'error') return null;
  if (t.k === 'cx' || f.k === 'cx') {
    // complex sides: the real parts paired, then the imaginary parts (a real side's are zeros)
    const pt = parts(el, t, e.then.span, 'the then branch');
    const pf = parts(el, f, e.else.span, 'the else branch');
    if (!pt || !pf) return null;
    const st = shapeOf(pt.re);
    const sf = shapeOf(pf.re);
    if (st.length > 0 && sf.length > 0 && !shapeEquals(st, sf)) {
      el.diag.error('MAT0204', 'the branches of if have different shapes', e.span, {
        label: `then is ${shapeLabel(t)}, else is ${shapeLabel(f)}`,
      });
      return null;
    }
    const struct = pt.struct === pf.struct ? pt.struct : 'general';
    out.push({ k: 'arr', t: pt.re, f: pf.re, struct: 'general', row: pt.row });
    out.push({ k: 'arr', t: pt.im ?? el.b.zeros(st), f: pf.im ?? el.b.zeros(sf), struct: 'general', row: pt.row });
    return { k: 'cx', struct, row: pt.row };
  }
  const intish = (v: Val) => v.k === 'int' || (v.k === 'lit' && v.isInt);
  if (intish(t) && intish(f) && (t.k === 'int' || f.k === 'int')) {
    const a = el.toInt(t, e.then.span);
    const b = el.toInt(f, e.else.span);
    if (a.k !== 'int' || b.k !== 'int') return null;
    out.push({ k: 'int', t: a.node, f: b.node });
    return 'leaf';
  }
  const a = el.toArr(t, e.then.span);
  const b = el.toArr(f, e.else.span);
  if (a.k !== 'arr' || b.k !== 'arr') return null;
  const sa = shapeOf(a.node);
  const sb = shapeOf(b.node);
  if (sa.length > 0 && sb.length > 0 && !shapeEquals(sa, sb)) {
    el.diag.error('MAT0204', 'the branches of if have different shapes', e.span, {
      label: `then is ${shapeLabel(a)}, else is ${shapeLabel(b)}`,
    });
    return null;
  }
  out.push({ k: 'arr', t: a.node, f: b.node, struct: a.struct === b.struct ? a.struct : 'general', row: a.row });
  return 'leaf';
}

/** The nodes a side made (ids ≥ mark) that its results reach, through operands and regions. */
function sideNodes(roots: readonly Node[], mark: number): Node[] {
  const seen = new Set<Node>();
  const stack = [...roots];
  while (stack.length) {
    const n = stack.pop()!;
    if (n.id < mark || seen.has(n)) continue;
    seen.add(n);
    for (const a of n.args) stack.push(a);
    for (const r of n.regions) {
      for (const p of r.params) stack.push(p);
      for (const x of r.results) stack.push(x);
    }
  }
  return [...seen].sort((a, b) => a.id - b.id);
}

/** What a side must receive as region parameters: values from before the mark other than
 *  constants, and the constant operands of computations that would otherwise read no parameter. */
function capturesOf(roots: readonly Node[], mark: number): Set<Node> {
  const own = sideNodes(roots, mark);
  const ownSet = new Set(own);
  const caps = new Set<Node>();
  const consider = (x: Node) => {
    if (x.id < mark && !LEAVES.has(x.op)) caps.add(x);
  };
  for (const r of roots) consider(r);
  const nested = new Set<Node>();
  for (const n of own) {
    for (const a of n.args) consider(a);
    for (const r of n.regions) {
      for (const p of r.params) nested.add(p);
      for (const x of r.results) consider(x);
    }
  }
  // anchored: depends (through operands and region results) on a capture
  const anchored = new Set<Node>();
  for (const n of own) {
    const deps = [...n.args, ...n.regions.flatMap((r) => r.results)];
    if (deps.some((d) => caps.has(d) || anchored.has(d))) anchored.add(n);
  }
  for (const n of own) {
    if (anchored.has(n) || nested.has(n) || LEAVES.has(n.op)) continue;
    if (dependsOn(n, nested, ownSet)) continue; // inside a nested region: its owner decides
    for (const a of n.args) if (LEAVES.has(a.op)) caps.add(a);
  }
  return caps;
}

/** Does n depend on one of `params` (walking the side's own nodes only)? */
function dependsOn(n: Node, params: ReadonlySet<Node>, own: ReadonlySet<Node>): boolean {
  const seen = new Set<Node>();
  const stack = [n];
  while (stack.length) {
    const x = stack.pop()!;
    if (seen.has(x) || !own.has(x)) continue;
    seen.add(x);
    if (params.has(x)) return true;
    for (const a of x.args) stack.push(a);
  }
  return false;
}

/** Builds the cond node; returns its value results (one per pair). */
function outline(el: Elab, c: Node, pairs: Pair[], mark: number, stT: StatusEntry[], stF: StatusEntry[], span: Span): Node[] {
  const b = el.b;
  const own = (s: StatusEntry) => [s.iterations, s.converged, s.residual].some((x) => x !== undefined && x.id >= mark);
  const ownT = stT.filter(own);
  const ownF = stF.filter(own);
  el.statuses.push(...stT.filter((s) => !own(s)), ...stF.filter((s) => !own(s)));
  const asInt = (x: Node) => (x.type.kind === 'tensor' && x.type.dtype === 'i' ? x : b.ftoi(x));
  const ran = (s: StatusEntry) => [asInt(s.iterations), s.converged, s.residual ?? b.const(0)];
  const idle = (s: StatusEntry) => [b.iconst(0), b.const(1), b.const(s.kind === 'linear' || s.kind === 'implicit' ? 1 : 0)];
  // a scalar side of a tensor-valued if is broadcast (as `select` broadcasts)
  const side = (p: Pair, which: 't' | 'f'): Node => {
    const other = which === 't' ? p.f : p.t;
    const x = p[which];
    if (p.k === 'arr' && shapeOf(x).length === 0 && shapeOf(other).length > 0) return b.broadcastTo(x, shapeOf(other));
    return x;
  };
  const thenRes = [...pairs.map((p) => side(p, 't')), ...ownT.flatMap(ran), ...ownF.flatMap(idle)];
  const elseRes = [...pairs.map((p) => side(p, 'f')), ...ownT.flatMap(idle), ...ownF.flatMap(ran)];
  const caps = [...new Set([...capturesOf(thenRes, mark), ...capturesOf(elseRes, mark)])].sort((x, y) => x.id - y.id);
  const region = (res: Node[]) => {
    const params = caps.map((x, i) => b.regionParam(x.op === 'param' ? String(x.attrs.name) : `c${i}`, x.type));
    const m = substitute(b.g, res, new Map(caps.map((x, i) => [x, params[i]!])));
    return { params, results: res.map((x) => m.get(x) ?? x) };
  };
  const { line, col } = lineCol(span.file, span.start);
  const node = b.at(span, () =>
    b.raw('cond', [c, ...caps], { nres: pairs.length, label: `${el.statusPrefix}if@${line}:${col}` }, [region(thenRes), region(elseRes)]),
  );
  const k = pairs.length;
  const outs = pairs.map((_, i) => b.proj(node, i));
  [...ownT, ...ownF].forEach((s, j) => {
    const base = k + 3 * j;
    const { extra: _extra, ...rest } = s;
    el.statuses.push({
      ...rest,
      iterations: b.proj(node, base),
      converged: b.proj(node, base + 1),
      ...(s.residual ? { residual: b.proj(node, base + 2) } : {}),
    });
  });
  return outs;
}
