// IR nodes: an immutable, hash-consed graph of tensor ops (a "sea of nodes"). Ids grow with
// creation, so sorting by id is a topological order. Regions (loop bodies, objectives of
// declarative nodes) are sub-graphs with their own parameter nodes; a node belongs to the
// innermost region whose parameters it depends on, so loop-invariant code is hoisted by
// construction. Hash-consing within a Graph gives common-subexpression elimination for free.

import { Dim } from '../../core/dims.js';
import type { Span } from '../source.js';
import { type OpKind, opSpecs, IrTypeError } from './ops.js';
import { type IrType, type Struct, typeKey, typeToString } from './types.js';
import { InternalError } from '../../core/errors.js';
import { tickBudget } from './budget.js';
import type { StatusKind } from '../../core/executable.js';

export type AttrValue =
  | number
  | string
  | boolean
  | Dim
  | readonly Dim[]
  | readonly number[]
  | readonly string[]
  | IrType
  | { readonly [k: string]: AttrValue }
  | readonly AttrValue[]
  | null;

export type Attrs = { readonly [k: string]: AttrValue };

export interface Region {
  readonly params: readonly Node[];
  readonly results: readonly Node[];
}

export interface Node {
  readonly id: number;
  readonly op: OpKind;
  readonly args: readonly Node[];
  readonly attrs: Attrs;
  readonly type: IrType;
  readonly regions: readonly Region[];
  readonly span: Span | undefined;
}

let nextId = 1;

/** The id the next new node will get: nodes made after this call have ids ≥ it (the branch
 *  outliner of compiler/check/branches.ts tells a branch's own nodes by it). */
export function peekNextId(): number {
  return nextId;
}

function attrValueKey(v: AttrValue): string {
  if (v === null) return 'null';
  if (v instanceof Dim) return `D(${v.key})`;
  if (Array.isArray(v)) return `[${v.map((x) => attrValueKey(x as AttrValue)).join(',')}]`;
  if (typeof v === 'object') {
    if ((v as IrType).kind === 'tensor' || (v as IrType).kind === 'tuple') return `T(${typeKey(v as IrType)})`;
    const o = v as { readonly [k: string]: AttrValue };
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${k}:${attrValueKey(o[k]!)}`)
      .join(',')}}`;
  }
  // JSON spells ±Infinity and NaN as null, which made -inf the same node as inf
  if (typeof v === 'number') return String(v);
  return JSON.stringify(v);
}

export function attrsKey(a: Attrs): string {
  return attrValueKey(a);
}

export class Graph {
  private memo = new Map<string, Node>();

  /** Creates (or finds) a node; the type comes from the op table. */
  node(op: OpKind, args: readonly Node[], attrs: Attrs = {}, regions: readonly Region[] = [], span?: Span): Node {
    tickBudget();
    const spec = opSpecs[op];
    if (spec.arity !== 'var' && spec.arity !== args.length) {
      throw new InternalError(`IR op ${op} takes ${spec.arity} operands, got ${args.length}`);
    }
    let type: IrType;
    try {
      type = spec.type(
        args.map((a) => a.type),
        attrs,
        regions,
      );
    } catch (e) {
      if (e instanceof IrTypeError) {
        throw new InternalError(
          `IR type error building ${op}(${args.map((a) => `%${a.id}: ${typeToString(a.type)}`).join(', ')}): ${e.message}`,
        );
      }
      throw e;
    }
    const unique = op === 'param';
    const key = unique
      ? ''
      : `${op}|${args.map((a) => a.id).join(',')}|${attrsKey(attrs)}|${regions
          .map((r) => `${r.params.map((p) => p.id).join(',')}>${r.results.map((p) => p.id).join(',')}`)
          .join(';')}`;
    if (!unique) {
      const hit = this.memo.get(key);
      if (hit) return hit;
    }
    const n: Node = Object.freeze({ id: nextId++, op, args: Object.freeze([...args]), attrs, type, regions, span });
    if (!unique) this.memo.set(key, n);
    return n;
  }

  /** A fresh function parameter node (never shared). */
  param(name: string, type: IrType, span?: Span): Node {
    return this.node('param', [], { name, type }, [], span);
  }

  /** A fresh region parameter (loop index, carry, declarative variable). */
  regionParam(name: string, type: IrType, span?: Span): Node {
    return this.node('param', [], { name, type, region: true }, [], span);
  }
}

