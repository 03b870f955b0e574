// Derivatives of calls of functions that carry a `grad` rule (the `custom` op; compiler/check/
// custom.ts builds it). Reverse mode instantiates the rule at the call's arguments, results and
// cotangents. Forward mode — and reverse mode under `gradRules: false`, which lets a test hold a
// rule against matc's own derivation — differentiates the body like any inlined code.

import { inlineRegion, type Node } from '../ir/node.js';
import type { Contrib, Cot, VjpCtx } from './vjp-rules.js';
import type { JvpCtx, Tan } from './jvp-rules.js';
import { vjpNodes } from './vjp.js';

function isReal(n: Node): boolean {
  return n.type.kind === 'tensor' && n.type.dtype === 'f';
}

/** ā_i = rule_i(a, y, ȳ) for the rule's targets i (the other arguments get no cotangent). */
export function customVjp(cx: VjpCtx, n: Node, gc: Cot): Contrib[] {
  const b = cx.b;
  const g = Array.isArray(gc) ? gc : [gc];
  const nres = n.attrs.results as number;
  const ys = Array.from({ length: nres }, (_, j) => b.proj(n, j));
  if (ys.every((_, j) => g[j] === undefined)) return [];
  if (cx.opts?.gradRules === false) {
    const res = inlineRegion(b.g, n.regions[0]!, n.args);
    const wrt = [...new Set(n.args.filter(isReal))];
    const grads = vjpNodes(cx, res.slice(0, nres), g.slice(0, nres), wrt, new Set(n.args));
    return wrt.flatMap((a, i) => (grads[i] ? [[a, grads[i]!] as Contrib] : []));
  }
  const cots = ys.map((y, j) => g[j] ?? b.zerosLike(y));
  const outs = inlineRegion(b.g, n.regions[1]!, [...n.args, ...ys, ...cots]);
  return (n.attrs.targets as number[]).map((i, t) => [n.args[i]!, outs[t]!] as Contrib);
}

/** ẏ = the body's tangent at the arguments (the rule is a VJP; forward mode derives its own). */
export function customJvp(cx: JvpCtx, n: Node, ds: (Node | undefined)[]): Tan {
  const b = cx.b;
  const nres = n.attrs.results as number;
  const moving = n.args.map((a, i) => (isReal(a) && ds[i] && n.args.indexOf(a) === i ? i : -1)).filter((i) => i >= 0);
  const total = n.type.kind === 'tuple' ? n.type.elems.length : 1;
  if (moving.length === 0) return undefined;
  const res = inlineRegion(b.g, n.regions[0]!, n.args);
  const wrt = moving.map((i) => n.args[i]!);
  const tans = cx.jvpNodes(res.slice(0, nres), wrt, moving.map((i) => ds[i]!));
  const out: (Node | undefined)[] = new Array(total).fill(undefined);
  tans.forEach((t, j) => (out[j] = t));
  return out;
}
