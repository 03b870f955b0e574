// Compile-time collections, part 2: the elaborator's side (statics.ts has the signatures).
//
// A collection is a checker value (`{ k: 'list' }`, values.ts) holding one value per element; it
// never reaches the IR as such. It is made by a parameter of a collection type (its flattened
// elements `cores[0]`, `cores[1]`, …), a comprehension `[e for i in lo..hi]` (e elaborated once per
// static i), or returned by an inlined call. `xs[i]` with i static picks an element, `xs[a:b]` a
// part, `len(xs)` is static, `sum(xs)` adds elements of one shape; `unroll` loops over static
// bounds elaborate their body once per index, so a carry may change shape from one iteration to
// the next (a tensor-train contraction grows its carry by a mode per core). All of this happens
// while the function is checked, so derivatives, expansion and every backend see straight-line
// IR — reverse mode through an unrolled loop is ordinary reverse mode.
//
// Diagnostics from inside an element or an iteration get a note naming the index (`when i = 2`);
// elaboration stops at the first element that fails, so one mistake is reported once.

import type * as A from '../../grammar/ast.js';
import { DiagnosticBag, type Note } from '../diagnostics.js';
import { Dim, shapeEquals, shapeToString } from '../../core/dims.js';
import { shapeOf } from '../ir/builder.js';
import type { Node } from '../ir/node.js';
import type { Span } from '../source.js';
import type { Elab } from './elaborate.js';
import type { Scope } from './scope.js';
import { type Val, arr, poison, describeVal, shapeLabel } from './values.js';
import { checkCount, familyMember } from './statics.js';
import { resolveType } from './type-ast.js';
import type { Builtin } from './builtins.js';

/** The value of a static integer (a literal, a static int, a constant dimension), or null. */
export function staticInt(v: Val): number | null {
  if (v.k === 'lit') return v.isInt ? v.value : null;
  if (v.k === 'int') {
    const c = v.dim?.constValue();
    return c !== undefined && Number.isInteger(c) ? c : null;
  }
  return null;
}

/** A static integer as a value: an int whose dimension is that constant. */
export function staticVal(el: Elab, j: number): Val {
  return { k: 'int', node: el.b.iconst(j), dim: Dim.const(j) };
}

/** Evaluates `v` and requires it static (MAT0241). */
function requireStatic(el: Elab, v: Val, span: Span, what: string): number | null {
  if (v.k === 'error') return null;
  const c = staticInt(v);
  if (c !== null) return c;
  el.diag.error('MAT0241', `${what} must be static`, span, {
    label: v.k === 'int' ? 'an integer known only when the function runs' : `this is ${describeVal(v)}`,
    notes: [{ message: 'static values are integer literals, static int parameters, indices of unroll loops and comprehensions, and arithmetic on them' }],
    suggestion: 'declare the count as a parameter K: static int; the function is then compiled once per value of K',
  });
  return null;
}

/** Runs `fn` collecting its diagnostics, which are then reported with `note` added; `failed` says
 *  whether it reported an error. */
export function withNote<T>(el: Elab, note: Note, fn: () => T): { value: T; failed: boolean } {
  const outer = el.diag;
  const inner = new DiagnosticBag();
  el.diag = inner;
  try {
    const value = fn();
    return { value, failed: inner.hasErrors };
  } finally {
    el.diag = outer;
    for (const d of inner.items) outer.report({ ...d, notes: [...(d.notes ?? []), note] });
  }
}

/** Binds `name` to the static index j in `scope` and, for types inside the body, as a constant
 *  dimension; returns a function that restores the dimension table. */
function bindIndex(el: Elab, scope: Scope, index: A.Ident, j: number): () => void {
  scope.define(index.name, { val: staticVal(el, j), span: index.span, what: 'static index' });
  const had = el.dims.has(index.name);
  const prev = el.dims.get(index.name);
  el.dims.set(index.name, Dim.const(j));
  return () => {
    if (had) el.dims.set(index.name, prev!);
    else el.dims.delete(index.name);
  };
}

/** Static bounds lo..hi of a comprehension or unroll. */
function bounds(el: Elab, lo: A.Expr, hi: A.Expr, span: Span, env: Scope, what: string): { lo: number; hi: number } | null {
  const l = requireStatic(el, el.expr(lo, env), lo.span, `the start of ${what}`);
  const h = requireStatic(el, el.expr(hi, env), hi.span, `the end of ${what}`);
  if (l === null || h === null) return null;
  return checkCount(l, h, span, el.diag, what) ? { lo: l, hi: h } : null;
}

