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
import { jvpInputs, jvpResults, summarize, vjpInputs, vjpResults, type CallStatus } from '../runtime/call.js';
import type { Backend } from '../runtime/backend.js';
import { jitExecutable } from './jit.js';

export interface CallOptions {
  /** values for int parameters / dimension overrides */
  dims?: Record<string, number>;
  /** evaluate on the CPU reference interpreter with every intermediate rounded to f32 (its
   *  prediction of GPU results); for fast f32 arithmetic use `new CpuBackend({ precision: 'f32' })` */
  f32?: boolean;
  backend?: Backend;
}

export { summarize, type CallStatus };

export interface ForwardResult {
  outputs: Record<string, Tensor>;
  status: CallStatus;
}

export interface VjpResult extends ForwardResult {
  gradients: Record<string, Tensor>;
}

export interface JvpResult extends ForwardResult {
  tangents: Record<string, Tensor>;
}

export interface ParamInfo {
  name: string;
  /** e.g. "mat[m, n]", "sym[m]" */
  type: string;
  shape: string[];
  struct: string;
  default?: number;
  differentiable: boolean;
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

  get func(): Func {
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
      };
    });
  }

  get results(): { name: string; type: string }[] {
    return this.func.results.map((r) => ({ name: r.name, type: typeText(r.node.type as TensorType).text }));
  }

  get kind(): Func['kind'] {
    return this.func.kind;
  }

  bind(inputs: Record<string, InputValue>, opts: CallOptions = {}): Binding {
    return bindInputs(this.func, inputs, { ...(opts.dims ? { dims: opts.dims } : {}), strictDims: true });
  }

  /** The executable of one form (compiled on first use; throws CompileError when the form has no
   *  derivation, e.g. the VJP of a loop). */
  executable(mode: Mode): Executable {
    return this.module.executable(this.name, mode);
  }

  private async exec(mode: Mode, inputs: Record<string, InputValue>, opts: CallOptions): Promise<{ outputs: Record<string, Tensor>; nodes: NodeStatus[] }> {
    const exe = this.executable(mode);
    const bind = bindInputs(exe.signature, inputs, { ...(opts.dims ? { dims: opts.dims } : {}), strictDims: true });
    const backend = opts.backend ?? this.module.defaultBackend;
    // f32: the reference interpreter's prediction of GPU rounding, whatever the backend
    if (backend && !opts.f32) return backend.run(exe, bind);
    return runExecutableCpu(exe, bind, { ...(opts.f32 ? { f32: true } : {}) });
  }

  async forward(inputs: Record<string, InputValue>, opts: CallOptions = {}): Promise<ForwardResult> {
    const r = await this.exec('forward', inputs, opts);
    return { outputs: r.outputs, status: summarize(r.nodes, r.outputs) };
  }

  /** Gradients of ⟨cotangents, outputs⟩ for every differentiable input. */
  async vjp(inputs: Record<string, InputValue>, cotangents: Record<string, InputValue>, opts: CallOptions = {}): Promise<VjpResult> {
    this.executable('vjp'); // a VJP that does not compile fails before the inputs are looked at
    // int results (int state) take no cotangent
    const isInt = (r: { node: { type: unknown } }) => (r.node.type as TensorType).dtype === 'i';
    const all = vjpInputs(this.name, this.func.results.filter((r) => !isInt(r)).map((r) => r.name), inputs, cotangents, this.func.results.filter(isInt).map((r) => r.name));
    const r = await this.exec('vjp', all, opts);
    const { outputs, gradients } = vjpResults(r.outputs);
    return { outputs, gradients, status: summarize(r.nodes, outputs, gradients) };
  }

  /** Tangents of the outputs along input tangents (missing tangents are zero). */
  async jvp(inputs: Record<string, InputValue>, tangents: Record<string, InputValue>, opts: CallOptions = {}): Promise<JvpResult> {
    this.executable('jvp');
    const bind = bindInputs(this.func, inputs, { ...(opts.dims ? { dims: opts.dims } : {}), noValidate: true, strictDims: true });
    const all = jvpInputs(bind, (p) => this.func.params.some((q) => q.name === p && q.differentiable), inputs, tangents, this.name);
    const r = await this.exec('jvp', all, opts);
    const { outputs, tangents: tans } = jvpResults(this.func.results.map((x) => x.name), r.outputs);
    return { outputs, tangents: tans, status: summarize(r.nodes, outputs) };
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
      e = mode === 'forward' ? jitExecutable(mode, p.forward(name)) : jitExecutable(mode, p[mode](name), () => p[mode](name, 'gpu'));
      this.executables.set(key, e);
    }
    return e;
  }

  /** Names of the callable functions (fn, layer, optimizer step and init). */
  get functions(): string[] {
    return this.program.names;
  }

  fn(name: string): CompiledFn {
    if (!this.program.out.funcs.has(name)) {
      throw new MatcRuntimeError('MATR100', `no function '${name}' in this module (have: ${this.functions.join(', ')})`);
    }
    return new CompiledFn(this, name);
  }
}

/** Compiles .mat source into a Module (throws CompileError with diagnostics). */
export function compile(source: string, opts: CompileOptions = {}): Module {
  return new Module(compileProgram(source, opts));
}
