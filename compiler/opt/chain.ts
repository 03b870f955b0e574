// Matrix-chain ordering: a product A1 A2 … Ak (optionally times a vector) is re-associated by
// the classic O(k³) dynamic program over the cost p·q·r of each product. Dimensions are symbolic,
// so costs are compared at representative sizes (every dimension name = 64), which orders chains
// such as (A B) x → A (B x) and Aᵀ (A x) correctly for any sizes of that shape.
//
// One size for every name assumes the names are alike. When they are not — W Q E Qᵀ with W n×n and
// Q n×2k, k ≪ n (projUNN) — the order that is cheapest at n = k = 64, W (Q (E Qᵀ)), is an n³
// product where ((W Q) E) Qᵀ is O(k n²). So short chains (≤ ROBUST_MAX factors) over 1 to
// ROBUST_NAMES names are also costed with every name small or large independently (8 or 512): an
// order whose cost is more than ROBUST_SLACK × the optimum in one of those regimes is replaced by
// the candidate (the optimum of one regime) with the least worst-case ratio to the optimum (ties:
// the representative order). Orders that are near-optimal in every regime are left as they were.
// Regimes that contradict the function's parameter types are skipped: a name that sizes a square
// parameter (W: mat[n, n], X: sym[n]) is taken to be at least as large as the other dimension of
// a parameter that shares it (a: mat[n, k] — k columns in W's space: k ≤ n), as set by
// simplifyFunc through withChainHints (a pair implied both ways, by two square parameters, is
// dropped). Without such a pair every regime counts, and a chain that
// is symmetric in its names (neither k ≤ n nor k ≥ n known) keeps its representative order.
// Chains longer than WINDOW factors are ordered a window at a time (then the windows' products
// as a chain), which keeps the cost O(k · WINDOW²) instead of O(k³) for generated chains of
// thousands of factors (issue 12); a chain ending in a vector is windowed from the right, so
// that every window folds into the vector.

import type { Builder } from '../ir/builder.js';
import { shapeOf } from '../ir/builder.js';
import type { Node } from '../ir/node.js';
import { Dim } from '../../core/dims.js';
import { leastWorst } from './robust.js';

const REP = 64;

/** Factors ordered exactly by the dynamic program at once. */
export const WINDOW = 48;

/** Builds the cheapest association of the matrix chain `mats` (each [p_i, p_{i+1}]), followed
 *  by an optional vector. Returns the product node. */
export function orderChain(b: Builder, mats: Node[], vec: Node | null): Node {
  if (vec) {
    let v = vec;
    for (let end = mats.length; end > 0; end -= WINDOW - 1) v = orderWindow(b, [...mats.slice(Math.max(0, end - (WINDOW - 1)), end), v]);
    return v;
  }
  let items = mats;
  while (items.length > WINDOW) {
    const next: Node[] = [];
    for (let i = 0; i < items.length; i += WINDOW) next.push(items.length - i === 1 ? items[i]! : orderWindow(b, items.slice(i, i + WINDOW)));
    items = next;
  }
  return orderWindow(b, items);
}

/** The dynamic program at one set of sizes (dims[i] × dims[i+1] is factor i): the split table
 *  of the cheapest order and its cost. */
function optimalSplits(dims: number[], k: number): { split: number[][]; cost: number } {
  const cost: number[][] = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  const split: number[][] = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let len = 2; len <= k; len++) {
    for (let i = 0; i + len - 1 < k; i++) {
      const j = i + len - 1;
      cost[i]![j] = Infinity;
      for (let s = i; s < j; s++) {
        const c = cost[i]![s]! + cost[s + 1]![j]! + dims[i]! * dims[s + 1]! * dims[j + 1]!;
        if (c < cost[i]![j]!) {
          cost[i]![j] = c;
          split[i]![j] = s;
        }
      }
    }
  }
  return { split, cost: cost[0]![k - 1]! };
}

/** The cost of the order given by `split` at sizes `dims`. */
function orderCost(split: number[][], dims: number[], i: number, j: number): number {
  if (i === j) return 0;
  const s = split[i]![j]!;
  return orderCost(split, dims, i, s) + orderCost(split, dims, s + 1, j) + dims[i]! * dims[s + 1]! * dims[j + 1]!;
}