// ---- comprehensions and unroll -------------------------------------------------------------------------

export function elaborateComprehension(el: Elab, e: Extract<A.Expr, { kind: 'comprehension' }>, env: Scope): Val {
  const r = bounds(el, e.lo, e.hi, e.span, env, 'a collection');
  if (!r) return poison;
  const elems: Val[] = [];
  for (let j = r.lo; j < r.hi; j++) {
    const scope = env.child();
    const restore = bindIndex(el, scope, e.index, j);
    try {
      const { value, failed } = withNote(el, { message: `in the element for ${e.index.name} = ${j}`, span: e.index.span }, () => el.expr(e.elem, scope));
      if (failed || value.k === 'error') return poison;
      if (value.k === 'string') {
        el.diag.error('MAT0208', 'a collection holds tensors and integers, not strings', e.elem.span);
        return poison;
      }
      elems.push(value);
    } finally {
      restore();
    }
  }
  return { k: 'list', elems };
}

export function elaborateUnroll(el: Elab, e: Extract<A.Expr, { kind: 'unroll' }>, env: Scope): Val {
  if (e.until) {
    el.diag.error('MAT0247', 'unroll runs its whole range: it has no until', e.until.span, {
      notes: [{ message: 'unroll is expanded when the function is compiled, one copy of the body per index' }],
      suggestion: 'use iterate (…) for i in lo..hi => … until cond for a loop that stops early',
    });
    return poison;
  }
  const r = bounds(el, e.lo, e.hi, e.span, env, 'unroll');
  let carries: Val[] = [];
  let ok = !!r;
  for (const c of e.carries) {
    let v = el.expr(c.init, env);
    if (c.type) {
      const t = resolveType(c.type, (n) => el.dims.get(n), el.diag);
      if (!t) {
        ok = false;
        continue;
      }
      v = el.checkAgainst(v, { shape: t.ir.kind === 'tensor' ? t.ir.shape : null, isInt: t.isInt }, c.init.span, `the initial value of ${c.name.name}`, c.type.span);
    }
    if (v.k === 'error') ok = false;
    carries.push(v);
  }
  if (!ok || !r) return poison;
  const order: number[] = [];
  for (let j = r.lo; j < r.hi; j++) order.push(j);
  if (e.reverse) order.reverse();
  for (const j of order) {
    const scope = env.child();
    const restore = bindIndex(el, scope, e.index, j);
    try {
      e.carries.forEach((c, k) => scope.define(c.name.name, { val: carries[k]!, span: c.name.span, what: 'loop carry' }));
      const { value, failed } = withNote(el, { message: `in the iteration ${e.index.name} = ${j} of this unroll`, span: e.index.span }, () => el.expr(e.body, scope));
      if (failed || value.k === 'error') return poison;
      const next = e.carries.length === 1 ? [value] : value.k === 'tuple' ? value.elems : null;
      if (!next || next.length !== e.carries.length) {
        el.diag.error('MAT0410', `the loop body must give ${e.carries.length === 1 ? 'the new value of the carry' : `a tuple of ${e.carries.length} new values, one per carry`}`, e.body.span);
        return poison;
      }
      carries = next;
    } finally {
      restore();
    }
  }
  return carries.length === 1 ? carries[0]! : { k: 'tuple', elems: carries };
}

// ---- indexing ---------------------------------------------------------------------------------------------

/** Whether `name` is a dimension family here (some member `name[j]` is a dimension). */
export function isFamily(el: Elab, name: string): boolean {
  const prefix = `${name}[`;
  for (const k of el.dims.keys()) if (k.startsWith(prefix)) return true;
  return false;
}

