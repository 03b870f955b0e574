// A device-resident tensor: a GPUBuffer holding a tensor in its natural layout — row-major f32,
// batch dimensions leading (an int tensor, an optimizer's int state, holds i32 bits) — so that
// chained WebGPU calls (an optimizer step each iteration, a layer inside a training loop) pass
// their results on without a round trip through the host. Made by a WebGPU backend: `upload`
// (from host data), `wrap` (a GPUBuffer the caller owns, e.g. another library's on a shared
// device), or a call with `resident: true` (its outputs). `read()` copies it back; `dispose()`
// returns its buffer to the backend's pool (a wrapped buffer stays the caller's). Using a disposed
// GpuTensor is MATR210.
//
// A resident call does not wait for the GPU: its status arrives later (`status`, a promise). A
// call whose run-time checks failed (an index out of range, a non-finite resident input) marks
// its outputs failed: `read()` and every later call that takes them reject with that error, so
// an error is never lost along a chain.
//
// These declarations name WebGPU's types only through `GPUBufferOf`/`GPUDeviceOf`, which are the
// real GPUBuffer/GPUDevice where a project has them declared (a DOM lib, @webgpu/types) and
// structural stand-ins elsewhere, so AOT modules' .d.ts files type-check in any project
// (runtime/aot/options.ts).

import { MatcRuntimeError } from '../core/errors.js';
import type { NodeStatus } from './executable.js';
import type { CallStatus } from './call.js';
import { Tensor } from './tensor.js';
import { decodeHalfRun } from '../core/lowp.js';

const GPU_TENSOR = Symbol.for('matc.GpuTensor');

/** WebGPU's GPUBuffer where its declarations are loaded, else what matc reads of one. */
export type GPUBufferOf = typeof globalThis extends { GPUBuffer: { prototype: infer B } } ? B : { readonly size: number; readonly usage: number; label: string };
/** WebGPU's GPUDevice where its declarations are loaded, else an opaque object. */
export type GPUDeviceOf = typeof globalThis extends { GPUDevice: { prototype: infer D } } ? D : object;

/** What a GpuTensor needs from the backend that made it (runtime/webgpu/resident.ts). */
export interface GpuTensorHost {
  readonly device: GPUDeviceOf;
  /** copies `bytes` at `offset` of `buffer` to the host (after all submitted work) */
  readBuffer(buffer: GPUBufferOf, offset: number, bytes: number): Promise<ArrayBuffer>;
  /** returns a pooled buffer to the pool */
  release(buffer: GPUBufferOf): void;
}

/** What a resident call's status promise gives: the status entries and, per result (IR names),
 *  the number of non-finite values. */
export interface ResidentStatus {
  nodes: NodeStatus[];
  nonFinite: Record<string, number>;
}

/** A backend's resident call (runtime/webgpu/resident.ts). */
export interface ResidentRaw {
  outputs: Record<string, GpuTensor>;
  /** resolves when the GPU has run the call; rejects with MATR107 (an index check failed),
   *  MATR104 (a resident input had a non-finite value) or the error of a call upstream */
  status: Promise<ResidentStatus>;
}

export type { CallStatus };

/** What a GpuTensor's buffer holds (see GpuTensor.dtype). */
export type GpuDtype = 'f32' | 'i32' | 'f16' | 'bf16';

export class GpuTensor {
  static [Symbol.hasInstance](x: unknown): boolean {
    return typeof x === 'object' && x !== null && (x as { [GPU_TENSOR]?: boolean })[GPU_TENSOR] === true;
  }

  readonly [GPU_TENSOR] = true;
  /** batch dimensions, then the instance shape */
  readonly shape: readonly number[];
  /** f32 values, i32 bits for an int tensor, or 16-bit values (binary16 / bfloat16 storage of a
   *  result the compiler proved exact in it: compiler/opt/lowp-storage.ts), two to a word */
  readonly dtype: GpuDtype;
  /** a 16-bit tensor: values per run (an instance of the call that wrote it); each run starts on
   *  a word, so an odd run ends with an unused half word */
  readonly run: number;
  /** byte offset of element 0 in `buffer` (a multiple of 4) */
  readonly offset: number;
  readonly host: GpuTensorHost;
  /** whether `dispose()` returns the buffer to matc's pool (false for `wrap`ped buffers) */
  readonly owned: boolean;
  #buffer: GPUBufferOf | null;
  /** settles when the call that wrote this tensor has been checked; rejects with its error */
  #ready: Promise<void>;
  #failed: unknown = undefined;

  /** Use a WebGPU backend's `upload`, `wrap` or a resident call. */
  constructor(host: GpuTensorHost, buffer: GPUBufferOf, shape: readonly number[], opts: { dtype?: GpuDtype; run?: number; offset?: number; owned: boolean; ready?: Promise<void> }) {
    this.host = host;
    this.#buffer = buffer;
    this.shape = Object.freeze([...shape]);
    this.dtype = opts.dtype ?? 'f32';
    this.run = Math.max(1, opts.run ?? 1);
    this.offset = opts.offset ?? 0;
    this.owned = opts.owned;
    this.#ready = opts.ready ?? Promise.resolve();
    // a failure is recorded here and re-raised where the tensor is used; never unhandled
    this.#ready.catch((e) => {
      this.#failed = e;
    });
  }

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  get byteLength(): number {
    if (this.dtype === 'f16' || this.dtype === 'bf16') return 4 * Math.ceil(this.run / 2) * Math.ceil(this.size / this.run);
    return 4 * this.size;
  }

  get disposed(): boolean {
    return this.#buffer === null;
  }

  /** The device buffer (the tensor's bytes start at `offset`). MATR210 after dispose(). */
  get buffer(): GPUBufferOf {
    if (this.#buffer === null) throw new MatcRuntimeError('MATR210', 'GPU tensor used after dispose()');
    return this.#buffer;
  }

  /** The error of the call that wrote this tensor, when it is already known to have failed. */
  get failure(): unknown {
    return this.#failed;
  }

  /** Settles when the call that wrote the tensor has been checked (rejects with its error). */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /** The values on the host: a Float32Array tensor (an int tensor: exact integers as f64).
   *  Rejects with the error of the call that wrote it, if that call failed. */
  async read(): Promise<Tensor> {
    const buffer = this.buffer;
    const bytes = await this.host.readBuffer(buffer, this.offset, this.byteLength);
    await this.#ready;
    if (this.dtype === 'i32') return new Tensor(this.shape, Float64Array.from(new Int32Array(bytes)));
    if (this.dtype === 'f16' || this.dtype === 'bf16') return new Tensor(this.shape, decodeHalfRun(this.dtype, new Float32Array(bytes), this.run, Math.ceil(this.size / this.run)));
    return new Tensor(this.shape, new Float32Array(bytes));
  }

  /** Returns the buffer to the pool (a wrapped buffer is left to its owner). Idempotent. Work
   *  already submitted that reads the tensor is unaffected (the queue orders it first). */
  dispose(): void {
    const b = this.#buffer;
    if (b === null) return;
    this.#buffer = null;
    if (this.owned) this.host.release(b);
  }
}
