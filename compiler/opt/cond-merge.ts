// Merging real branches that share a condition. The derivative of a branch is a second branch on
// the same condition (compiler/diff/cond-rules.ts) that instantiates the side again, so a VJP or
// JVP function holds the forward cond and the derivative cond side by side; a spec may also test
// one condition twice. Two cond nodes in the same region with the same condition node, neither of
// which reads the other's results, become one: its captures are the union, each region
// instantiates both nodes' regions over the same fresh parameters — so what they compute alike is
// one node by hash-consing (the derivative's recomputed forward values are the forward's) — and
// its results are the first node's values, the second's values, then both nodes' status results
// (the `nres` layout of compiler/ir/ops.ts). Users of either node read the merged one.

import type { Builder } from '../ir/builder.js';
import { type Func, type Node, freeParams, inlineRegion, mapFuncRoots, reachable, scopes, substitute } from '../ir/node.js';

/** Does `b` (created after `a`) read `a`, through operands or anything its regions read? */
function dependsOn(b: Node, a: Node): boolean {
  const seen = new Set<Node>();
  const stack: Node[] = [...b.args, ...b.regions.flatMap((r) => r.results)];
  while (stack.length) {
    const x = stack.pop()!;
    if (x === a) return true;
    if (x.id < a.id || seen.has(x)) continue; // made before a: cannot read it
    seen.add(x);
    for (const y of x.args) stack.push(y);
    for (const r of x.regions) for (const y of r.results) stack.push(y);
  }
  return false;
}

function roots(f: Func): Node[] {
  return [...f.results.map((r) => r.node), ...f.status.flatMap((s) => [s.iterations, s.converged, ...(s.residual ? [s.residual] : [])])];
}

/** The merge of A and B (same condition, B independent of A). Users of A's result k read
 *  M's result posA(k), of B's result k posB(k). */
function merged(b: Builder, A: Node, B: Node): { M: Node; posA: (k: number) => number; posB: (k: number) => number } {
  const capsA = A.args.slice(1);
  const capsB = B.args.slice(1);
  const caps = [...new Set([...capsA, ...capsB])];
  const at = new Map(caps.map((c, k) => [c, k]));
  const nA = A.attrs.nres as number;
  const nB = B.attrs.nres as number;
  const totA = A.regions[0]!.results.length;
  const regions = [0, 1].map((r) => {
    const names = new Map<Node, string>();
    capsA.forEach((c, k) => names.set(c, String(A.regions[r]!.params[k]!.attrs.name)));
    capsB.forEach((c, k) => names.has(c) || names.set(c, String(B.regions[r]!.params[k]!.attrs.name)));
    const P = caps.map((c) => b.regionParam(names.get(c)!, c.type));
    const ra = inlineRegion(b.g, A.regions[r]!, capsA.map((c) => P[at.get(c)!]!));
    const rb = inlineRegion(b.g, B.regions[r]!, capsB.map((c) => P[at.get(c)!]!));
    return { params: P, results: [...ra.slice(0, nA), ...rb.slice(0, nB), ...ra.slice(nA), ...rb.slice(nB)] };
  });
  const M = b.g.node('cond', [A.args[0]!, ...caps], { ...A.attrs, nres: nA + nB }, regions, A.span);
  return { M, posA: (k) => (k < nA ? k : nA + nB + (k - nA)), posB: (k) => (k < nB ? nA + k : nA + nB + (totA - nA) + (k - nB)) };
}

/** Merges the conds of one level — the nodes under `roots` that `inside` admits and that belong to
 *  no region below it — and, recursively, those inside the regions of that level's nodes. Each
 *  step rewrites the level with `substitute`; replacements are built from the level's own values
 *  (never from parameters of a region being rebuilt), so nothing is instantiated twice. */
function mergeIn(b: Builder, roots: Node[], inside: (n: Node) => boolean): Node[] {
  let cur = roots;
  for (let iter = 0; iter < 256; iter++) {
    const all = reachable(cur);
    if (all.filter((n) => n.op === 'cond' && inside(n)).length < 2) return cur;
    const sc = scopes(cur);
    const level = all.filter((n) => sc.home.get(n) === null && inside(n));
    let mapping: Map<Node, Node> | null = null;
    const conds = level.filter((n) => n.op === 'cond');
    search: for (let i = 0; i < conds.length; i++) {
      for (let j = i + 1; j < conds.length; j++) {
        const A = conds[i]!;
        const B = conds[j]!;
        if (A.args[0] !== B.args[0] || dependsOn(B, A)) continue;
        const { M, posA, posB } = merged(b, A, B);
        mapping = new Map();
        for (const n of all) {
          if (n.op !== 'proj') continue;
          const k = n.attrs.index as number;
          if (n.args[0] === A) mapping.set(n, b.proj(M, posA(k)));
          else if (n.args[0] === B) mapping.set(n, b.proj(M, posB(k)));
        }
        break search;
      }
    }
    if (!mapping) {
      // no pair at this level: the levels inside its nodes' regions
      for (const R of level) {
        if (R.regions.length === 0) continue;
        let changed = false;
        const regions = R.regions.map((r) => {
          const ps = new Set(r.params);
          const res = mergeIn(b, [...r.results], (n) => [...freeParams(n)].some((p) => ps.has(p)));
          if (res.some((x, q) => x !== r.results[q])) changed = true;
          return { params: r.params, results: res };
        });
        if (changed) {
          mapping = new Map([[R, b.g.node(R.op, R.args, R.attrs, regions, R.span)]]);
          break;
        }
      }
    }
    if (!mapping) return cur;
    const m = substitute(b.g, cur, mapping);
    cur = cur.map((x) => m.get(x) ?? x);
  }
  return cur;
}

/** Merges conds with a shared condition, at every level, until none are left to merge. */
export function mergeConds(b: Builder, f: Func): Func {
  const rs = roots(f);
  const out = mergeIn(b, rs, () => true);
  if (out.every((x, i) => x === rs[i])) return f;
  const to = new Map(rs.map((x, i) => [x, out[i]!]));
  return mapFuncRoots(f, (n) => to.get(n) ?? n);
}
