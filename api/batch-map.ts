// One function over many inputs of several shapes, as few calls as there are shapes: the calls
// whose inputs have equal shapes are stacked along a new leading axis and run as ONE batched call
// (every matc function is batched over leading axes), and the results are split back in order.
// This is how the frames of a layer's cores are computed — one batched Householder call per
// frame shape, as the STTP reference does — and, generally, how a caller maps a function over a
// ragged list (per-layer factors, per-core parameters) without a call per element.
//
// A batch of instances is one kernel launch on WebGPU (one workgroup per instance) and one pass
// of the thread pool on the CPU, so k equal-shaped calls cost about one call, not k.

import type { CallOptions, CompiledFn } from './module.js';
import type { CallStatus } from '../runtime/call.js';
import { Tensor } from '../runtime/tensor.js';
import { MatcRuntimeError } from '../core/errors.js';
import { describeValue } from '../core/describe-value.js';

/** The inputs of one call, by parameter name (tensors only; ints go in `opts.dims`). */
export type MapInputs = Record<string, Tensor>;

export interface MapForward {
  /** the outputs of each call, in the order of `calls` */
  outputs: Record<string, Tensor>[];
  /** the status of each batched call, one per group of equal shapes */
  statuses: CallStatus[];
  /** how many batched calls ran (the number of distinct input shapes) */
  calls: number;
}

export interface MapVjp extends MapForward {
  gradients: Record<string, Tensor>[];
}

/** `calls` (or the cotangents `what`) as forwardMany/vjpMany take them: an array of objects of
 *  Tensors (MATR101 / MATR001 naming the entry otherwise; issue 12). */
function checkCalls(where: string, calls: unknown, what: string): void {
  if (!Array.isArray(calls)) throw new MatcRuntimeError('MATR101', `${where}: the ${what} must be an array of objects {name: Tensor}, got ${describeValue(calls)}`);
  calls.forEach((c, i) => {
    if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new MatcRuntimeError('MATR101', `${where}: ${what}[${i}] must be an object {name: Tensor}, got ${describeValue(c)}`);
    for (const [k, t] of Object.entries(c as Record<string, unknown>)) {
      if (!(t instanceof Tensor)) throw new MatcRuntimeError('MATR001', `${where}: ${what}[${i}].${k} must be a Tensor (the calls are stacked into one batch), got ${describeValue(t)}`);
    }
  });
}

/** Groups call indices by the shapes of their inputs (in a fixed name order). */
function groupsOf(calls: readonly MapInputs[], names: readonly string[]): number[][] {
  const groups = new Map<string, number[]>();
  calls.forEach((c, i) => {
    const key = names.map((n) => {
      const t = c[n];
      if (!t) throw new MatcRuntimeError('MATR001', `call ${i}: input '${n}' is missing`);
      return `${n}:${t.shape.join('x')}${t.complex ? 'c' : ''}`;
    }).join('|');
    const g = groups.get(key);
    if (g) g.push(i);
    else groups.set(key, [i]);
  });
  return [...groups.values()];
}

/** The tensors of `ix` stacked along a new leading axis. */
function stack(ts: readonly Tensor[]): Tensor {
  const first = ts[0]!;
  const per = first.data.length;
  const data = new Float64Array(per * ts.length);
  ts.forEach((t, k) => data.set(t.data, k * per));
  return new Tensor([ts.length, ...first.shape], data, 'f64', first.complex);
}

/** Entry k of a stacked result (its leading axis of size `count`). */
function unstack(t: Tensor, count: number): Tensor[] {
  if (t.shape[0] !== count) {
    // a result the batch does not vary (an unbatched output) is the same for every call
    return Array.from({ length: count }, () => t);
  }
  const inner = t.shape.slice(1);
  const per = t.data.length / count;
  return Array.from({ length: count }, (_, k) => new Tensor(inner, t.data.slice(k * per, (k + 1) * per), t.dtype, t.complex));
}

function splitAll(rec: Record<string, Tensor>, count: number): Record<string, Tensor>[] {
  const out = Array.from({ length: count }, () => ({}) as Record<string, Tensor>);
  for (const [name, t] of Object.entries(rec)) unstack(t, count).forEach((x, k) => (out[k]![name] = x));
  return out;
}

/** `fn` on every entry of `calls`, one batched call per distinct input shape. */
export async function forwardMany(fn: CompiledFn, calls: readonly MapInputs[], opts: CallOptions = {}): Promise<MapForward> {
  checkCalls('forwardMany', calls, 'calls');
  const names = Object.keys(calls[0] ?? {}).sort();
  const outputs = new Array<Record<string, Tensor>>(calls.length);
  const statuses: CallStatus[] = [];
  const groups = groupsOf(calls, names);
  for (const g of groups) {
    const inputs = Object.fromEntries(names.map((n) => [n, stack(g.map((i) => calls[i]![n]!))]));
    const r = await fn.forward(inputs, opts);
    statuses.push(r.status);
    splitAll(r.outputs, g.length).forEach((o, k) => (outputs[g[k]!] = o));
  }
  return { outputs, statuses, calls: groups.length };
}

/** The VJP of `fn` on every entry of `calls` with the cotangents `cts[i]`, one batched call per
 *  distinct input shape (the cotangents of one group have equal shapes, since the outputs do). */
export async function vjpMany(fn: CompiledFn, calls: readonly MapInputs[], cts: readonly Record<string, Tensor>[], opts: CallOptions = {}): Promise<MapVjp> {
  checkCalls('vjpMany', calls, 'calls');
  checkCalls('vjpMany', cts, 'cotangents');
  if (cts.length !== calls.length) throw new MatcRuntimeError('MATR001', `vjpMany: ${calls.length} calls but ${cts.length} cotangents`);
  const names = Object.keys(calls[0] ?? {}).sort();
  const ctNames = Object.keys(cts[0] ?? {}).sort();
  const outputs = new Array<Record<string, Tensor>>(calls.length);
  const gradients = new Array<Record<string, Tensor>>(calls.length);
  const statuses: CallStatus[] = [];
  const groups = groupsOf(calls, names);
  for (const g of groups) {
    const inputs = Object.fromEntries(names.map((n) => [n, stack(g.map((i) => calls[i]![n]!))]));
    const ct = Object.fromEntries(ctNames.map((n) => [n, stack(g.map((i) => cts[i]![n]!))]));
    const r = await fn.vjp(inputs, ct, opts);
    statuses.push(r.status);
    splitAll(r.outputs, g.length).forEach((o, k) => (outputs[g[k]!] = o));
    splitAll(r.gradients, g.length).forEach((o, k) => (gradients[g[k]!] = o));
  }
  return { outputs, gradients, statuses, calls: groups.length };
}
