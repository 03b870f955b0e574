// The embedding API: compile(source) → Module; module.fn(name) → a callable with forward, vjp
// and jvp, batched over leading dimensions. Backends: the CPU (f64) and WebGPU (f32). Each form
// of a function (forward, VJP, JVP) is compiled on first use into an executable (jit.ts), which
// the backends run exactly as they run the executables of AOT modules.

import type { Func } from '../compiler/ir/node.js';
import type { TensorType } from '../compiler/ir/types.js';
import type { Mode } from '../core/executable.js';
import { compileProgram, type CompileOptions, type Program } from '../compiler/compile.js';
import { bindInputs, type Binding, type InputValue } from '../runtime/bind.js';
import { runExecutableCpu } from '../runtime/cpu/backend.js';
import type { Executable, NodeStatus } from '../runtime/executable.js';
import { Tensor } from '../runtime/tensor.js';
import { MatcRuntimeError } from '../core/errors.js';
import { gradientName } from '../core/derivative-names.js';
import { execResident, fillInto, fillSummed, intoArrays, jvpInputs, jvpResults, readResident, residentStatus, runsResident, summarize, vjpInputs, vjpResults, vjpResultsResident, type CallStatus } from '../runtime/call.js';
import type { GpuTensor } from '../runtime/gpu-tensor.js';
import type { ResidentRaw } from '../runtime/gpu-tensor.js';
import type { Backend } from '../runtime/backend.js';
import { jitExecutable } from './jit.js';
import { stageBudget } from '../compiler/ir/budget.js';
import { type CallInput, collectionLength, flattenCollections, groupCollections } from '../runtime/collections.js';
import { parseSpecName } from '../compiler/check/statics.js';
import { CALL_OPTIONS_OF, checkCallOptions, checkFunctionName } from '../runtime/options.js';
import { describeValue } from '../core/describe-value.js';

export interface CallOptions {
  /** values for int parameters / dimension overrides */
  dims?: Record<string, number>;
  /** evaluate on the CPU reference interpreter with every intermediate rounded to f32 (its
   *  prediction of GPU results); for fast f32 arithmetic use `new CpuBackend({ precision: 'f32' })` */
  f32?: boolean;
  /** the backend that runs the call (default: the module's); 'cpu' runs the compiled CPU
   *  program in this thread, as for a compiled module */
  backend?: Backend | 'cpu';
  /** keep the results on the device as GpuTensors (a WebGPU backend only); the status then
   *  arrives as a promise. Inputs may be GpuTensors with or without it. */
  resident?: boolean;
  /** forward and vjp: tensors to hold results, by result name (a training loop passes the results
   *  of the step before the last): each result is written into its tensor's array — by the CPU
   *  programs directly when the array is of the element type they write, otherwise copied — and
   *  that tensor is returned, so a call allocates no arrays for them. A tensor must have the
   *  result's shape (batch included) and share no memory with an input or another result
   *  (MATR115). */
  into?: Record<string, Tensor>;
  /** vjp: tensors to hold gradients, by input name, as `into` holds results (a gradient of an
   *  input shared by a batched call is summed over the batch first, then copied into its tensor) */
  intoGradients?: Record<string, Tensor>;
}

export { summarize, type CallStatus };

/** A call with `resident: true`: GpuTensors, and the status once the GPU has run the call (it
 *  rejects with a run-time error of the call — an index out of range, a non-finite GPU-tensor
 *  input — or of the call upstream that wrote an input). */
export interface ResidentForwardResult {
  outputs: Record<string, GpuTensor>;
  outputLists: Record<string, GpuTensor[]>;
  status: Promise<CallStatus>;
}

export interface ResidentVjpResult extends ResidentForwardResult {
  gradients: Record<string, GpuTensor>;
  gradientLists: Record<string, GpuTensor[]>;
}

export interface ResidentJvpResult extends ResidentForwardResult {
  tangents: Record<string, GpuTensor>;
  tangentLists: Record<string, GpuTensor[]>;
}

