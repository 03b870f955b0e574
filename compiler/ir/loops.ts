// Building `loop` nodes from TypeScript: solver templates and implicit-differentiation rules
// write their iterations as ordinary IR loops with this helper.

import type { Builder } from './builder.js';
import type { Node } from './node.js';
import { intT } from './types.js';

export interface LoopSpec {
  lo: Node;
  hi: Node;
  inits: Node[];
  names: string[];
  /** the body returns a `done` flag that ends the loop early */
  until?: boolean;
  reverse?: boolean;
  label?: string;
  /** why the compiler made this loop (diagnostics name it) */
  origin?: string;
}

export interface LoopOut {
  outs: Node[];
  iterations: Node;
  converged: Node;
}

export function buildLoop(b: Builder, spec: LoopSpec, body: (i: Node, carries: Node[]) => { next: Node[]; done?: Node }): LoopOut {
  const i = b.regionParam('i', intT);
  const cs = spec.inits.map((x, k) => b.regionParam(spec.names[k] ?? `c${k}`, x.type));
  const { next, done } = body(i, cs);
  if (next.length !== cs.length) throw new Error('buildLoop: body returned the wrong number of carries');
  const node = b.raw(
    'loop',
    [spec.lo, spec.hi, ...spec.inits],
    {
      reverse: !!spec.reverse,
      hasUntil: !!spec.until,
      names: spec.names,
      label: spec.label ?? '',
      ...(spec.origin ? { origin: spec.origin } : {}),
    },
    [{ params: [i, ...cs], results: [...next, done ?? b.const(0)] }],
  );
  const k = cs.length;
  return { outs: cs.map((_, j) => b.proj(node, j)), iterations: b.proj(node, k), converged: b.proj(node, k + 1) };
}
