// A bound on what code generators fuse into one element expression. A view (an elementwise op, a
// transpose, a slice…) is fused into its consumers as an element expression, recomputed where it
// is used. A chain of thousands of single-use views — a generated formula, a let with thousands
// of bindings — fuses into one expression nested thousands deep, which overflows the generator's
// recursion (and the compiler of the generated code); a view used twice is written out twice, so
// views that share operands level after level grow expressions exponentially (issue 12: 829 IR
// nodes gave 1.9 MB of JavaScript in 23 s). Where an expression would nest deeper than
// MAX_FUSION_DEPTH or spell more than MAX_FUSION_SIZE operations, counting every repetition, the
// view is materialized instead: one pass over the tensor, and its users read it.

import type { Node } from '../ir/node.js';

/** Fused element expressions nest at most this deep. */
export const MAX_FUSION_DEPTH = 32;

/** … and spell at most this many operations, repetitions counted. */
export const MAX_FUSION_SIZE = 512;

/**
 * Walks `nodes` in ascending id order (operands first) and calls `materialize` on every fused
 * view whose expression would pass the limits; `fused(n)` says whether n is a view that is fused
 * into its users (not materialized, not a parameter). Materialized values start a new expression,
 * so after the walk no fused expression passes them. Returns how many views it materialized.
 */
export function capFusionDepth(nodes: readonly Node[], fused: (n: Node) => boolean, materialize: (n: Node) => void, limit = MAX_FUSION_DEPTH, sizeLimit = MAX_FUSION_SIZE): number {
  const depth = new Map<Node, number>();
  const size = new Map<Node, number>();
  let count = 0;
  for (const n of nodes) {
    if (!fused(n)) {
      depth.set(n, 0);
      size.set(n, 0);
      continue;
    }
    let d = 0;
    let s = 1;
    for (const a of n.args) {
      d = Math.max(d, depth.get(a) ?? 0);
      s += size.get(a) ?? 0;
    }
    d += 1;
    if (d > limit || s > sizeLimit) {
      materialize(n);
      count++;
      d = 0;
      s = 0;
    }
    depth.set(n, d);
    size.set(n, s);
  }
  return count;
}
