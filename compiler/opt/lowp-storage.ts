// Low-precision storage (issue 15 item 3): which values of a function are binary16 (or bfloat16)
// values by construction, so that the WebGPU back end can hold them in 16-bit buffers, two to a
// 32-bit word, at half the bytes and half the memory traffic of f32, without changing a result.
//
// The language models low precision by rounding (`f16(x)` = the IR op `half`, `bf16(x)` =
// `bfloat`, core/lowp.ts): the value is rounded where the spec says so and kept in the working
// precision. Storage follows from two facts about the IR, both decided here by a value analysis:
//
//   • a parameter whose every use is a rounding to format F (through the captures of branches)
//     is only ever read as F(p): holding F(p) instead of p changes nothing the program computes;
//   • a result that is F-valued on every path (a rounding to F, a branch whose every side gives an
//     F value, a transpose or negation of one, a constant that F represents exactly) is F(r) = r:
//     holding it in F is exact.
//
// An optimizer's state needs one more step. Its new value is often a rounding on the step that
// updates it and the old value passed through on the others (INGD's factors: `if mod(t, T) == 0
// then f16(…) else A`), so the result is F-valued only if the state read is. `provenStates`
// computes the largest set of states for which that holds (a greatest fixed point: start from
// every candidate, drop a state whose update is not F-valued assuming the others, repeat), and
// `roundStatesOnEntry` makes the assumption true: the step reads F(s) in place of s on every back
// end. A state the caller passes in is then read as its F rounding (the identity on every value
// the step itself produced), so the CPU reference and the 16-bit GPU buffers compute the same
// thing; the state stays in its format by construction, as a structured state stays in its class.

import type { Graph, Node, Func } from '../ir/node.js';
import { reachable, funcRoots, substitute, mapFuncRoots } from '../ir/node.js';
import type { TensorType } from '../ir/types.js';
import { roundTo, BINARY16, BFLOAT16 } from '../../core/lowp.js';

/** A 16-bit storage format: IEEE binary16, or bfloat16 (binary32's upper half). */
export type Storage = 'f16' | 'bf16';

/** The IR op that rounds to each format. */
export const ROUNDING: Readonly<Record<Storage, 'half' | 'bfloat'>> = { f16: 'half', bf16: 'bfloat' };

const FORMAT = { f16: BINARY16, bf16: BFLOAT16 } as const;

/** Ops that keep "every element is an F value": a permutation or sign change of its one operand. */
const EXACT_UNARY = new Set(['transpose', 'neg']);

function isReal(n: Node): boolean {
  const t = n.type as TensorType;
  return t.kind === 'tensor' && t.dtype === 'f';
}

/** For each region parameter of a `cond` reachable from roots: the capture it stands for (region
 *  parameter i of either region is the cond's argument i + 1). */
function condCaptures(all: readonly Node[]): Map<Node, Node> {
  const m = new Map<Node, Node>();
  for (const n of all) {
    if (n.op !== 'cond') continue;
    for (const r of n.regions) r.params.forEach((p, i) => m.set(p, n.args[i + 1]!));
  }
  return m;
}

/** A value analysis over one graph: is every element of a node exactly representable in F?
 *  `assumed` holds the function parameters taken to be F-valued (an optimizer's proven states). */
export class StorageAnalysis {
  private readonly captures: Map<Node, Node>;
  private readonly memo = new Map<string, boolean>();

  constructor(
    roots: readonly Node[],
    private readonly assumed: (p: Node, fmt: Storage) => boolean = () => false,
  ) {
    this.captures = condCaptures(reachable(roots));
  }

  valued(n: Node, fmt: Storage): boolean {
    const key = `${fmt}:${n.id}`;
    const hit = this.memo.get(key);
    if (hit !== undefined) return hit;
    this.memo.set(key, false); // a cycle (none in a DAG) would read "no"
    const v = this.compute(n, fmt);
    this.memo.set(key, v);
    return v;
  }

  private compute(n: Node, fmt: Storage): boolean {
    if (!isReal(n)) return false;
    switch (n.op) {
      case 'half':
      case 'bfloat':
        // a binary16 value is no bfloat16 value in general (11 significand bits against 8), nor the
        // other way round (bfloat16's exponent range)
        return n.op === ROUNDING[fmt];
      case 'param': {
        const cap = this.captures.get(n);
        return cap !== undefined ? this.valued(cap, fmt) : this.assumed(n, fmt);
      }
      case 'proj': {
        const src = n.args[0]!;
        if (src.op !== 'cond') return false;
        const k = n.attrs.index as number;
        return src.regions.every((r) => this.valued(r.results[k]!, fmt));
      }
      case 'select':
        return this.valued(n.args[1]!, fmt) && this.valued(n.args[2]!, fmt);
      case 'eye':
        return true;
      case 'const':
      case 'fill': {
        const v = n.attrs.value;
        return typeof v === 'number' && roundTo(FORMAT[fmt], v) === v;
      }
      default:
        return EXACT_UNARY.has(n.op) && n.args.length === 1 && this.valued(n.args[0]!, fmt);
    }
  }
}

