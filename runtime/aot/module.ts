// The loaded form of a module written by `matc compile`: its functions, and the backend they run
// on. The generated ES module calls `defineModule(data)` once and exports the functions, `load`
// and `createModule`:
//
//   load(opts)          picks the backend for the module's exported functions (WebGPU when a GPU
//                       object is given or found, else the CPU reference) and returns the loaded
//                       module; a later load() replaces (and disposes) it.
//   createModule(opts)  an independent instance with its own backend (several devices, tests).
//
// Until load() the exported functions run on the CPU reference, as the JIT API does without a
// backend: creating a device implicitly would keep a Node process alive (Dawn) behind the
// caller's back.
//
// Each form (forward, VJP, JVP) of a function is an executable over its embedded data
// (runtime/executable.ts DataExecutable), shared by every instance of the module; its printed IR
// is parsed only when the CPU reference interpreter needs it.

import type { ExecutableData } from '../../core/executable.js';
import { Graph, type Func } from '../../compiler/ir/node.js';
import { parseFunc } from '../../compiler/ir/parser.js';
import type { Backend } from '../backend.js';
import { InternalError, MatcRuntimeError } from '../../core/errors.js';
import { DataExecutable, type Executable } from '../executable.js';
import type { Signature } from '../signature.js';
import { selectBackend, type LoadOptions, type SelectedBackend } from './backend.js';
import { AOT_FORMAT, AOT_FORMATS_READ, isMissing, type AotModuleData } from '../../core/aot-format.js';
import { AotCompileError, AotFunction, type FunctionHost, type MatcFunction, type Mode } from './function.js';

export interface LoadedModule<F = Record<string, MatcFunction>> {
  /** the functions, by their source names ("less", "sgd.init") */
  readonly functions: F;
  fn<K extends keyof F & string>(name: K): F[K];
  /** "cpu (f64 reference)", "webgpu (llvmpipe)", ... */
  readonly backend: string;
  readonly kind: 'cpu' | 'webgpu';
  /** why WebGPU was not taken, when it was asked for by 'auto' and not taken */
  readonly note: string | undefined;
  /** releases the GPU device (a Node process with a live Dawn device does not exit) */
  dispose(): void;
}

class Loaded<F> implements LoadedModule<F> {
  readonly functions: F;
  constructor(
    readonly module: AotModule<F>,
    readonly selected: SelectedBackend,
  ) {
    this.functions = module.makeFunctions(() => selected.backend);
  }
  fn<K extends keyof F & string>(name: K): F[K] {
    return this.module.lookup(this.functions, name);
  }
  get backend(): string {
    return this.selected.name;
  }
  get kind(): 'cpu' | 'webgpu' {
    return this.selected.backend?.kind === 'webgpu' ? 'webgpu' : 'cpu';
  }
  get note(): string | undefined {
    return this.selected.note;
  }
  dispose(): void {
    this.selected.backend?.dispose?.();
  }
}

export class AotModule<F = Record<string, MatcFunction>> {
  private readonly graph = new Graph();
  private readonly executables = new Map<string, Executable>();
  private current: Loaded<F> | null = null;
  /** The module's functions; they run on the backend of the last load() (CPU before). */
  readonly functions: F;

  constructor(readonly data: AotModuleData) {
    if (!AOT_FORMATS_READ.includes(data.format)) {
      throw new MatcRuntimeError('MATR113', `the module compiled from ${data.source} by matc ${data.matc} has format ${data.format}; this runtime reads format ${AOT_FORMAT}: recompile it with this version of matc (matc compile)`);
    }
    this.functions = this.makeFunctions(() => this.current?.selected.backend);
  }

  get names(): string[] {
    return Object.keys(this.data.functions);
  }

  fn<K extends keyof F & string>(name: K): F[K] {
    return this.lookup(this.functions, name);
  }

  /** Picks the backend of the module's functions; disposes the one a previous load() made. */
  async load(opts: LoadOptions = {}): Promise<LoadedModule<F>> {
    const next = new Loaded(this, await selectBackend(opts));
    this.current?.dispose();
    this.current = next;
    return next;
  }