/** Size relations the regimes must respect: `small` ≤ `large` (dimension names). */
export interface ChainHint {
  small: string;
  large: string;
}

let hints: readonly ChainHint[] = [];

/** Runs `f` with the size relations of one function in force (see the top of the file). */
export function withChainHints<T>(h: readonly ChainHint[], f: () => T): T {
  const saved = hints;
  hints = h;
  try {
    return f();
  } finally {
    hints = saved;
  }
}

/** The relations implied by parameter shapes: for each square parameter over one name `n`, every
 *  other name in the other axis of a two-axis parameter that has `n` as one axis is ≤ n. */
export function chainHintsOf(shapes: readonly (readonly Dim[])[]): ChainHint[] {
  const large = new Set<string>();
  for (const s of shapes) {
    if (s.length !== 2 || !s[0]!.equals(s[1]!)) continue;
    const v = s[0]!.vars();
    if (v.size === 1) large.add([...v][0]!);
  }
  const out: ChainHint[] = [];
  const seen = new Set<string>();
  for (const s of shapes) {
    if (s.length !== 2) continue;
    for (let ax = 0; ax < 2; ax++) {
      const v = s[ax]!.vars();
      if (v.size !== 1) continue;
      const big = [...v][0]!;
      if (!large.has(big) || !s[ax]!.equals(Dim.var(big))) continue;
      for (const small of s[1 - ax]!.vars()) {
        const key = `${small}<=${big}`;
        if (small === big || seen.has(key)) continue;
        seen.add(key);
        out.push({ small, large: big });
      }
    }
  }
  // two square parameters over n and p sharing a parameter (W: mat[n, n], E: mat[p, p], Q: mat[n, p])
  // imply both p ≤ n and n ≤ p: no information, so neither is kept
  return out.filter((h) => !seen.has(`${h.large}<=${h.small}`));
}

const ROBUST_MAX = 12;
const ROBUST_NAMES = 4;
const ROBUST_SLACK = 1.5;
const SMALL = 8;
const LARGE = 512;

/** The split table to build: the representative optimum, or a more robust order (see the top). */
function chooseSplits(items: Node[]): number[][] {
  const k = items.length;
  const dimOf = (m: Node, axis: number) => shapeOf(m)[axis]!;
  const shapeDims = [dimOf(items[0]!, 0), ...items.map((m) => (shapeOf(m).length === 1 ? null : dimOf(m, 1)))];
  const at = (env: Record<string, number> | null): number[] =>
    shapeDims.map((d) => {
      if (d === null) return 1;
      const v = d.eval(env ?? new Proxy({}, { get: () => REP }));
      return Number.isFinite(v) ? Math.max(v, 1) : REP;
    });
  const rep = optimalSplits(at(null), k);
  if (k < 3 || k > ROBUST_MAX) return rep.split;
  const names = new Set<string>();
  for (const d of shapeDims) d?.vars(names);
  if (names.size === 0 || names.size > ROBUST_NAMES) return rep.split;
  const list = [...names];
  const regimes: number[][] = [];
  for (let mask = 0; mask < 1 << list.length; mask++) {
    const env: Record<string, number> = {};
    list.forEach((nm, i) => (env[nm] = mask & (1 << i) ? LARGE : SMALL));
    if (hints.some((h) => env[h.small] !== undefined && env[h.large] !== undefined && env[h.small]! > env[h.large]!)) continue;
    regimes.push(at(env));
  }
  const best = regimes.map((d) => optimalSplits(d, k));
  const worst = (split: number[][]) => Math.max(...regimes.map((d, r) => orderCost(split, d, 0, k - 1) / Math.max(best[r]!.cost, 1)));
  return leastWorst(rep.split, best.map((c) => c.split), worst, ROBUST_SLACK);
}

function orderWindow(b: Builder, items: Node[]): Node {
  const k = items.length;
  if (k === 1) return items[0]!;
  const split = chooseSplits(items);
  const build = (i: number, j: number): Node => {
    if (i === j) return items[i]!;
    const s = split[i]![j]!;
    const l = build(i, s);
    const r = build(s + 1, j);
    return shapeOf(r).length === 1 ? b.matvec(l, r) : b.matmul(l, r);
  };
  return build(0, k - 1);
}