export interface ForwardResult {
  outputs: Record<string, Tensor>;
  /** the elements of collection results as arrays (`outputs['Bs[0]']` is `outputLists.Bs[0]`) */
  outputLists: Record<string, Tensor[]>;
  status: CallStatus;
}

export interface VjpResult extends ForwardResult {
  gradients: Record<string, Tensor>;
  /** gradients of collection parameters as arrays (`gradientLists.cores[2]`) */
  gradientLists: Record<string, Tensor[]>;
}

export interface JvpResult extends ForwardResult {
  tangents: Record<string, Tensor>;
  /** tangents of collection results as arrays */
  tangentLists: Record<string, Tensor[]>;
}

export interface ParamInfo {
  name: string;
  /** e.g. "mat[m, n]", "sym[m]" */
  type: string;
  shape: string[];
  struct: string;
  default?: number;
  differentiable: boolean;
  /** a complex parameter (compiler/check/complex.ts): `shape` ends in the axis of 2 holding
   *  (re, im), and this is its structure in the complex sense ('sym' = Hermitian, 'orth' =
   *  unitary, 'general'); a complex Tensor (Tensor.complex) binds to it without a copy */
  complex?: string;
}

function typeText(t: TensorType): { text: string; shape: string[] } {
  const shape = t.shape.map((d) => d.toString());
  const kind = t.dtype === 'i' ? 'int' : t.struct ?? (shape.length === 0 ? 'real' : shape.length === 1 ? 'vec' : shape.length === 2 ? 'mat' : 'tensor');
  return { text: shape.length ? `${kind}[${shape.join(', ')}]` : kind, shape };
}

export class CompiledFn {
  constructor(
    readonly module: Module,
    readonly name: string,
  ) {}

  /** Whether this is a generic function (static parameters): each call is run by the
   *  specialisation for its static values (compiled on first use, then cached per value). */
  get generic(): boolean {
    return this.module.program.genericInfo(this.name) !== null && !this.module.program.out.funcs.has(this.name);
  }

  /** The specialisation for static values taken from `dims`, the lengths of collection inputs
   *  and the defaults (a non-generic function is its own specialisation). */
  specialize(dims: Record<string, number> = {}, inputs: Record<string, unknown> = {}): CompiledFn {
    const info = this.module.program.genericInfo(this.name);
    if (!info || this.module.program.out.funcs.has(this.name)) return this;
    const known = new Map<string, number>();
    const given: Record<string, number> = {};
    for (const s of info.statics) {
      let v: number | undefined = dims[s.name];
      if (v === undefined) {
        for (const src of info.sources.get(s.name) ?? []) {
          const len = collectionLength(inputs, src.param);
          const lo = src.lo(known);
          if (len !== null && lo !== null) {
            v = lo + len;
            break;
          }
        }
      }
      v ??= s.default;
      if (v !== undefined) {
        known.set(s.name, v);
        given[s.name] = v;
      }
    }
    return new CompiledFn(this.module, this.module.program.specialize(this.name, given));
  }

  /** `opts.dims` without the static parameters (the specialisation has them built in). */
  private plainDims(opts: CallOptions): CallOptions {
    const info = this.module.program.genericInfo(this.name);
    if (!info || !opts.dims) return opts;
    const dims = Object.fromEntries(Object.entries(opts.dims).filter(([k]) => !info.statics.some((s) => s.name === k)));
    return { ...opts, dims };
  }

  get func(): Func {
    if (this.generic) return this.specialize().func;
    return this.module.program.lowered(this.name);
  }

  get params(): ParamInfo[] {
    return this.func.params.map((p) => {
      const t = typeText(p.node.type as TensorType);
      return {
        name: p.name,
        type: t.text,
        shape: t.shape,
        struct: (p.node.type as TensorType).struct ?? 'general',
        ...(p.default !== undefined ? { default: p.default } : {}),
        differentiable: p.differentiable,
        ...(p.complex ? { complex: p.complex } : {}),
      };
    });
  }

