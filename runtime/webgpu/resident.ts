// Device-resident calls of an instance kernel (runtime/gpu-tensor.ts). The instance kernel reads
// one packed input buffer and writes one packed output buffer (core/instance-layout.ts); in that
// layout each input of a chunk is one contiguous run — its instances base … base+count−1 in their
// natural row-major order — and so is each output. So packing and unpacking on the device are
// buffer-to-buffer copies recorded in the same command encoder as the kernel: resident inputs are
// copied into the packed input, host inputs are written into their run (a Float32Array straight
// from its bytes, no f64 detour), result runs are copied out into fresh pooled buffers that become
// the call's GpuTensors. Status fields and index checks go to a small staging buffer that is mapped
// asynchronously: the call returns once its work is submitted, and its status promise resolves
// when the GPU is done. A small WGSL kernel in the same submission counts the non-finite values
// of resident inputs (MATR104, as the host's binding does for host data) and of the results (the
// status summary's warnings), so nothing is read back to look for NaNs.
/// <reference types="@webgpu/types" />

import { parseDim } from '../../core/dims.js';
import { instanceBindings, kernelArgs, type InstanceKernelSpec } from '../../core/instance-layout.js';
import { InternalError, MatcRuntimeError } from '../../core/errors.js';
import { runCheckError } from '../../core/run-checks.js';
import { describeParam } from '../../core/derivative-names.js';
import type { GpuPlan } from '../../core/gpu-plan.js';
import { indirectBuffers } from './grid.js';
import type { Binding } from '../bind.js';
import type { NodeStatus } from '../executable.js';
import type { Signature } from '../signature.js';
import { GpuTensor, type GpuTensorHost, type ResidentRaw, type ResidentStatus } from '../gpu-tensor.js';
import { Tensor } from '../tensor.js';
import { BufferUsage, MapMode } from './constants.js';
import { LOWP_WGSL, STORAGE_WGSL, type StorageFormat } from '../../core/lowp.js';
import type { DeviceHandle, GpuContext } from './device.js';
import { prepareResidentPlan } from './executor.js';
import { instanceChunking, narrowInto, packHalfInput, type GridLaunches } from './backend.js';

/** Usage of the buffers behind matc's GpuTensors. */
export const RESIDENT_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;

export type { ResidentRaw, ResidentStatus };

// Counts non-finite values (exponent bits all ones) in ranges of a buffer: one row of workgroups
// per range; per range slot, counts[2·slot] += count and counts[2·slot+1] = the least offending
// offset within the range. A range of 16-bit values (mode 1: binary16, 2: bfloat16) tests both
// halves of each word, its offsets counting values (2 a word). Atomics are touched only by
// invocations that found one.
const NONFINITE_WGSL = `
struct Range { start: u32, len: u32, slot: u32, mode: u32 }
@group(0) @binding(0) var<storage, read> data: array<u32>;
@group(0) @binding(1) var<storage, read> ranges: array<Range>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;
@compute @workgroup_size(64)
fn nonfinite(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let r = ranges[wid.y];
  var n = 0u;
  var first = 0xffffffffu;
  let m = select(select(0x7f800000u, 0x7c00u, r.mode == 1u), 0x7f80u, r.mode == 2u);
  for (var i = gid.x; i < r.len; i += nwg.x * 64u) {
    let w = data[r.start + i];
    if (r.mode == 0u) {
      if ((w & m) == m) {
        n += 1u;
        first = min(first, i);
      }
    } else {
      let lo = (w & m) == m;
      let hi = ((w >> 16u) & m) == m;
      if (lo || hi) {
        n += select(0u, 1u, lo) + select(0u, 1u, hi);
        first = min(first, 2u * i + select(1u, 0u, lo));
      }
    }
  }
  if (n > 0u) {
    atomicAdd(&counts[2u * r.slot], n);
    atomicMin(&counts[2u * r.slot + 1u], first);
  }
}`;

