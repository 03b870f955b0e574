// The WebGPU device a matc runtime runs on. The GPU object is injected (Dawn's `create()` in Node,
// `navigator.gpu` in a browser, a test double in tests), never read from a global: `navigator` is a
// getter-only global on Node >= 21 and absent on 20. A GpuContext owns one GPUDevice together with
// the per-device state (pipeline cache, buffer pool); when the device is lost (driver reset, OOM,
// someone called destroy()), the loss is recorded and the next `acquire()` builds a fresh device,
// cache and pool, and reports the loss once to the caller instead of failing forever.
/// <reference types="@webgpu/types" />

import { MatcRuntimeError } from '../../core/errors.js';
import { PipelineCache } from './pipeline-cache.js';
import { BufferPool, type BufferPoolOptions } from './buffer-pool.js';

// ---- the adapter probe's native noise ---------------------------------------------------------------
//
// Dawn's instance logs warnings straight to file descriptor 2 while it enumerates adapters —
// "Couldn't load Vulkan" on machines without a Vulkan loader, two "artificially reduced" limit
// warnings on lavapipe — and its JavaScript API has no way to turn them off. They say nothing a
// user can act on, so the CLI asks for them to be dropped (setQuietAdapterProbe) unless
// MATC_VERBOSE=1: for the synchronous part of the probe, fd 2 points at /dev/null. The swap is
// two system calls with no JavaScript in between; it is only done on Linux, on the main thread,
// and when fd 2 can be reopened (a terminal, a pipe or a file), and only where no other thread can
// be opening files (a one-shot CLI before it starts workers), so that fd 2 cannot be taken over.

let quietProbe = false;

/** Drop Dawn's adapter-probe warnings (the CLI turns this on; MATC_VERBOSE=1 overrides it). */
export function setQuietAdapterProbe(on: boolean): void {
  quietProbe = on;
}

/** Node's fs and worker_threads, taken synchronously without a static import (this module is
 *  also loaded in browsers, by AOT modules); null outside Node. */
function nodeBuiltins(): { openSync(p: string, f: string): number; closeSync(fd: number): void; isMainThread: boolean } | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const get = proc?.getBuiltinModule;
  if (typeof get !== 'function') return null;
  const fs = get('node:fs') as { openSync(p: string, f: string): number; closeSync(fd: number): void } | undefined;
  const wt = get('node:worker_threads') as { isMainThread: boolean } | undefined;
  return fs && wt ? { openSync: fs.openSync, closeSync: fs.closeSync, isMainThread: wt.isMainThread } : null;
}

/** Runs `fn` with native writes to fd 2 discarded when the probe is quiet (see above). */
export function withQuietStderr<T>(fn: () => T): T {
  if (!quietProbe || typeof process === 'undefined' || process.env.MATC_VERBOSE === '1' || process.platform !== 'linux') return fn();
  const node = nodeBuiltins();
  if (node === null || !node.isMainThread) return fn();
  const { openSync, closeSync } = node;
  let saved: number;
  try {
    saved = openSync('/proc/self/fd/2', 'a');
  } catch {
    return fn(); // fd 2 is closed or a socket: leave it alone
  }
  let swapped = false;
  try {
    closeSync(2);
    const nul = openSync('/dev/null', 'a'); // the lowest free descriptor: 2
    swapped = nul === 2;
    if (!swapped) closeSync(nul);
  } catch {
    /* fall through: fd 2 is restored below */
  }
  try {
    return fn();
  } finally {
    try {
      if (swapped) closeSync(2);
      openSync(`/proc/self/fd/${saved}`, 'a'); // back on fd 2
    } finally {
      closeSync(saved);
    }
  }
}

/** Dawn toggles for Node. `timestamp_quantization` is disabled so timestamp queries have ns, not
 *  65,536 ns, resolution; `backend=vulkan` picks NVIDIA's ICD on GPU machines and lavapipe here. */
export const DEFAULT_DAWN_FLAGS: readonly string[] = ['backend=vulkan', 'disable-dawn-features=timestamp_quantization'];

