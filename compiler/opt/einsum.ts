// The einsum pass (issue 14): every `einsum` node becomes a tree of pairwise contractions chosen
// by cost (einsum-path.ts), each lowered to what the code generators run fastest — `matmul`,
// `matvec`, `dot`, `outer` or a scalar `mul` over reshaped and transposed views — so that the
// CPU program calls its blocked GEMM and the WGSL kernel sees GEMM-shaped loops.
//
//   contractEinsum(b, spec, args)   einsum in, optimized IR out (also used by the einsum VJP and
//                                   JVP rules, so a derivative shares the forward's tree)
//   optimizeEinsums(b, f)           the pass over a function (first step of simplifyFunc);
//                                   einsums whose operands are single-use einsums of the same
//                                   region are merged into one network first — also through
//                                   reshapes that regroup axes (split an index into several or
//                                   merge several into one, sizes proved equal as dimension
//                                   polynomials) and 2-D transposes, so a contraction written
//                                   step by step (a tensor train swept core by core over a
//                                   compile-time collection, reshaping between the steps) is
//                                   one network whose order this pass chooses (see regroup)
//
// Path choice. At representative sizes (below), then made robust across regimes of the names'
// families (robustTree), as chain.ts does for matrix chains.
//
// Normalisation before the path search, each step exact in real arithmetic:
//   - an operand that is a constant 0, or an index of constant size 0: the result is zeros;
//   - an output index repeated (`ij->ii`): the repeat gets a fresh index and an eye(n) operand
//     joins the two (δ), so no code generator ever sees a repeated output index;
//   - indices of constant size 1 are dropped from every operand and the output by reshapes
//     (views; row-major order is unchanged) and put back at the end;
//   - a 2-D operand that is a transpose is read as its source with its indices swapped;
//   - repeated indices inside one operand (traces, diagonals) and indices that appear in only one
//     operand and not in the output are taken/summed in that operand first (one unary step:
//     diagvec, sum over axes, or a one-operand einsum), which never costs more than any
//     contraction the operand would take part in;
//   - scalar operands (rank 0) are multiplied into the result at the end.
//
// Representative sizes. Dimensions are symbolic (the executable is size-generic), so costs are
// evaluated with every dimension name = 64 and constants exact (as chain.ts does); polynomials
// and min/max atoms evaluate at those values. Failure mode: when the true sizes of two names
// differ by a large factor (mode sizes n = 2 beside ranks r = 32 both read as 64) a path that is
// optimal at 64 may not be at the true sizes; spell known sizes as constants in the spec's types
// (`tensor[r, 2, r]`) to pin them. The path never forms an intermediate the cost model does not
// account for, and it is never worse than left to right at the representative sizes.
//
// Layouts. Each intermediate is produced in the natural order of its GEMM ([free of A, free of
// B] or the transpose, chosen for the next contraction: its contracted indices as one block at
// an end, or the einsum's output order at the root). An operand whose contracted indices are not
// one block at an end of its layout, or whose block order differs from the other operand's, is
// copied into a permuted layout (a one-operand einsum) when the copies cost at most
// 1/COPY_RATIO of the contraction's flops (TTGT, as numpy.tensordot and torch.einsum do);
// otherwise the pair stays a pairwise einsum (a direct loop nest, in any output order). Indices
// shared by both operands and kept (batch indices) keep the pair a pairwise einsum.

import { type Builder, isZero, shapeOf } from '../ir/builder.js';
import { type Func, type Node, type Region, funcRoots, mapFuncRoots, reachable, scopes, transform } from '../ir/node.js';
import { parseEinsum } from '../ir/ops.js';
import { Dim, DimTooLarge } from '../../core/dims.js';
import { contractionPath, treeCost, type Network, type PathTree } from './einsum-path.js';
import { leastWorst } from './robust.js';

/** Representative size of every dimension name (chain.ts uses the same). */
export const REP_SIZE = 64;
/** Copies of operands (TTGT) are made when their volume is at most flops / COPY_RATIO. */
export const COPY_RATIO = 4;
/** Letters of IR einsum specs (compiler/ir/ops.ts parseEinsum). */
const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

class TooManyIndices extends Error {}

/** An operand of a network: a node whose axes carry index ids (ids may repeat: a diagonal). */
interface Operand {
  node: Node;
  ids: number[];
}

/** A network: operands, output ids and the dimension of each id. While a network is built
 *  by merging (optimizeEinsums), an id may be split into finer ids (`split`: id → its parts in
 *  row-major order, which may be split again) when a reshape between two einsums divides one
 *  index into several; operands merged so far keep their axes as groups of ids (`grouped`), and
 *  `finalizeNet` resolves both into flat ids, reshaping operands whose axes became groups. */