  /** `complex`: a complex result, (re, im) along its last axis of 2 */
  get results(): { name: string; type: string; complex?: boolean }[] {
    return this.func.results.map((r) => ({ name: r.name, type: typeText(r.node.type as TensorType).text, ...(r.complex ? { complex: true } : {}) }));
  }

  get kind(): Func['kind'] {
    return this.func.kind;
  }

  bind(inputs: Record<string, CallInput>, opts: CallOptions = {}): Binding {
    // (any call's options: a caller may bind with the object it calls with; only dims is read)
    checkCallOptions(this.name, opts, CALL_OPTIONS_OF.vjp);
    if (this.generic) return this.specialize(opts.dims, inputs).bind(inputs, this.plainDims(opts));
    const flat = this.flat(inputs, this.func.params.map((p) => p.name), 'input');
    return bindInputs(this.func, flat, { ...(opts.dims ? { dims: opts.dims } : {}), strictDims: true });
  }

  /** The executable of one form (compiled on first use; throws CompileError when the form has no
   *  derivation, e.g. the VJP of a loop). */
  executable(mode: Mode): Executable {
    if (mode !== 'forward' && mode !== 'vjp' && mode !== 'jvp') throw new MatcRuntimeError('MATR117', `${this.name}: executable: the form must be 'forward', 'vjp' or 'jvp', got ${describeValue(mode)}`);
    return this.module.executable(this.name, mode);
  }

  private async exec(mode: Mode, inputs: Record<string, InputValue>, opts: CallOptions, wanted: Record<string, Tensor> | undefined = mode === 'forward' ? opts.into : undefined): Promise<{ outputs: Record<string, Tensor>; nodes: NodeStatus[]; bind: Binding; resident?: undefined } | { resident: ResidentRaw; bind: Binding; backend: Backend }> {
    const exe = this.executable(mode);
    const bind = bindInputs(exe.signature, inputs, { ...(opts.dims ? { dims: opts.dims } : {}), strictDims: true });
    const backend = opts.backend === 'cpu' ? undefined : (opts.backend ?? this.module.defaultBackend);
    // results into the caller's tensors (CallOptions.into): validated here, given to the backend,
    // and copied into where the backend allocated its own arrays
    const into = wanted ? intoArrays(this.name, exe.signature, bind, wanted, opts.resident === true) : undefined;
    if (into) bind.into = into.arrays;
    const held = (outputs: Record<string, Tensor>): Record<string, Tensor> => (into ? fillInto(outputs, into.tensors) : outputs);
    if (runsResident(bind, opts.resident)) {
      const r = await execResident(backend, exe, bind, opts.f32);
      if (opts.resident) return { resident: r, bind, backend: backend! };
      const host = await readResident(r);
      return { ...host, outputs: held(host.outputs), bind };
    }
    // f32: the reference interpreter's prediction of GPU rounding, whatever the backend
    const r = backend && !opts.f32 ? await backend.run(exe, bind) : await runExecutableCpu(exe, bind, { ...(opts.f32 ? { f32: true } : {}) });
    return { ...r, outputs: held(r.outputs), bind };
  }

  /** Collection inputs given as arrays, flattened into their element names. */
  private flat(values: Record<string, CallInput>, names: readonly string[], what: string): Record<string, InputValue> {
    // the declared collections of the generic function this specialises (an empty one has no
    // flattened names, but may be passed as [])
    const spec = parseSpecName(this.name);
    const info = this.module.program.genericInfo(spec ? spec.base + spec.suffix : this.name);
    return flattenCollections(values, names, what, this.name, info?.collections ?? []);
  }