export interface NodeGpuOptions {
  /** Extra Dawn toggles to enable (e.g. `disable_robustness` for benchmarks of trusted kernels). */
  enableToggles?: string[];
  /** Extra Dawn toggles to disable, besides `timestamp_quantization`. */
  disableToggles?: string[];
  /** Replace the default `backend=vulkan` (e.g. 'null' for a validation-only device). */
  backend?: string;
}

/** Loads Dawn through `import('webgpu')` and returns its GPU object, or null when the package (or
 *  its native binary) is missing or no adapter can be had. Never throws. */
export async function getNodeGPU(opts: NodeGpuOptions = {}): Promise<GPU | null> {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  let mod: { create(flags: string[]): GPU };
  try {
    const name = 'webgpu';
    mod = (await import(name)) as { create(flags: string[]): GPU };
  } catch {
    return null;
  }
  const flags = [`backend=${opts.backend ?? 'vulkan'}`];
  flags.push(`disable-dawn-features=${['timestamp_quantization', ...(opts.disableToggles ?? [])].join(',')}`);
  if (opts.enableToggles !== undefined && opts.enableToggles.length > 0) flags.push(`enable-dawn-features=${opts.enableToggles.join(',')}`);
  try {
    // the probe's synchronous part (instance creation, adapter enumeration) logs natively
    const { gpu, pending } = withQuietStderr(() => {
      const g = mod.create(flags);
      return { gpu: g, pending: g.requestAdapter() };
    });
    const adapter = await pending;
    return adapter === null ? null : gpu;
  } catch {
    return null;
  }
}

export interface GpuFeatures {
  subgroups: boolean;
  timestampQuery: boolean;
  shaderF16: boolean;
  /** Adapter-reported subgroup size range (0 when unknown). */
  subgroupMinSize: number;
  subgroupMaxSize: number;
}

export interface DeviceLossInfo {
  reason: string;
  message: string;
  /** Date.now() when the loss was observed. */
  at: number;
}

/** What a runtime call gets from `acquire()`: the live device and its per-device state. */
export interface DeviceHandle {
  device: GPUDevice;
  pipelines: PipelineCache;
  pool: BufferPool;
  /** Incremented each time the device is re-created after a loss. */
  generation: number;
  /** Set on the first acquire after a loss: the loss this device replaced. */
  recovered?: DeviceLossInfo;
}

export interface GpuContextOptions {
  gpu: GPU;
  powerPreference?: GPUPowerPreference;
  pool?: BufferPoolOptions;
  /** Called when the device is lost unexpectedly (not on `destroy()`). */
  onDeviceLost?: (info: DeviceLossInfo) => void;
  /** @internal set by createGpuContextOnDevice */
  external?: boolean;
}

/** Limits matc asks for at their adapter maximum: large buffers, big workgroups and tiles. */
const MAX_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
] as const;

const WANTED_FEATURES = ['subgroups', 'timestamp-query', 'shader-f16'] as const;

export class GpuContext {
  readonly gpu: GPU;
  readonly powerPreference: GPUPowerPreference | undefined;
  /** Every unexpected loss this context has seen, oldest first. */
  readonly losses: DeviceLossInfo[] = [];
  /** Uncaptured GPU errors (validation errors outside an error scope), newest last, at most 20. */
  readonly uncapturedErrors: string[] = [];
  #adapter: GPUAdapter;
  #device: GPUDevice;
  /** a device the caller owns (createGpuContextOnDevice): never destroyed or re-created here */
  #external = false;
  #pipelines: PipelineCache;
  #pool: BufferPool;
  #poolOptions: BufferPoolOptions | undefined;
  #generation = 0;
  #lost: DeviceLossInfo | null = null;
  #pendingReport: DeviceLossInfo | null = null;
  #recreating: Promise<void> | null = null;
  #destroyed = false;
  #onDeviceLost: ((info: DeviceLossInfo) => void) | undefined;