interface Net {
  ops: Operand[];
  out: number[];
  dims: Dim[];
  split?: Map<number, number[]>;
  grouped?: { node: Node; groups: number[][] }[];
}

function repSize(d: Dim): number {
  const c = d.constValue();
  if (c !== undefined) return Math.max(c, 1);
  const env = new Proxy({}, { get: () => REP_SIZE }) as Record<string, number>;
  const v = d.eval(env);
  return Number.isFinite(v) ? Math.max(v, 1) : REP_SIZE;
}

/** The network of `einsum(spec, args)`; `expand(arg, ids, net)` may add an operand's own
 *  network in place of the operand (merging) and returns false to keep it as an operand. */
function networkOf(spec: string, args: readonly Node[], expand?: Expand): Net {
  const net: Net = { ops: [], out: [], dims: [] };
  const { inputs, output } = parseEinsum(spec);
  const id = new Map<string, number>();
  inputs.forEach((ix, k) => {
    const sh = shapeOf(args[k]!);
    [...ix].forEach((c, q) => {
      if (!id.has(c)) {
        id.set(c, net.dims.length);
        net.dims.push(sh[q]!);
      }
    });
  });
  net.out = [...output].map((c) => id.get(c)!);
  inputs.forEach((ix, k) => {
    const ids = [...ix].map((c) => id.get(c)!);
    if (!expand || !expand(args[k]!, ids.map((c) => [c]), net)) net.ops.push({ node: args[k]!, ids });
  });
  return net;
}

/** How an operand's axes map to ids while a network is merged: axis k is the row-major
 *  flattening of the ids in groups[k] (a single id for an axis no reshape touched; none for an
 *  axis of constant size 1). */
type Expand = (arg: Node, groups: number[][], net: Net) => boolean;

/** Adds the network of einsum node `e` (its output axes carrying `groups`) to `net`. Returns
 *  false when it cannot be merged (a repeated output index). */
function mergeInto(e: Node, groups: number[][], net: Net, expand: Expand): boolean {
  const { inputs, output } = parseEinsum(String(e.attrs.spec));
  if (new Set(output).size !== output.length) return false;
  const id = new Map<string, number[]>();
  [...output].forEach((c, q) => id.set(c, groups[q]!));
  inputs.forEach((ix, k) => {
    const sh = shapeOf(e.args[k]!);
    [...ix].forEach((c, q) => {
      if (!id.has(c)) {
        id.set(c, [net.dims.length]);
        net.dims.push(sh[q]!);
      }
    });
  });
  inputs.forEach((ix, k) => {
    const sub = [...ix].map((c) => id.get(c)!);
    if (!expand(e.args[k]!, sub, net)) pushGrouped(net, e.args[k]!, sub);
  });
  return true;
}

function pushGrouped(net: Net, node: Node, groups: number[][]): void {
  (net.grouped ??= []).push({ node, groups });
}

/** The finest ids an id has been split into. */
function resolveId(net: Net, c: number): number[] {
  const parts = net.split?.get(c);
  return parts ? parts.flatMap((x) => resolveId(net, x)) : [c];
}

/** a / b when b divides a exactly as dimension polynomials (the quotient has integer
 *  coefficients and no floor-division atom), else null. */
function exactQuotient(a: Dim, b: Dim): Dim | null {
  if (b.constValue() === 0) return null;
  let q: Dim;
  try {
    q = a.div(b);
  } catch {
    return null;
  }
  if (!q.mul(b).equals(a)) return null;
  if (q.terms.some((t) => t.coef[1] !== 1 || t.atoms.some((x) => x.k === 'div' || x.k === 'fdiv'))) return null;
  return q;
}

/** The groups of a reshape's source axes, given the groups its output axes carry: the ids of
 *  the output, in row-major order, are cut into consecutive runs whose sizes multiply to each
 *  source dimension (an axis split by the reshape gets several ids, axes merged by it share
 *  the run of one id); an id that straddles a cut is split into two (`net.split`). Sizes are
 *  compared as dimension polynomials, so the regrouping holds for every value of the names.
 *  Null when the reshape is not such a regrouping (e.g. [6, 4] → [4, 6], or sizes whose
 *  factors cannot be proved to line up). */
