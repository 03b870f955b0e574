// The CPU backend: runs an executable's compiled CPU program (compiler/codegen/cpu) in f64 or f32
// storage, a large batch split over worker threads, or — when asked, or when the code generator
// could not handle the function — the reference interpreter. `undefined` as a backend (the API's
// default without a GPU) is this backend with its defaults.

import type { Backend } from '../backend.js';
import type { Binding } from '../bind.js';
import type { Executable, RawResult } from '../executable.js';
import { runExecutableCpu } from './backend.js';
import { referenceForced, type Engine, type Precision } from './program.js';
import { ThreadPool } from './threads.js';
import { checkCpuOptions } from '../options.js';

export interface CpuBackendOptions {
  /** storage precision of the compiled program: 'f64' (default) or 'f32' */
  precision?: Precision;
  /** worker threads for large batches (default: the machine's cores; 1 = this thread only) */
  threads?: number;
  /** the reference interpreter instead of the compiled program */
  reference?: boolean;
  /** the form of the compiled program: 'wasm' (default where the engine has WebAssembly SIMD; a
   *  module with f64 or f32 buffers, by precision) or 'js' */
  engine?: Engine;
}

/** The machine's cores (Node), or the browser's hardwareConcurrency, or 1. Loaded lazily: the
 *  CPU backend is also part of the AOT runtime, which browsers load. */
export async function defaultThreads(): Promise<number> {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  try {
    const spec = 'node:os';
    const os = (await import(spec)) as { availableParallelism?: () => number; cpus: () => unknown[] };
    return Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length);
  } catch {
    return Math.max(1, nav?.hardwareConcurrency ?? 1);
  }
}

/** A CPU backend with the thread count resolved (the default: every core). */
export async function createCpuBackend(opts: CpuBackendOptions = {}): Promise<CpuBackend> {
  checkCpuOptions('createCpuBackend', opts);
  return new CpuBackend({ ...opts, threads: opts.threads ?? (opts.reference ? 1 : await defaultThreads()) });
}

export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;
  private pool: ThreadPool | null = null;

  constructor(readonly options: CpuBackendOptions = {}) {
    checkCpuOptions('CpuBackend', options);
  }

  /** worker threads a large batch is split over (1 unless given: `createCpuBackend` resolves the
   *  default of every core) */
  get threads(): number {
    return this.options.reference ? 1 : Math.max(1, Math.floor(this.options.threads ?? 1));
  }

  describe(): string {
    if (this.options.reference) return 'cpu (f64 reference interpreter)';
    const t = this.threads;
    return `cpu (compiled, ${this.options.precision ?? 'f64'}${t > 1 ? `, ${t} threads` : ''})`;
  }

  async run(exe: Executable, bind: Binding): Promise<RawResult> {
    const prog = this.options.reference || (!this.options.engine && referenceForced()) ? undefined : exe.cpu();
    if (!prog || this.threads < 2 || bind.batchSize < 2) return runExecutableCpu(exe, bind, this.options);
    this.pool ??= new ThreadPool(this.threads);
    return this.pool.run(prog, exe.signature, bind, this.options.precision ?? 'f64', this.options.engine);
  }

  dispose(): void {
    this.pool?.dispose();
    this.pool = null;
  }
}
