// Runs a GpuPlan (plan.ts) on a GpuContext. A readback costs ~0.6 ms on Dawn (DESIGN §5) and a
// submission ~10 µs, so a plan runs with exactly ONE queue submission and ONE buffer mapping:
// inputs go up with queue.writeBuffer (no submission), every launch is recorded into one command
// encoder, every output (and, when timing, the resolved timestamps) is copied into one staging
// buffer, and that buffer is mapped once. Pipelines come from the context's cache with explicit
// bind group layouts; buffers come from its pool and go back to it after the run.
//
// `prepareResidentPlan` is the lower level: it keeps a plan's buffers and bind groups alive so that
// benchmarks (and callers iterating on device-resident data) can re-run the launches without
// upload or readback, and time them with timestamp queries.
/// <reference types="@webgpu/types" />

import { InternalError } from '../../core/errors.js';
import { BufferUsage, MapMode } from './constants.js';
import type { DeviceHandle, DeviceLossInfo, GpuContext } from './device.js';
import type { CachedPipeline } from './pipeline-cache.js';
import { validateInputs, validatePlan } from './plan-check.js';
import type { GpuPlan, PlanBuffer, PlanInputs, PlanRunOptions, PlanRunResult } from '../../core/gpu-plan.js';

export interface RunPlanOptions extends PlanRunOptions {
  /** Label prefix for GPU objects (shows up in Dawn's messages). */
  label?: string;
}

export interface RunPlanResult extends PlanRunResult {
  /** Set when the device had been lost and this run used a freshly created one. */
  deviceRecovered?: DeviceLossInfo;
}

/** Runs a plan: validate, upload, one submission, one readback. Outputs are fresh Float32Arrays
 *  in `plan.outputs` order (object keys). */
export async function runPlan(ctx: GpuContext, plan: GpuPlan, inputs: PlanInputs, opts: RunPlanOptions = {}): Promise<RunPlanResult> {
  const resident = await prepareResidentPlan(ctx, plan, opts);
  try {
    resident.write(inputs);
    const r: RunPlanResult = await resident.run({ timing: opts.timing === true, readback: true });
    if (resident.recovered !== undefined) r.deviceRecovered = resident.recovered;
    return r;
  } finally {
    resident.release();
  }
}

export interface ResidentRunOptions {
  /** Record only launches [from, to) (zero-fills only when from is 0); not with timing. */
  range?: readonly [number, number];
  /** Timestamp every launch (one compute pass each); ignored without 'timestamp-query'. */
  timing?: boolean;
  /** Copy `plan.outputs` back (default true). */
  readback?: boolean;
}

export interface TimingSamples {
  /** Per-iteration GPU time in ms from timestamp queries, or null without the feature. */
  gpuMs: number[] | null;
  /** Per-iteration wall-clock time in ms: measured per submission when there are no timestamps,
   *  else the batch's wall time divided evenly. */
  wallMs: number[];
}

interface ResidentBuffer {
  spec: PlanBuffer;
  buffer: GPUBuffer;
}

/** Validates the plan, compiles (or fetches) its pipelines, allocates its buffers from the pool
 *  and builds its bind groups. Call `release()` when done. */
export async function prepareResidentPlan(ctx: GpuContext, plan: GpuPlan, opts: { label?: string } = {}): Promise<ResidentPlan> {
  const handle = await ctx.acquire();
  validatePlan(plan, handle.device.limits);
  // Every kernel's layout is the layout of its first launch (validatePlan checked they agree).
  const firstLaunch = new Map<string, GpuPlan['launches'][number]>();
  for (const l of plan.launches) if (!firstLaunch.has(l.kernel)) firstLaunch.set(l.kernel, l);
  const names = [...firstLaunch.keys()];
  const compiled = await Promise.all(
    names.map((k) => {
      const src = plan.kernels[k]!;
      const slots = firstLaunch.get(k)!.bindings.map((b) => ({ binding: b.binding, access: b.access }));
      return handle.pipelines.get({ wgsl: src.wgsl, entryPoint: src.entryPoint, label: `${opts.label ?? 'matc'}:${k}` }, slots);
    }),
  );
  const pipelines = new Map(names.map((k, i) => [k, compiled[i]!] as const));
  handle.device.pushErrorScope('validation');
  let resident: ResidentPlan | null = null;
  let thrown: unknown = null;
  try {
    resident = new ResidentPlan(ctx, handle, plan, pipelines, handle.recovered, opts.label ?? 'matc');
  } catch (e) {
    thrown = e;
  }
  const scopeError = await handle.device.popErrorScope();
  if (thrown !== null) throw thrown;
  if (scopeError !== null) {
    resident!.release();
    throw new InternalError(`GPU plan '${opts.label ?? 'matc'}': bind groups could not be created`, scopeError.message);
  }
  return resident!;
}

