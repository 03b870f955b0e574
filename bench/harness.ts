// Benchmark harness for GPU kernels: time a resident plan with timestamp queries (per-iteration
// GPU time, median of >= 20 runs after warm-up; wall clock when the adapter has no timestamps),
// derive GB/s and GFLOP/s, and place each case against the machine's own measured ceilings:
// bandwidth = the best copy measured in the same run, compute = the best GEMM measured in the same
// run. Timing excludes upload and readback, which the plans keep resident (executor.ts).

import { writeFileSync } from 'node:fs';
import type { GpuContext } from '../runtime/webgpu/device.js';
import { prepareResidentPlan, type ResidentPlan } from '../runtime/webgpu/executor.js';
import type { GpuPlan } from '../core/gpu-plan.js';

export type CaseKind = 'copy' | 'gemm' | 'bmm' | 'other';

export interface BenchResult {
  name: string;
  kind: CaseKind;
  medianMs: number;
  minMs: number;
  samples: number;
  timer: 'gpu-timestamp' | 'wall';
  /** Bytes that must cross device memory once (inputs read, outputs written). */
  bytes: number;
  flops: number;
  gbps: number;
  gflops: number;
  /** Fraction of the run's bandwidth / compute ceiling (filled in by `withCeilings`). */
  fracBandwidth?: number;
  fracCompute?: number;
  /** ‖out − ref‖/‖ref‖ on checked entries, when checked. */
  relErr?: number;
  /** Kernel parameters, for the log. */
  params?: Record<string, unknown>;
  note?: string;
  /** Median ms of the default configuration when the row reports a faster candidate. */
  defaultMs?: number;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export interface TimeOptions {
  iterations?: number;
  warmup?: number;
  /** Minimum warm-up wall time (default 250 ms), so the GPU runs at its working clocks. */
  warmupMs?: number;
}

/** Times the resident plan's launches. */
export async function timeResident(r: ResidentPlan, opts: TimeOptions = {}): Promise<{ medianMs: number; minMs: number; samples: number; timer: BenchResult['timer'] }> {
  const iterations = Math.max(20, opts.iterations ?? 30);
  const t = await r.time(iterations, opts.warmup ?? 5, opts.warmupMs ?? 250);
  const xs = t.gpuMs ?? t.wallMs;
  return { medianMs: median(xs), minMs: Math.min(...xs), samples: xs.length, timer: t.gpuMs !== null ? 'gpu-timestamp' : 'wall' };
}

export function makeResult(name: string, kind: CaseKind, bytes: number, flops: number, t: { medianMs: number; minMs: number; samples: number; timer: BenchResult['timer'] }, extra: Partial<BenchResult> = {}): BenchResult {
  const s = t.medianMs / 1e3;
  return { name, kind, ...t, bytes, flops, gbps: bytes / s / 1e9, gflops: flops / s / 1e9, ...extra };
}

/** Fills a device buffer with deterministic pseudo-random values in [-1, 1) without building the
 *  whole array on the host: a 16 MiB random block is written repeatedly at rotating offsets. */
export function fillRandom(device: GPUDevice, buffer: GPUBuffer, bytes: number, seed: number): void {
  const block = randomBlock(seed);
  let off = 0;
  let rot = 0;
  while (off < bytes) {
    const n = Math.min(bytes - off, block.byteLength - rot * 4);
    device.queue.writeBuffer(buffer, off, block.buffer, block.byteOffset + rot * 4, n);
    off += n;
    rot = (rot + 1237) % 4096;
  }
}

/** Fills with NaN so that unwritten outputs are caught by the correctness check. */
export function fillNaN(device: GPUDevice, buffer: GPUBuffer, bytes: number): void {
  const chunk = new Float32Array(Math.min(bytes, 16 << 20) / 4).fill(NaN);
  for (let off = 0; off < bytes; off += chunk.byteLength) device.queue.writeBuffer(buffer, off, chunk.buffer, 0, Math.min(chunk.byteLength, bytes - off));
}

const blocks = new Map<number, Float32Array>();
function randomBlock(seed: number): Float32Array {
  let b = blocks.get(seed);
  if (b === undefined) {
    b = new Float32Array(4 << 20);
    let s = seed >>> 0;
    for (let i = 0; i < b.length; i++) {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      b[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
    }
    blocks.set(seed, b);
  }
  return b;
}

/** Reads a [start, start+count) float range of a device buffer. */
export async function readRange(device: GPUDevice, buffer: GPUBuffer, startFloat: number, count: number): Promise<Float32Array> {
  const bytes = count * 4;
  const staging = device.createBuffer({ size: Math.ceil(bytes / 4) * 4, usage: 0x0001 | 0x0008 });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, startFloat * 4, staging, 0, bytes);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(0x0001);
  const out = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return out;
}

/** The value `fillRandom(seed)` wrote at float i of a buffer of `bytes` bytes (host replica for
 *  checks). fillRandom's chunk table is rebuilt once per size and searched by bisection. */
export function randomAt(seed: number, bytes: number, i: number): number {
  const block = randomBlock(seed);
  let table = chunkTables.get(bytes);
  if (table === undefined) {
    const offs: number[] = [];
    const rots: number[] = [];
    let off = 0;
    let rot = 0;
    while (off < bytes) {
      offs.push(off / 4);
      rots.push(rot);
      off += Math.min(bytes - off, block.byteLength - rot * 4);
      rot = (rot + 1237) % 4096;
    }
    table = { offs, rots };
    chunkTables.set(bytes, table);
  }
  const { offs, rots } = table;
  let lo = 0;
  let hi = offs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offs[mid]! <= i) lo = mid;
    else hi = mid - 1;
  }
  return block[rots[lo]! + (i - offs[lo]!)]!;
}
const chunkTables = new Map<number, { offs: number[]; rots: number[] }>();