// dst[i] = Σ_b src[b·size + i]: the gradient of an input shared by a batched call.
const SUMBATCH_WGSL = `
struct P { batch: u32, size: u32, src: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(64)
fn sumbatch(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.size) { return; }
  var s = 0.0;
  for (var b = 0u; b < p.batch; b++) { s += src[p.src + b * p.size + i]; }
  dst[i] = s;
}`;

// Converts runs of values between f32 and the 16-bit storage formats (fmt 0: f32, 1: binary16,
// 2: bfloat16), for a GpuTensor passed to an input held in another format than its own
// (compiler/opt/lowp-storage.ts). The destination is `insts` runs of n values, dstW words apart
// from word dstAt; value k of run b is the source's value v = srcV0 + b·n + k, which lies in the
// source's run ⌊v / srcRun⌋ (16-bit runs start on a word) from word srcAt. One invocation a
// destination word; encoding rounds to nearest even (the identity on values of the format).
const CONVERT_WGSL = `
struct P { n: u32, insts: u32, srcAt: u32, dstAt: u32, srcFmt: u32, dstFmt: u32, srcRun: u32, dstW: u32, srcV0: u32, zero: u32, p0: u32, p1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
fn finf() -> f32 { return bitcast<f32>(0x7f800000u | p.zero); }
${LOWP_WGSL}${STORAGE_WGSL}
fn val(b: u32, k: u32) -> f32 {
  let v = p.srcV0 + b * p.n + k;
  if (p.srcFmt == 0u) { return bitcast<f32>(src[p.srcAt + v]); }
  let r = v / p.srcRun;
  let kk = v - r * p.srcRun;
  let w = src[p.srcAt + r * ((p.srcRun + 1u) / 2u) + (kk >> 1u)];
  let h = (w >> ((kk & 1u) * 16u)) & 0xffffu;
  if (p.srcFmt == 1u) { return h16_dec(h); }
  return b16_dec(h);
}
fn enc(x: f32) -> u32 {
  if (p.dstFmt == 1u) { return h16_enc(x); }
  return b16_enc(x);
}
@compute @workgroup_size(64)
fn convert(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= p.dstW * p.insts) { return; }
  let b = i / p.dstW;
  let j = i - b * p.dstW;
  if (p.dstFmt == 0u) {
    dst[p.dstAt + i] = bitcast<u32>(val(b, j));
    return;
  }
  let k = 2u * j;
  var hi = 0u;
  if (k + 1u < p.n) { hi = enc(val(b, k + 1u)) << 16u; }
  dst[p.dstAt + i] = enc(val(b, k)) | hi;
}`;

const FORMAT_CODE = { f32: 0, f16: 1, bf16: 2 } as const;

const NONFINITE_SLOTS = [
  { binding: 0, access: 'read' as const },
  { binding: 1, access: 'read' as const },
  { binding: 2, access: 'read_write' as const },
];
const SUMBATCH_SLOTS = [
  { binding: 0, access: 'uniform' as const },
  { binding: 1, access: 'read' as const },
  { binding: 2, access: 'read_write' as const },
];

/** Resident calls a device may have submitted and not yet finished: a caller that never waits
 *  (a training loop that reads no status) is held back here, so the staging buffers of pending
 *  statuses — and so the pool — stay bounded however many calls it makes. */
export const MAX_IN_FLIGHT = 8;

/** The GpuTensorHost of a device: reads, pool releases, and the calls in flight. */
export class ResidentHost implements GpuTensorHost {
  readonly inFlight: Promise<unknown>[] = [];
  constructor(readonly handle: DeviceHandle) {}

  /** Waits until fewer than MAX_IN_FLIGHT calls are pending. */
  async throttle(): Promise<void> {
    while (this.inFlight.length >= MAX_IN_FLIGHT) await this.inFlight[0];
  }

  /** Counts `p` as in flight until it settles. */
  track(p: Promise<unknown>): void {
    const done = p.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.push(done);
    void done.then(() => {
      const i = this.inFlight.indexOf(done);
      if (i >= 0) this.inFlight.splice(i, 1);
    });
  }

