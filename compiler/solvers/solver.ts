// The interface every forward solver template implements, and the small helpers they share.

import type { Builder } from '../ir/builder.js';
import type { Node, StatusKind } from '../ir/node.js';
import type { VjpCtx } from '../diff/vjp-rules.js';
import type { JvpHooks } from '../diff/jvp.js';
import { type Decl, option } from './problem.js';
import type { OptValue } from '../check/solver-specs.js';

export interface SolverCtx {
  b: Builder;
  vcx: VjpCtx;
  hooks: JvpHooks;
  overrides: Record<string, number>;
}

export interface Solution {
  xs: Node[];
  iterations: Node;
  converged: Node;
  residual: Node;
  /** the residual is a probe estimate (problem.ts residualNorm), not the exact norm */
  residualEstimate?: boolean;
  /** further checks reported as status entries `<node>/<name>` (ok = 0 flags them) */
  checks?: { name: string; kind: StatusKind; value: Node; ok: Node }[];
}

export type SolverFn = (cx: SolverCtx, d: Decl) => Solution;

/** The tolerance set by the precision a function runs in: eps^(3/4) (1.8e-12 in f64, 6.5e-6 in f32). */
export function tolByPrecision(b: Builder): Node {
  return b.binary('pow', b.eps(), b.const(0.75));
}

export function num(cx: SolverCtx, d: Decl, key: string, fallback: number): number {
  const v = option(d, key, fallback, cx.overrides);
  return typeof v === 'number' ? v : fallback;
}

export function opt(cx: SolverCtx, d: Decl, key: string, fallback: OptValue): OptValue {
  return option(d, key, fallback, cx.overrides);
}