// ---- functions -----------------------------------------------------------------------------

export interface FuncParam {
  name: string;
  node: Node;
  /** false for int hyperparameters (dimension-like) */
  differentiable: boolean;
  /** default value for scalar hyperparameters */
  default?: number;
  span?: Span;
  /** a complex parameter (compiler/check/complex.ts): the node holds (re, im) along a trailing
   *  axis of 2, and this is its structure in the complex sense ('sym' = Hermitian, 'orth' =
   *  unitary, …; 'general' for none) */
  complex?: Struct;
}

export interface FuncResult {
  name: string;
  node: Node;
  /** a complex result: (re, im) along a trailing axis of 2 */
  complex?: boolean;
}

export type { StatusKind } from '../../core/executable.js';
export { statusKinds } from '../../core/executable.js';

/** A solver status entry: which declarative node or loop, and its status outputs. */
export interface StatusEntry {
  name: string;
  kind: StatusKind;
  iterations: Node;
  converged: Node;
  residual?: Node;
  /** the residual is an estimate (a probe of a residual that is costly to compute exactly) */
  estimate?: boolean;
  /** extra named diagnostics (condition estimates, ...) */
  extra?: { name: string; node: Node }[];
  span?: Span;
}

export interface Func {
  name: string;
  kind: 'fn' | 'layer' | 'optimizer' | 'vjp' | 'jvp';
  params: FuncParam[];
  results: FuncResult[];
  status: StatusEntry[];
  /** dimension names that are bound from integer hyperparameters, with defaults */
  intParams: { name: string; default?: number }[];
  /** derived dimensions (where-clauses): name → definition over input dims */
  derivedDims: { name: string; value: Dim }[];
  /** dimension expressions that must be ≥ 0 at run time (slice bounds), with the reason */
  assertions?: { dim: Dim; message: string; code?: string }[];
  span?: Span;
}

/** The nodes a function's outputs and status entries are computed from (its results, then each
 *  status entry's iterations, converged, residual and extra values). */
export function funcRoots(f: Func): Node[] {
  return [...f.results.map((r) => r.node), ...f.status.flatMap((s) => [s.iterations, s.converged, ...(s.residual ? [s.residual] : []), ...(s.extra ?? []).map((e) => e.node)])];
}

/** A status entry with each of its nodes (iterations, converged, residual, extra) mapped by m. */
export function mapStatusEntry(s: StatusEntry, m: (n: Node) => Node): StatusEntry {
  return {
    ...s,
    iterations: m(s.iterations),
    converged: m(s.converged),
    ...(s.residual ? { residual: m(s.residual) } : {}),
    ...(s.extra ? { extra: s.extra.map((e) => ({ ...e, node: m(e.node) })) } : {}),
  };
}

/** f with its results and status entries mapped by m — and its parameters' nodes when `params`
 *  (passes that rebuild a parameter through smart constructors). The one place a pass that
 *  rewrites a function's graph carries its roots over. */
export function mapFuncRoots(f: Func, m: (n: Node) => Node, opts: { params?: boolean } = {}): Func {
  return {
    ...f,
    ...(opts.params ? { params: f.params.map((p) => ({ ...p, node: m(p.node) })) } : {}),
    results: f.results.map((r) => ({ ...r, node: m(r.node) })),
    status: f.status.map((s) => mapStatusEntry(s, m)),
  };
}

// ---- traversal -------------------------------------------------------------------------------

/** All nodes reachable from roots, through operands and region results, sorted by id. */
export function reachable(roots: readonly Node[]): Node[] {
  const seen = new Set<Node>();
  const stack = [...roots];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    tickBudget(); // a pass's traversals are work too (compiler/ir/budget.ts)
    for (const a of n.args) stack.push(a);
    for (const r of n.regions) {
      for (const p of r.params) stack.push(p);
      for (const x of r.results) stack.push(x);
    }
  }
  return [...seen].sort((a, b) => a.id - b.id);
}

const freeCache = new WeakMap<Node, ReadonlySet<Node>>();