function usageFor(b: PlanBuffer): number {
  switch (b.kind) {
    case 'uniform':
      return BufferUsage.UNIFORM | BufferUsage.COPY_DST;
    case 'input':
      return BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC;
    case 'output':
    case 'scratch':
      return BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
    case 'indirect':
      return BufferUsage.STORAGE | BufferUsage.INDIRECT | BufferUsage.COPY_DST;
  }
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;
/** Queries per query set WebGPU allows. */
const MAX_QUERIES = 4096;

export class ResidentPlan {
  readonly plan: GpuPlan;
  readonly device: GPUDevice;
  /** The device loss this plan's device replaced, if any (see GpuContext.acquire). */
  readonly recovered: DeviceLossInfo | undefined;
  #ctx: GpuContext;
  #handle: DeviceHandle;
  #buffers = new Map<string, ResidentBuffer>();
  #bindGroups: GPUBindGroup[] = [];
  #pipelines: Map<string, CachedPipeline>;
  #label: string;
  #released = false;

  /** Use `prepareResidentPlan`. */
  constructor(ctx: GpuContext, handle: DeviceHandle, plan: GpuPlan, pipelines: Map<string, CachedPipeline>, recovered: DeviceLossInfo | undefined, label: string) {
    this.#ctx = ctx;
    this.#handle = handle;
    this.plan = plan;
    this.device = handle.device;
    this.recovered = recovered;
    this.#pipelines = pipelines;
    this.#label = label;
    try {
      for (const b of plan.buffers) {
        this.#buffers.set(b.name, { spec: b, buffer: handle.pool.acquire(b.bytes, usageFor(b), `${label}:${b.name}`) });
      }
      // launches with the same layout and buffers share one bind group (a grid schedule records
      // thousands of launches over the same four buffers)
      const shared = new Map<GPUBindGroupLayout, Map<string, GPUBindGroup>>();
      for (const l of plan.launches) {
        const p = pipelines.get(l.kernel)!;
        const key = l.bindings.map((b) => `${b.binding}:${b.buffer}:${b.access}`).join(',');
        let byKey = shared.get(p.bindGroupLayout);
        if (!byKey) shared.set(p.bindGroupLayout, (byKey = new Map()));
        const hit = byKey.get(key);
        if (hit) {
          this.#bindGroups.push(hit);
          continue;
        }
        this.#bindGroups.push(
          this.device.createBindGroup({
            label: `${label}:${l.label ?? l.kernel}`,
            layout: p.bindGroupLayout,
            entries: l.bindings.map((b) => {
              const rb = this.#buffers.get(b.buffer)!;
              // Bind exactly the plan's size (pooled buffers are larger) so arrayLength() is right;
              // a uniform block is bound to a 16-byte multiple, as WGSL struct sizes are.
              const size = b.access === 'uniform' ? Math.min(align(rb.spec.bytes, 16), rb.buffer.size) : rb.spec.bytes;
              return { binding: b.binding, resource: { buffer: rb.buffer, offset: 0, size } };
            }),
          }),
        );
        byKey.set(key, this.#bindGroups[this.#bindGroups.length - 1]!);
      }
    } catch (e) {
      this.release();
      throw e;
    }
  }

  /** The device buffer behind a plan buffer (larger than the plan's size: it is pooled). */
  buffer(name: string): GPUBuffer {
    const b = this.#buffers.get(name);
    if (b === undefined) throw new InternalError(`resident plan has no buffer '${name}'`);
    return b.buffer;
  }

  /** Uploads host data for input and uniform buffers (queue.writeBuffer; no submission). */
  write(inputs: PlanInputs): void {
    this.#live();
    validateInputs(this.plan, inputs);
    for (const [name, data] of Object.entries(inputs)) {
      const rb = this.#buffers.get(name)!;
      if (rb.spec.kind === 'uniform' && data.byteLength < rb.spec.bytes) {
        const padded = new Uint8Array(rb.spec.bytes);
        padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        this.device.queue.writeBuffer(rb.buffer, 0, padded);
      } else {
        this.device.queue.writeBuffer(rb.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
      }
    }
  }

  /** Records the plan into `encoder`: zero-fills, then every launch. With `timestamps`, either
   *  each launch gets its own pass writing queries base+2i / base+2i+1 ('per-launch'), or all
   *  launches share one pass writing base / base+1 ('total'). */
  encode(encoder: GPUCommandEncoder, timestamps?: { querySet: GPUQuerySet; base: number; mode: 'per-launch' | 'total' }, range?: readonly [number, number]): void {
    this.#live();
    if (range === undefined || range[0] === 0) {
      for (const rb of this.#buffers.values()) {
        if (rb.spec.zero === true) encoder.clearBuffer(rb.buffer, 0, rb.spec.bytes);
      }
    }
    const launches = this.plan.launches;
    // state set on a pass stays set: a grid schedule's hundreds of launches share one bind group
    // (and often the pipeline of the launch before), and each call into the device costs host time
    let passNow: GPUComputePassEncoder | null = null;
    let pipeNow: GPUComputePipeline | null = null;
    let groupNow: GPUBindGroup | null = null;
    const dispatch = (pass: GPUComputePassEncoder, i: number): void => {
      const l = launches[i]!;
      if (pass !== passNow) [passNow, pipeNow, groupNow] = [pass, null, null];
      const pipe = this.#pipelines.get(l.kernel)!.pipeline;
      if (pipe !== pipeNow) pass.setPipeline((pipeNow = pipe));
      const group = this.#bindGroups[i]!;
      if (group !== groupNow) pass.setBindGroup(0, (groupNow = group));
      const [x, y, z] = l.workgroups;
      if (l.indirect !== undefined) pass.dispatchWorkgroupsIndirect(this.#buffers.get(l.indirect.buffer)!.buffer, l.indirect.offset);
      else if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
    };
    if (timestamps !== undefined && timestamps.mode === 'per-launch') {
      for (let i = 0; i < launches.length; i++) {
        const pass = encoder.beginComputePass({
          label: `${this.#label}:${launches[i]!.label ?? launches[i]!.kernel}`,
          timestampWrites: { querySet: timestamps.querySet, beginningOfPassWriteIndex: timestamps.base + 2 * i, endOfPassWriteIndex: timestamps.base + 2 * i + 1 },
        });
        dispatch(pass, i);
        pass.end();
      }
      return;
    }
    const desc: GPUComputePassDescriptor = { label: this.#label };
    if (timestamps !== undefined) desc.timestampWrites = { querySet: timestamps.querySet, beginningOfPassWriteIndex: timestamps.base, endOfPassWriteIndex: timestamps.base + 1 };
    const pass = encoder.beginComputePass(desc);
    const [from, to] = range ?? [0, launches.length];
    for (let i = from; i < to; i++) dispatch(pass, i);
    pass.end();
  }

  /** Runs the plan once with one submission and, when reading back or timing, one mapping. */
  async run(opts: ResidentRunOptions = {}): Promise<PlanRunResult> {
    this.#live();
    const device = this.device;
    const readback = opts.readback !== false;
    const timing = opts.timing === true && device.features.has('timestamp-query') && this.plan.launches.length > 0;
    const nQueries = timing ? 2 * this.plan.launches.length : 0;
    if (nQueries > MAX_QUERIES) throw new InternalError(`plan has ${this.plan.launches.length} launches; per-launch timing supports at most ${MAX_QUERIES / 2}`);

    // Staging layout: outputs back to back (sizes are multiples of 4), then timestamps at an
    // 8-byte-aligned offset so a BigUint64Array can view them.
    const outs = readback ? this.plan.outputs.map((n) => this.#buffers.get(n)!) : [];
    const offsets: number[] = [];
    let stagingBytes = 0;
    for (const o of outs) {
      offsets.push(stagingBytes);
      stagingBytes += o.spec.bytes;
    }
    const tsOffset = align(stagingBytes, 8);
    if (timing) stagingBytes = tsOffset + nQueries * 8;

    const pool = this.#handle.pool;
    let querySet: GPUQuerySet | null = null;
    let resolve: GPUBuffer | null = null;
    let staging: GPUBuffer | null = null;
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');
    try {
      const encoder = device.createCommandEncoder({ label: this.#label });
      if (timing) {
        querySet = device.createQuerySet({ type: 'timestamp', count: nQueries, label: `${this.#label}:timestamps` });
        this.encode(encoder, { querySet, base: 0, mode: 'per-launch' });
      } else {
        this.encode(encoder, undefined, opts.range);
      }
      if (stagingBytes > 0) {
        staging = pool.acquire(stagingBytes, BufferUsage.MAP_READ | BufferUsage.COPY_DST, `${this.#label}:staging`);
        outs.forEach((o, i) => encoder.copyBufferToBuffer(o.buffer, 0, staging!, offsets[i]!, o.spec.bytes));
        if (timing) {
          resolve = pool.acquire(nQueries * 8, BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC, `${this.#label}:resolve`);
          encoder.resolveQuerySet(querySet!, 0, nQueries, resolve, 0);
          encoder.copyBufferToBuffer(resolve, 0, staging, tsOffset, nQueries * 8);
        }
      }
      device.queue.submit([encoder.finish()]);
      const mapped = staging !== null ? staging.mapAsync(MapMode.READ, 0, stagingBytes) : null;
      // Pop both scopes synchronously: scopes are a per-device stack, and another run may push its
      // own as soon as this one awaits.
      const oomP = device.popErrorScope();
      const invalidP = device.popErrorScope();
      const [oom, invalid] = await Promise.all([oomP, invalidP]);
      if (invalid !== null || oom !== null) {
        if (mapped !== null) await mapped.catch(() => undefined);
        throw new InternalError(`GPU plan '${this.#label}' failed on the device`, [invalid?.message, oom?.message].filter((m) => m !== undefined).join('\n'));
      }
      const result: PlanRunResult = { outputs: {} };
      if (mapped !== null) {
        await mapped;
        const range = staging!.getMappedRange(0, stagingBytes);
        outs.forEach((o, i) => {
          result.outputs[o.spec.name] = new Float32Array(range.slice(offsets[i]!, offsets[i]! + o.spec.bytes));
        });
        if (timing) {
          const ts = new BigUint64Array(range.slice(tsOffset, tsOffset + nQueries * 8));
          const launchMs: number[] = [];
          for (let i = 0; i < this.plan.launches.length; i++) launchMs.push(Number(ts[2 * i + 1]! - ts[2 * i]!) / 1e6);
          result.launchMs = launchMs;
          result.gpuMs = Number(ts[nQueries - 1]! - ts[0]!) / 1e6;
        }
        staging!.unmap();
      } else {
        await device.queue.onSubmittedWorkDone();
      }
      return result;
    } finally {
      if (staging !== null) pool.release(staging);
      if (resolve !== null) pool.release(resolve);
      querySet?.destroy();
    }
  }

  /** Reads `bytes` bytes of a plan buffer from `offset` (one submission, one mapping): the loop
   *  flags a grid schedule checks between iterations. */
  async readRange(name: string, offset: number, bytes: number): Promise<Float32Array> {
    this.#live();
    const b = this.#buffers.get(name);
    if (b === undefined) throw new InternalError(`resident plan has no buffer '${name}'`);
    const size = align(Math.max(bytes, 4), 4);
    const staging = this.#handle.pool.acquire(size, BufferUsage.MAP_READ | BufferUsage.COPY_DST, `${this.#label}:flags`);
    try {
      const encoder = this.device.createCommandEncoder();
      encoder.copyBufferToBuffer(b.buffer, offset, staging, 0, size);
      this.device.queue.submit([encoder.finish()]);
      await staging.mapAsync(MapMode.READ, 0, size);
      const out = new Float32Array(staging.getMappedRange(0, size).slice(0));
      staging.unmap();
      return out;
    } finally {
      this.#handle.pool.release(staging);
    }
  }

  /** Reads buffers back (one submission, one mapping); defaults to `plan.outputs`. Any plan buffer
   *  may be named, which tests use to inspect scratch buffers. */
  async read(names: readonly string[] = this.plan.outputs): Promise<Record<string, Float32Array>> {
    this.#live();
    const device = this.device;
    const bufs = names.map((n) => {
      const b = this.#buffers.get(n);
      if (b === undefined) throw new InternalError(`resident plan has no buffer '${n}'`);
      return b;
    });
    const offsets: number[] = [];
    let total = 0;
    for (const b of bufs) {
      offsets.push(total);
      total += b.spec.bytes;
    }
    const out: Record<string, Float32Array> = {};
    if (total === 0) return out;
    const staging = this.#handle.pool.acquire(total, BufferUsage.MAP_READ | BufferUsage.COPY_DST, `${this.#label}:read`);
    try {
      const encoder = device.createCommandEncoder();
      bufs.forEach((b, i) => encoder.copyBufferToBuffer(b.buffer, 0, staging, offsets[i]!, b.spec.bytes));
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(MapMode.READ, 0, total);
      const range = staging.getMappedRange(0, total);
      bufs.forEach((b, i) => {
        out[b.spec.name] = new Float32Array(range.slice(offsets[i]!, offsets[i]! + b.spec.bytes));
      });
      staging.unmap();
    } finally {
      this.#handle.pool.release(staging);
    }
    return out;
  }

  /** Runs the launches `iterations` times on the resident data, after at least `warmup` untimed
   *  runs lasting at least `warmupMs`, and returns per-iteration times. With timestamp queries each iteration is one timed compute pass
   *  and all iterations go in one submission (chunked at the query-set limit); without, each
   *  iteration is its own submission timed on the host until the queue drains. */
  async time(iterations: number, warmup = 3, warmupMs = 0): Promise<TimingSamples> {
    this.#live();
    const device = this.device;
    // Warm up by count, then keep going until `warmupMs` of wall time has passed: a GPU that sat
    // idle (while the host checked the last result) runs at idle clocks until it has been busy for
    // a while, and short kernels would otherwise be timed at those clocks.
    const t0 = performance.now();
    let done = 0;
    let batch = Math.max(1, warmup);
    while (done < warmup || performance.now() - t0 < warmupMs) {
      const tb = performance.now();
      const enc = device.createCommandEncoder();
      for (let i = 0; i < batch; i++) this.encode(enc);
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      done += batch;
      // Next batch sized for ~50 ms of work.
      const per = Math.max(1e-3, (performance.now() - tb) / batch);
      batch = Math.min(1024, Math.max(1, Math.ceil(50 / per)));
    }
    if (!device.features.has('timestamp-query')) {
      const wallMs: number[] = [];
      for (let i = 0; i < iterations; i++) {
        const t0 = performance.now();
        const enc = device.createCommandEncoder();
        this.encode(enc);
        device.queue.submit([enc.finish()]);
        await device.queue.onSubmittedWorkDone();
        wallMs.push(performance.now() - t0);
      }
      return { gpuMs: null, wallMs };
    }
    const gpuMs: number[] = [];
    const wallMs: number[] = [];
    const perChunk = MAX_QUERIES / 2;
    for (let done = 0; done < iterations; ) {
      const n = Math.min(perChunk, iterations - done);
      const querySet = device.createQuerySet({ type: 'timestamp', count: 2 * n });
      const resolve = this.#handle.pool.acquire(16 * n, BufferUsage.QUERY_RESOLVE | BufferUsage.COPY_SRC);
      const staging = this.#handle.pool.acquire(16 * n, BufferUsage.MAP_READ | BufferUsage.COPY_DST);
      try {
        const t0 = performance.now();
        const enc = device.createCommandEncoder();
        for (let i = 0; i < n; i++) this.encode(enc, { querySet, base: 2 * i, mode: 'total' });
        enc.resolveQuerySet(querySet, 0, 2 * n, resolve, 0);
        enc.copyBufferToBuffer(resolve, 0, staging, 0, 16 * n);
        device.queue.submit([enc.finish()]);
        await staging.mapAsync(MapMode.READ, 0, 16 * n);
        const wall = performance.now() - t0;
        const ts = new BigUint64Array(staging.getMappedRange(0, 16 * n).slice(0));
        staging.unmap();
        for (let i = 0; i < n; i++) {
          gpuMs.push(Number(ts[2 * i + 1]! - ts[2 * i]!) / 1e6);
          wallMs.push(wall / n);
        }
      } finally {
        this.#handle.pool.release(staging);
        this.#handle.pool.release(resolve);
        querySet.destroy();
      }
      done += n;
    }
    return { gpuMs, wallMs };
  }

  /** Returns the plan's buffers to the pool. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    for (const rb of this.#buffers.values()) this.#handle.pool.release(rb.buffer);
    this.#buffers.clear();
  }

  get released(): boolean {
    return this.#released;
  }

  #live(): void {
    if (this.#released) throw new InternalError('resident GPU plan used after release()');
  }
}