  /** An independent instance on its own backend. */
  async createModule(opts: LoadOptions = {}): Promise<LoadedModule<F>> {
    return new Loaded(this, await selectBackend(opts));
  }

  /** Disposes the backend of the last load(); the functions fall back to the CPU reference. */
  dispose(): void {
    this.current?.dispose();
    this.current = null;
  }

  /** @internal */
  makeFunctions(backend: () => Backend | undefined): F {
    const host: FunctionHost = { executable: (name, mode) => this.executable(name, mode), backend };
    const out: Record<string, MatcFunction> = {};
    for (const [name, d] of Object.entries(this.data.functions)) out[name] = new AotFunction(name, d, host);
    return Object.freeze(out) as F;
  }

  /** @internal */
  lookup<K extends keyof F & string>(fns: F, name: K): F[K] {
    if (!Object.prototype.hasOwnProperty.call(this.data.functions, name)) {
      throw new MatcRuntimeError('MATR100', `no function '${name}' in this module (have: ${this.names.join(', ')})`);
    }
    return fns[name];
  }

  /** The executable of one form. */
  executable(name: string, mode: Mode): Executable {
    const key = `${mode}:${name}`;
    const hit = this.executables.get(key);
    if (hit) return hit;
    const d = this.data.functions[name];
    if (!d) throw new MatcRuntimeError('MATR100', `no function '${name}' in this module (have: ${this.names.join(', ')})`);
    const e = d[mode];
    if (isMissing(e)) throw new AotCompileError(e.error);
    const what = `${name} (${mode})`;
    const exe = new DataExecutable(e, (data, sig) => readIr(data, sig, this.graph, what), what, (m) => new InternalError(m));
    this.executables.set(key, exe);
    return exe;
  }
}

/** Parses printed IR and restores what the text does not carry (parameter defaults,
 *  `differentiable` flags, int-parameter defaults, run-time assertions) from the signature. */
function readIr(e: ExecutableData, sig: Signature, g: Graph, what: string): Func {
  let f: Func;
  try {
    f = parseFunc(e.ir, g);
  } catch (err) {
    throw new InternalError(`the embedded IR of ${what} does not parse (module written by another matc version?): ${(err as Error).message}`);
  }
  // the printer writes a name outside [A-Za-z0-9_.] with '_' for each such character (the
  // parameters of a collection: cores[0] → cores_0_); the signature keeps the source name
  const printed = (name: string) => name.replace(/[^A-Za-z0-9_.]/g, '_');
  if (f.params.length !== sig.params.length || f.params.some((p, i) => p.name !== sig.params[i]!.name && p.name !== printed(sig.params[i]!.name))) {
    throw new InternalError(`the embedded IR of ${what} has parameters (${f.params.map((p) => p.name).join(', ')}) but its signature lists (${sig.params.map((p) => p.name).join(', ')})`);
  }
  if (f.intParams.length !== sig.intParams.length || f.intParams.some((p, i) => p.name !== sig.intParams[i]!.name)) {
    throw new InternalError(`the embedded IR of ${what} has int parameters (${f.intParams.map((p) => p.name).join(', ')}) but its signature lists (${sig.intParams.map((p) => p.name).join(', ')})`);
  }
  return {
    ...f,
    params: f.params.map((p, i) => {
      const m = sig.params[i]!;
      return { ...p, name: m.name, differentiable: m.differentiable, ...(m.default !== undefined ? { default: m.default } : {}) };
    }),
    intParams: sig.intParams.map((p) => ({ ...p })),
    ...(sig.assertions.length ? { assertions: sig.assertions.map((a) => ({ ...a })) } : {}),
  };
}

/** Called once by a generated module with its embedded data. */
export function defineModule<F = Record<string, MatcFunction>>(data: AotModuleData): AotModule<F> {
  return new AotModule<F>(data);
}