  get device(): GPUDevice {
    return this.handle.device;
  }

  async readBuffer(buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    if (bytes === 0) return new ArrayBuffer(0);
    const pool = this.handle.pool;
    const staging = pool.acquire(bytes, BufferUsage.MAP_READ | BufferUsage.COPY_DST, 'matc:read');
    try {
      const enc = this.device.createCommandEncoder({ label: 'matc:read' });
      enc.copyBufferToBuffer(buffer, offset, staging, 0, bytes);
      this.device.queue.submit([enc.finish()]);
      await staging.mapAsync(MapMode.READ, 0, bytes);
      const out = staging.getMappedRange(0, bytes).slice(0);
      staging.unmap();
      return out;
    } finally {
      pool.release(staging);
    }
  }

  release(buffer: GPUBuffer): void {
    this.handle.pool.release(buffer);
  }
}

const hosts = new WeakMap<GPUDevice, ResidentHost>();

/** The host of the context's current device (one per device). */
export async function residentHost(ctx: GpuContext): Promise<ResidentHost> {
  const handle = await ctx.acquire();
  let h = hosts.get(handle.device);
  if (h === undefined) hosts.set(handle.device, (h = new ResidentHost(handle)));
  return h;
}

/** Checks that a GpuTensor can be used on this device now (MATR210, MATR211) and rethrows the
 *  failure of the call that wrote it when that is already known. */
export function checkUsable(t: GpuTensor, device: GPUDevice, what: string): void {
  if (t.disposed) throw new MatcRuntimeError('MATR210', `${what} is a GPU tensor that was disposed`);
  if (t.host.device !== device) throw new MatcRuntimeError('MATR211', `${what} is a GPU tensor of another WebGPU device (or of a device that was lost since); upload it to this backend's device`);
  if (t.failure !== undefined) throw t.failure;
}

/** Uploads host data into a fresh pooled buffer (f32, or i32 bits for an int tensor). */
export async function uploadTensor(ctx: GpuContext, t: Tensor, int: boolean): Promise<GpuTensor> {
  const host = await residentHost(ctx);
  const d = t.data;
  const bytes = 4 * d.length;
  const buffer = host.handle.pool.acquire(Math.max(4, bytes), RESIDENT_USAGE, 'matc:tensor');
  let data: Int32Array | Float32Array;
  if (int) data = Int32Array.from(d, (v) => v | 0);
  else if (d instanceof Float32Array) data = d; // written as it is: no f64 detour
  else narrowInto((data = new Float32Array(d.length)), 0, d, 0, d.length);
  if (bytes > 0) host.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, bytes);
  return new GpuTensor(host, buffer, t.shape, { dtype: int ? 'i32' : 'f32', owned: true });
}

/** Runs an instance kernel on a binding whose inputs may be resident; its results stay on the
 *  device. */
