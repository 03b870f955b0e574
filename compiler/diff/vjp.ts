// Reverse mode on the IR graph. `vjpNodes` walks the nodes between `wrt` and `outs` in reverse
// topological order and accumulates cotangents with the per-op rules; regions are not entered
// (a node with regions differentiates through its own rule, e.g. the implicit function theorem
// for declarative nodes). The result is IR, built in the same graph, so forward values are shared
// with the backward by hash-consing.

import { type Builder, shapeOf } from '../ir/builder.js';
import { captures, mapFuncRoots, type Node, type Func, type FuncParam, type FuncResult } from '../ir/node.js';
import { type Contrib, type Cot, type VjpCtx, vjpRules } from './vjp-rules.js';
import { type RetapedEntry, useRetaped } from './loop-vjp.js';
import { type IrType, tensorT } from '../ir/types.js';
import { cotangentName, gradientName } from '../../core/derivative-names.js';

/** Cotangents and tangents carry no structure (the cotangent of a sphere point is any vector). */
export function plain(t: IrType): IrType {
  return t.kind === 'tensor' ? tensorT(t.shape, t.dtype) : t;
}

function deps(n: Node): Node[] {
  return n.regions.length ? [...n.args, ...captures(n)] : [...n.args];
}

/** Nodes reachable from `outs` through operands and captures, sorted by id; the walk does not
 *  go past `leaves` (the wrt nodes and what the caller holds constant). */
function cone(outs: readonly Node[], leaves: ReadonlySet<Node>): Node[] {
  const seen = new Set<Node>();
  const stack = [...outs];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    if (leaves.has(n)) continue;
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
 * that the outputs do not depend on gets `undefined` (a structural zero). Nodes in `constants`
 * are not walked past (a loop's backward step holds the loop's captured values fixed).
 */
export function vjpNodes(cx: VjpCtx, outs: readonly Node[], cots: readonly (Node | undefined)[], wrt: readonly Node[], constants?: ReadonlySet<Node>): (Node | undefined)[] {
  const b = cx.b;
  const wrtSet = new Set(wrt);
  const order = cone(outs, constants ? new Set([...wrtSet, ...constants]) : wrtSet);
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
  const outer = cx.active;
  cx.active = active;
  try {
    sweep();
  } finally {
    cx.active = outer;
  }
  return wrt.map((w) => {
    const g = adj.get(w);
    if (g === undefined) return undefined;
    if (Array.isArray(g)) throw new Error('vjpNodes: wrt node is a tuple');
    return g;
  });

  function sweep(): void {
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
      const contribs: Contrib[] = b.at(n.span, () => vjpRules[n.op](cx, n, g));
      for (const [t, c] of contribs) {
        if (!active.has(t)) continue;
        addAdj(t, c);
      }
    }
  }
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
    // the cotangent of a complex result is complex: (∂L/∂Re, ∂L/∂Im), torch's grad_output
    ...(r.complex ? { complex: 'general' as const } : {}),
  }));
  const wrt = f.params.filter((p) => p.differentiable && p.node.type.kind === 'tensor' && p.node.type.dtype === 'f');
  const outerRetaped = cx.retaped;
  cx.retaped = [];
  let grads: (Node | undefined)[];
  let retaped: RetapedEntry[];
  try {
    grads = vjpNodes(
      cx,
      realResults.map((r) => r.node),
      cotParams.map((c) => c.node),
      wrt.map((p) => p.node),
    );
  } finally {
    retaped = cx.retaped;
    cx.retaped = outerRetaped;
  }
  const gradResults: FuncResult[] = wrt.map((p, i) => ({
    name: gradientName(p.name),
    node: grads[i] ?? b.zeros(shapeOf(p.node)),
    // the gradient of a complex parameter: ∂L/∂Re z + i ∂L/∂Im z (torch's z.grad for a real loss)
    ...(p.complex ? { complex: true } : {}),
  }));
  const out: Func = {
    ...f,
    name,
    kind: 'vjp',
    params: [...f.params, ...cotParams],
    results: [...f.results, ...gradResults],
    status: [...f.status, ...(cx.notes ?? [])],
  };
  return retaped.length ? withRetapedLoops(b, out, retaped) : out;
}

/** The function with every loop that its backward rewrote with a tape replaced by the rewritten
 *  one, in its results and its status entries (compiler/diff/loop-vjp.ts). */
function withRetapedLoops(b: Builder, f: Func, retaped: RetapedEntry[]): Func {
  const roots: Node[] = [...f.results.map((r) => r.node)];
  for (const s of f.status) {
    roots.push(s.iterations, s.converged);
    if (s.residual) roots.push(s.residual);
    for (const e of s.extra ?? []) roots.push(e.node);
  }
  const swapped = useRetaped(b, roots, retaped);
  const map = new Map<Node, Node>(roots.map((r, i) => [r, swapped[i]!]));
  return mapFuncRoots(f, (n) => map.get(n) ?? n);
}