/** A function's graph as readOnlyRounded reads it: every use of each node (the user and the
 *  argument position), and the nodes that are roots or region results (read as they are). */
interface Uses {
  uses: Map<Node, { n: Node; i: number }[]>;
  asIs: Set<Node>;
}

function usesOf(f: Func): Uses {
  const roots = funcRoots(f);
  const all = reachable(roots);
  const uses = new Map<Node, { n: Node; i: number }[]>();
  for (const n of all) n.args.forEach((a, i) => (uses.get(a) ?? uses.set(a, []).get(a)!).push({ n, i }));
  const asIs = new Set(roots);
  for (const n of all) for (const r of n.regions) for (const x of r.results) asIs.add(x);
  return { uses, asIs };
}

/** The format a parameter can be stored in: F when it is read only through roundings to F
 *  (directly, or through the captures of branches, whose region parameters are read that way in
 *  both regions), and used at least once. Not for a parameter that is also a root. */
function readOnlyRounded({ uses, asIs }: Uses, p: Node): Storage | undefined {
  if (!isReal(p) || asIs.has(p)) return undefined;
  const fmts = new Set<Storage>();
  const visit = (x: Node): boolean => {
    for (const { n, i } of uses.get(x) ?? []) {
      if (n.op === 'half') fmts.add('f16');
      else if (n.op === 'bfloat') fmts.add('bf16');
      else if (n.op === 'cond' && i >= 1) {
        for (const r of n.regions) {
          const q = r.params[i - 1]!;
          if (asIs.has(q)) return false; // passed through a branch: read as it is
          if (!visit(q)) return false;
        }
      } else return false;
    }
    return true;
  };
  if (!visit(p) || fmts.size !== 1) return undefined;
  return [...fmts][0];
}

/** Whether the spec rounds to F anywhere in n's computation: a value that is F-valued without
 *  one (a constant, an `eye`) is not low precision the spec asked for. */
function roundsTo(n: Node, fmt: Storage): boolean {
  return reachable([n]).some((x) => x.op === ROUNDING[fmt]);
}

/** The storage of each parameter and result of f (undefined: f32), as the WebGPU back end holds
 *  them. Parameters are first (read only through roundings); a result is F-valued given those
 *  (and computed through a rounding to F). */
export function storageOf(f: Func): { params: (Storage | undefined)[]; results: (Storage | undefined)[] } {
  const graph = usesOf(f);
  const params = f.params.map((p) => readOnlyRounded(graph, p.node));
  const stored = new Map(f.params.map((p, i) => [p.node, params[i]]));
  const an = new StorageAnalysis(funcRoots(f), (p, fmt) => stored.get(p) === fmt);
  const results = f.results.map((r) => (r.complex ? undefined : (['f16', 'bf16'] as const).find((fmt) => an.valued(r.node, fmt) && roundsTo(r.node, fmt))));
  return { params, results };
}

/** An optimizer's states (param, result pairs) whose update is F-valued whenever the states read
 *  are: the greatest such set, by removing states that fail until none does. */
export function provenStates(roots: readonly Node[], states: readonly { param: Node; result: Node }[]): Map<Node, Storage> {
  const cand = new Map<Node, Storage>();
  const probe = new StorageAnalysis(roots, () => true);
  for (const s of states) {
    if (!isReal(s.param) || s.result === s.param) continue;
    // the format it could be in: the one its update is valued in when every state is assumed so,
    // and rounds to (a state set to a constant is not a low-precision state)
    const fmt = (['f16', 'bf16'] as const).find((F) => probe.valued(s.result, F) && roundsTo(s.result, F));
    if (fmt) cand.set(s.param, fmt);
  }
  for (;;) {
    const an = new StorageAnalysis(roots, (p, fmt) => cand.get(p) === fmt);
    const drop = states.filter((s) => cand.has(s.param) && !an.valued(s.result, cand.get(s.param)!));
    if (!drop.length) return cand;
    for (const s of drop) cand.delete(s.param);
  }
}

/** The optimizer step with each proven state read through its rounding (see the header). */
export function roundStatesOnEntry(g: Graph, f: Func, stateNames: ReadonlySet<string>): Func {
  const byName = new Map(f.results.map((r) => [r.name, r.node]));
  const states = f.params.filter((p) => stateNames.has(p.name) && !p.complex && byName.has(p.name)).map((p) => ({ param: p.node, result: byName.get(p.name)! }));
  const roots = funcRoots(f);
  const proven = provenStates(roots, states);
  if (!proven.size) return f;
  const mapping = new Map<Node, Node>();
  for (const [p, fmt] of proven) mapping.set(p, g.node(ROUNDING[fmt], [p], {}, [], p.span));
  const map = substitute(g, roots, mapping);
  return mapFuncRoots(f, (n) => map.get(n) ?? n);
}