export async function runInstanceResident(ctx: GpuContext, spec: InstanceKernelSpec, sig: Signature, bind: Binding, label = 'matc', /** @internal tests */ maxChunk = Infinity, grid?: GridLaunches): Promise<ResidentRaw> {
  const host = await residentHost(ctx);
  const { device, pool, pipelines } = host.handle;
  const fn = sig.name;
  bind.inputs.forEach((inp) => {
    if (inp.resident) checkUsable(inp.resident, device, `${fn}: ${describeParam(inp.param.name)}`);
  });
  await host.throttle();
  const B = bind.batchSize;
  const { chunk: fit, maxGrid, probe } = instanceChunking(ctx, spec, bind);
  // a grid schedule (issue 8) shares the instance layout; its launches put the instance in the
  // grid's y dimension. Its `until` loops run to their caps here (their launches return at once
  // for stopped instances): a resident call is one submission, with no flag readback between
  // iterations.
  const chunk = Math.min(fit, maxChunk, grid ? maxGrid : Infinity);
  // results are copied into one buffer each (no binding): each must fit one buffer
  const maxBuffer = device.limits.maxBufferSize;
  spec.outputs.forEach((o, i) => {
    const bytes = probe.outputSizes[i]! * B * 4;
    if (o.kind === 'result' && bytes > maxBuffer) throw new MatcRuntimeError('MATR130', `${fn}: the result '${o.name}' needs ${bytes} bytes, more than one GPU buffer may hold (${maxBuffer}); ask for host results (no resident: true) or a smaller batch`);
  });
  const checkPipe = await pipelines.get({ wgsl: NONFINITE_WGSL, entryPoint: 'nonfinite', label: 'matc:nonfinite' }, NONFINITE_SLOTS);
  // 16-bit inputs and results (KernelIO.half): a resident input in another format than the
  // kernel reads is converted on the device
  const inFormat = (i: number): 'f32' | StorageFormat => spec.inputs[i]?.half ?? 'f32';
  const converts = bind.inputs.map((inp, i) => {
    const r = inp.resident;
    if (!r || inp.param.int) return false;
    const have = r.dtype === 'f16' || r.dtype === 'bf16' ? r.dtype : 'f32';
    return have !== inFormat(i) || (have !== 'f32' && r.run !== probe.inputValues[i]);
  });
  const convertPipe = converts.some((c) => c) ? await pipelines.get({ wgsl: CONVERT_WGSL, entryPoint: 'convert', label: 'matc:convert' }, SUMBATCH_SLOTS) : null;

  // results: one pooled buffer each, the whole batch; written chunk by chunk
  const results = spec.outputs.map((o, i) => (o.kind === 'result' ? { i, o, buffer: pool.acquire(Math.max(4, probe.outputSizes[i]! * B * 4), RESIDENT_USAGE, `${label}:${o.name}`) } : null)).filter((r) => r !== null);
  // non-finite counting slots: resident float inputs, then float results
  const inSlots = bind.inputs.map((inp, i) => (inp.resident && !inp.param.int ? i : -1)).filter((i) => i >= 0);
  const outSlots = results.filter((r) => !r.o.int);
  const nSlots = inSlots.length + outSlots.length;
  const statusOuts = spec.outputs.map((o, i) => (o.kind !== 'result' ? i : -1)).filter((i) => i >= 0);

  const chunkReads: Promise<{ base: number; count: number; status: Float32Array[]; counts: Uint32Array }>[] = [];
  const scopes: Promise<GPUError | null>[] = [];
  try {
    for (let base = 0; base < B; base += chunk) {
      const count = Math.min(chunk, B - base);
      const args = kernelArgs(spec, bind.dims, { count, base, batched: bind.inputs.map((i) => i.batched) });
      let inLen = 0;
      const runs = bind.inputs.map((inp, i) => {
        const size = args.inputSizes[i]!;
        const n = inp.batched ? size * count : size;
        const r = { dst: inLen, src: inp.batched ? base * size : 0, n };
        inLen += n;
        return r;
      });
      const outLen = args.outputSizes.reduce((s, x) => s + x * count, 0);
      const gx = Math.min(count, maxGrid);
      const expanded = grid?.expand(count, maxGrid);
      const plan: GpuPlan = {
        kernels: grid ? grid.kernels : { inst: { wgsl: spec.wgsl, entryPoint: spec.entryPoint } },
        buffers: [
          { name: 'uni', bytes: args.uniforms.byteLength, kind: 'uniform' },
          { name: 'scratch', bytes: Math.max(4, args.scratchPerInstance * 4 * count), kind: 'scratch' },
          { name: 'in', bytes: Math.max(4, inLen * 4), kind: 'scratch' }, // filled by copies and writes below
          { name: 'out', bytes: Math.max(4, outLen * 4), kind: 'output' },
          ...indirectBuffers(expanded?.indirectBytes ?? 0),
        ],
        launches: expanded ? expanded.launches : [
          {
            kernel: 'inst',
            bindings: instanceBindings(),
            workgroups: [gx, Math.ceil(count / gx), 1],
          },
        ],
        outputs: [],
      };
      const rp = await prepareResidentPlan(ctx, plan, { label });
      let staging: GPUBuffer | null = null;
      const temps: GPUBuffer[] = [];
      let scoped = false;
      try {
        device.pushErrorScope('validation');
        device.pushErrorScope('out-of-memory');
        scoped = true;
        rp.write({ uni: args.uniforms });
        const inBuf = rp.buffer('in');
        const outBuf = rp.buffer('out');
        const enc = device.createCommandEncoder({ label });
        bind.inputs.forEach((inp, i) => {
          const r = runs[i]!;
          if (r.n === 0) return;
          if (inp.resident && converts[i]) {
            const t = inp.resident;
            const n = args.inputValues[i]!;
            const insts = inp.batched ? count : 1;
            const words = args.inputSizes[i]!;
            const uni = new Uint32Array([n, insts, t.offset / 4, r.dst, FORMAT_CODE[t.dtype as 'f32' | StorageFormat], FORMAT_CODE[inFormat(i)], t.run, words, inp.batched ? base * n : 0, 0, 0, 0]);
            const ub = pool.acquire(uni.byteLength, BufferUsage.UNIFORM | BufferUsage.COPY_DST, `${label}:convert`);
            temps.push(ub);
            device.queue.writeBuffer(ub, 0, uni);
            const bg = device.createBindGroup({
              layout: convertPipe!.bindGroupLayout,
              entries: [
                { binding: 0, resource: { buffer: ub, offset: 0, size: uni.byteLength } },
                { binding: 1, resource: { buffer: t.buffer, offset: 0, size: t.buffer.size } },
                { binding: 2, resource: { buffer: inBuf, offset: 0, size: Math.max(4, inLen * 4) } },
              ],
            });
            const groups = Math.ceil((words * insts) / 64);
            const gx = Math.min(groups, maxGrid);
            const pass = enc.beginComputePass({ label: `${label}:convert` });
            pass.setPipeline(convertPipe!.pipeline);
            pass.setBindGroup(0, bg);
            pass.dispatchWorkgroups(gx, Math.ceil(groups / gx), 1);
            pass.end();
            return;
          }
          if (inp.resident) {
            enc.copyBufferToBuffer(inp.resident.buffer, inp.resident.offset + 4 * r.src, inBuf, 4 * r.dst, 4 * r.n);
            return;
          }
          const src = inp.tensor.data;
          let part: Float32Array | Int32Array | Uint32Array;
          const half = spec.inputs[i]?.half;
          if (half) packHalfInput(half, inp, src, args.inputValues[i]!, args.inputSizes[i]!, base, count, (part = new Uint32Array(r.n)), 0);
          else if (inp.param.int) part = Int32Array.from(src.subarray(r.src, r.src + r.n), (v) => v | 0);
          else if (src instanceof Float32Array) part = src.subarray(r.src, r.src + r.n);
          else narrowInto((part = new Float32Array(r.n)), 0, src, r.src, r.n);
          device.queue.writeBuffer(inBuf, 4 * r.dst, part.buffer, part.byteOffset, 4 * r.n);
        });
        rp.encode(enc);
        // non-finite counts: ranges into 'in' (resident inputs; an unbatched one in chunk 0 only)
        // and into 'out' (float results)
        const countsBytes = Math.max(16, 8 * nSlots);
        let countsBuf: GPUBuffer | null = null;
        if (nSlots > 0) {
          countsBuf = pool.acquire(countsBytes, BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST, `${label}:counts`);
          temps.push(countsBuf);
          const init = new Uint32Array(countsBytes / 4);
          for (let s = 0; s < nSlots; s++) init[2 * s + 1] = 0xffffffff;
          device.queue.writeBuffer(countsBuf, 0, init);
          const dispatch = (data: GPUBuffer, dataBytes: number, ranges: number[][]): void => {
            const live = ranges.filter((r) => r[1]! > 0);
            if (live.length === 0) return;
            const rb = pool.acquire(16 * live.length, BufferUsage.STORAGE | BufferUsage.COPY_DST, `${label}:ranges`);
            temps.push(rb);
            device.queue.writeBuffer(rb, 0, Uint32Array.from(live.flat()));
            const bg = device.createBindGroup({
              layout: checkPipe.bindGroupLayout,
              entries: [
                { binding: 0, resource: { buffer: data, offset: 0, size: dataBytes } },
                { binding: 1, resource: { buffer: rb, offset: 0, size: 16 * live.length } },
                { binding: 2, resource: { buffer: countsBuf!, offset: 0, size: countsBytes } },
              ],
            });
            const longest = Math.max(...live.map((r) => r[1]!));
            const pass = enc.beginComputePass({ label: `${label}:nonfinite` });
            pass.setPipeline(checkPipe.pipeline);
            pass.setBindGroup(0, bg);
            pass.dispatchWorkgroups(Math.min(1024, Math.ceil(longest / 64)), live.length, 1);
            pass.end();
          };
          dispatch(
            inBuf,
            Math.max(4, inLen * 4),
            inSlots.map((i, s) => [runs[i]!.dst, bind.inputs[i]!.batched || base === 0 ? runs[i]!.n : 0, s, FORMAT_CODE[inFormat(i)]]),
          );
          let o = 0;
          const outOff = args.outputSizes.map((x) => {
            const at = o;
            o += x * count;
            return at;
          });
          dispatch(
            outBuf,
            Math.max(4, outLen * 4),
            outSlots.map((r, s) => [outOff[r.i]!, args.outputSizes[r.i]! * count, inSlots.length + s, FORMAT_CODE[r.o.half ?? 'f32']]),
          );
        }
        // results out to their buffers; statuses, checks and counts to the staging buffer
        let o = 0;
        const stagingRuns: { at: number; n: number }[] = [];
        let stagingLen = 0;
        spec.outputs.forEach((out, i) => {
          const size = args.outputSizes[i]!;
          const n = size * count;
          if (out.kind === 'result') {
            const r = results.find((x) => x.i === i)!;
            if (n > 0) enc.copyBufferToBuffer(outBuf, 4 * o, r.buffer, 4 * base * size, 4 * n);
          } else {
            stagingRuns.push({ at: stagingLen, n });
            stagingLen += n;
          }
          o += n;
        });
        const countsAt = stagingLen;
        const stagingBytes = 4 * stagingLen + (nSlots > 0 ? countsBytes : 0);
        if (stagingBytes > 0) {
          staging = pool.acquire(stagingBytes, BufferUsage.MAP_READ | BufferUsage.COPY_DST, `${label}:status`);
          let so = 0;
          spec.outputs.forEach((out, i) => {
            const n = args.outputSizes[i]! * count;
            if (out.kind !== 'result' && n > 0) enc.copyBufferToBuffer(outBuf, 4 * statusOffset(args.outputSizes, count, i), staging!, 4 * so, 4 * n);
            if (out.kind !== 'result') so += n;
          });
          if (countsBuf !== null) enc.copyBufferToBuffer(countsBuf, 0, staging, 4 * countsAt, countsBytes);
        }
        device.queue.submit([enc.finish()]);
        scoped = false;
        const oomP = device.popErrorScope();
        const invalidP = device.popErrorScope();
        scopes.push(oomP, invalidP);
        const st = staging;
        staging = null;
        chunkReads.push(
          (async () => {
            if (st === null) return { base, count, status: [], counts: new Uint32Array(0) };
            try {
              await st.mapAsync(MapMode.READ, 0, stagingBytes);
              const range = st.getMappedRange(0, stagingBytes);
              const status = stagingRuns.map((r) => new Float32Array(range.slice(4 * r.at, 4 * (r.at + r.n))));
              const counts = nSlots > 0 ? new Uint32Array(range.slice(4 * countsAt, 4 * countsAt + countsBytes)) : new Uint32Array(0);
              st.unmap();
              return { base, count, status, counts };
            } finally {
              pool.release(st);
            }
          })(),
        );
      } finally {
        if (scoped) {
          // an exception between push and submit: leave the device's scope stack as it was
          void device.popErrorScope().catch(() => undefined);
          void device.popErrorScope().catch(() => undefined);
        }
        if (staging !== null) pool.release(staging);
        for (const t of temps) pool.release(t);
        rp.release();
      }
    }
  } catch (e) {
    for (const r of results) pool.release(r.buffer);
    throw e;
  }

  const status = (async (): Promise<ResidentStatus> => {
    const errs = await Promise.all(scopes);
    const bad = errs.filter((e) => e !== null);
    if (bad.length > 0) {
      await Promise.allSettled(chunkReads);
      throw new InternalError(`GPU call '${fn}' failed on the device (a GpuTensor's buffer from another device, or without COPY_SRC usage?)`, bad.map((e) => e!.message).join('\n'));
    }
    const chunks = await Promise.all(chunkReads);
    // non-finite resident inputs first (the binding's MATR104, found on the device)
    const totals = new Array<number>(nSlots).fill(0);
    const firsts = new Array<number>(nSlots).fill(Infinity);
    for (const c of chunks) {
      for (let s = 0; s < nSlots; s++) {
        const n = c.counts[2 * s]!;
        if (n === 0) continue;
        totals[s] += n;
        const k = s < inSlots.length ? inSlots[s]! : -1;
        const inp = k >= 0 ? bind.inputs[k]! : null;
        const nv = inp ? inp.shape.reduce((a, b) => a * b, 1) : 0;
        let first = c.counts[2 * s + 1]!;
        if (inp && spec.inputs[k]?.half) {
          // counted in half words: instance runs of 2⌈n/2⌉
          const run = 2 * Math.ceil(nv / 2);
          first = Math.floor(first / run) * nv + (first % run);
        }
        const per = inp ? (inp.batched ? c.base * nv : 0) : 0;
        firsts[s] = Math.min(firsts[s]!, per + first);
      }
    }
    inSlots.forEach((i, s) => {
      if (totals[s]! > 0) {
        const p = bind.inputs[i]!.param.name;
        throw new MatcRuntimeError('MATR104', `${fn}: ${describeParam(p)} (a GPU tensor) has ${totals[s]} non-finite value(s), the first at flat index ${firsts[s]}`);
      }
    });
    const nodes: NodeStatus[] = sig.status.map((st) => ({ name: st.name, kind: st.kind, iterations: new Array<number>(B), converged: new Array<boolean>(B), ...(st.estimate ? { residualEstimate: true } : {}) }));
    for (const c of chunks) {
      statusOuts.forEach((i, k) => {
        const o = spec.outputs[i]!;
        const v = c.status[k]!;
        if (o.kind === 'flags') return; // a grid schedule's loop flags
        if (o.kind === 'check') {
          for (let b = 0; b < c.count; b++) {
            const id = Math.round(v[3 * b]!);
            if (id === 0) continue;
            const what = spec.checks?.[id - 1] ?? 'an index';
            throw runCheckError(what, Math.round(v[3 * b + 1]!), Math.round(v[3 * b + 2]!), B > 1 ? ` in batch instance ${c.base + b}` : '');
          }
          return;
        }
        const s = nodes[o.status ?? -1];
        if (!s) throw new InternalError(`kernel output '${o.name}' names status entry ${o.status}, which the signature does not have`);
        if (o.field === 'iterations') for (let b = 0; b < c.count; b++) s.iterations[c.base + b] = Math.round(v[b]!);
        else if (o.field === 'converged') for (let b = 0; b < c.count; b++) s.converged[c.base + b] = v[b] !== 0;
        else {
          s.residual ??= new Array<number>(B);
          for (let b = 0; b < c.count; b++) s.residual[c.base + b] = v[b]!;
        }
      });
    }
    const nonFinite: Record<string, number> = {};
    outSlots.forEach((r, s) => (nonFinite[r.o.name] = totals[inSlots.length + s]!));
    return { nodes, nonFinite };
  })();
  host.track(status);
  // the call fails if a resident input's own call failed upstream
  const upstream = bind.inputs.filter((i) => i.resident).map((i) => i.resident!.ready);
  const all = upstream.length === 0 ? status : Promise.all([status, ...upstream]).then(([s]) => s);
  all.catch(() => undefined);
  const ready = all.then(() => undefined);
  const outputs: Record<string, GpuTensor> = {};
  for (const r of results) {
    const shape = (r.o.shape ?? []).map((d) => (/^\d+$/.test(d) ? Number(d) : parseDim(d).eval(bind.dims)));
    const dtype = r.o.int ? 'i32' : (r.o.half ?? 'f32');
    outputs[r.o.name] = new GpuTensor(host, r.buffer, [...bind.batch, ...shape], { dtype, ...(r.o.half ? { run: shape.reduce((a, b) => a * b, 1) } : {}), owned: true, ready });
  }
  return { outputs, status: all };
}

