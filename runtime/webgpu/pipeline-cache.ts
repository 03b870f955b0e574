// Compute pipelines cached by (WGSL text, entry point, binding layout). Pipeline creation is the
// expensive step of running generated code (a driver compile per pipeline); a plan that runs every
// step, or many plans sharing one GEMM kernel, must compile each kernel once. Creation is async
// (createComputePipelineAsync) and concurrent requests for one key share a single promise.
// A WGSL or layout error is a bug in matc's code generator, so it surfaces as an InternalError whose
// detail shows the compiler's messages (line:col) and the WGSL with line numbers.
/// <reference types="@webgpu/types" />

import { InternalError, numberLines } from '../../core/errors.js';
import { ShaderStage } from './constants.js';

export type BindingAccess = 'read' | 'read_write' | 'uniform';

/** One entry of a kernel's bind group 0 layout. */
export interface BindingSlot {
  binding: number;
  access: BindingAccess;
}

export interface KernelSource {
  wgsl: string;
  entryPoint: string;
  label?: string;
}

export interface CachedPipeline {
  pipeline: GPUComputePipeline;
  /** The explicit layout of bind group 0 the pipeline was created with. */
  bindGroupLayout: GPUBindGroupLayout;
  /** entry point and layout (unique within the pipeline's WGSL module) */
  key: string;
}

export interface PipelineCacheStats {
  /** get() calls. */
  requests: number;
  /** get() calls answered by a finished or in-flight compile. */
  hits: number;
  /** Pipelines actually created. */
  compiles: number;
  failures: number;
}

/** Canonical text of a layout ("0:read,1:read_write,2:uniform"), sorted by binding. */
export function layoutKey(slots: readonly BindingSlot[]): string {
  return [...slots]
    .sort((a, b) => a.binding - b.binding)
    .map((s) => `${s.binding}:${s.access}`)
    .join(',');
}

const BUFFER_TYPE: Record<BindingAccess, GPUBufferBindingType> = {
  read: 'read-only-storage',
  read_write: 'storage',
  uniform: 'uniform',
};

export class PipelineCache {
  readonly stats: PipelineCacheStats = { requests: 0, hits: 0, compiles: 0, failures: 0 };
  #device: GPUDevice;
  /** by WGSL text, then by entry point and layout: a grid program's module holds hundreds of
   *  entry points and can be ~10⁵ characters, so a flat key of entry + layout + text rebuilt and
   *  hashed for each of them on every call cost ~10 ms per call of INGD's step (a Map keyed by
   *  the module's own string hashes it once: V8 caches a string's hash) */
  #pipelines = new Map<string, Map<string, Promise<CachedPipeline>>>();
  #count = 0;
  #layouts = new Map<string, GPUBindGroupLayout>();
  #modules = new Map<string, Promise<GPUShaderModule>>();

  constructor(device: GPUDevice) {
    this.#device = device;
  }

  get size(): number {
    return this.#count;
  }

