// The embedding API: compile(source) → Module; module.fn(name) → a callable with forward, vjp
// and jvp, batched over leading dimensions. Backends: the CPU reference (f64) and WebGPU (f32);
// derived functions (VJP, JVP) are compiled on first use and cached.

import type { Func } from './ir/node.js';
import type { TensorType } from './ir/types.js';
import { compileProgram, type CompileOptions, type Program } from './compile.js';
import { bindInputs, type Binding, type InputValue } from '../runtime/bind.js';
import { runCpu, type NodeStatus } from '../runtime/cpu/backend.js';
import { Tensor } from '../runtime/tensor.js';
import { MatcRuntimeError } from '../runtime/errors.js';
import { jvpInputs, jvpResults, summarize, vjpInputs, vjpResults, type CallStatus } from '../runtime/call.js';
import type { Backend } from '../runtime/backend.js';

export interface CallOptions {
  /** values for int parameters / dimension overrides */
  dims?: Record<string, number>;
  /** evaluate with f32 rounding on the CPU backend */
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
  const kind = t.struct ?? (shape.length === 0 ? 'real' : shape.length === 1 ? 'vec' : shape.length === 2 ? 'mat' : 'tensor');
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
    return bindInputs(this.func, inputs, { ...(opts.dims ? { dims: opts.dims } : {}) });
  }

  private async exec(f: Func, inputs: Record<string, InputValue>, opts: CallOptions): Promise<{ outputs: Record<string, Tensor>; nodes: NodeStatus[] }> {
    const bind = bindInputs(f, inputs, { ...(opts.dims ? { dims: opts.dims } : {}) });
    const backend = opts.backend ?? this.module.defaultBackend;
    if (backend && backend.kind === 'webgpu') return backend.run(f, bind);
    const r = runCpu(f, bind, { ...(opts.f32 ? { f32: true } : {}) });
    return { outputs: r.outputs, nodes: r.status };
  }

  async forward(inputs: Record<string, InputValue>, opts: CallOptions = {}): Promise<ForwardResult> {
    const r = await this.exec(this.module.program.forward(this.name), inputs, opts);
    return { outputs: r.outputs, status: summarize(r.nodes, r.outputs) };
  }

  /** Gradients of ⟨cotangents, outputs⟩ for every differentiable input. */
  async vjp(inputs: Record<string, InputValue>, cotangents: Record<string, InputValue>, opts: CallOptions = {}): Promise<VjpResult> {
    const f = this.module.program.vjp(this.name);
    const all = vjpInputs(this.name, this.func.results.map((r) => r.name), inputs, cotangents);
    const r = await this.exec(f, all, opts);
    const { outputs, gradients } = vjpResults(r.outputs);
    return { outputs, gradients, status: summarize(r.nodes, outputs, gradients) };
  }

  /** Tangents of the outputs along input tangents (missing tangents are zero). */
  async jvp(inputs: Record<string, InputValue>, tangents: Record<string, InputValue>, opts: CallOptions = {}): Promise<JvpResult> {
    const f = this.module.program.jvp(this.name);
    const bind = bindInputs(this.func, inputs, { ...(opts.dims ? { dims: opts.dims } : {}), noValidate: true });
    const all = jvpInputs(bind, (p) => this.func.params.some((q) => q.name === p && q.differentiable), inputs, tangents);
    const r = await this.exec(f, all, opts);
    const { outputs, tangents: tans } = jvpResults(this.func.results.map((x) => x.name), r.outputs);
    return { outputs, tangents: tans, status: summarize(r.nodes, outputs) };
  }
}

export class Module {
  defaultBackend: Backend | undefined;

  constructor(readonly program: Program) {}

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
