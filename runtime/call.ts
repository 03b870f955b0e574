// What the JIT API (compiler/module.ts CompiledFn) and AOT modules (runtime/aot/function.ts) share
// around a call of a forward, VJP or JVP: the call status with its warnings ("never a silent
// NaN"), and the mapping between the user's names and the derived functions' IR names
// (runtime/derivative-names.ts). It lives in the runtime so AOT modules need no compiler.

import { extent } from '../core/extent.js';
import type { Binding, InputValue } from './bind.js';
import { closest } from '../core/names.js';
import type { NodeStatus } from './executable.js';
import { MatcRuntimeError } from '../core/errors.js';
import { cotangentName, gradientOf, tangentName, tangentOf } from '../core/derivative-names.js';
import { Tensor } from './tensor.js';
import { GpuTensor } from './gpu-tensor.js';
import type { Backend } from './backend.js';
import type { Executable, RawResult } from './executable.js';
import type { ResidentRaw, ResidentStatus } from './gpu-tensor.js';
import type { Signature } from './signature.js';
import { describeValue } from '../core/describe-value.js';

export interface CallStatus {
  /** false if a solver did not converge, a backward solve was singular or an output is not finite */
  ok: boolean;
  nodes: NodeStatus[];
  warnings: string[];
}

/** What a failed entry of each kind means (status entries carry their kind: compiler/ir/node.ts). */
function failure(s: NodeStatus): string {
  switch (s.kind) {
    case 'solver':
      return 'did not converge (iteration limit reached)';
    case 'loop':
      return 'did not stop early: its until condition never held within the trip count';
    case 'linear':
      return 'the linear system is singular or nearly so (rcond ≤ 1e-10 in f64, ≤ 1.2e-7 in f32)';
    case 'monitor': {
      const vals = (s.residual ?? []).filter((_, i) => !s.converged[i]);
      const [lo, hi] = extent(vals);
      const range = vals.length ? ` (value ${fmt(lo)}${vals.length > 1 && hi !== lo ? ` … ${fmt(hi)}` : ''})` : '';
      return `the monitored condition failed${range}`;
    }
    case 'curvature':
      return 'the solution is not a local minimum (negative curvature along the constraint: the solver stopped at a saddle point or maximum)';
    case 'implicit':
      return 'the implicit backward system is singular or nearly so (rcond ≤ 1e-13)';
    case 'iterative':
      return 'the implicit backward system was not solved to its tolerance (MINRES, and the dense fallback where it ran, failed: singular or ill-conditioned)';
    case 'domain':
      return 'the input is outside the function\'s domain (a negative eigenvalue for sqrtm, not positive definite for invsqrtm, rank-deficient for polar)';
    case 'degenerate':
      return 'the spectrum is (nearly) degenerate: repeated eigenvalues or singular values (relative gap ≤ √eps), or a zero singular value of a non-square svd, where eigenvectors or singular vectors have no derivative';
    default:
      return s.kind satisfies never;
  }
}

const fmt = (x: number): string => (Number.isFinite(x) ? Number(x.toPrecision(3)).toString() : String(x));

const consequence: Record<NodeStatus['kind'], string> = {
  solver: '',
  loop: '',
  linear: '; its result is unreliable',
  monitor: '',
  curvature: '',
  implicit: '; gradients there are unreliable',
  iterative: '; gradients there are unreliable',
  domain: '; its result is unreliable',
  degenerate: '; the terms of nearly equal pairs were left out, so gradients there are unreliable',
};

/** The warnings of status entries that failed in some instance. */
function nodeWarnings(nodes: NodeStatus[]): string[] {
  const warnings: string[] = [];
  for (const s of nodes) {
    let bad = 0;
    const c = s.converged;
    for (let i = 0; i < c.length; i++) if (!c[i]) bad++;
    if (bad > 0) warnings.push(`${s.name}: ${failure(s)} in ${bad} of ${c.length} instance(s)${consequence[s.kind]}`);
  }
  return warnings;
}

