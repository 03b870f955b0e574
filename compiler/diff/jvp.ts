// Forward mode on the IR graph: tangents flow from `wrt` to `outs` in topological order with the
// per-op rules. Nested for loop bodies (the loop rule calls back in) and composes with reverse
// mode: forward-over-reverse gives Hessian–vector products, which the implicit backward needs.

import type { DeriveOptions } from './options.js';
import { shapeOf } from '../ir/builder.js';
import { captures, type Node, type Func, type FuncParam, type StatusEntry } from '../ir/node.js';
import type { Builder } from '../ir/builder.js';
import { type JvpCtx, jvpRules, type Tan } from './jvp-rules.js';
import { plain } from './vjp.js';
import { tangentName } from '../../core/derivative-names.js';

function deps(n: Node): Node[] {
  return n.regions.length ? [...n.args, ...captures(n)] : [...n.args];
}

export interface JvpHooks {
  implicit?(cx: JvpCtx, n: Node, dargs: (Node | undefined)[]): (Node | undefined)[];
  /** statuses the forward-mode derivative reports (conditioning of implicit solves) */
  notes?: StatusEntry[];
  /** solver option overrides and the target the derivative is for */
  opts?: DeriveOptions;
}

export function jvpNodes(b: Builder, outs: readonly Node[], wrt: readonly Node[], tangents: readonly (Node | undefined)[], hooks: JvpHooks = {}): (Node | undefined)[] {
  const seen = new Set<Node>();
  const stack = [...outs];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    // nothing flows through nograd, and walking past it reaches the declarative node whose
    // implicit rule called us (its solution is held constant), which would recurse forever
    if (wrt.includes(n) || n.op === 'nograd') continue;
    for (const a of deps(n)) stack.push(a);
  }
  const order = [...seen].sort((x, y) => x.id - y.id);
  const tan = new Map<Node, Tan>();
  wrt.forEach((w, i) => {
    if (tangents[i]) tan.set(w, tangents[i]);
  });
  const cx: JvpCtx = {
    b,
    tangentOf: (n) => tan.get(n),
    jvpNodes: (o, w, t) => jvpNodes(b, o, w, t, hooks),
    ...(hooks.notes ? { notes: hooks.notes } : {}),
    ...(hooks.opts ? { opts: hooks.opts } : {}),
    ...(hooks.implicit ? { implicit: (n: Node, d: (Node | undefined)[]) => hooks.implicit!(cx, n, d) } : {}),
  };
  for (const n of order) {
    if (tan.has(n) || wrt.includes(n)) continue;
    if (n.op === 'nograd' || n.op === 'param') continue;
    if (n.type.kind === 'tensor' && n.type.dtype !== 'f') continue;
    const ds = n.args.map((a) => {
      const t = tan.get(a);
      return Array.isArray(t) ? undefined : t;
    });
    const capsActive = n.regions.length > 0 && captures(n).some((c) => tan.has(c));
    if (ds.every((d) => !d) && !capsActive && n.op !== 'proj') continue;
    if (n.op === 'proj' && !tan.has(n.args[0]!)) continue;
    const t = b.at(n.span, () => jvpRules[n.op](cx, n, ds));
    if (t !== undefined) tan.set(n, t);
  }
  return outs.map((o) => {
    const t = tan.get(o);
    if (Array.isArray(t)) throw new Error('jvpNodes: tuple output');
    return t;
  });
}

/** The JVP of a function: (params…, tangents of params) → (results…, tangents of results). */
export function jvpFunc(b: Builder, f: Func, hooks: JvpHooks = {}, name = `${f.name}.jvp`): Func {
  const wrt = f.params.filter((p) => p.differentiable && p.node.type.kind === 'tensor' && p.node.type.dtype === 'f');
  // a complex parameter's tangent and a complex result's tangent are complex (pairs along a
  // trailing axis, as their values: compiler/check/complex.ts)
  const tanParams: FuncParam[] = wrt.map((p) => ({ name: tangentName(p.name), node: b.g.param(tangentName(p.name), plain(p.node.type)), differentiable: false, ...(p.complex ? { complex: 'general' as const } : {}) }));
  const outs = jvpNodes(
    b,
    f.results.map((r) => r.node),
    wrt.map((p) => p.node),
    tanParams.map((t) => t.node),
    hooks,
  );
  return {
    ...f,
    name,
    kind: 'jvp',
    params: [...f.params, ...tanParams],
    results: [...f.results, ...f.results.map((r, i) => ({ name: tangentName(r.name), node: outs[i] ?? b.zeros(shapeOf(r.node)), ...(r.complex ? { complex: true } : {}) }))],
    status: [...f.status, ...(hooks.notes ?? [])],
  };
}