function regroup(net: Net, src: readonly Dim[], groups: readonly number[][]): number[][] | null {
  const unit = (c: number): boolean => net.dims[c]!.constValue() === 1;
  const L = groups.flatMap((g) => g.flatMap((c) => resolveId(net, c))).filter((c) => !unit(c));
  const out: number[][] = [];
  let pos = 0;
  for (const s of src) {
    if (s.constValue() === 1) {
      out.push([]);
      continue;
    }
    const part: number[] = [];
    let p = Dim.const(1);
    for (;;) {
      const c = L[pos];
      if (c === undefined) return null;
      const d = net.dims[c]!;
      const pd = p.mul(d);
      if (pd.equals(s)) {
        part.push(c);
        pos++;
        break;
      }
      if (exactQuotient(s, pd)) {
        part.push(c);
        pos++;
        p = pd;
        continue;
      }
      // the id straddles the cut: d = need · rest
      const need = exactQuotient(s, p);
      const rest = need ? exactQuotient(d, need) : null;
      if (!need || !rest) return null;
      const c1 = net.dims.length;
      net.dims.push(need, rest);
      (net.split ??= new Map()).set(c, [c1, c1 + 1]);
      L.splice(pos, 1, c1, c1 + 1);
      part.push(c1);
      pos++;
      break;
    }
    out.push(part);
  }
  return pos === L.length ? out : null;
}

/** Resolves a merged network's groups and splits into flat ids (see Net). */
function finalizeNet(b: Builder, net: Net): void {
  if (!net.grouped && !net.split) return;
  const flat = (ids: readonly number[]): number[] => ids.flatMap((c) => resolveId(net, c));
  // row-major reshapes compose: a reshape of a reshape reads the first one's source
  const reshaped = (x: Node, ids: readonly number[]): Node => b.reshape(x.op === 'reshape' ? x.args[0]! : x, dimsOf(net, ids));
  const fresh: Operand[] = [];
  for (const o of net.ops) {
    const ids = flat(o.ids);
    fresh.push({ node: ids.length === o.ids.length ? o.node : reshaped(o.node, ids), ids });
  }
  for (const g of net.grouped ?? []) {
    const ids = flat(g.groups.flat());
    const sh = shapeOf(g.node);
    const same = ids.length === sh.length && ids.every((c, q) => net.dims[c]!.equals(sh[q]!));
    fresh.push({ node: same ? g.node : reshaped(g.node, ids), ids });
  }
  net.ops = fresh;
  net.out = flat(net.out);
  net.grouped = undefined;
  net.split = undefined;
}

// ---- building blocks ---------------------------------------------------------------------------

const sameIds = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

function specOf(ins: readonly (readonly number[])[], out: readonly number[]): string {
  const letter = new Map<number, string>();
  const name = (c: number): string => {
    let l = letter.get(c);
    if (l === undefined) {
      if (letter.size >= LETTERS.length) throw new TooManyIndices();
      l = LETTERS[letter.size]!;
      letter.set(c, l);
    }
    return l;
  };
  const parts = ins.map((ix) => ix.map(name).join(''));
  return `${parts.join(',')}->${out.map(name).join('')}`;
}

function dimsOf(net: Net, ids: readonly number[]): Dim[] {
  return ids.map((c) => net.dims[c]!);
}

function numelOf(net: Net, ids: readonly number[]): Dim {
  return ids.reduce((acc, c) => acc.mul(net.dims[c]!), Dim.const(1));
}

/** x (axes `from`, ids may repeat) → the tensor over `to` (distinct ids, each in `from`): takes
 *  diagonals, sums the ids of `from` not in `to` and permutes. Lowered to transpose, diagvec or
 *  sum where one of them is the whole step, else a one-operand einsum. */
function unaryStep(b: Builder, net: Net, x: Node, from: readonly number[], to: readonly number[]): Node {
  if (sameIds(from, to)) return x;
  const distinct = new Set(from).size === from.length;
  if (distinct && from.length === 2 && to.length === 2) return b.transpose(x);
  if (!distinct && from.length === 2) {
    // [i, i]: the diagonal, or the trace
    const d = b.diagvec(x);
    return to.length === 1 ? b.reshape(d, dimsOf(net, to)) : b.sum(d);
  }
  if (distinct && to.length === 0) return b.sum(x);
  if (distinct) {
    const kept = from.filter((c) => to.includes(c));
    if (sameIds(kept, to)) {
      const summed = from.map((c, q) => (to.includes(c) ? -1 : q)).filter((q) => q >= 0);
      if (summed.length === 1) return b.sum(x, summed[0]!);
      // a block of summed axes at either end: a reshape to a matrix and one axis sum
      const k = summed.length;
      const lead = summed.every((q, i) => q === i);
      const trail = summed.every((q, i) => q === from.length - k + i);
      if (lead || trail) {
        const s = numelOf(net, from.filter((c) => !to.includes(c)));
        const r = numelOf(net, to);
        const m = b.reshape(x, lead ? [s, r] : [r, s]);
        return b.reshape(b.sum(m, lead ? 0 : 1), dimsOf(net, to));
      }
    }
  }
  return b.einsum(specOf([from], to), [x]);
}

