// Contraction paths of n-ary einsums (issue 14): the order in which a product of tensors
// T₁ ⋯ Tₙ summed over shared indices is evaluated as a tree of pairwise contractions. Every tree
// gives the same values in real arithmetic; their costs differ by orders of magnitude (a tensor
// train applied to x: contracting x core by core costs O(b·Σ r²·n·…), forming the dense weight
// first O(d_out·d_in·(r + b))). This module is pure arithmetic on index sets, no IR: the pass
// (einsum.ts) builds the network, asks for a tree and lowers it.
//
// Cost model. Contracting A and B into C loops over every index of A ∪ B once: its cost is
// flops(A, B) = Π_{i ∈ A ∪ B} size(i) multiply–adds (the p·q·r of chain.ts). C keeps the indices
// of A ∪ B that appear outside the pair (in another operand or in the output); the others are
// summed. The cost of a tree is the sum over its pairwise nodes; ties are broken by the largest
// intermediate (memory), then by the sum of intermediate sizes, then by a fixed order, so the
// choice is deterministic (the VJP rule and the optimizer must build the same tree).
//
// Search. Up to DP_LIMIT operands the dynamic program over all subsets is exact: best(S) =
// min over splits S = S₁ ⊔ S₂ of best(S₁) + best(S₂) + flops(keep(S₁), keep(S₂)), with
// keep(S) = idx(S) ∩ (idx(rest) ∪ output) — every pairwise tree is considered, outer products
// included (O(3ⁿ) splits: 29,525 for 10 operands). Beyond it, a greedy algorithm (opt_einsum's
// `greedy`): repeatedly contract the pair sharing an index whose result removes the most memory
// (size(C) − size(A) − size(B), ties to fewer flops), outer products only when no pair shares an
// index, smallest first; it also runs scoring pairs by flops and by result size, and with seeded
// random perturbations of the scores (opt_einsum's random-greedy) up to 32 operands. The cheapest
// of these trees and left-to-right contraction is kept, so the chosen path is never worse than
// left to right, and then improved by subtree reconfiguration (cotengra's): each subtree's top
// contractions, down to a frontier of up to 8 subtrees (fewer for long networks), re-solved
// exactly by the dynamic program.

import { tickBudget } from '../ir/budget.js';

/** An einsum network: operand index lists (ids 0 … sizes.length − 1, each id at most once per
 *  operand), the output's ids and a representative size per id. */
export interface Network {
  inputs: readonly (readonly number[])[];
  output: readonly number[];
  sizes: readonly number[];
}

export type PathTree = { k: 'leaf'; i: number } | { k: 'pair'; l: PathTree; r: PathTree };

export interface Path {
  tree: PathTree;
  /** Σ flops over the pairwise contractions at the representative sizes */
  flops: number;
  /** the largest intermediate (not counting operands and the output) */
  maxSize: number;
  method: 'single' | 'dp' | 'greedy' | 'left-to-right';
}

/** Operands up to which the exact dynamic program runs. */
export const DP_LIMIT = 10;
/** Index ids up to which the dynamic program's bit sets work (two 32-bit words). */
const DP_MAX_IDS = 64;

// ---- cost of a given tree ------------------------------------------------------------------------

/** Evaluates a tree: its flops, largest intermediate and sum of intermediate sizes. Every leaf
 *  of `tree` must be an operand of `net`, each once. */
export function treeCost(net: Network, tree: PathTree): { flops: number; maxSize: number; sumSize: number } {
  const count = idCounts(net);
  let flops = 0;
  let maxSize = 0;
  let sumSize = 0;
  const walk = (t: PathTree): { ids: Set<number>; leaves: number[] } => {
    // an operand's own indices (in no other operand, not in the output) are summed first
    if (t.k === 'leaf') return { ids: keptIds(net, count, [t.i], new Set(net.inputs[t.i])), leaves: [t.i] };
    const l = walk(t.l);
    const r = walk(t.r);
    const leaves = [...l.leaves, ...r.leaves];
    const union = new Set([...l.ids, ...r.ids]);
    flops += prod(net, union);
    const kept = keptIds(net, count, leaves, union);
    if (leaves.length < net.inputs.length) {
      const s = prod(net, kept);
      maxSize = Math.max(maxSize, s);
      sumSize += s;
    }
    return { ids: kept, leaves };
  };
  walk(tree);
  return { flops, maxSize, sumSize };
}