/** Adds fractions of the run's own ceilings: best copy GB/s and best GEMM GFLOP/s. */
export function withCeilings(results: BenchResult[]): { results: BenchResult[]; bandwidthGBs: number; computeGflops: number } {
  const bandwidthGBs = Math.max(0, ...results.filter((r) => r.kind === 'copy').map((r) => r.gbps));
  const computeGflops = Math.max(0, ...results.filter((r) => r.kind === 'gemm').map((r) => r.gflops));
  return {
    bandwidthGBs,
    computeGflops,
    results: results.map((r) => ({
      ...r,
      ...(bandwidthGBs > 0 ? { fracBandwidth: r.gbps / bandwidthGBs } : {}),
      ...(computeGflops > 0 && r.flops > 0 ? { fracCompute: r.gflops / computeGflops } : {}),
    })),
  };
}

const pct = (x: number | undefined): string => (x === undefined ? '' : `${(100 * x).toFixed(1)}%`);
const num = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '-');

/** Fixed-width text table: case, median ms, GB/s, GFLOP/s, fraction of each ceiling, error. */
export function formatTable(results: BenchResult[]): string {
  const head = ['case', 'median ms', 'GB/s', 'GFLOP/s', '%BW ceil', '%FLOP ceil', 'rel err', 'timer'];
  const rows = results.map((r) => [
    r.name,
    num(r.medianMs, 4),
    num(r.gbps),
    r.flops > 0 ? num(r.gflops) : '',
    pct(r.fracBandwidth),
    pct(r.fracCompute),
    r.relErr === undefined ? '' : r.relErr.toExponential(1),
    r.timer === 'gpu-timestamp' ? 'gpu' : 'wall',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), w.map((x) => '-'.repeat(x)).join('  '), ...rows.map(line)].join('\n');
}

export interface BenchArgs {
  quick: boolean;
  json: string | undefined;
  tune: boolean;
  only: string[];
  enableToggles: string[];
  iterations: number;
  /** Time only the default configuration of each case. */
  defaultsOnly: boolean;
}

export function parseArgs(argv: readonly string[]): BenchArgs {
  const a: BenchArgs = { quick: false, json: undefined, tune: false, only: [], enableToggles: [], iterations: 30, defaultsOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    if (x === '--quick') a.quick = true;
    else if (x === '--tune') a.tune = true;
    else if (x === '--json') a.json = argv[++i];
    else if (x === '--only') a.only.push(...argv[++i]!.split(','));
    else if (x === '--toggles') a.enableToggles.push(...argv[++i]!.split(','));
    else if (x === '--iterations') a.iterations = Number(argv[++i]);
    else if (x === '--defaults-only') a.defaultsOnly = true;
    else throw new Error(`unknown argument ${x}`);
  }
  return a;
}

export function writeJson(file: string, value: unknown): void {
  writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}

/** Prepares a plan resident on the device (pipelines compiled, buffers allocated). */
export function resident(ctx: GpuContext, plan: GpuPlan, label: string): Promise<ResidentPlan> {
  return prepareResidentPlan(ctx, plan, { label });
}
