// The CPU reference evaluator: runs one problem instance of an IR function in f64 (optionally
// rounding every intermediate to f32, to predict what the GPU computes). Regions are evaluated
// per iteration with the enclosing values visible; loop-invariant nodes live in the outer scope
// by construction of the IR, so they are computed once.

import type { Dim } from '../../core/dims.js';
import { type Func, type Node, type Region, scopes, type Scopes } from '../../compiler/ir/node.js';
import { InternalError } from '../../core/errors.js';
import { cpuKernels, scalar, type KernelCtx, type T, type V } from './kernels.js';

class Env {
  readonly vals = new Map<Node, V>();
  constructor(readonly parent: Env | null) {}
  get(n: Node): V {
    for (let e: Env | null = this; e; e = e.parent) {
      const v = e.vals.get(n);
      if (v !== undefined) return v;
    }
    throw new InternalError(`CPU evaluator: value of %${n.id} (${n.op}) is not available`);
  }
}

function roundF32(v: V): V {
  if (typeof v === 'number') return v;
  if (Array.isArray(v)) return v.map(roundF32);
  return { shape: v.shape, data: Float64Array.from(Float32Array.from(v.data)) };
}

export interface EvalOptions {
  /** round every intermediate to f32 */
  f32?: boolean;
}

export class Evaluator {
  private sc: Scopes;
  readonly roots: Node[];

  constructor(
    readonly func: Func,
    private opts: EvalOptions = {},
  ) {
    this.roots = [...func.results.map((r) => r.node), ...func.status.flatMap((s) => [s.iterations, s.converged, ...(s.residual ? [s.residual] : [])])];
    this.sc = scopes(this.roots);
  }

  /** Evaluates the function for one instance. `params` follow func.params order. */
  run(params: V[], dims: ReadonlyMap<string, number>): { results: V[]; status: { iterations: number; converged: number; residual?: number }[] } {
    const dimCache = new Map<string, number>();
    const cx: KernelCtx = {
      eps: this.opts.f32 ? 2 ** -23 : 2 ** -52,
      dim: (d: Dim) => {
        let v = dimCache.get(d.key);
        if (v === undefined) {
          v = d.eval(dims);
          if (!Number.isFinite(v)) throw new InternalError(`dimension ${d} is not bound (known: ${[...dims.keys()].join(', ')})`);
          dimCache.set(d.key, v);
        }
        return v;
      },
    };
    const env = new Env(null);
    this.func.params.forEach((p, i) => env.vals.set(p.node, params[i]!));
    this.evalRegion(null, env, cx);
    const results = this.func.results.map((r) => env.get(r.node));
    const num = (n: Node): number => {
      const v = env.get(n);
      return typeof v === 'number' ? v : (v as T).data[0]!;
    };
    const status = this.func.status.map((s) => ({
      iterations: num(s.iterations),
      converged: num(s.converged),
      ...(s.residual ? { residual: num(s.residual) } : {}),
    }));
    return { results, status };
  }

  private evalRegion(r: Region | null, env: Env, cx: KernelCtx): void {
    for (const n of this.sc.body.get(r) ?? []) {
      if (n.op === 'param') continue;
      let v: V;
      if (n.op === 'loop') v = this.evalLoop(n, env, cx);
      else if (n.op === 'cond') v = this.evalCond(n, env, cx);
      else v = cpuKernels[n.op](n, n.args.map((a) => env.get(a)), cx);
      if (this.opts.f32 && n.type.kind === 'tensor' && n.type.dtype === 'f') v = roundF32(v);
      env.vals.set(n, v);
    }
  }

  /** cond c captures… { region 0 } { region 1 }: evaluates only the taken region (0 where c ≠ 0,
   *  NaN included, as select) with its parameters bound to the captures. */
  private evalCond(n: Node, env: Env, cx: KernelCtx): V {
    const c = env.get(n.args[0]!) as T;
    const region = n.regions[c.data[0] !== 0 ? 0 : 1]!;
    const inner = new Env(env);
    region.params.forEach((p, i) => inner.vals.set(p, env.get(n.args[i + 1]!)));
    this.evalRegion(region, inner, cx);
    return region.results.map((x) => inner.get(x));
  }

  /** loop lo hi inits… { (i, carries…) → (carries'…, done) } → (carries…, iterations, converged) */
  private evalLoop(n: Node, env: Env, cx: KernelCtx): V {
    const lo = env.get(n.args[0]!) as number;
    const hi = env.get(n.args[1]!) as number;
    let carries = n.args.slice(2).map((a) => env.get(a));
    const region = n.regions[0]!;
    const k = carries.length;
    const reverse = n.attrs.reverse === true;
    const hasUntil = n.attrs.hasUntil === true;
    let iters = 0;
    let converged = hasUntil ? 0 : 1;
    for (let s = 0; s < hi - lo; s++) {
      const i = reverse ? hi - 1 - s : lo + s;
      const inner = new Env(env);
      inner.vals.set(region.params[0]!, i);
      carries.forEach((c, j) => inner.vals.set(region.params[j + 1]!, c));
      this.evalRegion(region, inner, cx);
      carries = region.results.slice(0, k).map((x) => inner.get(x));
      iters++;
      if (hasUntil) {
        const d = inner.get(region.results[k]!) as T;
        if (d.data[0] !== 0) {
          converged = 1;
          break;
        }
      }
    }
    return [...carries, iters, scalar(converged)];
  }
}