/** The ids kept by the contraction of `leaves` (their union `union`): those in the output or in
 *  an operand outside `leaves`. */
export function keptIds(net: Network, count: readonly number[], leaves: readonly number[], union: ReadonlySet<number>): Set<number> {
  const inside = new Map<number, number>();
  for (const i of leaves) for (const c of net.inputs[i]!) inside.set(c, (inside.get(c) ?? 0) + 1);
  const out = new Set(net.output);
  const kept = new Set<number>();
  for (const c of union) if (out.has(c) || (count[c] ?? 0) > (inside.get(c) ?? 0)) kept.add(c);
  return kept;
}

/** How many operands hold each id. */
export function idCounts(net: Network): number[] {
  const count = new Array<number>(net.sizes.length).fill(0);
  for (const ix of net.inputs) for (const c of ix) count[c]!++;
  return count;
}

function prod(net: Network, ids: Iterable<number>): number {
  let p = 1;
  for (const c of ids) p *= net.sizes[c]!;
  return p;
}

// ---- the search --------------------------------------------------------------------------------

const memo = new Map<string, Path>();
const MEMO_SIZE = 512;

/** The cheapest pairwise tree found for `net` (see the header for the method per size). A pure
 *  function of the network, memoized: the optimizer and the derivative rules ask for the same
 *  networks again. */
export function contractionPath(net: Network): Path {
  const key = `${net.inputs.map((ix) => ix.join('.')).join('|')}>${net.output.join('.')}:${net.sizes.join('.')}`;
  const hit = memo.get(key);
  if (hit) return hit;
  const p = searchPath(net);
  if (memo.size >= MEMO_SIZE) memo.delete(memo.keys().next().value!);
  memo.set(key, p);
  return p;
}

function searchPath(net: Network): Path {
  const n = net.inputs.length;
  if (n === 0) throw new Error('contractionPath: no operands');
  if (n === 1) return { tree: { k: 'leaf', i: 0 }, flops: 0, maxSize: 0, method: 'single' };
  if (n <= DP_LIMIT && net.sizes.length <= DP_MAX_IDS) return dynamicProgram(net);
  // greedy with three scores, randomized restarts while they are cheap, and left to right
  const candidates: [PathTree, Path['method']][] = [
    [leftToRight(n), 'left-to-right'],
    [greedy(net, 'memory'), 'greedy'],
    [greedy(net, 'flops'), 'greedy'],
    [greedy(net, 'size'), 'greedy'],
  ];
  const restarts = n <= GREEDY_RESTART_LIMIT ? GREEDY_RESTARTS : 0;
  for (let t = 0; t < restarts; t++) candidates.push([greedy(net, 'memory', noiseSource(0x5eed + t, 0.5)), 'greedy']);
  let best: { tree: PathTree; method: Path['method']; c: ReturnType<typeof treeCost> } | null = null;
  for (const [tree, method] of candidates) {
    const c = treeCost(net, tree);
    if (!best || better(c, best.c)) best = { tree, method, c };
  }
  // then improve the winner locally: every subtree re-solved exactly around its top contractions
  const tree = reconfigure(net, best!.tree);
  if (tree !== best!.tree) {
    const c = treeCost(net, tree);
    if (better(c, best!.c)) best = { tree, method: best!.method, c };
  }
  return { tree: best!.tree, flops: best!.c.flops, maxSize: best!.c.maxSize, method: best!.method };
}

/** Operands of a reconfigured piece of tree: 8 (3⁸ = 6,561 splits per piece) up to 16 operands,
 *  7 up to 32, 6 beyond; at most 3n pieces are solved, so a 64-operand network spends about
 *  140,000 splits here (the stage budget is 2,000,000 steps). */
const reconfWidth = (n: number): number => (n <= 16 ? 8 : n <= 32 ? 7 : 6);

