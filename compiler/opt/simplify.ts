// The simplifier: rebuilds a function through the smart constructors (zero/identity folding,
// constant folding, transpose algebra, CSE by hash-consing) and applies algebraic rewrites:
//   rank-1 structure   (a bᵀ) c → a (bᵀc),  (a bᵀ) C → a (Cᵀ b)ᵀ,  C (a bᵀ) → (C a) bᵀ
//   scalar hoisting    (s A) x → s (A x),  xᵀ(s y) → s (xᵀy)
//   transpose pushing  (A B)ᵀ → Bᵀ Aᵀ,  (A + B)ᵀ → Aᵀ + Bᵀ,  (s A)ᵀ → s Aᵀ
//   matrix chains      products of ≥ 3 factors re-associated by cost (chain.ts)
//   diagonals          diag(A B) → rowsum(A .* Bᵀ),  diag(a bᵀ) → a .* b
//   sums               sum(a .* b) → aᵀb for vectors,  x + x → 2x
// after the einsum pass (einsum.ts: contraction paths of einsums, lowered to products),
// iterated to a fixpoint. Every rewrite preserves values exactly in real arithmetic; the
// property tests check interp(before) ≈ interp(after) on random programs.

import { type Builder, constValue, shapeOf } from '../ir/builder.js';
import { type Func, type Node, mapFuncRoots, reachable, transform } from '../ir/node.js';
import { rebuild } from './rebuild.js';
import { chainHintsOf, orderChain, withChainHints } from './chain.js';
import { mergeConds } from './cond-merge.js';
import { optimizeEinsums } from './einsum.js';

const isScalar = (n: Node): boolean => n.type.kind === 'tensor' && n.type.shape.length === 0;

function useCounts(roots: Node[]): Map<Node, number> {
  const uses = new Map<Node, number>();
  for (const n of reachable(roots)) {
    for (const a of n.args) uses.set(a, (uses.get(a) ?? 0) + 1);
    for (const r of n.regions) for (const x of r.results) uses.set(x, (uses.get(x) ?? 0) + 1);
  }
  for (const r of roots) uses.set(r, (uses.get(r) ?? 0) + 1);
  return uses;
}

/** Collects the factors of a matrix product whose inner products are used only here, left to
 *  right (an explicit stack: chains may be thousands of factors long). */
function chainFactors(n: Node, single: (x: Node) => boolean, out: Node[]): void {
  const stack = [n];
  while (stack.length) {
    const x = stack.pop()!;
    if (x.op === 'matmul' && single(x)) stack.push(x.args[1]!, x.args[0]!);
    else out.push(x);
  }
}