/** Offset (elements) of output i in the packed output of a chunk. */
function statusOffset(sizes: readonly number[], count: number, i: number): number {
  let o = 0;
  for (let k = 0; k < i; k++) o += sizes[k]! * count;
  return o;
}

/** Σ over the leading `rank` (batch) dimensions of a resident tensor, on the device: the
 *  gradient of an input shared by a batched call. The result is written after `t`. */
export async function sumOverBatchResident(ctx: GpuContext, t: GpuTensor, rank: number): Promise<GpuTensor> {
  const host = await residentHost(ctx);
  const { device, pool, pipelines } = host.handle;
  checkUsable(t, device, 'a gradient');
  const shape = t.shape.slice(rank);
  const size = shape.reduce((a, b) => a * b, 1);
  const batch = t.shape.slice(0, rank).reduce((a, b) => a * b, 1);
  const bind = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  if (t.offset + t.byteLength > bind) throw new MatcRuntimeError('MATR130', `the batched gradient to be summed has ${t.byteLength} bytes, more than one GPU binding may hold (${bind}); ask for host results (no resident: true)`);
  const dst = pool.acquire(Math.max(4, 4 * size), RESIDENT_USAGE, 'matc:sum');
  if (size > 0) {
    const pipe = await pipelines.get({ wgsl: SUMBATCH_WGSL, entryPoint: 'sumbatch', label: 'matc:sumbatch' }, SUMBATCH_SLOTS);
    const uni = pool.acquire(16, BufferUsage.UNIFORM | BufferUsage.COPY_DST, 'matc:sum-uni');
    try {
      device.queue.writeBuffer(uni, 0, Uint32Array.of(batch, size, t.offset / 4, 0));
      const enc = device.createCommandEncoder({ label: 'matc:sumbatch' });
      const pass = enc.beginComputePass();
      pass.setPipeline(pipe.pipeline);
      pass.setBindGroup(
        0,
        device.createBindGroup({
          layout: pipe.bindGroupLayout,
          entries: [
            { binding: 0, resource: { buffer: uni, offset: 0, size: 16 } },
            { binding: 1, resource: { buffer: t.buffer, offset: 0, size: t.offset + t.byteLength } },
            { binding: 2, resource: { buffer: dst, offset: 0, size: 4 * size } },
          ],
        }),
      );
      const groups = Math.ceil(size / 64);
      const gx = Math.min(groups, 65535);
      pass.dispatchWorkgroups(gx, Math.ceil(groups / gx), 1);
      pass.end();
      device.queue.submit([enc.finish()]);
    } finally {
      pool.release(uni);
    }
  }
  return new GpuTensor(host, dst, shape, { owned: true, ready: t.ready });
}
