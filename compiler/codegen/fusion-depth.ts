// A bound on how deep code generators fuse element views. A view (an elementwise op, a
// transpose, a slice…) is fused into its consumers as an element expression; a chain of
// thousands of single-use views — a generated formula, a let with thousands of bindings —
// would fuse into one expression nested thousands deep, which overflows the generator's
// recursion (and the WGSL compiler's). Every `limit` levels the chain is materialized instead,
// which costs one pass over the tensor and keeps each expression shallow (issue 12).

import type { Node } from '../ir/node.js';

/** Fused element expressions nest at most this deep. */
export const MAX_FUSION_DEPTH = 32;

/**
 * Walks `nodes` in ascending id order (operands first) and calls `materialize` on every fused
 * view whose expression would nest deeper than `limit`; `fused(n)` says whether n is a view that
 * is fused into its users (not materialized, not a parameter). Materialized values start a new
 * expression, so after the walk no fused chain is deeper than `limit`.
 */
export function capFusionDepth(nodes: readonly Node[], fused: (n: Node) => boolean, materialize: (n: Node) => void, limit = MAX_FUSION_DEPTH): number {
  const depth = new Map<Node, number>();
  let count = 0;
  for (const n of nodes) {
    if (!fused(n)) {
      depth.set(n, 0);
      continue;
    }
    let d = 0;
    for (const a of n.args) d = Math.max(d, depth.get(a) ?? 0);
    d += 1;
    if (d > limit) {
      materialize(n);
      count++;
      d = 0;
    }
    depth.set(n, d);
  }
  return count;
}