function familyMembers(el: Elab, name: string): number[] {
  const re = new RegExp(`^${name.replace(/[^A-Za-z0-9_]/g, '\\$&')}\\[(\\d+)\\]$`);
  const out: number[] = [];
  for (const k of el.dims.keys()) {
    const m = re.exec(k);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

/** `n[i]` with `n` a dimension family: the dimension `n[j]` for the static index j. */
export function indexFamily(el: Elab, name: string, e: Extract<A.Expr, { kind: 'index' }>, env: Scope): Val {
  const ix = e.indices[0];
  if (e.indices.length !== 1 || !ix || ix.kind !== 'at') {
    el.diag.error('MAT0243', `dimension family ${name} takes one index, ${name}[i]`, e.span);
    return poison;
  }
  const j = requireStatic(el, el.expr(ix.index, env), ix.index.span, `the index of dimension family ${name}`);
  if (j === null) return poison;
  const d = el.dims.get(familyMember(name, j));
  if (!d) {
    const have = familyMembers(el, name);
    el.diag.error('MAT0243', `dimension family ${name} has no member ${j}`, ix.span, {
      label: `${name}[${j}] is not a dimension of this function`,
      notes: [{ message: `${name} has ${have.length === 1 ? 'the member' : 'members'} ${have.map((k) => familyMember(name, k)).join(', ')}` }],
    });
    return poison;
  }
  return { k: 'int', node: el.b.dim(d), dim: d };
}

/** `xs[i]` (i static) or `xs[a:b]` on a collection or a tuple. */
export function indexCollection(el: Elab, t: Val & { k: 'list' | 'tuple' }, e: Extract<A.Expr, { kind: 'index' }>, env: Scope): Val {
  const what = t.k === 'list' ? 'a collection' : 'a tuple';
  const ix = e.indices[0];
  if (e.indices.length !== 1 || !ix || ix.kind === 'all') {
    el.diag.error('MAT0243', `${what} takes one index xs[i] or one range xs[a:b]`, e.span, { label: `this is ${what} of ${t.elems.length} elements` });
    return poison;
  }
  const n = t.elems.length;
  if (ix.kind === 'range') {
    const lo = requireStatic(el, el.expr(ix.lo, env), ix.lo.span, `the start of a part of ${what}`);
    const hi = requireStatic(el, el.expr(ix.hi, env), ix.hi.span, `the end of a part of ${what}`);
    if (lo === null || hi === null) return poison;
    if (lo < 0 || hi > n || lo > hi) {
      el.diag.error('MAT0243', `part ${lo}:${hi} does not fit ${what} of ${n} elements`, ix.span, { notes: [{ message: 'parts are lo:hi with 0 <= lo <= hi <= the number of elements' }] });
      return poison;
    }
    return { k: t.k, elems: t.elems.slice(lo, hi) };
  }
  const j = requireStatic(el, el.expr(ix.index, env), ix.index.span, `an index into ${what}`);
  if (j === null) return poison;
  if (j < 0 || j >= n) {
    el.diag.error('MAT0243', `index ${j} is out of range for ${what} of ${n} element${n === 1 ? '' : 's'}`, ix.span, {
      notes: [{ message: `its elements are numbered 0 to ${n - 1}` }],
    });
    return poison;
  }
  return t.elems[j]!;
}

/** Partial indexing of a tensor of rank 3 or more by dynamic indices (`T[i, :, :]`, `T[:, j, :]`):
 *  the indexed axes are moved to the front (an einsum permutation, skipped when they lead) and
 *  read off one at a time as rows of the tensor reshaped to a matrix, so an index out of range is
 *  MATR107 where it runs, as for every other index. Constant indices are slices. */
export function partialIndex(el: Elab, node: Node, dyn: { axis: number; node: Node; c: number | undefined }[]): Val {
  let cur = node;
  let sh = [...shapeOf(cur)];
  // constant indices: a slice of one entry, the axis dropped
  const consts = dyn.filter((d) => d.c !== undefined);
  let rest = dyn.filter((d) => d.c === undefined);
  if (consts.length) {
    const starts = sh.map(() => Dim.const(0));
    const sizes = [...sh];
    for (const d of consts) {
      starts[d.axis] = Dim.const(d.c!);
      sizes[d.axis] = Dim.const(1);
    }
    cur = el.b.slice(cur, starts, sizes);
    const keep = sh.map((_, i) => !consts.some((d) => d.axis === i));
    sh = sh.filter((_, i) => keep[i]);
    cur = el.b.reshape(cur, sh);
    // renumber the remaining axes
    rest = rest.map((d) => ({ ...d, axis: d.axis - consts.filter((c) => c.axis < d.axis).length }));
  }
  if (rest.length === 0) return arr(cur);
  const axes = rest.map((d) => d.axis);
  const others = sh.map((_, i) => i).filter((i) => !axes.includes(i));
  const perm = [...axes, ...others];
  if (perm.some((p, i) => p !== i)) {
    const letters = 'abcdefghijklmnopqrstuvwxyz';
    const src = sh.map((_, i) => letters[i]).join('');
    const dst = perm.map((i) => letters[i]).join('');
    cur = el.b.einsum(`${src}->${dst}`, [cur]);
  }
  let remaining = perm.map((i) => sh[i]!);
  for (const d of rest) {
    const lead = remaining[0]!;
    const tail = remaining.slice(1);
    const cols = tail.reduce((x, y) => x.mul(y), Dim.const(1));
    const row = el.b.getrow(el.b.reshape(cur, [lead, cols]), d.node);
    cur = tail.length === 1 ? row : el.b.reshape(row, tail);
    remaining = tail;
  }
  return arr(cur);
}

// ---- branches and bindings over collections ----------------------------------------------------------------

// ---- builtins over collections ----------------------------------------------------------------------------

function evalArgs(el: Elab, e: Extract<A.Expr, { kind: 'call' }>, env: Scope, n: number, sig: string): Val[] | null {
  for (const a of e.args) {
    if (a.name) {
      el.diag.error('MAT0307', `${e.callee.name} takes no named arguments`, a.name.span);
      return null;
    }
  }
  const vals = e.args.map((a) => el.expr(a.value, env));
  if (vals.length !== n) {
    el.diag.error('MAT0303', `${e.callee.name} takes ${n} argument${n === 1 ? '' : 's'}, got ${vals.length}`, e.span, { suggestion: `${e.callee.name}: ${sig}` });
    return null;
  }
  return vals.some((v) => v.k === 'error') ? null : vals;
}

function listArg(el: Elab, v: Val, span: Span, fn: string): (Val & { k: 'list' | 'tuple' }) | null {
  if (v.k === 'list' || v.k === 'tuple') return v;
  el.diag.error('MAT0208', `${fn} takes a collection, but this is ${describeVal(v)}`, span, { suggestion: `write ${fn}(x[i] for i in 0..K) or ${fn}(xs) of a collection xs` });
  return null;
}

/** sum of a collection: elementwise over tensors of one shape, or integers (a dimension). */
export function sumList(el: Elab, xs: Val & { k: 'list' | 'tuple' }, span: Span, op: 'sum' | 'prod'): Val {
  if (xs.elems.length === 0) return staticVal(el, op === 'sum' ? 0 : 1);
  const ints = xs.elems.every((x) => x.k === 'int' || (x.k === 'lit' && x.isInt));
  if (ints) {
    let acc = el.toInt(xs.elems[0]!, span);
    for (const x of xs.elems.slice(1)) {
      const y = el.toInt(x, span);
      if (acc.k !== 'int' || y.k !== 'int') return poison;
      const dim = acc.dim && y.dim ? (op === 'sum' ? acc.dim.add(y.dim) : acc.dim.mul(y.dim)) : undefined;
      acc = { k: 'int', node: el.b.ibin(op === 'sum' ? 'iadd' : 'imul', acc.node, y.node), ...(dim ? { dim } : {}) };
    }
    return acc;
  }
  let acc: (Val & { k: 'arr' }) | null = null;
  for (let i = 0; i < xs.elems.length; i++) {
    const a = el.toArr(xs.elems[i]!, span, `element ${i} of the collection`);
    if (a.k !== 'arr') return poison;
    if (acc && shapeOf(acc.node).length > 0 && shapeOf(a.node).length > 0 && !shapeEquals(shapeOf(acc.node), shapeOf(a.node))) {
      el.diag.error('MAT0245', `${op} of a collection whose elements differ in shape`, span, {
        label: `element ${i} is ${shapeLabel(a)}, the elements before it ${shapeToString(shapeOf(acc.node))}`,
        notes: [{ message: `${op} combines elements elementwise, so they must share one shape (or be scalars)` }],
      });
      return poison;
    }
    if (!acc) acc = a;
    else {
      const node = op === 'sum' ? el.b.add(acc.node, a.node) : el.b.mul(acc.node, a.node);
      acc = arr(node, 'general', shapeOf(acc.node).length === 1 ? acc.row : a.row) as Val & { k: 'arr' };
    }
  }
  return acc!;
}

function letters(n: number): string {
  return 'abcdefghijklmnopqrstuvwxyz'.slice(0, n);
}

/** The builtins of compile-time collections and of tensors of a static rank. */
export const collectionBuiltins: Record<string, Builtin> = {
  len: {
    sig: 'len(xs): the number of elements of a collection or tuple (static)',
    elaborate(el, e, env) {
      const v = evalArgs(el, e, env, 1, this.sig);
      const xs = v && listArg(el, v[0]!, e.args[0]!.value.span, 'len');
      return xs ? staticVal(el, xs.elems.length) : poison;
    },
  },
  prod: {
    sig: 'prod(xs): the product of a collection: of integers (a dimension), or elementwise of tensors of one shape',
    elaborate(el, e, env) {
      const v = evalArgs(el, e, env, 1, this.sig);
      const xs = v && listArg(el, v[0]!, e.args[0]!.value.span, 'prod');
      return xs ? sumList(el, xs, e.args[0]!.value.span, 'prod') : poison;
    },
  },
  size: {
    sig: 'size(x, k): dimension k (static, 0-based) of x, as an int',
    elaborate(el, e, env) {
      const v = evalArgs(el, e, env, 2, this.sig);
      if (!v) return poison;
      const a = el.toArr(v[0]!, e.args[0]!.value.span, 'argument 1 of size');
      const k = requireStatic(el, v[1]!, e.args[1]!.value.span, 'the axis of size');
      if (a.k !== 'arr' || k === null) return poison;
      const sh = shapeOf(a.node);
      if (k < 0 || k >= sh.length) {
        el.diag.error('MAT0210', `axis ${k} is out of range for ${shapeLabel(a)}`, e.args[1]!.value.span, { notes: [{ message: `axes are 0 to ${sh.length - 1}` }] });
        return poison;
      }
      return { k: 'int', node: el.b.dim(sh[k]!), dim: sh[k]! };
    },
  },
  modeprod: {
    sig: 'modeprod(T, M, k): the mode-k product T ×ₖ M (static k): Σ_b M[a, b] T[…, b, …] with b at axis k',
    elaborate(el, e, env) {
      const v = evalArgs(el, e, env, 3, this.sig);
      if (!v) return poison;
      const t = el.toArr(v[0]!, e.args[0]!.value.span, 'argument 1 of modeprod');
      const m = el.toArr(v[1]!, e.args[1]!.value.span, 'argument 2 of modeprod');
      const k = requireStatic(el, v[2]!, e.args[2]!.value.span, 'the mode of modeprod');
      if (t.k !== 'arr' || m.k !== 'arr' || k === null) return poison;
      const st = shapeOf(t.node);
      const sm = shapeOf(m.node);
      if (st.length < 1 || st.length > 24 || k < 0 || k >= st.length) {
        el.diag.error('MAT0210', `mode ${k} is out of range for ${shapeLabel(t)}`, e.args[2]!.value.span, { notes: [{ message: `modes are the axes 0 to ${st.length - 1}` }] });
        return poison;
      }
      if (sm.length !== 2 || !sm[1]!.equals(st[k]!)) {
        el.diag.error('MAT0203', `modeprod needs a matrix with ${st[k]} columns for mode ${k} of ${shapeLabel(t)}, but M is ${shapeLabel(m)}`, e.args[1]!.value.span);
        return poison;
      }
      const ix = letters(st.length);
      const out = ix.slice(0, k) + 'z' + ix.slice(k + 1);
      return arr(el.b.einsum(`${ix},z${ix[k]}->${out}`, [t.node, m.node]));
    },
  },
  unfold: {
    sig: 'unfold(T, k): the mode-k unfolding of T (static k), a matrix [size(T, k), product of the other sizes] with the other axes in order',
    elaborate(el, e, env) {
      const v = evalArgs(el, e, env, 2, this.sig);
      if (!v) return poison;
      const t = el.toArr(v[0]!, e.args[0]!.value.span, 'argument 1 of unfold');
      const k = requireStatic(el, v[1]!, e.args[1]!.value.span, 'the mode of unfold');
      if (t.k !== 'arr' || k === null) return poison;
      const st = shapeOf(t.node);
      if (st.length < 1 || st.length > 24 || k < 0 || k >= st.length) {
        el.diag.error('MAT0210', `mode ${k} is out of range for ${shapeLabel(t)}`, e.args[1]!.value.span, { notes: [{ message: `modes are the axes 0 to ${st.length - 1}` }] });
        return poison;
      }
      const ix = letters(st.length);
      const moved = k === 0 ? t.node : el.b.einsum(`${ix}->${ix[k]}${ix.slice(0, k)}${ix.slice(k + 1)}`, [t.node]);
      const cols = st.filter((_, i) => i !== k).reduce((x, y) => x.mul(y), Dim.const(1));
      return arr(el.b.reshape(moved, [st[k]!, cols]));
    },
  },
};

export { requireStatic };
