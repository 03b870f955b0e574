// Runs CPU programs (core/executable.ts CpuProgramData, made by compiler/codegen/cpu): the source
// is compiled once into a JavaScript function (cached by its text), the host evaluates its
// dimensions and workspace sizes for the call, and the function runs the batch — in this thread,
// or split over worker threads (runtime/cpu/threads.ts). The interpreter (interp.ts) stays the
// reference the tests hold these programs to.
//
// Precision: 'f64' (the default) keeps every buffer in Float64Array; 'f32' keeps inputs, buffers
// and outputs in Float32Array (scalars stay doubles), for speed over the f64 reference.

import { parseDim, type Dim } from '../../core/dims.js';
import type { CpuProgramData } from '../../core/executable.js';
import { InternalError, MatcRuntimeError, numberLines } from '../../core/errors.js';
import type { Binding } from '../bind.js';
import type { NodeStatus } from '../executable.js';
import type { Signature } from '../signature.js';
import { Tensor } from '../tensor.js';
import { helpers, type Arr } from './helpers.js';
import { runWasmRange, wasmModule, type WasmElem, type WasmModule } from './wasm.js';

export type Precision = 'f64' | 'f32';

/** `MATC_CPU=reference`: CPU runs that would use a compiled program and name no engine (the
 *  default backend, `--backend cpu`) use the reference interpreter instead: the interpreter-era
 *  behaviour, for before/after timings and debugging. A run that names its engine is unchanged. */
export function referenceForced(): boolean {
  return typeof process !== 'undefined' && process.env?.MATC_CPU === 'reference';
}

/** Which form of the program runs: the WebAssembly module of the precision (f64 or f32
 *  buffers, where the engine has SIMD) or the JavaScript; `MATC_CPU=js` forces the JavaScript. */
export type Engine = 'wasm' | 'js';

export function engineFor(p: CpuProgramData, precision: Precision, want?: Engine): Engine {
  const env = typeof process !== 'undefined' ? process.env.MATC_CPU : undefined;
  const pick = want ?? (env === 'js' || env === 'wasm' ? env : undefined);
  if (pick === 'js') return 'js';
  return wasmModule(p, elemOf(precision)) ? 'wasm' : 'js';
}

/** The element size of the module that runs a precision (wasm.ts). */
export const elemOf = (precision: Precision): WasmElem => (precision === 'f32' ? 4 : 8);

type Kernel = (H: typeof helpers, D: Float64Array, IN: Arr[], INS: Int32Array | number[], OUT: Arr[], ST: Float64Array[], W: Arr[], base: number, count: number) => void;

interface Compiled {
  fn: Kernel;
  dims: Dim[];
  buffers: Dim[];
  /** the workspace of the last call, by precision and dimensions */
  workspace: Map<string, Arr[]>;
}

/** Functions by source text (two programs may share a text with other dimensions). */
const functions = new Map<string, Kernel>();
/** Programs with their function and parsed layout. */
const compiled = new WeakMap<CpuProgramData, Compiled>();

/** Workspaces up to this size stay allocated between calls. */
const KEEP_WORKSPACE_BYTES = 64 * 2 ** 20;

/** The compiled function of a program and its parsed layout. */
export function compileProgram(p: CpuProgramData): Compiled {
  let c = compiled.get(p);
  if (!c) {
    let fn = functions.get(p.js);
    if (!fn) {
      try {
        fn = new Function('H', 'D', 'IN', 'INS', 'OUT', 'ST', 'W', 'base', 'count', p.js) as Kernel;
      } catch (e) {
        throw new InternalError(`CPU program does not compile: ${(e as Error).message}`, numberLines(p.js));
      }
      functions.set(p.js, fn);
    }
    c = { fn, dims: p.dims.map((d) => parseDim(d)), buffers: p.buffers.map((d) => parseDim(d)), workspace: new Map() };
    compiled.set(p, c);
  }
  return c;
}

const evalDims = (ds: readonly Dim[], dims: ReadonlyMap<string, number>, what: string): number[] =>
  ds.map((d) => {
    const v = d.eval(dims);
    if (!Number.isFinite(v)) throw new InternalError(`CPU program: ${what} ${d} is not bound (known: ${[...dims.keys()].join(', ')})`);
    return v;
  });

/** The workspace for one thread: one typed array per buffer. */
export function allocWorkspace(sizes: readonly number[], precision: Precision): Arr[] {
  return sizes.map((n) => (precision === 'f32' ? new Float32Array(n) : new Float64Array(n)));
}

/** What a run needs beyond the bound inputs, laid out for the kernel. */
export interface ProgramCall {
  D: Float64Array;
  IN: Arr[];
  INS: number[];
  OUT: Arr[];
  ST: Float64Array[];
  sizes: number[];
  outSizes: number[];
}