/** A tree node with what its contraction keeps (`ids`), its own flops and its subtree's. */
interface Ann {
  t: PathTree;
  ids: Set<number>;
  leaves: number[];
  own: number;
  total: number;
  l?: Ann;
  r?: Ann;
}

function annotate(net: Network, count: readonly number[], t: PathTree): Ann {
  if (t.k === 'leaf') return { t, ids: keptIds(net, count, [t.i], new Set(net.inputs[t.i])), leaves: [t.i], own: 0, total: 0 };
  const l = annotate(net, count, t.l);
  const r = annotate(net, count, t.r);
  const union = new Set([...l.ids, ...r.ids]);
  const leaves = [...l.leaves, ...r.leaves];
  const own = prod(net, union);
  return { t, ids: keptIds(net, count, leaves, union), leaves, own, total: l.total + r.total + own, l, r };
}

/** Subtree reconfiguration (as cotengra's `subtree_reconfigure`): for each internal node v, cut
 *  its subtree at a frontier of up to reconfWidth(n) subtrees (expanding the costliest contraction
 *  first) and re-solve the contractions above the frontier exactly by the dynamic program, the
 *  frontier subtrees as operands. The piece's operands carry the ids their subtrees keep and its
 *  output the ids v keeps; these are the ids kept in the whole network too (an id of a frontier
 *  subtree is needed outside it iff it is in the output, in another frontier subtree or outside
 *  v), so the piece's flops are exactly those of the tree's nodes above the frontier. A
 *  replacement is taken only when it is strictly cheaper (then the scan restarts on the new
 *  tree); at most 3n pieces are solved in all. */
function reconfigure(net: Network, tree: PathTree): PathTree {
  const count = idCounts(net);
  let cur = tree;
  const width = reconfWidth(net.inputs.length);
  let budget = 3 * net.inputs.length;
  for (let improved = true; improved && budget > 0; ) {
    improved = false;
    const nodes: Ann[] = [];
    const collect = (a: Ann): void => {
      if (!a.l) return;
      nodes.push(a);
      collect(a.l);
      collect(a.r!);
    };
    collect(annotate(net, count, cur));
    for (const v of nodes) {
      const frontier: Ann[] = [v];
      for (;;) {
        let pick = -1;
        for (let i = 0; i < frontier.length; i++) if (frontier[i]!.l && (pick < 0 || frontier[i]!.own > frontier[pick]!.own)) pick = i;
        if (pick < 0 || frontier.length >= width) break;
        const f = frontier[pick]!;
        frontier.splice(pick, 1, f.l!, f.r!);
      }
      if (frontier.length < 3) continue;
      if (budget-- <= 0) break;
      const renum = new Map<number, number>();
      const id = (c: number): number => {
        if (!renum.has(c)) renum.set(c, renum.size);
        return renum.get(c)!;
      };
      const inputs = frontier.map((f) => [...f.ids].map(id));
      const output = [...v.ids].map(id);
      if (renum.size > DP_MAX_IDS) continue;
      const sizes: number[] = [];
      for (const [c, k] of renum) sizes[k] = net.sizes[c]!;
      const piece = dynamicProgram({ inputs, output, sizes });
      const old = v.total - frontier.reduce((a, f) => a + f.total, 0);
      if (!(piece.flops < old * (1 - 1e-12))) continue;
      const graft = (t: PathTree): PathTree => (t.k === 'leaf' ? frontier[t.i]!.t : { k: 'pair', l: graft(t.l), r: graft(t.r) });
      const replace = (t: PathTree): PathTree => (t === v.t ? graft(piece.tree) : t.k === 'leaf' ? t : { k: 'pair', l: replace(t.l), r: replace(t.r) });
      cur = replace(cur);
      improved = true;
      break;
    }
  }
  return cur;
}

/** Randomized greedy restarts, run for networks of up to GREEDY_RESTART_LIMIT operands. */
const GREEDY_RESTARTS = 24;
const GREEDY_RESTART_LIMIT = 32;

function better(a: { flops: number; maxSize: number; sumSize: number }, b: { flops: number; maxSize: number; sumSize: number }): boolean {
  if (a.flops !== b.flops) return a.flops < b.flops;
  if (a.maxSize !== b.maxSize) return a.maxSize < b.maxSize;
  return a.sumSize < b.sumSize;
}