/** Parameter nodes a node depends on that are not bound by its own regions. */
export function freeParams(n: Node): ReadonlySet<Node> {
  const hit = freeCache.get(n);
  if (hit) return hit;
  // Iterative, and only over the nodes not cached yet: a walk that stopped at nothing would make
  // a pass asking every node of a chain for its free parameters quadratic in the chain's length.
  const order: Node[] = [];
  const seen = new Set<Node>();
  const stack = [n];
  while (stack.length) {
    const x = stack.pop()!;
    if (seen.has(x) || freeCache.has(x)) continue;
    seen.add(x);
    order.push(x);
    for (const a of x.args) stack.push(a);
    for (const r of x.regions) for (const res of r.results) stack.push(res);
  }
  // ids grow with creation, so ascending ids visit operands before their users
  order.sort((a, b) => a.id - b.id);
  for (const x of order) {
    if (freeCache.has(x)) continue;
    tickBudget();
    const s = new Set<Node>();
    if (x.op === 'param') s.add(x);
    for (const a of x.args) for (const p of freeCache.get(a)!) s.add(p);
    for (const r of x.regions) {
      const bound = new Set(r.params);
      for (const res of r.results) for (const p of freeCache.get(res)!) if (!bound.has(p)) s.add(p);
    }
    freeCache.set(x, s);
  }
  return freeCache.get(n)!;
}

/** Region nesting: maps each region parameter to the region that binds it. */
export interface Scopes {
  /** node → the region it belongs to (null = top level) */
  home: Map<Node, Region | null>;
  /** region → its nodes in topological order (region params excluded) */
  body: Map<Region | null, Node[]>;
  parent: Map<Region, Region | null>;
}

/** Assigns every node reachable from `roots` to its home region. */
export function scopes(roots: readonly Node[]): Scopes {
  const all = reachable(roots);
  const binder = new Map<Node, Region>();
  const owner = new Map<Region, Node>();
  for (const n of all) {
    for (const r of n.regions) {
      owner.set(r, n);
      for (const p of r.params) binder.set(p, r);
    }
  }
  // depth(r) = 1 + the depth of the region its owner lives in
  const depth = new Map<Region, number>();
  const depthOf = (r: Region): number => {
    const hit = depth.get(r);
    if (hit !== undefined) return hit;
    let d = 0;
    for (const p of freeParams(owner.get(r)!)) {
      const rr = binder.get(p);
      if (rr) d = Math.max(d, depthOf(rr));
    }
    depth.set(r, d + 1);
    return d + 1;
  };
  const homeOf = (n: Node): Region | null => {
    if (n.op === 'param' && binder.has(n)) return binder.get(n)!;
    let h: Region | null = null;
    for (const p of freeParams(n)) {
      const r = binder.get(p);
      if (r && (h === null || depthOf(r) > depthOf(h))) h = r;
    }
    return h;
  };
  const home = new Map<Node, Region | null>();
  const parent = new Map<Region, Region | null>();
  for (const n of all) home.set(n, homeOf(n));
  for (const [r, o] of owner) parent.set(r, home.get(o)!);
  const body = new Map<Region | null, Node[]>([[null, []]]);
  for (const n of all) {
    if (n.op === 'param' && binder.has(n)) continue;
    const h = home.get(n)!;
    if (!body.has(h)) body.set(h, []);
    body.get(h)!.push(n);
  }
  return { home, body, parent };
}

/** Rebuilds a graph bottom-up: `rewrite` receives each node with operands and regions already
 *  mapped (params of regions are re-created) and returns its replacement. */
export function transform(
  g: Graph,
  roots: readonly Node[],
  rewrite: (n: Node, args: Node[], regions: Region[]) => Node,
): Map<Node, Node> {
  const map = new Map<Node, Node>();
  for (const n of reachable(roots)) {
    if (n.op === 'param' && n.attrs.region === true) {
      map.set(n, g.regionParam(String(n.attrs.name), n.type, n.span));
      continue;
    }
    const args = n.args.map((a) => map.get(a)!);
    const regions = n.regions.map((r) => ({ params: r.params.map((p) => map.get(p)!), results: r.results.map((x) => map.get(x)!) }));
    map.set(n, rewrite(n, args, regions));
  }
  return map;
}

/** Replaces nodes by others (`mapping`) in the graph under `roots`, rebuilding only what depends
 *  on them. Region-owning nodes that are rebuilt get fresh region parameters, so an instantiated
 *  copy of a region never shares parameters with the original. */
