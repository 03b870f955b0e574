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
import { cotangentName, gradientOf, tangentName } from '../runtime/derivative-names.js';
import type { Backend } from '../runtime/backend.js';

export interface CallOptions {
  /** values for int parameters / dimension overrides */
  dims?: Record<string, number>;
  /** evaluate with f32 rounding on the CPU backend */
  f32?: boolean;
  backend?: Backend;
}

export interface CallStatus {
  /** false if a solver did not converge, a backward solve was singular or an output is not finite */
  ok: boolean;
  nodes: NodeStatus[];
  warnings: string[];
}

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

/** Summarizes statuses and checks outputs for non-finite values ("never a silent NaN"). */
export function summarize(nodes: NodeStatus[], outputs: Record<string, Tensor>, gradients: Record<string, Tensor> = {}): CallStatus {
  const warnings: string[] = [];
  for (const s of nodes) {
    const bad = s.converged.filter((c) => !c).length;
    if (bad > 0) {
      if (/(solve|inv|lstsq|tril_solve|triu_solve)@/.test(s.name)) {
        warnings.push(`${s.name}: the linear system is singular or nearly so (rcond ≤ 1e-10) in ${bad} of ${s.converged.length} instance(s); its result is unreliable`);
      } else if (s.name.endsWith('/curvature')) {
        warnings.push(`${s.name}: the solution is not a local minimum in ${bad} of ${s.converged.length} instance(s) (negative curvature along the constraint: the solver stopped at a saddle point or maximum)`);
      } else if (s.name.endsWith('/backward') || s.name.endsWith('/tangent')) {
        warnings.push(`${s.name}: the implicit backward system is singular or nearly so in ${bad} of ${s.converged.length} instance(s) (rcond ≤ 1e-13); gradients there are unreliable`);
      } else warnings.push(`${s.name}: did not converge in ${bad} of ${s.converged.length} instance(s) (iteration limit reached)`);
    }
  }
  for (const [what, group] of [['output', outputs], ['gradient', gradients]] as const) {
    for (const [name, t] of Object.entries(group)) {
      let n = 0;
      const d = t.data;
      if (t.firstNonFinite() >= 0) for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) n++;
      if (n > 0) warnings.push(`${what} ${name} has ${n} non-finite value(s)`);
    }
  }
  return { ok: warnings.length === 0, nodes, warnings };
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
    const all: Record<string, InputValue> = { ...inputs };
    for (const r of this.func.results) {
      const c = cotangents[r.name];
      if (c === undefined) throw new MatcRuntimeError('MATR101', `${this.name}: missing cotangent for output '${r.name}'`);
      all[cotangentName(r.name)] = c;
    }
    for (const k of Object.keys(cotangents)) {
      if (!this.func.results.some((r) => r.name === k)) throw new MatcRuntimeError('MATR101', `${this.name} has no output '${k}'`);
    }
    const r = await this.exec(f, all, opts);
    const outputs: Record<string, Tensor> = {};
    const gradients: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(r.outputs)) {
      const of = gradientOf(k);
      if (of !== null) gradients[of] = v;
      else outputs[k] = v;
    }
    return { outputs, gradients, status: summarize(r.nodes, outputs, gradients) };
  }

  /** Tangents of the outputs along input tangents (missing tangents are zero). */
  async jvp(inputs: Record<string, InputValue>, tangents: Record<string, InputValue>, opts: CallOptions = {}): Promise<JvpResult> {
    const f = this.module.program.jvp(this.name);
    const all: Record<string, InputValue> = { ...inputs };
    const bind = bindInputs(this.func, inputs, { ...(opts.dims ? { dims: opts.dims } : {}), noValidate: true });
    for (const inp of bind.inputs) {
      if (!inp.param.differentiable) continue;
      const t = tangents[inp.param.name];
      all[tangentName(inp.param.name)] = t ?? Tensor.zeros(inp.tensor.shape);
    }
    const r = await this.exec(f, all, opts);
    const outputs: Record<string, Tensor> = {};
    const tans: Record<string, Tensor> = {};
    for (const res of this.func.results) {
      outputs[res.name] = r.outputs[res.name]!;
      tans[res.name] = r.outputs[tangentName(res.name)]!;
    }
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