/** ((T₀ T₁) T₂) ⋯ */
export function leftToRight(n: number): PathTree {
  let t: PathTree = { k: 'leaf', i: 0 };
  for (let i = 1; i < n; i++) t = { k: 'pair', l: t, r: { k: 'leaf', i } };
  return t;
}

/** Exact dynamic program over all subsets of operands (bit masks; ids in two 32-bit words). */
function dynamicProgram(net: Network): Path {
  const n = net.inputs.length;
  const N = 1 << n;
  const full = N - 1;
  const inLo = new Uint32Array(N);
  const inHi = new Uint32Array(N);
  for (let i = 0; i < n; i++) {
    for (const c of net.inputs[i]!) {
      if (c < 32) inLo[1 << i]! |= 1 << c;
      else inHi[1 << i]! |= 1 << (c - 32);
    }
  }
  let outLo = 0;
  let outHi = 0;
  for (const c of net.output) {
    if (c < 32) outLo |= 1 << c;
    else outHi |= 1 << (c - 32);
  }
  for (let S = 1; S < N; S++) {
    const low = S & -S;
    if (S !== low) {
      inLo[S] = inLo[low]! | inLo[S ^ low]!;
      inHi[S] = inHi[low]! | inHi[S ^ low]!;
    }
  }
  // keep(S): ids of S needed outside it
  const keepLo = new Uint32Array(N);
  const keepHi = new Uint32Array(N);
  const keepSize = new Float64Array(N);
  for (let S = 1; S < N; S++) {
    const R = full ^ S;
    keepLo[S] = inLo[S]! & (inLo[R]! | outLo);
    keepHi[S] = inHi[S]! & (inHi[R]! | outHi);
    keepSize[S] = sizeOf(net.sizes, keepLo[S]!, keepHi[S]!);
  }
  const cost = new Float64Array(N);
  const maxSz = new Float64Array(N);
  const sumSz = new Float64Array(N);
  const split = new Int32Array(N);
  for (let S = 1; S < N; S++) {
    const low = S & -S;
    if (S === low) continue;
    const rest = S ^ low;
    let best = Infinity;
    let bestMax = Infinity;
    let bestSum = Infinity;
    let bestSplit = 0;
    // S = s1 ⊔ s2 with s1 holding S's lowest operand: each unordered split once
    for (let sub = rest; ; sub = (sub - 1) & rest) {
      const s1 = sub | low;
      if (s1 !== S) {
        const s2 = S ^ s1;
        tickBudget();
        const f = sizeOf(net.sizes, keepLo[s1]! | keepLo[s2]!, keepHi[s1]! | keepHi[s2]!);
        const c = cost[s1]! + cost[s2]! + f;
        const inter = S === full ? 0 : keepSize[S]!;
        const mx = Math.max(maxSz[s1]!, maxSz[s2]!, inter);
        const sm = sumSz[s1]! + sumSz[s2]! + inter;
        if (c < best || (c === best && (mx < bestMax || (mx === bestMax && sm < bestSum)))) {
          best = c;
          bestMax = mx;
          bestSum = sm;
          bestSplit = s1;
        }
      }
      if (sub === 0) break;
    }
    cost[S] = best;
    maxSz[S] = bestMax;
    sumSz[S] = bestSum;
    split[S] = bestSplit;
  }
  const build = (S: number): PathTree => {
    if ((S & (S - 1)) === 0) return { k: 'leaf', i: 31 - Math.clz32(S) };
    const s1 = split[S]!;
    return { k: 'pair', l: build(s1), r: build(S ^ s1) };
  };
  return { tree: build(full), flops: cost[full]!, maxSize: maxSz[full]!, method: 'dp' };
}

function sizeOf(sizes: readonly number[], lo: number, hi: number): number {
  let p = 1;
  for (let m = lo >>> 0; m !== 0; ) {
    const bit = m & -m;
    p *= sizes[31 - Math.clz32(bit)]!;
    m = (m ^ bit) >>> 0;
  }
  for (let m = hi >>> 0; m !== 0; ) {
    const bit = m & -m;
    p *= sizes[32 + 31 - Math.clz32(bit)]!;
    m = (m ^ bit) >>> 0;
  }
  return p;
}

