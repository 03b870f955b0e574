// Derivatives of a real branch, cond(c, x₁…x_k) { region 0: (p…) → y… } { region 1: (p…) → y… }
// (compiler/ir/ops.ts). The value is piecewise: on each side of c it is that region's function of
// the captures, so
//
//   JVP:  ẏ = cond(c, x…, ẋ…) { (p…, ṗ…) → JVP of region 0 at p along ṗ } { … region 1 … }
//   VJP:  x̄ = cond(c, x…, ȳ…) { (p…, q…) → VJP of region 0 at p for the cotangents q } { … 1 … }
//
// — a branch whose sides are the derivatives of the sides, so only the taken side's derivative
// runs, as only its value did. c gets no tangent or cotangent: the derivative with respect to the
// condition is zero wherever it is defined (a comparison is piecewise constant), as for `select`.
// Each derivative region instantiates its side afresh (inlineRegion, as the loop JVP does) and
// differentiates it with the ordinary sweeps (jvpNodes / vjpNodes) inside the new region, so the
// side's forward values are recomputed there: the forward cond and the derivative cond both run
// the taken side (once each). Values a region reads directly rather than through a parameter (the
// outliner passes everything but constants as parameters, so these are constants in practice)
// are differentiated as captures all the same. Status entries that a derivative inside a branch
// would add (the conditioning of an implicit backward solve there) have one value per branch and
// are not reported, like those of loop bodies.

import type { Builder } from '../ir/builder.js';
import { captures, inlineRegion, type Node } from '../ir/node.js';
import type { OpKind } from '../ir/ops.js';
import type { IrType, TupleType } from '../ir/types.js';
import { tangentName } from '../../core/derivative-names.js';
import type { JvpCtx, Tan } from './jvp-rules.js';
import type { Contrib, VjpCtx } from './vjp-rules.js';
import { vjpNodes } from './vjp.js';

const LEAVES: ReadonlySet<OpKind> = new Set<OpKind>(['const', 'eps', 'iconst', 'fill', 'eye', 'iota', 'dim']);

const isRealType = (t: IrType): boolean => t.kind === 'tensor' && t.dtype === 'f';
const isReal = (n: Node): boolean => isRealType(n.type);

function label(n: Node, what: string): string {
  return `${String(n.attrs.label ?? 'if')}/${what}`;
}

/** The value results (not the status ones) whose types are real. */
function realResults(n: Node): number[] {
  const elems = (n.type as TupleType).elems;
  const nres = n.attrs.nres as number;
  const out: number[] = [];
  for (let i = 0; i < nres; i++) if (isRealType(elems[i]!)) out.push(i);
  return out;
}

function paramLike(b: Builder, x: Node, name: string): Node {
  return b.regionParam(name, x.type);
}

export function condJvp(cx: JvpCtx, n: Node, ds: (Node | undefined)[]): Tan {
  const b = cx.b;
  const caps = n.args.slice(1);
  const dcaps = ds.slice(1);
  const implicit = captures(n).filter((c) => {
    const t = cx.tangentOf(c);
    return t !== undefined && !Array.isArray(t);
  });
  const active = caps.map((_, i) => i).filter((i) => dcaps[i] !== undefined);
  if (active.length === 0 && implicit.length === 0) return undefined;
  const outs = realResults(n);
  if (outs.length === 0) return undefined;
  // the tangents enter as operands, so the tangent computation depends on the region's parameters
  const tans = [...active.map((i) => dcaps[i]!), ...implicit.map((c) => cx.tangentOf(c) as Node)];
  const mark = cx.notes?.length ?? 0;
  const regions = n.regions.map((r) => {
    const P = caps.map((c, i) => paramLike(b, c, String(r.params[i]!.attrs.name)));
    const T = tans.map((t, j) => paramLike(b, t, j < active.length ? tangentName(String(r.params[active[j]!]!.attrs.name)) : `tg.q${j}`));
    const res = inlineRegion(b.g, r, P);
    const d = cx.jvpNodes(outs.map((i) => res[i]!), [...active.map((i) => P[i]!), ...implicit], T);
    return { params: [...P, ...T], results: d.map((x, j) => x ?? b.zerosLike(res[outs[j]!]!)) };
  });
  cx.notes?.splice(mark);
  const node = b.raw('cond', [n.args[0]!, ...caps, ...tans], { nres: outs.length, label: label(n, 'tangent') }, regions);
  const out: (Node | undefined)[] = (n.type as TupleType).elems.map(() => undefined);
  outs.forEach((i, j) => (out[i] = b.proj(node, j)));
  return out;
}

export function condVjp(cx: VjpCtx, n: Node, g: (Node | undefined)[]): Contrib[] {
  const b = cx.b;
  const outs = realResults(n).filter((i) => g[i] !== undefined);
  if (outs.length === 0) return [];
  const caps = n.args.slice(1);
  const implicit = captures(n);
  // cotangents only for real, non-constant captures that depend on the differentiated inputs
  const want = (x: Node): boolean => isReal(x) && !LEAVES.has(x.op) && (cx.active ? cx.active.has(x) : true);
  const capIdx = caps.map((_, i) => i).filter((i) => want(caps[i]!));
  const impl = implicit.filter(want);
  if (capIdx.length === 0 && impl.length === 0) return [];
  const cts = outs.map((i) => g[i]!);
  const targets = [...capIdx.map((i) => caps[i]!), ...impl];
  const regions = n.regions.map((r) => {
    const P = caps.map((c, i) => paramLike(b, c, String(r.params[i]!.attrs.name)));
    const G = cts.map((c, j) => paramLike(b, c, `ct.y${outs[j]}`));
    const res = inlineRegion(b.g, r, P);
    // the backward's own status notes inside a branch are not reported (see above)
    const grads = vjpNodes({ ...cx, notes: [] }, outs.map((i) => res[i]!), G, [...capIdx.map((i) => P[i]!), ...impl]);
    return { params: [...P, ...G], results: grads.map((x, k) => x ?? b.zerosLike(targets[k]!)) };
  });
  const node = b.raw('cond', [n.args[0]!, ...caps, ...cts], { nres: targets.length, label: label(n, 'backward') }, regions);
  return targets.map((t, k) => [t, b.proj(node, k)] as Contrib);
}