  /** Use `createGpuContext`. */
  constructor(gpu: GPU, adapter: GPUAdapter, device: GPUDevice, opts: GpuContextOptions) {
    this.gpu = gpu;
    this.powerPreference = opts.powerPreference;
    this.#adapter = adapter;
    this.#device = device;
    this.#poolOptions = opts.pool;
    this.#onDeviceLost = opts.onDeviceLost;
    this.#external = opts.external === true;
    this.#pipelines = new PipelineCache(device);
    this.#pool = new BufferPool(device, opts.pool);
    this.#watch(device);
  }

  get adapter(): GPUAdapter {
    return this.#adapter;
  }
  /** Whether the device was handed in by the caller (shared with another library). */
  get external(): boolean {
    return this.#external;
  }
  #info(): GPUAdapterInfo {
    return this.#external ? ((this.#device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo ?? ({ vendor: '', architecture: '', device: '', description: 'external device' } as GPUAdapterInfo)) : this.#adapter.info;
  }
  /** The current device (possibly lost: runtime calls should go through `acquire()`). */
  get device(): GPUDevice {
    return this.#device;
  }
  get pipelines(): PipelineCache {
    return this.#pipelines;
  }
  get pool(): BufferPool {
    return this.#pool;
  }
  get limits(): GPUSupportedLimits {
    return this.#device.limits;
  }
  get features(): GpuFeatures {
    const f = this.#device.features;
    const info = this.#info() as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
    return {
      subgroups: f.has('subgroups'),
      timestampQuery: f.has('timestamp-query'),
      shaderF16: f.has('shader-f16'),
      subgroupMinSize: info.subgroupMinSize ?? 0,
      subgroupMaxSize: info.subgroupMaxSize ?? 0,
    };
  }
  get generation(): number {
    return this.#generation;
  }
  /** The loss not yet recovered from, if any. */
  get lost(): DeviceLossInfo | null {
    return this.#lost;
  }
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** The live device and its state; re-creates the device first if it was lost. */
  async acquire(): Promise<DeviceHandle> {
    if (this.#destroyed) throw new MatcRuntimeError('MATR122', 'the WebGPU context was destroyed');
    if (this.#lost !== null && this.#external) {
      throw new MatcRuntimeError('MATR211', `the WebGPU device handed to matc was lost (${this.#lost.reason}: ${this.#lost.message}); matc cannot re-create a device it does not own: create a new backend on a new device`);
    }
    if (this.#lost !== null) {
      this.#recreating ??= this.#recreate().finally(() => {
        this.#recreating = null;
      });
      await this.#recreating;
    }
    const h: DeviceHandle = { device: this.#device, pipelines: this.#pipelines, pool: this.#pool, generation: this.#generation };
    if (this.#pendingReport !== null) {
      h.recovered = this.#pendingReport;
      this.#pendingReport = null;
    }
    return h;
  }

  /** One line for humans and CLIs: "webgpu (nvidia hopper)", "webgpu (llvmpipe)". */
  describe(): string {
    return `webgpu (${adapterName(this.#info())}${this.#external ? ', shared device' : ''})`;
  }

  /** A longer line for logs and benchmark headers. */
  details(): string {
    const i = this.#info();
    const f = this.features;
    const feats = [f.subgroups ? `subgroups ${f.subgroupMinSize}..${f.subgroupMaxSize}` : '', f.shaderF16 ? 'f16' : '', f.timestampQuery ? 'timestamps' : '']
      .filter((s) => s !== '')
      .join(', ');
    const l = this.limits;
    return (
      `${this.describe()} vendor=${i.vendor || '?'} arch=${i.architecture || '?'} device=${i.device || '?'} ` +
      `"${i.description}" [${feats}] maxStorageBinding=${l.maxStorageBufferBindingSize} ` +
      `maxWorkgroupStorage=${l.maxComputeWorkgroupStorageSize} maxInvocations=${l.maxComputeInvocationsPerWorkgroup}`
    );
  }

  /** Releases pooled buffers and the device. The context is unusable afterwards. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#pool.destroy();
    this.#pipelines.clear();
    if (!this.#external) this.#device.destroy();
  }


  #watch(device: GPUDevice): void {
    void device.lost.then((info) => {
      if (this.#destroyed || device !== this.#device) return;
      const loss: DeviceLossInfo = { reason: String(info.reason), message: info.message, at: Date.now() };
      this.#lost = loss;
      this.losses.push(loss);
      this.#onDeviceLost?.(loss);
    });
    // a shared device's uncaptured errors belong to its owner's handler
    if (this.#external) return;
    try {
      device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
        this.uncapturedErrors.push(ev.error.message);
        if (this.uncapturedErrors.length > 20) this.uncapturedErrors.shift();
      };
    } catch {
      // An implementation without the event handler attribute: errors stay uncollected.
    }
  }

  async #recreate(): Promise<void> {
    const loss = this.#lost;
    // A lost device's adapter is consumed (requestDevice may be called once): ask for a new one.
    const { adapter, device } = await openDevice(this.gpu, this.powerPreference);
    try {
      this.#pool.destroy();
    } catch {
      // Buffers of a lost device may already be gone.
    }
    this.#adapter = adapter;
    this.#device = device;
    this.#pipelines = new PipelineCache(device);
    this.#pool = new BufferPool(device, this.#poolOptions);
    this.#generation++;
    this.#lost = null;
    this.#pendingReport = loss;
    this.#watch(device);
  }
}

async function openDevice(gpu: GPU, powerPreference: GPUPowerPreference | undefined): Promise<{ adapter: GPUAdapter; device: GPUDevice }> {
  const adapter = await withQuietStderr(() => gpu.requestAdapter(powerPreference === undefined ? undefined : { powerPreference }));
  if (adapter === null) throw new MatcRuntimeError('MATR120', 'no WebGPU adapter is available');
  const requiredLimits: Record<string, number> = {};
  const al = adapter.limits as unknown as Record<string, number | undefined>;
  for (const k of MAX_LIMITS) {
    const v = al[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'matc' });
  } catch (e) {
    throw new MatcRuntimeError('MATR121', `could not open a WebGPU device: ${(e as Error).message}`);
  }
  return { adapter, device };
}

/** Opens a device on the injected GPU object with the adapter's maximum buffer and workgroup
 *  limits and the features matc uses where present. Throws MatcRuntimeError MATR120 without an
 *  adapter. */