/** Evaluates the program's layout for a call and allocates its outputs. */
export function prepareCall(c: Compiled, sig: Signature, bind: Binding, precision: Precision, alloc: (n: number, f32: boolean) => Arr = plainArray): ProgramCall {
  const B = bind.batchSize;
  // the dimensions, then the machine epsilon of the storage precision (the JavaScript form reads it)
  const D = Float64Array.from([...evalDims(c.dims, bind.dims, 'dimension'), precision === 'f32' ? 2 ** -23 : 2 ** -52]);
  const sizes = evalDims(c.buffers, bind.dims, 'buffer size');
  const f32 = precision === 'f32';
  const Ctor = f32 ? Float32Array : Float64Array;
  const IN = bind.inputs.map((inp) => {
    const d = inp.tensor.data;
    // an int (int state) stays f64, exact in every precision (f32 is exact only below 2²⁴)
    if (inp.param.int) return d instanceof Float64Array ? d : Float64Array.from(d);
    // one array type per precision keeps the kernel monomorphic
    return d instanceof Ctor ? d : Ctor.from(d);
  });
  const INS = bind.inputs.map((inp) => (inp.batched ? inp.shape.reduce((a, b) => a * b, 1) : 0));
  const outSizes = sig.results.map((r) => r.shape.reduce((a, d) => a * d.eval(bind.dims), 1));
  // a result array the caller gave (CallOptions.into) when it is of the element type this call
  // writes (f64, or f32 for an f32-precision real): no allocation, no first-touch page faults
  const OUT = outSizes.map((s, i) => {
    const given = bind.into?.[i];
    const wantF32 = f32 && !sig.results[i]!.int;
    if (given && given.length === s * B && given instanceof (wantF32 ? Float32Array : Float64Array)) return given;
    return alloc(s * B, wantF32);
  });
  const ST = sig.status.map(() => alloc(3 * B, false) as Float64Array);
  return { D, IN, INS, OUT, ST, sizes, outSizes };
}

export const plainArray = (n: number, f32: boolean): Arr => (f32 ? new Float32Array(n) : new Float64Array(n));

/** An array in shared memory (for results that worker threads write). */
export const sharedArray = (n: number, f32: boolean): Arr => (f32 ? new Float32Array(new SharedArrayBuffer(n * 4)) : new Float64Array(new SharedArrayBuffer(n * 8)));

/** Runs instances base … base+count−1 of a prepared call in this thread. */
export function runRange(c: Compiled, call: ProgramCall, W: Arr[], base: number, count: number, source: string, wasm?: { module: WasmModule; checks: readonly string[]; elem: WasmElem }): void {
  if (wasm) {
    runWasmRange(wasm.module, wasm.checks, call, base, count, wasm.elem);
    return;
  }
  try {
    c.fn(helpers, call.D, call.IN, call.INS, call.OUT, call.ST, W, base, count);
  } catch (e) {
    if (e instanceof MatcRuntimeError) throw e;
    throw new InternalError(`CPU program failed: ${(e as Error).message}`, numberLines(source));
  }
}

/** The outputs and statuses of a finished call, as the API returns them. */
export function finishCall(sig: Signature, bind: Binding, call: ProgramCall): { outputs: Record<string, Tensor>; nodes: NodeStatus[] } {
  const B = bind.batchSize;
  const outputs: Record<string, Tensor> = {};
  sig.results.forEach((r, i) => {
    outputs[r.name] = new Tensor([...bind.batch, ...r.shape.map((d) => d.eval(bind.dims))], call.OUT[i]!);
  });
  const nodes: NodeStatus[] = sig.status.map((s, k) => {
    const st = call.ST[k]!;
    const iterations = new Array<number>(B);
    const converged = new Array<boolean>(B);
    const residual = s.residual ? new Array<number>(B) : undefined;
    for (let b = 0; b < B; b++) {
      iterations[b] = st[3 * b]!;
      converged[b] = st[3 * b + 1] !== 0;
      if (residual) residual[b] = st[3 * b + 2]!;
    }
    return { name: s.name, kind: s.kind, iterations, converged, ...(residual ? { residual } : {}), ...(s.estimate ? { residualEstimate: true } : {}) };
  });
  return { outputs, nodes };
}

/** Runs a CPU program over a bound batch in this thread. */
export function runProgram(p: CpuProgramData, sig: Signature, bind: Binding, precision: Precision = 'f64', engine?: Engine): { outputs: Record<string, Tensor>; nodes: NodeStatus[] } {
  const c = compileProgram(p);
  const call = prepareCall(c, sig, bind, precision);
  if (engineFor(p, precision, engine) === 'wasm') {
    runRange(c, call, [], 0, bind.batchSize, p.js, { module: wasmModule(p, elemOf(precision))!, checks: p.checks ?? [], elem: elemOf(precision) });
    return finishCall(sig, bind, call);
  }
  const key = `${precision}:${call.sizes.join(',')}`;
  let W = c.workspace.get(key);
  if (!W) {
    W = allocWorkspace(call.sizes, precision);
    // one workspace per program is kept for calls of the same sizes (a training loop), unless it
    // is large enough that holding it between calls would matter
    c.workspace.clear();
    const bytes = call.sizes.reduce((a, b) => a + b, 0) * (precision === 'f32' ? 4 : 8);
    if (bytes <= KEEP_WORKSPACE_BYTES) c.workspace.set(key, W);
  }
  runRange(c, call, W, 0, bind.batchSize, p.js);
  return finishCall(sig, bind, call);
}