function rewrite(b: Builder, n: Node, single: (x: Node) => boolean, top = true): Node {
  const [x, y] = n.args;
  switch (n.op) {
    case 'matvec': {
      // (a bᵀ) c → a (bᵀ c)
      if (x!.op === 'outer') return b.mul(b.dot(x!.args[1]!, y!), x!.args[0]!);
      // (s A) x → s (A x)
      if (x!.op === 'mul' && isScalar(x!.args[0]!)) return b.mul(x!.args[0]!, b.matvec(x!.args[1]!, y!));
      if (y!.op === 'mul' && isScalar(y!.args[0]!)) return b.mul(y!.args[0]!, b.matvec(x!, y!.args[1]!));
      if (x!.op === 'neg') return b.neg(b.matvec(x!.args[0]!, y!));
      // (A B) x → A (B x) and longer chains, when the product is not shared
      if (x!.op === 'matmul' && single(x!)) {
        const mats: Node[] = [];
        chainFactors(x!, single, mats);
        if (mats.length >= 2) return orderChain(b, mats, y!);
      }
      return n;
    }
    case 'matmul': {
      if (x!.op === 'outer') return b.outer(x!.args[0]!, b.vecmat(x!.args[1]!, y!));
      if (y!.op === 'outer') return b.outer(b.matvec(x!, y!.args[0]!), y!.args[1]!);
      if (x!.op === 'mul' && isScalar(x!.args[0]!)) return b.mul(x!.args[0]!, b.matmul(x!.args[1]!, y!));
      if (y!.op === 'mul' && isScalar(y!.args[0]!)) return b.mul(y!.args[0]!, b.matmul(x!, y!.args[1]!));
      if (top) {
        const mats: Node[] = [];
        chainFactors(n, (m) => m === n || single(m), mats);
        if (mats.length >= 3) return orderChain(b, mats, null);
      }
      return n;
    }
    case 'dot': {
      if (x!.op === 'mul' && isScalar(x!.args[0]!)) return b.mul(x!.args[0]!, b.dot(x!.args[1]!, y!));
      if (y!.op === 'mul' && isScalar(y!.args[0]!)) return b.mul(y!.args[0]!, b.dot(x!, y!.args[1]!));
      if (x!.op === 'neg') return b.neg(b.dot(x!.args[0]!, y!));
      if (y!.op === 'neg') return b.neg(b.dot(x!, y!.args[0]!));
      return n;
    }
    case 'transpose': {
      // (XY)ᵀ = YᵀXᵀ only when the product has no other use: otherwise it would be computed twice
      // (INGD's sym(A2 A2ᵀ) and A2ᵀ read the products it also uses: 18p³ multiply–adds, not 8p³)
      if (x!.op === 'matmul' && single(x!)) return b.matmul(b.transpose(x!.args[1]!), b.transpose(x!.args[0]!));
      if (x!.op === 'add' || x!.op === 'sub') {
        // a broadcast scalar operand is its own transpose: (B - s)ᵀ = Bᵀ - s
        const t = (v: Node): Node => (isScalar(v) ? v : b.transpose(v));
        return b.binary(x!.op, t(x!.args[0]!), t(x!.args[1]!));
      }
      if (x!.op === 'mul' && isScalar(x!.args[0]!)) return b.mul(x!.args[0]!, b.transpose(x!.args[1]!));
      if (x!.op === 'neg') return b.neg(b.transpose(x!.args[0]!));
      return n;
    }
    case 'diagvec': {
      const [r, c] = shapeOf(x!);
      if (x!.op === 'outer' && r!.equals(c!)) return b.mul(x!.args[0]!, x!.args[1]!);
      if (x!.op === 'matmul' && r!.equals(c!)) return b.sum(b.mul(x!.args[0]!, b.transpose(x!.args[1]!)), 1);
      return n;
    }
    case 'sum': {
      if (n.attrs.axis === -1 && x!.op === 'mul' && shapeOf(x!).length === 1 && shapeOf(x!.args[0]!).length === 1 && shapeOf(x!.args[1]!).length === 1) {
        return b.dot(x!.args[0]!, x!.args[1]!);
      }
      if (n.attrs.axis === -1 && x!.op === 'outer') return b.mul(b.sum(x!.args[0]!), b.sum(x!.args[1]!));
      return n;
    }
    case 'add': {
      if (x === y) return b.scale(2, x!);
      if (x!.op === 'neg') return b.sub(y!, x!.args[0]!);
      return n;
    }
    case 'neg': {
      if (x!.op === 'mul' && constValue(x!.args[0]!) !== undefined && isScalar(x!.args[0]!)) return b.mul(b.const(-constValue(x!.args[0]!)!), x!.args[1]!);
      return n;
    }
    case 'outer': {
      // (s a) bᵀ keeps the scale on the shorter side: left as is.
      return n;
    }
    default:
      return n;
  }
}

/** One simplification sweep over everything reachable from `roots`. */
function sweep(b: Builder, roots: Node[]): Map<Node, Node> {
  const uses = useCounts(roots);
  const back = new Map<Node, Node>();
  const single = (m: Node): boolean => (uses.get(back.get(m) ?? m) ?? 0) <= 1;
  // Products that only feed another product are inner links of a chain: the chain is ordered
  // once, at its outermost product, not again at every link (which was O(k⁴) for k factors).
  const inner = new Set<Node>();
  for (const n of uses.keys()) {
    if (n.op !== 'matmul' && n.op !== 'matvec') continue;
    for (const a of n.args) if (a.op === 'matmul' && (uses.get(a) ?? 0) <= 1) inner.add(a);
  }
  return transform(b.g, roots, (n, args, regions) => {
    if (n.op === 'param') return n;
    let x = b.at(n.span, () => rebuild(b, n.op, args, n.attrs, regions));
    back.set(x, n);
    const top = !inner.has(n);
    for (let i = 0; i < 4; i++) {
      const y = b.at(n.span, () => rewrite(b, x, single, top));
      if (y === x) break;
      back.set(y, n);
      x = y;
    }
    return x;
  });
}

export function simplifyFunc(b: Builder, f: Func): Func {
  // n-ary einsums become trees of pairwise contractions chosen by cost (einsum.ts), lowered to
  // GEMM-shaped products that the sweeps below simplify further (simplifyFuncIn); the size
  // relations of the parameter types guide the order of matrix chains (chain.ts)
  return withChainHints(chainHintsOf(f.params.flatMap((p) => (p.node.type.kind === 'tensor' ? [p.node.type.shape] : []))), () => simplifyFuncIn(b, f));
}

function simplifyFuncIn(b: Builder, f: Func): Func {
  let cur = optimizeEinsums(b, f);
  for (let iter = 0; iter < 6; iter++) {
    const roots = [...cur.results.map((r) => r.node), ...cur.status.flatMap((s) => [s.iterations, s.converged, ...(s.residual ? [s.residual] : [])])];
    const map = sweep(b, [...roots, ...cur.params.map((p) => p.node)]);
    const next: Func = mapFuncRoots(cur, (n) => map.get(n) ?? n, { params: true });
    const same = next.results.every((r, i) => r.node === cur.results[i]!.node) && next.status.every((s, i) => s.iterations === cur.status[i]!.iterations);
    cur = next;
    if (same) break;
  }
  // real branches on one condition become one (a derivative's branch shares the forward's values)
  return mergeConds(b, cur);
}
