// A callable function of an AOT module: `forward`, `vjp` and `jvp` with the JIT API's behaviour
// (api/module.ts CompiledFn) — the same binding, the same checks and messages, the same result
// shapes — over the module's embedded executables, which the backends run as they run the JIT's.

import type { Backend } from '../backend.js';
import { bindInputs, type Binding, type InputValue } from '../bind.js';
import { runExecutableCpu } from '../cpu/backend.js';
import type { Executable, NodeStatus } from '../executable.js';
import { Tensor } from '../tensor.js';
import type { AotFunctionData, AotSignature, FunctionKind } from '../../core/aot-format.js';
import { execResident, jvpInputs, jvpResults, readResident, residentStatus, runsResident, summarize, vjpInputs, vjpResults, vjpResultsResident, type CallStatus } from '../call.js';
import { CALL_OPTIONS_OF, checkCallOptions } from '../options.js';
import type { GpuTensor } from '../gpu-tensor.js';
import type { ResidentRaw } from '../gpu-tensor.js';
import { flattenCollections, groupCollections, type CallInput } from '../collections.js';

export type { InputValue };

export interface AotCallOptions {
  /** values for int parameters / dimension overrides */
  dims?: Record<string, number>;
  /** evaluate with f32 rounding on the CPU backend */
  f32?: boolean;
  /** 'cpu' forces the CPU reference; a Backend (e.g. the JIT's WebGpuBackend) runs the embedded
   *  kernels on its device. Default: the backend the module was loaded with (CPU until then). */
  backend?: Backend | 'cpu';
  /** keep the results on the device as GpuTensors (WebGPU only); the status then arrives as a
   *  promise. Inputs may be GpuTensors with or without it. */
  resident?: boolean;
}

/** A call with `resident: true` (see the JIT's ResidentForwardResult). */
export interface ResidentForwardResult<O> {
  outputs: { [K in keyof O]: GpuTensor };
  outputLists: Record<string, GpuTensor[]>;
  status: Promise<CallStatus>;
}

export interface ResidentVjpResult<O, G extends string> extends ResidentForwardResult<O> {
  gradients: { [K in G]: GpuTensor };
  gradientLists: Record<string, GpuTensor[]>;
}

export interface ResidentJvpResult<O> extends ResidentForwardResult<O> {
  tangents: { [K in keyof O]: GpuTensor };
  tangentLists: Record<string, GpuTensor[]>;
}

export interface ForwardResult<O> {
  outputs: O;
  /** the elements of collection results (`Bs[0]`, `Bs[1]`, …) as arrays, as in the JIT */
  outputLists: Record<string, Tensor[]>;
  status: CallStatus;
}

export interface VjpResult<O, G extends string> extends ForwardResult<O> {
  gradients: { [K in G]: Tensor };
  /** gradients of collection parameters as arrays */
  gradientLists: Record<string, Tensor[]>;
}

export interface JvpResult<O> extends ForwardResult<O> {
  tangents: O;
  /** tangents of collection results as arrays */
  tangentLists: Record<string, Tensor[]>;
}

/** One compiled function. `I`: its inputs ({A: InputValue, ...}; parameters with defaults are
 *  optional), `O`: its outputs ({x: Tensor}), `G`: the inputs it is differentiable in. */
export interface MatcFunction<I extends object = Record<string, InputValue>, O extends object = Record<string, Tensor>, G extends string = Extract<keyof I, string>> {
  readonly name: string;
  readonly kind: FunctionKind;
  /** parameter and result names, types as text, structure, defaults, int parameters */
  readonly signature: AotSignature;
  forward(inputs: I, opts: AotCallOptions & { resident: true }): Promise<ResidentForwardResult<O>>;
  forward(inputs: I, opts?: AotCallOptions): Promise<ForwardResult<O>>;
  /** Gradients of ⟨cotangents, outputs⟩ for every differentiable input. */
  vjp(inputs: I, cotangents: { [K in keyof O]: InputValue }, opts: AotCallOptions & { resident: true }): Promise<ResidentVjpResult<O, G>>;
  vjp(inputs: I, cotangents: { [K in keyof O]: InputValue }, opts?: AotCallOptions): Promise<VjpResult<O, G>>;
  /** Tangents of the outputs along input tangents (missing tangents are zero). */
  jvp(inputs: I, tangents: { [K in G]?: InputValue }, opts: AotCallOptions & { resident: true }): Promise<ResidentJvpResult<O>>;
  jvp(inputs: I, tangents: { [K in G]?: InputValue }, opts?: AotCallOptions): Promise<JvpResult<O>>;
}

export type Mode = 'forward' | 'vjp' | 'jvp';

/** What a function needs from its module: its executables and the backend it was loaded with. */
export interface FunctionHost {
  executable(name: string, mode: Mode): Executable;
  backend(): Backend | undefined;
}

/** A derived form (VJP/JVP) that did not compile when the module was written. */
export class AotCompileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CompileError';
  }
}

type Inputs = Record<string, InputValue>;

export class AotFunction implements MatcFunction<Inputs, Record<string, Tensor>, string> {
  constructor(
    readonly name: string,
    readonly data: AotFunctionData,
    private readonly host: FunctionHost,
  ) {}

  get kind(): FunctionKind {
    return this.data.signature.kind;
  }

  get signature(): AotSignature {
    return this.data.signature;
  }

