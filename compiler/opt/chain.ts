// Matrix-chain ordering: a product A1 A2 … Ak (optionally times a vector) is re-associated by
// the classic O(k³) dynamic program over the cost p·q·r of each product. Dimensions are symbolic,
// so costs are compared at representative sizes (every dimension name = 64 unless hinted), which
// orders chains such as (A B) x → A (B x) and Aᵀ (A x) correctly for any sizes of that shape.
// Chains longer than WINDOW factors are ordered a window at a time (then the windows' products
// as a chain), which keeps the cost O(k · WINDOW²) instead of O(k³) for generated chains of
// thousands of factors (issue 12); a chain ending in a vector is windowed from the right, so
// that every window folds into the vector.

import type { Builder } from '../ir/builder.js';
import { shapeOf } from '../ir/builder.js';
import type { Node } from '../ir/node.js';

const REP = 64;

function size(n: Node, axis: number): number {
  const d = shapeOf(n)[axis]!;
  const env = new Proxy({}, { get: () => REP }) as Record<string, number>;
  const v = d.eval(env);
  return Number.isFinite(v) ? Math.max(v, 1) : REP;
}

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

function orderWindow(b: Builder, items: Node[]): Node {
  const k = items.length;
  if (k === 1) return items[0]!;
  const dims: number[] = [size(items[0]!, 0)];
  for (const m of items) dims.push(shapeOf(m).length === 1 ? 1 : size(m, 1));
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
  const build = (i: number, j: number): Node => {
    if (i === j) return items[i]!;
    const s = split[i]![j]!;
    const l = build(i, s);
    const r = build(s + 1, j);
    return shapeOf(r).length === 1 ? b.matvec(l, r) : b.matmul(l, r);
  };
  return build(0, k - 1);
}