  /** The explicit bind group layout for these slots (cached). */
  bindGroupLayout(slots: readonly BindingSlot[]): GPUBindGroupLayout {
    const key = layoutKey(slots);
    let l = this.#layouts.get(key);
    if (l === undefined) {
      l = this.#device.createBindGroupLayout({
        label: `matc-bgl(${key})`,
        entries: [...slots]
          .sort((a, b) => a.binding - b.binding)
          .map((s) => ({ binding: s.binding, visibility: ShaderStage.COMPUTE, buffer: { type: BUFFER_TYPE[s.access] } })),
      });
      this.#layouts.set(key, l);
    }
    return l;
  }

  /** The pipeline for a kernel and layout; compiles it at most once per key. */
  get(kernel: KernelSource, slots: readonly BindingSlot[]): Promise<CachedPipeline> {
    this.stats.requests++;
    const key = `${kernel.entryPoint}\u0000${layoutKey(slots)}`;
    let byEntry = this.#pipelines.get(kernel.wgsl);
    if (byEntry === undefined) this.#pipelines.set(kernel.wgsl, (byEntry = new Map()));
    const hit = byEntry.get(key);
    if (hit !== undefined) {
      this.stats.hits++;
      return hit;
    }
    const p = this.#create(kernel, slots, key);
    byEntry.set(key, p);
    this.#count++;
    // A failed compile is not cached: the error is thrown to every waiter, and a later request
    // (after, say, a device loss) tries again.
    const inner = byEntry;
    p.catch(() => {
      if (inner.get(key) === p) {
        inner.delete(key);
        this.#count--;
      }
    });
    return p;
  }

  /** Forgets every pipeline (they die with their device). */
  clear(): void {
    this.#pipelines.clear();
    this.#count = 0;
    this.#layouts.clear();
    this.#modules.clear();
  }

  #module(wgsl: string, label: string): Promise<GPUShaderModule> {
    let m = this.#modules.get(wgsl);
    if (m === undefined) {
      m = this.#compileModule(wgsl, label);
      this.#modules.set(wgsl, m);
      m.catch(() => {
        if (this.#modules.get(wgsl) === m) this.#modules.delete(wgsl);
      });
    }
    return m;
  }

  async #compileModule(wgsl: string, label: string): Promise<GPUShaderModule> {
    const device = this.#device;
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code: wgsl, label });
    const infoP = module.getCompilationInfo().then(
      (i) => i.messages,
      () => [] as readonly GPUCompilationMessage[],
    );
    const scopeError = await device.popErrorScope();
    const errors = (await infoP).filter((m) => m.type === 'error');
    if (errors.length > 0 || scopeError !== null) {
      this.stats.failures++;
      const lines = errors.map((m) => `${m.lineNum}:${m.linePos}: error: ${m.message}`);
      if (lines.length === 0 && scopeError !== null) lines.push(scopeError.message);
      throw new InternalError(`WGSL shader module '${label}' failed to compile`, formatDetail(lines, wgsl));
    }
    return module;
  }

  async #create(kernel: KernelSource, slots: readonly BindingSlot[], key: string): Promise<CachedPipeline> {
    const label = kernel.label ?? kernel.entryPoint;
    const module = await this.#module(kernel.wgsl, label);
    const device = this.#device;
    const bindGroupLayout = this.bindGroupLayout(slots);
    const layout = device.createPipelineLayout({ label: `matc-layout(${label})`, bindGroupLayouts: [bindGroupLayout] });
    // Push and pop without an await between them: error scopes are one stack per device, shared
    // with every other compile and run in flight.
    device.pushErrorScope('validation');
    const created = device.createComputePipelineAsync({ label, layout, compute: { module, entryPoint: kernel.entryPoint } });
    const scopeP = device.popErrorScope();
    let pipeline: GPUComputePipeline | null = null;
    let failure: string | null = null;
    try {
      pipeline = await created;
    } catch (e) {
      failure = (e as Error).message;
    }
    const scopeError = await scopeP;
    if (failure === null && scopeError !== null) failure = scopeError.message;
    if (failure !== null || pipeline === null) {
      this.stats.failures++;
      const info = await module.getCompilationInfo().catch(() => ({ messages: [] as GPUCompilationMessage[] }));
      const lines = info.messages.map((m) => `${m.lineNum}:${m.linePos}: ${m.type}: ${m.message}`);
      lines.push(`pipeline: ${failure ?? 'creation failed'}`);
      lines.push(`entry point '${kernel.entryPoint}', layout ${layoutKey(slots)}`);
      throw new InternalError(`compute pipeline '${label}' could not be created`, formatDetail(lines, kernel.wgsl));
    }
    this.stats.compiles++;
    return { pipeline, bindGroupLayout, key };
  }
}

function formatDetail(messages: string[], wgsl: string): string {
  return `${messages.join('\n')}\n--- WGSL ---\n${numberLines(wgsl)}`;
}