  private async exec(mode: Mode, inputs: Inputs, opts: AotCallOptions): Promise<{ outputs: Record<string, Tensor>; nodes: NodeStatus[]; bind: Binding; resident?: undefined } | { resident: ResidentRaw; bind: Binding; backend: Backend }> {
    const exe = this.host.executable(this.name, mode);
    const bind = bindInputs(exe.signature, inputs, { ...(opts.dims ? { dims: opts.dims } : {}), strictDims: true });
    const backend = opts.backend === 'cpu' ? undefined : (opts.backend ?? this.host.backend());
    if (runsResident(bind, opts.resident)) {
      const r = await execResident(backend, exe, bind, opts.f32);
      if (opts.resident) return { resident: r, bind, backend: backend! };
      return { ...(await readResident(r)), bind };
    }
    const r = backend && !opts.f32 ? await backend.run(exe, bind) : await runExecutableCpu(exe, bind, { ...(opts.f32 ? { f32: true } : {}) });
    return { ...r, bind };
  }

  /** Collection inputs given as arrays (`cores: [c0, c1, …]`), flattened into their element
   *  names `cores[0]`, … (runtime/collections.ts). */
  private flat(values: Record<string, CallInput>, names: readonly string[], what: string): Inputs {
    return flattenCollections(values, names, what, this.name);
  }

  forward(inputs: Inputs, opts: AotCallOptions & { resident: true }): Promise<ResidentForwardResult<Record<string, Tensor>>>;
  forward(inputs: Inputs, opts?: AotCallOptions): Promise<ForwardResult<Record<string, Tensor>>>;
  async forward(inputs: Inputs, opts: AotCallOptions = {}): Promise<ForwardResult<Record<string, Tensor>> | ResidentForwardResult<Record<string, Tensor>>> {
    checkCallOptions(this.name, opts, CALL_OPTIONS_OF.aot);
    const r = await this.exec('forward', this.flat(inputs, this.signature.params.map((p) => p.name), 'input'), opts);
    if (r.resident) return { outputs: r.resident.outputs, outputLists: groupCollections(r.resident.outputs), status: residentStatus(r.resident.status) };
    return { outputs: r.outputs, outputLists: groupCollections(r.outputs), status: summarize(r.nodes, r.outputs) };
  }

  vjp(inputs: Inputs, cotangents: Record<string, InputValue>, opts: AotCallOptions & { resident: true }): Promise<ResidentVjpResult<Record<string, Tensor>, string>>;
  vjp(inputs: Inputs, cotangents: Record<string, InputValue>, opts?: AotCallOptions): Promise<VjpResult<Record<string, Tensor>, string>>;
  async vjp(inputs: Inputs, cotangents: Record<string, InputValue>, opts: AotCallOptions = {}): Promise<VjpResult<Record<string, Tensor>, string> | ResidentVjpResult<Record<string, Tensor>, string>> {
    checkCallOptions(this.name, opts, CALL_OPTIONS_OF.aot);
    this.host.executable(this.name, 'vjp'); // a VJP that did not compile fails first, as in the JIT
    // int results (int state) take no cotangent
    const results = this.signature.results.filter((r) => !r.int).map((r) => r.name);
    const all = vjpInputs(
      this.name,
      results,
      this.flat(inputs, this.signature.params.map((p) => p.name), 'input'),
      this.flat(cotangents, this.signature.results.map((r) => r.name), 'cotangent of output'),
      this.signature.results.filter((r) => r.int).map((r) => r.name),
    );
    const r = await this.exec('vjp', all, opts);
    if (r.resident) {
      const { outputs, gradients } = await vjpResultsResident(r.backend, r.resident.outputs, r.bind);
      return { outputs, outputLists: groupCollections(outputs), gradients, gradientLists: groupCollections(gradients), status: residentStatus(r.resident.status) };
    }
    const { outputs, gradients } = vjpResults(r.outputs, r.bind);
    return { outputs, outputLists: groupCollections(outputs), gradients, gradientLists: groupCollections(gradients), status: summarize(r.nodes, outputs, gradients) };
  }

  jvp(inputs: Inputs, tangents: Record<string, InputValue | undefined>, opts: AotCallOptions & { resident: true }): Promise<ResidentJvpResult<Record<string, Tensor>>>;
  jvp(inputs: Inputs, tangents: Record<string, InputValue | undefined>, opts?: AotCallOptions): Promise<JvpResult<Record<string, Tensor>>>;
  async jvp(inputs: Inputs, tangents: Record<string, InputValue | undefined>, opts: AotCallOptions = {}): Promise<JvpResult<Record<string, Tensor>> | ResidentJvpResult<Record<string, Tensor>>> {
    checkCallOptions(this.name, opts, CALL_OPTIONS_OF.aot);
    // Shapes of the zero tangents come from binding the forward (as the JIT binds the function).
    this.host.executable(this.name, 'jvp'); // a JVP that did not compile fails first, as in the JIT
    const fwd = this.host.executable(this.name, 'forward');
    const names = this.signature.params.map((p) => p.name);
    const flatInputs = this.flat(inputs, names, 'input');
    const bind = bindInputs(fwd.signature, flatInputs, { ...(opts.dims ? { dims: opts.dims } : {}), noValidate: true, strictDims: true });
    const takes = new Set(this.signature.tangents);
    const all = jvpInputs(bind, (p) => takes.has(p), flatInputs, this.flat(tangents as Record<string, CallInput>, names, 'tangent of input'), this.name);
    const r = await this.exec('jvp', all, opts);
    if (r.resident) {
      const { outputs, tangents: tans } = jvpResults(this.signature.results.map((x) => x.name), r.resident.outputs);
      return { outputs, outputLists: groupCollections(outputs), tangents: tans, tangentLists: groupCollections(tans), status: residentStatus(r.resident.status) };
    }
    const { outputs, tangents: tans } = jvpResults(this.signature.results.map((x) => x.name), r.outputs);
    return { outputs, outputLists: groupCollections(outputs), tangents: tans, tangentLists: groupCollections(tans), status: summarize(r.nodes, outputs) };
  }
}