export function substitute(g: Graph, roots: readonly Node[], mapping: ReadonlyMap<Node, Node>): Map<Node, Node> {
  const all = reachable(roots);
  const owner = new Map<Node, Node>();
  for (const n of all) for (const r of n.regions) for (const p of r.params) owner.set(p, n);
  // A node is rebuilt ("dirty") when it depends on a mapped node, through operands and region
  // results — or on a parameter of a region whose owner is rebuilt, since that parameter is
  // re-created below. Region parameters are created before their owner (smaller ids), so one
  // pass in id order cannot know the owner's fate: iterate to the fixpoint (one more pass per
  // level of nesting that changed). Without the second rule a loop nested two deep in a rebuilt
  // loop kept its old region parameters while its operand was renamed: two loop nodes shared one
  // region, and the copy's body lost its nodes to the original (issue 10: forward mode through
  // three nested `iterate`s, "%8 is used before it is defined").
  const dirty = new Set<Node>();
  for (;;) {
    const before = dirty.size;
    for (const n of all) {
      if (dirty.has(n)) continue;
      if (mapping.has(n)) dirty.add(n);
      else if (n.op === 'param' && owner.has(n)) {
        if (dirty.has(owner.get(n)!)) dirty.add(n);
      } else if (n.args.some((a) => dirty.has(a)) || n.regions.some((r) => r.results.some((x) => dirty.has(x)))) dirty.add(n);
    }
    if (dirty.size === before) break;
  }
  const map = new Map<Node, Node>();
  // region parameters renamed so far (their owner was rebuilt): a replacement built in terms of
  // the old parameters — a solver expanded inside a loop body or an objective — is renamed too,
  // or it would read a parameter that no longer exists (issue 12: a layer inside a solve's
  // equations, an iterate body or an argmin objective)
  const renamed = new Map<Node, Node>();
  for (const n of all) {
    const m = mapping.get(n);
    if (m) {
      let r = m;
      if (renamed.size > 0 && [...freeParams(m)].some((p) => renamed.has(p))) r = substitute(g, [m], renamed).get(m) ?? m;
      map.set(n, r);
      continue;
    }
    if (n.op === 'param' && owner.has(n) && dirty.has(owner.get(n)!)) {
      const fresh = g.regionParam(String(n.attrs.name), n.type, n.span);
      map.set(n, fresh);
      renamed.set(n, fresh);
      continue;
    }
    const touched = n.args.some((a) => map.get(a) !== a && map.has(a)) || n.regions.some((r) => r.params.some((p) => map.get(p) !== p && map.has(p)) || r.results.some((x) => map.get(x) !== x && map.has(x)));
    if (!touched) {
      map.set(n, n);
      continue;
    }
    const args = n.args.map((a) => map.get(a) ?? a);
    const regions = n.regions.map((r) => ({ params: r.params.map((p) => map.get(p) ?? p), results: r.results.map((x) => map.get(x) ?? x) }));
    map.set(n, g.node(n.op, args, n.attrs, regions, n.span));
  }
  return map;
}

/** Instantiates a region with concrete arguments for its parameters; returns its results. */
export function inlineRegion(g: Graph, r: Region, args: readonly Node[]): Node[] {
  const mapping = new Map<Node, Node>(r.params.map((p, i) => [p, args[i]!]));
  const map = substitute(g, r.results, mapping);
  return r.results.map((x) => map.get(x) ?? x);
}

/** Values from outside that a region-owning node's regions use (its captured inputs). */
export function captures(n: Node): Node[] {
  if (n.regions.length === 0) return [];
  const out = new Set<Node>();
  const bound = new Set<Node>();
  for (const r of n.regions) for (const p of r.params) bound.add(p);
  const seen = new Set<Node>();
  const stack = n.regions.flatMap((r) => [...r.results]);
  while (stack.length) {
    const x = stack.pop()!;
    if (seen.has(x) || bound.has(x)) continue;
    seen.add(x);
    let inner = false;
    for (const p of freeParams(x)) if (bound.has(p)) inner = true;
    if (!inner) {
      out.add(x);
      continue;
    }
    for (const a of x.args) stack.push(a);
    for (const rr of x.regions) {
      for (const p of rr.params) bound.add(p);
      for (const res of rr.results) stack.push(res);
    }
  }
  return [...out].sort((a, b) => a.id - b.id);
}
