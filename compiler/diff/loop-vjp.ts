// Reverse mode through `iterate` loops (issue 10, item 1).
//
// A loop L runs c⁽ˢ⁺¹⁾ = body(i(s), c⁽ˢ⁾) for the steps s = 0 … S−1 (S = its iteration count,
// i(s) = lo + s, or hi − 1 − s for `reverse`), starting from c⁽⁰⁾ = inits, and returns c⁽ˢ⁾. The
// body also reads values θ captured from outside. For the scalar ⟨c̄, c⁽ˢ⁾⟩ the chain rule gives
// the backward recurrence
//
//     ḡ⁽ˢ⁾ = ḡ⁽ˢ⁺¹⁾ · ∂body/∂c (i(s), c⁽ˢ⁾),      θ̄ += ḡ⁽ˢ⁺¹⁾ · ∂body/∂θ (i(s), c⁽ˢ⁾),
//
// run for s = S−1 … 0 from ḡ⁽ˢ⁾ = c̄; then ḡ⁽⁰⁾ is the cotangent of the inits. Each backward step
// is the VJP of ONE evaluation of the body, derived symbolically like any other IR (vjpNodes over
// the body instantiated at (i(s), c⁽ˢ⁾)), so nested loops, declarative nodes and every op inside
// a body differentiate by their own rules. The body's intermediates are recomputed in the
// backward step (2× the forward's work); only the carries c⁽ˢ⁾ that the backward step actually
// reads are kept:
//
// - **tape** (when the trip count is a dimension expression, `for j in 0..n`, `0..max_iter`): the
//   forward loop is rewritten to also write each needed carry, flattened, into row s of a
//   [T, numel] buffer (setrow on a loop carry: in place on every backend), T = hi − lo (or hi
//   when only hi is static and lo ≥ 0; a row out of range is MATR107, never a wrong value). The
//   rewritten loop replaces the original in the derived function, so the forward runs once.
//   Memory: T × (the needed carries) per instance.
// - **recompute** (a trip count known only at run time): backward step s reruns the forward s
//   steps from the inits. O(S²) body evaluations, no memory beyond one carry.
//
// `until` loops go back over the iterations that actually ran (the loop's own iteration count).
// Which carries are needed is read off the derived backward step itself: a carry that is only
// overwritten (V ← setcol(V, j, v)) or whose derivative does not involve its value is not
// stored.

import { Dim } from '../../core/dims.js';
import { type Builder, shapeOf } from '../ir/builder.js';
import { captures, freeParams, inlineRegion, substitute, type Node } from '../ir/node.js';
import { intT, tensorT, type TensorType } from '../ir/types.js';
import { cotangentName } from '../../core/derivative-names.js';
import type { Contrib, Cot, VjpCtx } from './vjp-rules.js';
import { vjpNodes } from './vjp.js';

/** A loop rewritten to record its carries, and where its original results now come from. */
export interface Retaped {
  loop: Node;
  /** number of carries of the original loop */
  k: number;
  /** number of tape carries appended after them */
  tapes: number;
}

function isRealTensor(n: Node): boolean {
  return n.type.kind === 'tensor' && n.type.dtype === 'f';
}

/** An int IR value as a dimension expression, when it is one (constants, dimensions and their
 *  integer arithmetic); undefined for run-time values (loop indices, ftoi of data). */
export function intNodeDim(n: Node): Dim | undefined {
  switch (n.op) {
    case 'iconst':
      return Dim.const(n.attrs.value as number);
    case 'dim':
      return n.attrs.dim as Dim;
    case 'iadd':
    case 'isub':
    case 'imul':
    case 'imin':
    case 'imax': {
      const a = intNodeDim(n.args[0]!);
      const b = intNodeDim(n.args[1]!);
      if (!a || !b) return undefined;
      if (n.op === 'iadd') return a.add(b);
      if (n.op === 'isub') return a.sub(b);
      if (n.op === 'imul') return a.mul(b);
      return n.op === 'imin' ? Dim.min(a, b) : Dim.max(a, b);
    }
    default:
      return undefined;
  }
}

/** Rows of the tape: the trip count when it is a dimension expression; hi when only hi is (the
 *  row index is range-checked where it is written). */
function tapeRows(lo: Node, hi: Node): Dim | undefined {
  const h = intNodeDim(hi);
  if (!h) return undefined;
  const l = intNodeDim(lo);
  if (l) {
    const t = h.sub(l);
    const c = t.constValue();
    return c !== undefined ? Dim.const(Math.max(0, c)) : Dim.max(t, Dim.const(0));
  }
  return h;
}