/** Summarizes statuses and checks outputs for non-finite values ("never a silent NaN"). */
export function summarize(nodes: NodeStatus[], outputs: Record<string, Tensor>, gradients: Record<string, Tensor> = {}): CallStatus {
  const warnings = nodeWarnings(nodes);
  for (const [what, group] of [['output', outputs], ['gradient', gradients]] as const) {
    for (const [name, t] of Object.entries(group)) {
      const n = t.countNonFinite();
      if (n > 0) warnings.push(`${what} ${name} has ${n} non-finite value(s)`);
    }
  }
  return { ok: warnings.length === 0, nodes, warnings };
}

/** The VJP's inputs: the function's inputs plus one cotangent per result (every result needs
 *  one; an unknown name is an error). */
export function vjpInputs<I extends Record<string, unknown>>(fn: string, results: readonly string[], inputs: I, cotangents: Record<string, InputValue>, ignored: readonly string[] = []): I {
  records(fn, inputs, cotangents, 'cotangents');
  const all: Record<string, unknown> = { ...inputs };
  for (const k of Object.keys(cotangents)) {
    // outputs that take no cotangent (int state) may be given one, which is ignored
    if (ignored.includes(k)) continue;
    if (!results.includes(k)) throw new MatcRuntimeError('MATR101', `${fn} has no output '${k}' (outputs: ${results.join(', ')})${suggest(k, results)}`);
  }
  for (const r of results) {
    const c = cotangents[r];
    if (c === undefined) throw new MatcRuntimeError('MATR101', `${fn}: missing cotangent for output '${r}'`);
    all[cotangentName(r)] = c;
  }
  return all as I;
}

/** Inputs and cotangents/tangents are records {name: value}. */
function records(fn: string, inputs: unknown, extra: unknown, what: string): void {
  for (const [v, w] of [[inputs, 'inputs'], [extra, what]] as const) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new MatcRuntimeError('MATR101', `${fn}: the ${w} must be an object {name: value}, got ${describeValue(v)}`);
  }
}

function suggest(name: string, candidates: readonly string[]): string {
  const s = closest(name, candidates);
  return s ? `; did you mean '${s}'?` : '';
}

/** Splits the VJP's outputs into the function's outputs and the gradients by parameter name.
 *
 *  A batched call is the function applied to each instance, F(θ, x₁ … x_B) = (f(θ, x₁) … f(θ,
 *  x_B)), with an input θ given without batch dimensions shared by all of them; the VJP of F with
 *  respect to θ is Σ_b ∂f(θ, x_b)ᵀ c_b, so the gradient of such an input is summed over the batch
 *  (the gradient of a shared weight in a batched loss, as PyTorch accumulates it). An input given
 *  with the batch dimensions gets one gradient per instance. `bind` is the VJP call's binding. */
export function vjpResults(out: Record<string, Tensor>, bind?: Binding): { outputs: Record<string, Tensor>; gradients: Record<string, Tensor> } {
  const outputs: Record<string, Tensor> = {};
  const gradients: Record<string, Tensor> = {};
  const shared = new Set(bind && bind.batch.length > 0 ? bind.inputs.filter((i) => !i.batched).map((i) => i.param.name) : []);
  for (const [k, v] of Object.entries(out)) {
    const of = gradientOf(k);
    if (of !== null) gradients[of] = shared.has(of) ? sumOverBatch(v, bind!.batch.length) : v;
    else outputs[k] = v;
  }
  return { outputs, gradients };
}

/** The sum of a tensor over its leading `rank` (batch) dimensions, in f64. */
function sumOverBatch(t: Tensor, rank: number): Tensor {
  const shape = t.shape.slice(rank);
  const size = shape.reduce((a, b) => a * b, 1);
  const acc = new Float64Array(size);
  const d = t.data;
  for (let off = 0; off < d.length; off += size) for (let i = 0; i < size; i++) acc[i] += d[off + i]!;
  return new Tensor(shape, t.dtype === 'f32' ? Float32Array.from(acc) : acc);
}

/** The JVP's inputs: the function's inputs plus a tangent for each input `takes` accepts (zeros
 *  of the bound input's shape where none is given). `bind` is the forward's binding. */
