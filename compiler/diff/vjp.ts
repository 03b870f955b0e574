// Reverse mode on the IR graph. `vjpNodes` walks the nodes between `wrt` and `outs` in reverse
// topological order and accumulates cotangents with the per-op rules; regions are not entered
// (a node with regions differentiates through its own rule, e.g. the implicit function theorem
// for declarative nodes). The result is IR, built in the same graph, so forward values are shared
// with the backward by hash-consing.

import { type Builder, shapeOf } from '../ir/builder.js';
import { captures, type Node, type Func, type FuncParam, type FuncResult } from '../ir/node.js';
import { type Contrib, type Cot, type VjpCtx, vjpRules } from './vjp-rules.js';
import { type IrType, tensorT } from '../ir/types.js';
import { cotangentName, gradientName } from '../../core/derivative-names.js';

/** Cotangents and tangents carry no structure (the cotangent of a sphere point is any vector). */
export function plain(t: IrType): IrType {
  return t.kind === 'tensor' ? tensorT(t.shape, t.dtype) : t;
}

function deps(n: Node): Node[] {
  return n.regions.length ? [...n.args, ...captures(n)] : [...n.args];
}

/** Nodes reachable from `outs` through operands and captures, sorted by id. */
function cone(outs: readonly Node[]): Node[] {
  const seen = new Set<Node>();
  const stack = [...outs];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    for (const a of deps(n)) stack.push(a);
  }
  return [...seen].sort((a, b) => a.id - b.id);
}

/** Is the value differentiable at all (real tensors; tuples of them)? */
function isReal(n: Node): boolean {
  return n.type.kind === 'tuple' || n.type.dtype === 'f';
}

/**
 * Cotangents of `wrt` for the scalar ⟨outs, cots⟩. Missing cotangents are zero; a wrt node
 * that the outputs do not depend on gets `undefined` (a structural zero).
 */
export function vjpNodes(cx: VjpCtx, outs: readonly Node[], cots: readonly (Node | undefined)[], wrt: readonly Node[]): (Node | undefined)[] {
  const b = cx.b;
  const order = cone(outs);
  const wrtSet = new Set(wrt);
  // Forward pass: which nodes depend on a wrt node.
  const active = new Set<Node>();
  for (const n of order) {
    if (wrtSet.has(n)) active.add(n);
    else if (n.op !== 'nograd' && isReal(n) && deps(n).some((a) => active.has(a))) active.add(n);
  }
  const adj = new Map<Node, Cot>();
  const addAdj = (n: Node, g: Node): void => {
    if (!active.has(n)) return;
    const prev = adj.get(n);
    adj.set(n, prev && !Array.isArray(prev) ? b.add(prev, g) : g);
  };
  outs.forEach((o, i) => {
    const c = cots[i];
    if (!c) return;
    if (o.type.kind === 'tuple') throw new Error('vjpNodes: tuple outputs need per-element cotangents');
    addAdj(o, c);
  });
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k]!;
    if (!active.has(n)) continue;
    const g = adj.get(n);
    if (g === undefined) continue;
    if (n.op === 'proj') {
      const t = n.args[0]!;
      if (!active.has(t)) continue;
      const idx = n.attrs.index as number;
      const prev = adj.get(t);
      const arr: (Node | undefined)[] = Array.isArray(prev) ? [...prev] : new Array(t.type.kind === 'tuple' ? t.type.elems.length : 0).fill(undefined);
      const gn = g as Node;
      arr[idx] = arr[idx] ? b.add(arr[idx]!, gn) : gn;
      adj.set(t, arr);
      continue;
    }
    // wrt nodes are leaves: their cotangent is the partial derivative, not propagated further.
    if (wrtSet.has(n) || (n.args.length === 0 && n.regions.length === 0)) continue;
    // rules of nodes with regions (cond) learn which of their captures need cotangents
    const rcx: VjpCtx = n.regions.length ? { ...cx, isActive: (x: Node) => active.has(x) } : cx;
    const contribs: Contrib[] = b.at(n.span, () => vjpRules[n.op](rcx, n, g));
    for (const [t, c] of contribs) {
      if (!active.has(t)) continue;
      addAdj(t, c);
    }
  }
  return wrt.map((w) => {
    const g = adj.get(w);
    if (g === undefined) return undefined;
    if (Array.isArray(g)) throw new Error('vjpNodes: wrt node is a tuple');
    return g;
  });
}

/** The VJP of a function: params (…, cotangents of results) → (results…, gradients of params). */
export function vjpFunc(cx: VjpCtx, f: Func, name = `${f.name}.vjp`): Func {
  const b = cx.b;
  // an int result (an optimizer's int state) takes no cotangent
  const realResults = f.results.filter((r) => isReal(r.node));
  const cotParams: FuncParam[] = realResults.map((r) => ({
    name: cotangentName(r.name),
    node: b.g.param(cotangentName(r.name), plain(r.node.type)),
    differentiable: false,
  }));
  const wrt = f.params.filter((p) => p.differentiable && p.node.type.kind === 'tensor' && p.node.type.dtype === 'f');
  const grads = vjpNodes(
    cx,
    realResults.map((r) => r.node),
    cotParams.map((c) => c.node),
    wrt.map((p) => p.node),
  );
  const gradResults: FuncResult[] = wrt.map((p, i) => ({
    name: gradientName(p.name),
    node: grads[i] ?? b.zeros(shapeOf(p.node)),
  }));
  return {
    ...f,
    name,
    kind: 'vjp',
    params: [...f.params, ...cotParams],
    results: [...f.results, ...gradResults],
    status: [...f.status, ...(cx.notes ?? [])],
  };
}