function numel(t: TensorType): Dim {
  return t.shape.reduce((x, d) => x.mul(d), Dim.const(1));
}

/** A carry value as one row of a tape (ints are stored as reals: exact below 2²⁴ in f32). */
function flatten(b: Builder, c: Node): Node {
  const t = c.type as TensorType;
  const x = t.dtype === 'i' ? b.itof(c) : c;
  return b.reshape(x, [numel(t)]);
}

function unflatten(b: Builder, row: Node, like: Node): Node {
  const t = like.type as TensorType;
  if (t.dtype === 'i') return b.ftoi(b.reshape(row, []));
  return b.reshape(row, t.shape);
}

/** The loop index of step s. */
function indexAt(b: Builder, n: Node, s: Node): Node {
  const [lo, hi] = n.args as [Node, Node];
  return n.attrs.reverse === true ? b.ibin('isub', b.ibin('isub', hi, b.iconst(1)), s) : b.ibin('iadd', lo, s);
}

/** The carries after `steps` steps of the loop from its inits, run again (no early exit). */
function rerun(b: Builder, n: Node, steps: Node): Node[] {
  const region = n.regions[0]!;
  const inits = n.args.slice(2);
  const k = inits.length;
  const t = b.regionParam('t', intT);
  const cs = inits.map((a, j) => b.regionParam(String(region.params[j + 1]!.attrs.name), a.type));
  const res = inlineRegion(b.g, region, [indexAt(b, n, t), ...cs]);
  const loop = b.raw('loop', [b.iconst(0), steps, ...inits], { reverse: false, hasUntil: false, names: n.attrs.names as string[], label: '', origin: 'recomputing a loop for its reverse mode' }, [
    { params: [t, ...cs], results: [...res.slice(0, k), b.const(0)] },
  ]);
  return inits.map((_, j) => b.proj(loop, j));
}