/** How a greedy step scores a candidate pair C = A·B: the memory it removes (size(C) − size(A) −
 *  size(B), opt_einsum's default), its flops, or the size of C. */
type GreedyScore = 'memory' | 'flops' | 'size';

/** opt_einsum's greedy: repeatedly contract the connected pair with the lowest score (ties to
 *  fewer flops); with `noise`, scores are perturbed by a seeded log-normal factor (the
 *  randomized restarts of opt_einsum's random-greedy). */
function greedy(net: Network, score: GreedyScore, noise?: () => number): PathTree {
  const count = idCounts(net);
  const outSet = new Set(net.output);
  interface Item {
    ids: Set<number>;
    tree: PathTree;
    size: number;
  }
  let items: Item[] = net.inputs.map((ix, i) => {
    const ids = keptIds(net, count, [i], new Set(ix));
    return { ids, tree: { k: 'leaf', i } as PathTree, size: prod(net, ids) };
  });
  // count[c]: how many live tensors hold c
  for (let i = 0; i < net.inputs.length; i++) for (const c of net.inputs[i]!) if (!items[i]!.ids.has(c)) count[c]!--;
  const kept = (a: Item, b: Item): Set<number> => {
    const k = new Set<number>();
    for (const c of a.ids) if (outSet.has(c) || count[c]! > 1 + (b.ids.has(c) ? 1 : 0)) k.add(c);
    for (const c of b.ids) if (!a.ids.has(c) && (outSet.has(c) || count[c]! > 1)) k.add(c);
    return k;
  };
  while (items.length > 1) {
    let bi = -1;
    let bj = -1;
    let bestScore = Infinity;
    let bestFlops = Infinity;
    for (let i = 0; i < items.length; i++) {
      for (let j = i + 1; j < items.length; j++) {
        tickBudget();
        const a = items[i]!;
        const b = items[j]!;
        let shares = false;
        for (const c of a.ids) {
          if (b.ids.has(c)) {
            shares = true;
            break;
          }
        }
        if (!shares) continue;
        const k = kept(a, b);
        let fl = 1;
        for (const c of a.ids) fl *= net.sizes[c]!;
        for (const c of b.ids) if (!a.ids.has(c)) fl *= net.sizes[c]!;
        const sk = prod(net, k);
        let sc = score === 'memory' ? sk - a.size - b.size : score === 'flops' ? fl : sk;
        if (noise) sc *= noise();
        if (sc < bestScore || (sc === bestScore && fl < bestFlops)) {
          bestScore = sc;
          bestFlops = fl;
          bi = i;
          bj = j;
        }
      }
    }
    if (bi < 0) {
      // no pair shares an index: outer product of the two smallest
      const order = items.map((_, i) => i).sort((x, y) => items[x]!.size - items[y]!.size || x - y);
      bi = Math.min(order[0]!, order[1]!);
      bj = Math.max(order[0]!, order[1]!);
    }
    const a = items[bi]!;
    const b = items[bj]!;
    const k = kept(a, b);
    for (const c of a.ids) count[c]!--;
    for (const c of b.ids) count[c]!--;
    for (const c of k) count[c]!++;
    const merged: Item = { ids: k, tree: { k: 'pair', l: a.tree, r: b.tree }, size: prod(net, k) };
    items = items.filter((_, i) => i !== bi && i !== bj);
    items.splice(bi, 0, merged);
  }
  return items[0]!.tree;
}

/** A seeded log-normal factor exp(σ·N(0, 1)) (mulberry32 and Box–Muller; deterministic, so the
 *  VJP rule and the optimizer pick the same tree). */
function noiseSource(seed: number, sigma: number): () => number {
  let s = seed >>> 0;
  const next = (): number => {
    let t = (s += 0x6d2b79f5);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.exp(sigma * Math.sqrt(-2 * Math.log(Math.max(next(), 1e-300))) * Math.cos(2 * Math.PI * next()));
}
