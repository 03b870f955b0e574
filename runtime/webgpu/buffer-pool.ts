// A pool of GPUBuffers keyed by (usage flags, size class). Creating a buffer costs a driver
// allocation plus Dawn's lazy zero-fill on first use; a plan that runs every optimizer step would
// pay that for every intermediate. Buffers are handed out by size class (the requested size rounded
// up, see `sizeClass`), returned with an explicit `release`, and kept idle up to a byte budget;
// past it the least recently released buffers are destroyed. A pooled buffer is larger than asked
// for, so bind it with an explicit `size` (WGSL's arrayLength must see the plan's size).
/// <reference types="@webgpu/types" />

import { InternalError } from '../../core/errors.js';

export interface BufferPoolOptions {
  /** Bytes kept in idle buffers before the oldest are destroyed (default 512 MiB). */
  maxIdleBytes?: number;
}

export interface BufferPoolStats {
  /** acquire() calls served by an idle buffer. */
  hits: number;
  /** acquire() calls that created a buffer. */
  misses: number;
  /** Buffers destroyed by the idle budget, trim() or destroy(). */
  evicted: number;
  idleBytes: number;
  /** Bytes in buffers handed out and not yet released. */
  liveBytes: number;
}

/** The allocation size for a request: at least 256 bytes; powers of two up to 1 MiB; above that
 *  the next of 2^k·{1, 1.25, 1.5, 1.75}, so at most 25% is wasted on a large buffer. */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  if (bytes <= 1 << 20) return 2 ** Math.ceil(Math.log2(bytes));
  const p = 2 ** Math.floor(Math.log2(bytes));
  const step = p / 4;
  return Math.ceil(bytes / step) * step;
}

interface IdleEntry {
  buffer: GPUBuffer;
  key: string;
  size: number;
  seq: number;
}

export class BufferPool {
  readonly maxIdleBytes: number;
  readonly stats: BufferPoolStats = { hits: 0, misses: 0, evicted: 0, idleBytes: 0, liveBytes: 0 };
  #device: GPUDevice;
  #idle = new Map<string, IdleEntry[]>();
  #live = new Map<GPUBuffer, { key: string; size: number }>();
  #seq = 0;
  #destroyed = false;

  constructor(device: GPUDevice, opts: BufferPoolOptions = {}) {
    this.#device = device;
    this.maxIdleBytes = opts.maxIdleBytes ?? 512 * 1024 * 1024;
  }

  /** A buffer of at least `bytes` with exactly `usage`. Its contents are unspecified (a reused
   *  buffer holds whatever its last user left). */
  acquire(bytes: number, usage: GPUBufferUsageFlags, label?: string): GPUBuffer {
    if (this.#destroyed) throw new InternalError('buffer pool used after destroy()');
    if (!(bytes > 0) || !Number.isInteger(bytes)) throw new InternalError(`buffer pool: invalid size ${bytes}`);
    const max = this.#device.limits.maxBufferSize;
    let size = sizeClass(bytes);
    if (size > max) size = Math.ceil(bytes / 4) * 4;
    const key = `${usage}:${size}`;
    const list = this.#idle.get(key);
    let buffer: GPUBuffer;
    if (list !== undefined && list.length > 0) {
      const e = list.pop()!;
      if (list.length === 0) this.#idle.delete(key);
      this.stats.idleBytes -= e.size;
      this.stats.hits++;
      buffer = e.buffer;
      if (label !== undefined) buffer.label = label;
    } else {
      this.stats.misses++;
      buffer = this.#device.createBuffer({ size, usage, label: label ?? `matc-pool-${key}` });
    }
    this.#live.set(buffer, { key, size });
    this.stats.liveBytes += size;
    return buffer;
  }

  /** Returns a buffer from `acquire` to the pool. Releasing a buffer twice, or one the pool did
   *  not hand out, is an InternalError. */
  release(buffer: GPUBuffer): void {
    const live = this.#live.get(buffer);
    if (live === undefined) throw new InternalError(`buffer pool: release of a buffer it does not own (${buffer.label})`);
    this.#live.delete(buffer);
    this.stats.liveBytes -= live.size;
    if (this.#destroyed) {
      buffer.destroy();
      return;
    }
    if (buffer.mapState !== 'unmapped') buffer.unmap();
    const entry: IdleEntry = { buffer, key: live.key, size: live.size, seq: this.#seq++ };
    const list = this.#idle.get(live.key);
    if (list === undefined) this.#idle.set(live.key, [entry]);
    else list.push(entry);
    this.stats.idleBytes += live.size;
    this.trim(this.maxIdleBytes);
  }

  /** Destroys least recently released idle buffers until at most `maxIdleBytes` stay idle. */
  trim(maxIdleBytes = 0): void {
    if (this.stats.idleBytes <= maxIdleBytes) return;
    const all: IdleEntry[] = [];
    for (const list of this.#idle.values()) all.push(...list);
    all.sort((a, b) => a.seq - b.seq);
    for (const e of all) {
      if (this.stats.idleBytes <= maxIdleBytes) break;
      const list = this.#idle.get(e.key)!;
      list.splice(list.indexOf(e), 1);
      if (list.length === 0) this.#idle.delete(e.key);
      this.stats.idleBytes -= e.size;
      this.stats.evicted++;
      e.buffer.destroy();
    }
  }

  /** Number of idle buffers (for tests and diagnostics). */
  get idleCount(): number {
    let n = 0;
    for (const list of this.#idle.values()) n += list.length;
    return n;
  }

  /** Destroys every idle buffer; buffers still out are destroyed when released. */
  destroy(): void {
    this.trim(0);
    this.#destroyed = true;
  }
}