  forward(inputs: Record<string, CallInput>, opts: CallOptions & { resident: true }): Promise<ResidentForwardResult>;
  forward(inputs: Record<string, CallInput>, opts?: CallOptions): Promise<ForwardResult>;
  async forward(inputs: Record<string, CallInput>, opts: CallOptions = {}): Promise<ForwardResult | ResidentForwardResult> {
    checkCallOptions(this.name, opts, CALL_OPTIONS_OF.forward);
    if (this.generic) return this.specialize(opts.dims, inputs).forward(inputs, this.plainDims(opts));
    const r = await this.exec('forward', this.flat(inputs, this.func.params.map((p) => p.name), 'input'), opts);
    if (r.resident) return { outputs: r.resident.outputs, outputLists: groupCollections(r.resident.outputs), status: residentStatus(r.resident.status) };
    return { outputs: r.outputs, outputLists: groupCollections(r.outputs), status: summarize(r.nodes, r.outputs) };
  }

  /** Gradients of ⟨cotangents, outputs⟩ for every differentiable input. */
  vjp(inputs: Record<string, CallInput>, cotangents: Record<string, CallInput>, opts: CallOptions & { resident: true }): Promise<ResidentVjpResult>;
  vjp(inputs: Record<string, CallInput>, cotangents: Record<string, CallInput>, opts?: CallOptions): Promise<VjpResult>;
  async vjp(inputs: Record<string, CallInput>, cotangents: Record<string, CallInput>, opts: CallOptions = {}): Promise<VjpResult | ResidentVjpResult> {
    checkCallOptions(this.name, opts, CALL_OPTIONS_OF.vjp);
    if (this.generic) return this.specialize(opts.dims, inputs).vjp(inputs, cotangents, this.plainDims(opts));
    this.executable('vjp'); // a VJP that does not compile fails before the inputs are looked at
    // int results (int state) take no cotangent
    const isInt = (r: { node: { type: unknown } }) => (r.node.type as TensorType).dtype === 'i';
    const resultNames = this.func.results.filter((r) => !isInt(r)).map((r) => r.name);
    const all = vjpInputs(
      this.name,
      resultNames,
      this.flat(inputs, this.func.params.map((p) => p.name), 'input'),
      this.flat(cotangents, this.func.results.map((r) => r.name), 'cotangent of output'),
      this.func.results.filter(isInt).map((r) => r.name),
    );
    // results and gradients into the caller's tensors: a gradient the backend writes as it is (of
    // a batched input, or of any input in an unbatched call) by its raw result name; one summed
    // over the batch is copied into its tensor after the sum
    const summed: Record<string, Tensor> = {};
    let vjpInto: Record<string, Tensor> | undefined;
    if (opts.into || opts.intoGradients) {
      vjpInto = { ...(opts.into ?? {}) };
      const probe = this.bind(inputs, opts);
      for (const [p, t] of Object.entries(opts.intoGradients ?? {})) {
        const inp = probe.inputs.find((i) => i.param.name === p);
        if (!inp || !this.func.params.find((q) => q.name === p)?.differentiable) {
          throw new MatcRuntimeError('MATR115', `${this.name}: intoGradients: '${p}' is not a differentiable input of ${this.name}`);
        }
        if (probe.batch.length > 0 && !inp.batched) summed[p] = t;
        else vjpInto[gradientName(p)] = t;
      }
    }
    const r = await this.exec('vjp', all, opts, vjpInto);
    if (r.resident) {
      const { outputs, gradients } = await vjpResultsResident(r.backend, r.resident.outputs, r.bind);
      return { outputs, outputLists: groupCollections(outputs), gradients, gradientLists: groupCollections(gradients), status: residentStatus(r.resident.status) };
    }
    const split = vjpResults(r.outputs, r.bind);
    const outputs = split.outputs;
    const gradients = Object.keys(summed).length ? fillSummed(this.name, split.gradients, summed) : split.gradients;
    return { outputs, outputLists: groupCollections(outputs), gradients, gradientLists: groupCollections(gradients), status: summarize(r.nodes, outputs, gradients) };
  }