function contiguousEnd(layout: readonly number[], block: ReadonlySet<number>): 'front' | 'back' | null {
  const k = block.size;
  if (k === 0) return 'front';
  if (layout.slice(0, k).every((c) => block.has(c))) return 'front';
  if (layout.slice(layout.length - k).every((c) => block.has(c))) return 'back';
  return null;
}

/** What the consumer of a contraction's result would like: its exact layout (the root), or one
 *  of its index sets as a block at an end (the next contraction's contracted indices). */
type Want = { exact: readonly number[] } | { block: ReadonlySet<number> } | null;

interface Realized {
  node: Node;
  layout: number[];
}

/** Contracts A (layout la) with B (layout lb), keeping `keep`. */
function contractPair(b: Builder, net: Net, sizes: readonly number[], A: Realized, B: Realized, keep: ReadonlySet<number>, want: Want): Realized {
  const la = A.layout;
  const lb = B.layout;
  const inB = new Set(lb);
  const inA = new Set(la);
  const batch = la.filter((c) => inB.has(c) && keep.has(c));
  const K = la.filter((c) => inB.has(c) && !keep.has(c));
  const FA = la.filter((c) => !inB.has(c));
  const FB = lb.filter((c) => !inA.has(c));
  const vol = (ids: readonly number[]): number => ids.reduce((p, c) => p * sizes[c]!, 1);
  const flops = vol([...la, ...FB]);
  const wantsLayout = (l: readonly number[]): boolean => {
    if (!want) return true;
    if ('exact' in want) return sameIds(l, want.exact);
    return contiguousEnd(l, want.block) !== null;
  };
  // a layout for a direct pairwise einsum: any order is free
  const directLayout = (): number[] => {
    if (want && 'exact' in want) return [...want.exact];
    const natural = [...batch, ...FA, ...FB];
    if (want && 'block' in want && contiguousEnd(natural, want.block) === null) return [...natural.filter((c) => !want.block.has(c)), ...natural.filter((c) => want.block.has(c))];
    return natural;
  };
  const direct = (): Realized => {
    const lc = directLayout();
    return { node: b.einsum(specOf([la, lb], lc), [A.node, B.node]), layout: lc };
  };
  // scalar times tensor
  if (la.length === 0 || lb.length === 0) {
    const node = b.mul(A.node, B.node);
    const layout = la.length === 0 ? [...lb] : [...la];
    return { node, layout };
  }
  if (batch.length > 0) {
    // the same indices on both sides and kept: an elementwise product (a view)
    if (K.length === 0 && FA.length === 0 && FB.length === 0) {
      const bn = sameIds(la, lb) ? B.node : la.length === 2 ? b.transpose(B.node) : null;
      if (bn) {
        const r = { node: b.mul(A.node, bn), layout: [...la] };
        if (want && 'exact' in want && !sameIds(la, want.exact)) return { node: unaryStep(b, net, r.node, la, want.exact), layout: [...want.exact] };
        return r;
      }
    }
    return direct();
  }

  // TTGT: choose the order κ of the contracted block, which operands to copy, and the result's
  // orientation ([FA, FB] or [FB, FA]); least copy volume wins.
  const Kset = new Set(K);
  const endA = contiguousEnd(la, Kset);
  const endB = contiguousEnd(lb, Kset);
  const kA = endA ? la.filter((c) => Kset.has(c)) : null;
  const kB = endB ? lb.filter((c) => Kset.has(c)) : null;
  const kappas: number[][] = [];
  for (const k of [kA, kB, K]) if (k && !kappas.some((x) => sameIds(x, k))) kappas.push(k);
  let best: { kappa: number[]; copyA: boolean; copyB: boolean; ab: boolean; cost: number } | null = null;
  for (const kappa of kappas) {
    const copyA = !(kA && sameIds(kA, kappa));
    const copyB = !(kB && sameIds(kB, kappa));
    for (const ab of [true, false]) {
      const lc = ab ? [...FA, ...FB] : [...FB, ...FA];
      const copyC = !wantsLayout(lc);
      const cost = (copyA ? vol(la) : 0) + (copyB ? vol(lb) : 0) + (copyC ? vol(lc) : 0);
      if (!best || cost < best.cost) best = { kappa, copyA, copyB, ab, cost };
    }
  }
  const plan = best!;
  // the copies made here: operands, and the result when the root's order differs
  const exactMiss = !!want && 'exact' in want && !sameIds(plan.ab ? [...FA, ...FB] : [...FB, ...FA], want.exact);
  const copies = (plan.copyA ? vol(la) : 0) + (plan.copyB ? vol(lb) : 0) + (exactMiss ? vol([...FA, ...FB]) : 0);
  if (copies * COPY_RATIO > flops) return direct();

  // operands in GEMM form: A as [FA, κ] or [κ, FA]; B as [κ, FB] or [FB, κ]
  const a = plan.copyA ? { node: unaryStep(b, net, A.node, la, [...FA, ...plan.kappa]), layout: [...FA, ...plan.kappa] } : A;
  const bb = plan.copyB ? { node: unaryStep(b, net, B.node, lb, [...plan.kappa, ...FB]), layout: [...plan.kappa, ...FB] } : B;
  const nFA = numelOf(net, FA);
  const nFB = numelOf(net, FB);
  const nK = numelOf(net, plan.kappa);
  /** X as a matrix [rows = F, cols = κ] (transposed view when its layout is [κ, F]). */
  const asFK = (x: Realized, F: Dim): Node => (x.layout.length && Kset.has(x.layout[0]!) && K.length > 0 && x.layout.length > K.length ? b.transpose(b.reshape(x.node, [nK, F])) : b.reshape(x.node, [F, nK]));
  const asVec = (x: Realized): Node => b.reshape(x.node, [numelOf(net, x.layout)]);
  let node: Node;
  let layout: number[];
  if (K.length === 0) {
    // outer product
    node = plan.ab ? b.outer(asVec(a), asVec(bb)) : b.outer(asVec(bb), asVec(a));
    layout = plan.ab ? [...FA, ...FB] : [...FB, ...FA];
  } else if (FA.length === 0 && FB.length === 0) {
    node = b.dot(asVec(a), asVec(bb));
    layout = [];
  } else if (FA.length === 0) {
    node = b.matvec(asFK(bb, nFB), asVec(a));
    layout = [...FB];
  } else if (FB.length === 0) {
    node = b.matvec(asFK(a, nFA), asVec(bb));
    layout = [...FA];
  } else if (plan.ab) {
    node = b.matmul(asFK(a, nFA), b.transpose(asFK(bb, nFB)));
    layout = [...FA, ...FB];
  } else {
    node = b.matmul(asFK(bb, nFB), b.transpose(asFK(a, nFA)));
    layout = [...FB, ...FA];
  }
  node = b.reshape(node, dimsOf(net, layout));
  if (want && 'exact' in want && !sameIds(layout, want.exact)) {
    node = unaryStep(b, net, node, layout, want.exact);
    layout = [...want.exact];
  }
  return { node, layout };
}