export async function createGpuContext(opts: GpuContextOptions): Promise<GpuContext> {
  const { adapter, device } = await openDevice(opts.gpu, opts.powerPreference);
  return new GpuContext(opts.gpu, adapter, device, opts);
}

/** A context on a GPUDevice the caller owns — one another library (TF.js's WebGPU backend, ONNX
 *  Runtime Web, jax-js) also uses — so that GpuTensors can wrap that library's GPUBuffers. matc
 *  takes the device's limits and features as they are, never destroys it (`destroy()` releases
 *  only matc's pooled buffers and pipelines), and reports its loss as MATR211 instead of
 *  re-creating it. */
export function createGpuContextOnDevice(device: GPUDevice, opts: Omit<GpuContextOptions, 'gpu' | 'powerPreference'> = {}): GpuContext {
  // no GPU object and no adapter: nothing may ask for a new device (acquire refuses after a loss)
  const ctx = new GpuContext(null as unknown as GPU, null as unknown as GPUAdapter, device, { gpu: null as unknown as GPU, ...opts, external: true });
  return ctx;
}

/** "nvidia hopper", "llvmpipe", "apple metal-3": vendor and architecture, or for software
 *  rasterizers the driver's own short name. */
export function adapterName(info: GPUAdapterInfo): string {
  const vendor = (info.vendor ?? '').trim().toLowerCase();
  const arch = (info.architecture ?? '').trim().toLowerCase();
  const desc = (info.description ?? '').trim();
  const dev = (info.device ?? '').trim().toLowerCase();
  const software = /llvmpipe|lavapipe|swiftshader|warp/i.exec(`${desc} ${dev}`);
  if (software !== null) return software[0].toLowerCase();
  const parts = [vendor, arch === 'software' ? '' : arch].filter((s) => s !== '');
  if (parts.length > 0) return parts.join(' ');
  if (desc !== '') return desc.split(/[:(]/)[0]!.trim().toLowerCase();
  return 'unknown adapter';
}