  /** Tangents of the outputs along input tangents (missing tangents are zero). */
  jvp(inputs: Record<string, CallInput>, tangents: Record<string, CallInput>, opts: CallOptions & { resident: true }): Promise<ResidentJvpResult>;
  jvp(inputs: Record<string, CallInput>, tangents: Record<string, CallInput>, opts?: CallOptions): Promise<JvpResult>;
  async jvp(inputs: Record<string, CallInput>, tangents: Record<string, CallInput>, opts: CallOptions = {}): Promise<JvpResult | ResidentJvpResult> {
    checkCallOptions(this.name, opts, CALL_OPTIONS_OF.jvp);
    if (this.generic) return this.specialize(opts.dims, inputs).jvp(inputs, tangents, this.plainDims(opts));
    this.executable('jvp');
    const names = this.func.params.map((p) => p.name);
    const flatInputs = this.flat(inputs, names, 'input');
    const bind = bindInputs(this.func, flatInputs, { ...(opts.dims ? { dims: opts.dims } : {}), noValidate: true, strictDims: true });
    const all = jvpInputs(bind, (p) => this.func.params.some((q) => q.name === p && q.differentiable), flatInputs, this.flat(tangents, names, 'tangent of input'), this.name);
    const r = await this.exec('jvp', all, opts);
    if (r.resident) {
      const { outputs, tangents: tans } = jvpResults(this.func.results.map((x) => x.name), r.resident.outputs);
      return { outputs, outputLists: groupCollections(outputs), tangents: tans, tangentLists: groupCollections(tans), status: residentStatus(r.resident.status) };
    }
    const { outputs, tangents: tans } = jvpResults(this.func.results.map((x) => x.name), r.outputs);
    return { outputs, outputLists: groupCollections(outputs), tangents: tans, tangentLists: groupCollections(tans), status: summarize(r.nodes, outputs) };
  }
}

export class Module {
  defaultBackend: Backend | undefined;
  private executables = new Map<string, Executable>();

  constructor(readonly program: Program) {}

  /** The executable of one form of a function, compiled on first use. */
  executable(name: string, mode: Mode): Executable {
    const key = `${mode}:${name}`;
    let e = this.executables.get(key);
    if (!e) {
      const p = this.program;
      const cpu = () => p.cpuForm(name, mode);
      const budget = stageBudget(p.options);
      e =
        mode === 'forward'
          ? jitExecutable(mode, p.forward(name), undefined, () => p.gridForm(name, mode), cpu, budget)
          : jitExecutable(mode, p[mode](name), () => p[mode](name, 'gpu'), () => p.gridForm(name, mode), cpu, budget);
      this.executables.set(key, e);
    }
    return e;
  }

  /** Names of the callable functions (fn, layer, optimizer step and init; a generic function by
   *  its own name: its specialisations, `tt[K=4]`, are callable by name too but not listed). */
  get functions(): string[] {
    const generic = (n: string): boolean => {
      const s = parseSpecName(n);
      return !!s && this.program.genericInfo(s.base + s.suffix) !== null;
    };
    return [...this.program.generics, ...this.program.names.filter((n) => !generic(n))];
  }

  /** A function by name; a generic one (static parameters) by its name, specialised per call, or
   *  one specialisation by `NAME[K=4]`. */
  fn(name: string): CompiledFn {
    checkFunctionName(name, this.functions);
    if (this.program.out.funcs.has(name) || this.program.genericInfo(name)) return new CompiledFn(this, name);
    const spec = parseSpecName(name);
    if (spec && this.program.genericInfo(spec.base + spec.suffix)) return new CompiledFn(this, this.program.specialize(name));
    throw new MatcRuntimeError('MATR100', `no function '${name}' in this module (have: ${this.functions.join(', ')})`);
  }
}

/** Compiles .mat source into a Module (throws CompileError with diagnostics). */
export function compile(source: string, opts: CompileOptions = {}): Module {
  return new Module(compileProgram(source, opts));
}