/** The contributions of a loop node to the cotangents of its inits and captured values. */
export function loopVjp(cx: VjpCtx, n: Node, gc: Cot): Contrib[] {
  const b = cx.b;
  const g = Array.isArray(gc) ? gc : [gc];
  const region = n.regions[0]!;
  const [lo, hi] = n.args as [Node, Node];
  const inits = n.args.slice(2);
  const k = inits.length;
  const names = (n.attrs.names as string[] | undefined) ?? inits.map((_, j) => `c${j}`);
  const real = inits.map((a, j) => (isRealTensor(a) ? j : -1)).filter((j) => j >= 0);
  const allCaps = captures(n);
  const caps = allCaps.filter((c) => isRealTensor(c) && (cx.active ? cx.active.has(c) : true));
  const hasUntil = n.attrs.hasUntil === true;

  // ---- one backward step, over placeholders for the carries at step s ----------------------
  const s = b.regionParam('s', intT);
  const place = inits.map((a, j) => b.regionParam(names[j] ?? `c${j}`, a.type));
  const gIn = real.map((j) => b.regionParam(cotangentName(names[j] ?? `c${j}`), tensorT(shapeOf(inits[j]!))));
  const accIn = caps.map((c, m) => b.regionParam(`ct.capture${m}`, tensorT(shapeOf(c))));
  const res = inlineRegion(b.g, region, [indexAt(b, n, s), ...place]);
  const notesBefore = cx.notes?.length ?? 0;
  const retapedBefore = cx.retaped?.length ?? 0;
  const grads0 = vjpNodes(
    cx,
    real.map((j) => res[j]!),
    gIn,
    [...real.map((j) => place[j]!), ...caps],
    new Set(allCaps),
  );
  // statuses of solves inside the body have one value per step: not reported (as in the forward)
  if (cx.notes) cx.notes.length = notesBefore;
  // loops nested in the body that were rewritten with tapes replace their originals in this step
  const inner = cx.retaped ? cx.retaped.splice(retapedBefore) : [];
  const defined = grads0.filter((x): x is Node => x !== undefined);
  const swapped = useRetaped(b, defined, inner);
  const grads = grads0.map((x) => (x === undefined ? undefined : swapped[defined.indexOf(x)]));
  const gOut = real.map((j, r) => grads[r] ?? b.zerosLike(gIn[r]!));
  const accOut = caps.map((c, m) => {
    const d = grads[real.length + m];
    return d ? b.add(accIn[m]!, d) : accIn[m]!;
  });

  // ---- the carries that step reads, from a tape or recomputed ------------------------------
  const used = new Set<Node>();
  for (const r of [...gOut, ...accOut]) for (const p of freeParams(r)) used.add(p);
  const needed = place.map((p, j) => (used.has(p) ? j : -1)).filter((j) => j >= 0);
  const rows = tapeRows(lo, hi);
  let iterations = b.proj(n, k);
  const mapping = new Map<Node, Node>();
  if (needed.length > 0 && rows) {
    const tapes = needed.map((j) => b.zeros([rows, numel(inits[j]!.type as TensorType)]));
    const i = b.regionParam('i', intT);
    const cs = inits.map((a, j) => b.regionParam(names[j] ?? `c${j}`, a.type));
    const tps = needed.map((j, t) => b.regionParam(`tape.${names[j] ?? j}`, tapes[t]!.type));
    const body = inlineRegion(b.g, region, [i, ...cs]);
    const step = n.attrs.reverse === true ? b.ibin('isub', b.ibin('isub', hi, b.iconst(1)), i) : b.ibin('isub', i, lo);
    const written = needed.map((j, t) => b.setrow(tps[t]!, step, flatten(b, cs[j]!)));
    const taped = b.raw(
      'loop',
      [lo, hi, ...inits, ...tapes],
      { ...n.attrs, names: [...names, ...needed.map((j) => `tape.${names[j] ?? j}`)] },
      [{ params: [i, ...cs, ...tps], results: [...body.slice(0, k), ...written, body[k]!] }],
    );
    cx.retaped?.push({ original: n, with: { loop: taped, k, tapes: needed.length } });
    iterations = b.proj(taped, k + needed.length);
    needed.forEach((j, t) => mapping.set(place[j]!, unflatten(b, b.getrow(b.proj(taped, k + t), s), inits[j]!)));
  } else if (needed.length > 0) {
    const again = rerun(b, n, s);
    for (const j of needed) mapping.set(place[j]!, again[j]!);
  }
  const roots = [...gOut, ...accOut];
  const m = mapping.size ? substitute(b.g, roots, mapping) : new Map<Node, Node>();
  const results = roots.map((r) => m.get(r) ?? r);

  // ---- the backward loop: s = S−1 … 0 ---------------------------------------------------------
  const steps = hasUntil ? iterations : b.ibin('imax', b.ibin('isub', hi, lo), b.iconst(0));
  const start = [...real.map((j, r) => g[j] ?? b.zerosLike(gIn[r]!)), ...caps.map((c) => b.zeros(shapeOf(c)))];
  const back = b.raw(
    'loop',
    [b.iconst(0), steps, ...start],
    {
      reverse: true,
      hasUntil: false,
      names: [...real.map((j) => cotangentName(names[j] ?? `c${j}`)), ...caps.map((_, q) => `ct.capture${q}`)],
      label: n.attrs.label ? `${String(n.attrs.label)}/reverse` : '',
      origin: 'the reverse mode of a loop',
    },
    [{ params: [s, ...gIn, ...accIn], results: [...results, b.const(0)] }],
  );
  const out: Contrib[] = real.map((j, r) => [inits[j]!, b.proj(back, r)]);
  caps.forEach((c, q) => out.push([c, b.proj(back, real.length + q)]));
  return out;
}

/** Replaces, under `roots`, every result of a loop that was rewritten with a tape by the
 *  rewritten loop's: the derived function runs each forward loop once. A rewritten loop's inits
 *  may read another rewritten loop (loops in sequence), so the replacement is repeated until no
 *  original is left. */
export function useRetaped(b: Builder, roots: readonly Node[], retaped: readonly RetapedEntry[]): Node[] {
  if (retaped.length === 0) return [...roots];
  const mapping = new Map<Node, Node>();
  for (const { original, with: r } of retaped) {
    if (mapping.has(b.proj(original, 0))) continue; // the same loop differentiated twice
    for (let j = 0; j < r.k; j++) mapping.set(b.proj(original, j), b.proj(r.loop, j));
    mapping.set(b.proj(original, r.k), b.proj(r.loop, r.k + r.tapes));
    mapping.set(b.proj(original, r.k + 1), b.proj(r.loop, r.k + r.tapes + 1));
  }
  let cur = [...roots];
  for (let pass = 0; pass < 64; pass++) {
    const m = substitute(b.g, cur, mapping);
    const next = cur.map((r) => m.get(r) ?? r);
    if (next.every((x, i) => x === cur[i])) break;
    cur = next;
  }
  return cur;
}

export interface RetapedEntry {
  original: Node;
  with: Retaped;
}