export function jvpInputs<I extends Record<string, unknown>>(bind: Binding, takes: (param: string) => boolean, inputs: I, tangents: Record<string, InputValue | undefined>, fn = 'the function'): I {
  records(fn, inputs, tangents, 'tangents');
  // a tangent under a name that takes none is an error, as an unknown cotangent is for the VJP
  const params = bind.inputs.map((i) => i.param.name);
  for (const k of Object.keys(tangents)) {
    if (tangents[k] === undefined) continue;
    if (!params.includes(k)) throw new MatcRuntimeError('MATR101', `${fn} has no input '${k}' to take a tangent for (inputs: ${params.join(', ')})${suggest(k, params)}`);
    if (!takes(k)) throw new MatcRuntimeError('MATR101', `${fn}: input '${k}' takes no tangent (it is not differentiable)`);
  }
  const all: Record<string, unknown> = { ...inputs };
  for (const inp of bind.inputs) {
    if (!takes(inp.param.name)) continue;
    const t = tangents[inp.param.name];
    all[tangentName(inp.param.name)] = t === undefined ? Tensor.zeros(inp.tensor.shape) : t;
  }
  return all as I;
}

/** Splits the JVP's outputs into the function's outputs and their tangents, by result name. */
export function jvpResults<T = Tensor>(results: readonly string[], out: Record<string, T>): { outputs: Record<string, T>; tangents: Record<string, T> } {
  const outputs: Record<string, T> = {};
  const tangents: Record<string, T> = {};
  for (const r of results) {
    outputs[r] = out[r]!;
    tangents[r] = out[tangentName(r)]!;
  }
  return { outputs, tangents };
}

// ---- device-resident calls (runtime/gpu-tensor.ts, runtime/webgpu/resident.ts) ----------------

/** What a call with `resident: true` gives: GpuTensors, and the status once the GPU has run it
 *  (it rejects with the call's run-time error, or that of a call upstream whose results it took). */
export interface ResidentCall {
  outputs: Record<string, GpuTensor>;
  status: Promise<CallStatus>;
}

/** Whether a call runs the resident path: asked for, or some input is a GpuTensor. */
export function runsResident(bind: Binding, resident: boolean | undefined): boolean {
  return resident === true || bind.inputs.some((i) => i.resident !== undefined);
}

/** Runs a call on the device-resident path of `backend` (MATR215 without one). */
export async function execResident(backend: Backend | undefined, exe: Executable, bind: Binding, f32?: boolean): Promise<ResidentRaw> {
  if (!backend?.runResident || f32) {
    throw new MatcRuntimeError('MATR215', `${exe.signature.name}: ${bind.inputs.some((i) => i.resident) ? 'GPU tensors were given' : 'resident results were asked for'}, but the call runs on ${f32 ? 'the f32 CPU reference' : backend ? `the ${backend.kind} backend` : 'the CPU'}: pass { backend: <a WebGPU backend> }`);
  }
  return backend.runResident(exe, bind);
}

/** The host form of a resident call (GpuTensor inputs, host results): reads every result back
 *  and waits for the status; the device buffers go back to the pool. */
export async function readResident(r: ResidentRaw): Promise<RawResult> {
  const names = Object.keys(r.outputs);
  try {
    const tensors = await Promise.all(names.map((n) => r.outputs[n]!.read()));
    const { nodes } = await r.status;
    return { outputs: Object.fromEntries(names.map((n, i) => [n, tensors[i]!])), nodes };
  } finally {
    for (const n of names) r.outputs[n]!.dispose();
  }
}

/** A resident call's status, summarized as `summarize` does (non-finite values counted on the
 *  device); result names are the IR's (gradients are `grad.p`). */
export function residentStatus(p: Promise<ResidentStatus>): Promise<CallStatus> {
  const s = p.then(({ nodes, nonFinite }) => {
    const warnings = nodeWarnings(nodes);
    for (const [name, n] of Object.entries(nonFinite)) {
      const g = gradientOf(name);
      const tg = tangentOf(name);
      if (n > 0) warnings.push(`${g !== null ? 'gradient' : tg !== null ? 'tangent' : 'output'} ${g ?? tg ?? name} has ${n} non-finite value(s)`);
    }
    return { ok: warnings.length === 0, nodes, warnings };
  });
  s.catch(() => undefined); // a status nobody awaits must not be an unhandled rejection
  return s;
}

/** `vjpResults` for GpuTensors: the gradient of an input shared by a batched call is summed over
 *  the batch on the device. */
