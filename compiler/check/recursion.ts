// Recursion among user functions, found before anything is inlined. Calls are inlined at compile
// time, so a function that reaches itself — directly or through any cycle of others — has no
// meaning (MAT0304). Finding the cycles on the call graph first reports each cycle once, at the
// call that closes it, and keeps the inliner from chasing f → g → f → … until the stack runs
// out (issue 12: mutual recursion overflowed the checker).

import { walkItem } from '../../grammar/ast-walk.js';
import type { DiagnosticBag } from '../diagnostics.js';
import type { SourceFile, Span } from '../source.js';
import type { ItemEntry } from './items.js';

interface Edge {
  to: string;
  span: Span;
}

/** The user functions each item calls, with the span of the first call of each. */
function callGraph(items: ReadonlyMap<string, ItemEntry>, sees: (file: SourceFile, name: string) => boolean): Map<string, Edge[]> {
  const g = new Map<string, Edge[]>();
  for (const [name, { item, file }] of items) {
    const out = new Map<string, Span>();
    for (const e of walkItem(item)) {
      // a call of a function its file cannot see is MAT0301 where it is checked, not an edge
      if (e.kind === 'call' && items.has(e.callee.name) && sees(file, e.callee.name) && !out.has(e.callee.name)) out.set(e.callee.name, e.callee.span);
    }
    g.set(name, [...out].map(([to, span]) => ({ to, span })));
  }
  return g;
}

/** Strongly connected components (Tarjan's algorithm with an explicit stack), in the order of
 *  `names`; each component's names in that order too. */
function components(names: readonly string[], g: ReadonlyMap<string, Edge[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  let next = 0;
  for (const root of names) {
    if (index.has(root)) continue;
    const work: { v: string; i: number }[] = [{ v: root, i: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length) {
      const top = work[work.length - 1]!;
      const edges = g.get(top.v) ?? [];
      if (top.i < edges.length) {
        const w = edges[top.i++]!.to;
        if (!index.has(w)) {
          index.set(w, next);
          low.set(w, next++);
          stack.push(w);
          onStack.add(w);
          work.push({ v: w, i: 0 });
        } else if (onStack.has(w)) low.set(top.v, Math.min(low.get(top.v)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1]!.v;
        low.set(parent, Math.min(low.get(parent)!, low.get(top.v)!));
      }
      if (low.get(top.v) === index.get(top.v)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
        } while (w !== top.v);
        const order = new Map(names.map((n, i) => [n, i]));
        out.push(comp.sort((a, b) => order.get(a)! - order.get(b)!));
      }
    }
  }
  return out;
}

/** The shortest cycle of calls from `start` back to itself inside `members`. */
function shortestCycle(start: string, members: ReadonlySet<string>, g: ReadonlyMap<string, Edge[]>): Edge[] {
  const prev = new Map<string, { from: string; edge: Edge }>();
  const queue = [start];
  for (let qi = 0; qi < queue.length; qi++) {
    const v = queue[qi]!;
    for (const e of g.get(v) ?? []) {
      if (!members.has(e.to)) continue;
      if (e.to === start) {
        const path: Edge[] = [e];
        for (let x = v; x !== start; x = prev.get(x)!.from) path.unshift(prev.get(x)!.edge);
        return path;
      }
      if (!prev.has(e.to)) {
        prev.set(e.to, { from: v, edge: e });
        queue.push(e.to);
      }
    }
  }
  return [];
}

/** Reports every cycle of calls once (MAT0304) and returns the names of the functions on one. */
export function findRecursion(items: ReadonlyMap<string, ItemEntry>, diag: DiagnosticBag, sees: (file: SourceFile, name: string) => boolean = () => true): Set<string> {
  const g = callGraph(items, sees);
  const recursive = new Set<string>();
  for (const comp of components([...items.keys()], g)) {
    const first = comp[0]!;
    const selfLoop = (g.get(first) ?? []).some((e) => e.to === first);
    if (comp.length === 1 && !selfLoop) continue;
    for (const n of comp) recursive.add(n);
    const cycle = shortestCycle(first, new Set(comp), g);
    const closing = cycle[cycle.length - 1]!;
    const chain = [first, ...cycle.map((e) => e.to)];
    diag.error('MAT0304', `recursive call to '${first}'`, closing.span, {
      notes: [
        { message: `call chain: ${chain.join(' → ')}` },
        ...cycle.slice(0, -1).map((e, i) => ({ message: `${chain[i]} calls ${e.to} here`, span: e.span })),
      ],
      suggestion: 'write the repetition with iterate (...) for i in 0..n => ...',
    });
  }
  return recursive;
}