// ---- contraction of one network -----------------------------------------------------------------

/** Contracts a network into a tensor over `net.out` (in that order). */
function contractNet(b: Builder, net: Net, outShape: readonly Dim[]): Node {
  finalizeNet(b, net);
  // zeros
  if (net.ops.some((o) => isZero(o.node)) || net.dims.some((d) => d.constValue() === 0)) return b.zeros(outShape);
  // a repeated output index: a fresh index joined to the first by δ = eye(n)
  const seen = new Set<number>();
  net.out = net.out.map((c) => {
    if (!seen.has(c)) {
      seen.add(c);
      return c;
    }
    const fresh = net.dims.length;
    net.dims.push(net.dims[c]!);
    net.ops.push({ node: b.eye(net.dims[c]!, net.dims[c]!), ids: [c, fresh] });
    return fresh;
  });
  // transposed 2-D operands are read as their sources
  for (const o of net.ops) {
    while (o.node.op === 'transpose' && o.ids.length === 2) {
      o.node = o.node.args[0]!;
      o.ids = [o.ids[1]!, o.ids[0]!];
    }
  }
  // indices of constant size 1 are dropped (reshapes)
  const unit = (c: number): boolean => net.dims[c]!.constValue() === 1;
  for (const o of net.ops) {
    if (o.ids.some(unit)) {
      o.ids = o.ids.filter((c) => !unit(c));
      o.node = b.reshape(o.node, dimsOf(net, o.ids));
    }
  }
  const out = net.out.filter((c) => !unit(c));
  // per operand: diagonals and indices no one else needs
  const count = new Map<number, number>();
  for (const o of net.ops) for (const c of new Set(o.ids)) count.set(c, (count.get(c) ?? 0) + 1);
  const outSet = new Set(out);
  const ops: Realized[] = [];
  let scalar: Node | null = null;
  for (const o of net.ops) {
    const to = [...new Set(o.ids)].filter((c) => outSet.has(c) || count.get(c)! > 1);
    const node = unaryStep(b, net, o.node, o.ids, to);
    if (to.length === 0) scalar = scalar ? b.mul(scalar, node) : node;
    else ops.push({ node, layout: to });
  }
  let result: Realized;
  if (ops.length === 0) result = { node: scalar ?? b.const(1), layout: [] };
  else {
    // the path, at representative sizes, over dense ids
    const dense = new Map<number, number>();
    const sizes: number[] = [];
    const idOf = (c: number): number => {
      let d = dense.get(c);
      if (d === undefined) {
        d = sizes.length;
        dense.set(c, d);
        sizes.push(repSize(net.dims[c]!));
      }
      return d;
    };
    const pnet: Network = { inputs: ops.map((o) => o.layout.map(idOf)), output: out.map(idOf), sizes };
    const denseDims: Dim[] = [];
    for (const [c, d] of dense) denseDims[d] = net.dims[c]!;
    const path = { tree: robustTree(pnet, denseDims) };
    const repSizes: number[] = [];
    for (const [c, d] of dense) repSizes[c] = sizes[d]!;
    result = realize(b, net, repSizes, ops, out, path.tree);
    if (scalar) result = { node: b.mul(scalar, result.node), layout: result.layout };
  }
  let node = unaryStep(b, net, result.node, result.layout, out);
  node = b.reshape(node, outShape);
  return node;
}