export async function vjpResultsResident(backend: Backend, out: Record<string, GpuTensor>, bind: Binding): Promise<{ outputs: Record<string, GpuTensor>; gradients: Record<string, GpuTensor> }> {
  const outputs: Record<string, GpuTensor> = {};
  const gradients: Record<string, GpuTensor> = {};
  const shared = new Set(bind.batch.length > 0 ? bind.inputs.filter((i) => !i.batched).map((i) => i.param.name) : []);
  for (const [k, v] of Object.entries(out)) {
    const of = gradientOf(k);
    if (of === null) outputs[k] = v;
    else if (!shared.has(of)) gradients[of] = v;
    else {
      gradients[of] = await backend.sumOverBatch!(v, bind.batch.length);
      v.dispose();
    }
  }
  return { outputs, gradients };
}

// ---- results into the caller's tensors (CallOptions.into) ------------------------------------------

/** Checks the tensors a caller gave to hold results (MATR115) and returns, per result, the array
 *  a backend may write it into. */
export function intoArrays(fn: string, sig: Signature, bind: Binding, into: Record<string, unknown>, resident: boolean): { arrays: (Float64Array | Float32Array | undefined)[]; tensors: Record<string, Tensor> } {
  const bad = (msg: string): never => intoError(fn, 'into', msg);
  if (resident) bad('a resident call returns its results on the device (GpuTensors); into holds host results');
  const names = sig.results.map((r) => r.name);
  // memory is shared when two arrays' byte ranges in one buffer overlap
  type View = { buffer: ArrayBufferLike; byteOffset: number; byteLength: number };
  const overlaps = (a: View, b: View): boolean => a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
  const seen: View[] = [];
  const inputs: View[] = bind.inputs.filter((i) => !i.resident).map((i) => i.tensor.data);
  const arrays = names.map(() => undefined as Float64Array | Float32Array | undefined);
  const tensors: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(into)) {
    const k = names.indexOf(name);
    if (k < 0) {
      const sug = closest(name, names);
      bad(`${fn} has no result '${name}'${sug ? ` (did you mean '${sug}'?)` : ''}; its results: ${names.join(', ')}`);
    }
    const tensor = intoTensor(fn, 'into', name, t, [...bind.batch, ...sig.results[k]!.shape.map((d) => d.eval(bind.dims))], 'the result');
    if (inputs.some((x) => overlaps(x, tensor.data))) bad(`'${name}' shares its memory with an input of the call (the inputs are read while results are written)`);
    if (seen.some((x) => overlaps(x, tensor.data))) bad(`'${name}' shares its memory with another result's tensor`);
    seen.push(tensor.data);
    arrays[k] = tensor.data;
    tensors[name] = tensor;
  }
  return { arrays, tensors };
}

function intoError(fn: string, option: string, msg: string): never {
  throw new MatcRuntimeError('MATR115', `${fn}: ${option}: ${msg}`);
}

/** A tensor given to hold a value of this shape (`what`: the result, the gradient), or MATR115. */
function intoTensor(fn: string, option: string, name: string, t: unknown, shape: readonly number[], what: string): Tensor {
  if (!(t instanceof Tensor)) intoError(fn, option, `'${name}' is not a Tensor`);
  const tensor = t as Tensor;
  if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) intoError(fn, option, `'${name}' has shape [${tensor.shape.join(', ')}], ${what} [${shape.join(', ')}]`);
  return tensor;
}

/** The results, each held in the caller's tensor where into gave one (copied into it when the
 *  backend wrote an array of its own). */
export function fillInto(outputs: Record<string, Tensor>, into: Record<string, Tensor>): Record<string, Tensor> {
  const out = { ...outputs };
  for (const [name, t] of Object.entries(into)) {
    const got = outputs[name];
    if (!got) continue;
    if (got.data !== t.data) t.data.set(got.data);
    out[name] = t;
  }
  return out;
}

/** Gradients summed over the batch (of inputs the batch shares), copied into the caller's tensors
 *  (CallOptions.intoGradients), which then stand for them. */
export function fillSummed(fn: string, gradients: Record<string, Tensor>, into: Record<string, Tensor>): Record<string, Tensor> {
  const out = { ...gradients };
  for (const [name, t] of Object.entries(into)) {
    const g = gradients[name];
    if (!g) continue;
    intoTensor(fn, 'intoGradients', name, t, g.shape, 'the gradient').data.set(g.data);
    out[name] = t;
  }
  return out;
}
