// The IR verifier, run after every pass in tests: every node's type agrees with the op table,
// region parameters are bound exactly by their regions, and a function's results depend on no
// parameter other than its own (no region parameter leaks out of its region).

import { InternalError } from '../../core/errors.js';
import { freeParams, type Func, type Node, reachable } from './node.js';
import { opSpecs } from './ops.js';
import { typeEquals, typeToString } from './types.js';
import { printFunc } from './printer.js';

export function verifyFunc(f: Func): void {
  const roots = [...f.results.map((r) => r.node), ...f.status.flatMap((s) => [s.iterations, s.converged, ...(s.residual ? [s.residual] : [])])];
  const problems: string[] = [];
  const bound = new Map<Node, Node>();
  for (const n of reachable(roots)) {
    if (n.op !== 'param') {
      let t;
      try {
        t = opSpecs[n.op].type(
          n.args.map((a) => a.type),
          n.attrs,
          n.regions,
        );
      } catch (e) {
        problems.push(`%${n.id} ${n.op}: ${(e as Error).message}`);
        continue;
      }
      if (!typeEquals(t, n.type)) problems.push(`%${n.id} ${n.op}: stored type ${typeToString(n.type)} but the op gives ${typeToString(t)}`);
    }
    for (const r of n.regions) {
      for (const p of r.params) {
        if (p.op !== 'param' || p.attrs.region !== true) problems.push(`%${n.id} ${n.op}: region parameter %${p.id} is not a region param node`);
        const other = bound.get(p);
        if (other && other !== n) problems.push(`region parameter %${p.id} is bound by both %${other.id} and %${n.id}`);
        bound.set(p, n);
      }
    }
  }
  const allowed = new Set(f.params.map((p) => p.node));
  for (const r of roots) {
    for (const p of freeParams(r)) {
      if (!allowed.has(p)) problems.push(`result depends on parameter %${p.id} (${String(p.attrs.name)}) that is not a function parameter`);
    }
  }
  if (problems.length) {
    let text = '';
    try {
      text = printFunc(f);
    } catch {
      text = '(unprintable)';
    }
    throw new InternalError(`IR verification failed for ${f.name}:\n  ${[...new Set(problems)].slice(0, 10).join('\n  ')}`, text);
  }
}