/** Families of dimension names whose sizes are varied independently by robustTree, at most. */
export const ROBUST_FAMILIES = 4;
/** A tree within this factor of every regime's optimum is kept as chosen at the representative size. */
export const ROBUST_SLACK = 1.5;
const SMALL = 2;
const LARGE = 512;

/** The family of a dimension name: `n[3]` → `n` (an int family's entries are alike: the mode
 *  sizes of a tensor train, its ranks); a plain name is its own family. */
const familyOf = (name: string): string => name.replace(/\[.*$/, '');

/** The contraction tree of `net` (representative sizes) made robust to the sizes the names
 *  really take, as chain.ts does for matrix chains: one size for every name treats the mode
 *  sizes of a tensor train (2–9), its ranks (≤ r) and a batch of columns (1 … 10⁴) alike, and
 *  the tree that is best when all are 64 can be 2.4× worse at c = 1. With 1 to ROBUST_FAMILIES
 *  families of names, each family is also set SMALL or LARGE independently (2^families
 *  regimes; SMALL = 2, the mode size of most tensor trains and of prime-factor tensorisations,
 *  where chain.ts's 8 kept a tree 2.9× worse than the written sweep at c = 1); when the representative tree costs more than ROBUST_SLACK × some regime's optimum,
 *  the candidate (a regime's optimum) with the least worst-case ratio over all regimes is taken
 *  instead. `dims[i]` is the dimension of id i of `net`. */
function robustTree(net: Network, dims: readonly Dim[]): PathTree {
  const rep = contractionPath(net).tree;
  if (net.inputs.length < 3) return rep;
  const names = new Set<string>();
  for (const d of dims) d.vars(names);
  const fams = [...new Set([...names].map(familyOf))];
  if (fams.length === 0 || fams.length > ROBUST_FAMILIES) return rep;
  const regimes: Network[] = [];
  for (let mask = 0; mask < 1 << fams.length; mask++) {
    const size = new Map(fams.map((f, i) => [f, mask & (1 << i) ? LARGE : SMALL]));
    const env = new Proxy({}, { get: (_, k) => size.get(familyOf(String(k))) ?? REP_SIZE }) as Record<string, number>;
    const sizes = dims.map((d) => {
      const v = d.eval(env);
      return Number.isFinite(v) ? Math.max(v, 1) : REP_SIZE;
    });
    regimes.push({ ...net, sizes });
  }
  const best = regimes.map((r) => contractionPath(r));
  const worst = (t: PathTree): number => {
    let w = 0;
    regimes.forEach((r, i) => {
      const ratio = treeCost(r, t).flops / Math.max(best[i]!.flops, 1);
      if (Number.isFinite(ratio)) w = Math.max(w, ratio);
    });
    return w;
  };
  return leastWorst(rep, best.map((b) => b.tree), worst, ROBUST_SLACK);
}

/** Builds the tree: leaves are the normalised operands; each pair is contracted with the layout
 *  its consumer prefers. */
function realize(b: Builder, net: Net, sizes: readonly number[], ops: readonly Realized[], out: readonly number[], tree: PathTree): Realized {
  const leavesOf = (t: PathTree): number[] => (t.k === 'leaf' ? [t.i] : [...leavesOf(t.l), ...leavesOf(t.r)]);
  const idsOf = (leaves: readonly number[]): Set<number> => new Set(leaves.flatMap((i) => ops[i]!.layout));
  const outSet = new Set(out);
  const all = ops.map((_, i) => i);
  /** ids of the subtree's result: those needed outside it */
  const keepOf = (leaves: readonly number[]): Set<number> => {
    const inside = new Set(leaves);
    const outside = idsOf(all.filter((i) => !inside.has(i)));
    return new Set([...idsOf(leaves)].filter((c) => outSet.has(c) || outside.has(c)));
  };
  const go = (t: PathTree, want: Want): Realized => {
    if (t.k === 'leaf') return ops[t.i]!;
    const ll = leavesOf(t.l);
    const rl = leavesOf(t.r);
    const kl = keepOf(ll);
    const kr = keepOf(rl);
    const keep = keepOf([...ll, ...rl]);
    // each side would like the indices this pair contracts as a block at an end
    const contracted = (mine: Set<number>, other: Set<number>): Set<number> => new Set([...mine].filter((c) => other.has(c) && !keep.has(c)));
    const A = go(t.l, { block: contracted(kl, kr) });
    const B = go(t.r, { block: contracted(kr, kl) });
    return contractPair(b, net, sizes, A, B, keep, want);
  };
  return go(tree, { exact: out });
}

/** einsum(spec, args) as optimized IR: a tree of pairwise contractions (see the header). */
export function contractEinsum(b: Builder, spec: string, args: readonly Node[]): Node {
  const net = networkOf(spec, args);
  const { output } = parseEinsum(spec);
  const shape = einsumShape(spec, args, output);
  try {
    return contractNet(b, net, shape);
  } catch (e) {
    if (e instanceof TooManyIndices || e instanceof DimTooLarge) return b.einsum(spec, args);
    throw e;
  }
}

function einsumShape(spec: string, args: readonly Node[], output: string): Dim[] {
  const { inputs } = parseEinsum(spec);
  const size = new Map<string, Dim>();
  inputs.forEach((ix, k) => [...ix].forEach((c, q) => size.set(c, shapeOf(args[k]!)[q]!)));
  return [...output].map((c) => size.get(c)!);
}

// ---- the pass ---------------------------------------------------------------------------------

function rootsOf(f: Func): Node[] {
  return [...funcRoots(f), ...f.params.map((p) => p.node)];
}

/** Rewrites every einsum of `f` (see the header). */
export function optimizeEinsums(b: Builder, f: Func): Func {
  return rewriteEinsums(b, f, 'contract');
}

/** Merges every chain of einsums (through regrouping reshapes and transposes, as
 *  optimizeEinsums does) into ONE n-ary einsum node, contracting nothing. Run on a function
 *  before it is differentiated, so that the einsum VJP/JVP rules of ≥ 3 operands (reverse and
 *  forward mode through the tree the optimizer chooses) see the whole network: the backward of a
 *  tensor train written core by core then shares the intermediates of the chosen tree instead
 *  of reversing the written sweep step by step. Networks over more than 52 indices stay as
 *  they were. */
export function fuseEinsumChains(b: Builder, f: Func): Func {
  return rewriteEinsums(b, f, 'fuse');
}

function rewriteEinsums(b: Builder, f: Func, mode: 'contract' | 'fuse'): Func {
  const roots = rootsOf(f);
  const all = reachable(roots);
  if (!all.some((n) => n.op === 'einsum')) return f;
  const uses = new Map<Node, number>();
  for (const n of all) {
    for (const a of n.args) uses.set(a, (uses.get(a) ?? 0) + 1);
    for (const r of n.regions) for (const x of r.results) uses.set(x, (uses.get(x) ?? 0) + 1);
  }
  for (const r of roots) uses.set(r, (uses.get(r) ?? 0) + 1);
  const chained = all.some((n) => n.op === 'einsum' && n.args.some((a) => a.op === 'einsum' || a.op === 'reshape' || a.op === 'transpose'));
  const home = chained ? scopes(roots).home : null;
  const chainOp = (x: Node): boolean => x.op === 'einsum' || x.op === 'reshape' || (x.op === 'transpose' && shapeOf(x).length === 2);
  // the one user of each single-use node (region results count as uses, so they have none here)
  const user = new Map<Node, Node>();
  for (const n of all) for (const a of n.args) if ((uses.get(a) ?? 0) === 1) user.set(a, n);
  /** An einsum (or a reshape/transpose of one) that the network of a later einsum takes in:
   *  single use, by an einsum or a chain of reshapes/transposes ending in one, in its region.
   *  Its own path is not searched (the network containing it is), which keeps a chain of K
   *  einsums at K path searches instead of K². Where the merge then fails after all (a reshape
   *  that is not a regrouping), the deferred einsum is contracted on its own (`settle`). */
  const absorbed = (x: Node): boolean => {
    const u = user.get(x);
    if (!u || !home || home.get(u) !== home.get(x) || !chainOp(x)) return false;
    return u.op === 'einsum' || ((u.op === 'reshape' || u.op === 'transpose') && chainOp(u) && absorbed(u));
  };
  const deferred = new Set<Node>();
  const settle = (x: Node): Node => {
    const r = done.get(x)!;
    if (!deferred.has(r) || mode === 'fuse') return r;
    try {
      return b.at(r.span, () => contractEinsum(b, String(r.attrs.spec), r.args));
    } catch (e) {
      if (e instanceof TooManyIndices || e instanceof DimTooLarge) return r;
      throw e;
    }
  };
  const done = new Map<Node, Node>();
  const map = transform(b.g, roots, (n, args, regions) => {
    // operands of merged einsums are looked up here (region parameters never reach this callback)
    n.args.forEach((a, i) => done.set(a, args[i]!));
    let out: Node;
    if (n.op !== 'einsum') out = n.op === 'param' ? n : rebuildSame(b, n, args, regions);
    else {
      const spec = String(n.attrs.spec);
      const mergeable = (x: Node): boolean => (uses.get(x) ?? 0) <= 1 && !!home && home.get(x) === home.get(n);
      let merged = false;
      // an operand that is a single-use einsum of the same region joins the network; so does
      // one behind reshapes that regroup its axes (each index split or merged: a view) or a
      // 2-D transpose, so that chains written step by step (a tensor train swept core by
      // core, reshaping in between) become one network whose order the path search chooses
      const expand: Expand = (orig, groups, net) => {
        if (!mergeable(orig)) return false;
        if (orig.op === 'einsum') return (merged = mergeInto(orig, groups, net, expandOrig) || merged);
        if (orig.op !== 'reshape' && orig.op !== 'transpose') return false;
        const src = orig.args[0]!;
        if (!mergeable(src) || !chainOp(src)) return false;
        const sub = orig.op === 'transpose' ? (shapeOf(orig).length === 2 ? [groups[1]!, groups[0]!] : null) : regroup(net, shapeOf(src), groups);
        if (!sub) return false;
        expandOrig(src, sub, net);
        merged = true;
        return true;
      };
      // operands of merged einsums are original nodes: map them to their rewritten forms
      const expandOrig: Expand = (x, sub, nn) => {
        if (!expand(x, sub, nn)) pushGrouped(nn, settle(x), sub);
        return true;
      };
      const net = networkOf(spec, n.args, (x, groups, nn) => {
        if (!expand(x, groups, nn)) pushGrouped(nn, settle(x), groups);
        return true;
      });
      try {
        if (absorbed(n)) {
          out = b.raw('einsum', args, n.attrs, []);
          deferred.add(out);
        } else if (mode === 'fuse') out = merged ? b.at(n.span, () => fusedEinsum(b, net, shapeOf(n))) ?? rebuildSame(b, n, args, regions) : rebuildSame(b, n, args, regions);
        else out = b.at(n.span, () => contractNet(b, net, shapeOf(n)));
      } catch (e) {
        if (e instanceof TooManyIndices || e instanceof DimTooLarge) out = b.einsum(spec, args);
        else throw e;
      }
    }
    done.set(n, out);
    return out;
  });
  return mapFuncRoots(f, (n) => map.get(n) ?? n, { params: true });
}

/** A merged network as one einsum node (reshaped to `outShape`), or null when it cannot be one
 *  (more indices than letters, or an output index no operand holds that is not of size 1). */
function fusedEinsum(b: Builder, net: Net, outShape: readonly Dim[]): Node | null {
  finalizeNet(b, net);
  const held = new Set(net.ops.flatMap((o) => o.ids));
  const unit = (c: number): boolean => net.dims[c]!.constValue() === 1;
  if (net.out.some((c) => !held.has(c) && !unit(c))) return null;
  const out = net.out.filter((c) => held.has(c));
  try {
    return b.reshape(b.einsum(specOf(net.ops.map((o) => o.ids), out), net.ops.map((o) => o.node)), outShape);
  } catch (e) {
    if (e instanceof TooManyIndices) return null;
    throw e;
  }
}

/** The node with new operands and regions, unchanged otherwise (hash-consed when equal). */
function rebuildSame(b: Builder, n: Node, args: Node[], regions: Region[]): Node {
  if (args.every((a, i) => a === n.args[i]) && regions.every((r, i) => r.params.every((p, j) => p === n.regions[i]!.params[j]) && r.results.every((x, j) => x === n.regions[i]!.results[j]))) return n;
  return b.at(n.span, () => b.raw(n.op, args, n.attrs, regions));
}
