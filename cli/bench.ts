// `matc bench`: times the forward and the backward (VJP) of a function on random inputs with the
// chosen backend.
//
// Two numbers per phase:
//   gpuMsMedian   GPU time of the instance kernel by timestamp queries, on device-resident
//                 buffers (inputs uploaded once, no readback), median of --reps runs after a
//                 warm-up of at least 250 ms (so the GPU is at its working clocks). null on the CPU
//                 backend and on adapters without 'timestamp-query'.
//   wallMsMedian  end-to-end wall time of one full API call (bind and validate, upload, one
//                 submission, one readback, unpacking), median of --reps calls after one warm-up
//                 call. On the CPU backend: the compiled CPU program's call.
// The backward phase is the VJP function as the API runs it: one kernel that re-runs the forward
// solver and then the implicit backward, returning the outputs and the gradients together.
//
// Inputs: seeded random inputs respecting the declared structure (cli/inputs.ts), except that a
// `sym` parameter gets PMaF's IED data (entries |N(0,1)|, then X + Xᵀ: a dominant Perron
// eigenvalue with a large gap), and the cotangents are N(0,1).
//
// The pieces are exported for bench/layers.ts (the layer benchmarks against PyTorch).

import { extent } from '../core/extent.js';
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { CompileError, compileProgram } from '../compiler/compile.js';
import { renderAll } from '../compiler/diagnostics.js';
import { Module, type CompiledFn, type CallOptions, type ForwardResult, type VjpResult } from '../api/module.js';
import type { Func } from '../compiler/ir/node.js';
import type { TensorType } from '../compiler/ir/types.js';
import { instanceBindings, kernelArgs, type InstanceKernelSpec } from '../core/instance-layout.js';
import { bindInputs, type Binding } from '../runtime/bind.js';
import { MatcRuntimeError } from '../core/errors.js';
import { cotangentName } from '../core/derivative-names.js';
import { Rng } from '../runtime/random.js';
import { selectBackend } from '../runtime/select.js';
import { Tensor } from '../runtime/tensor.js';
import type { Backend } from '../runtime/backend.js';
import { instanceChunking, packChunkInputs, variantLaunches, type GridLaunches, type WebGpuBackend } from '../runtime/webgpu/backend.js';
import { INDIRECT_BUFFER, indirectBuffers } from '../runtime/webgpu/grid.js';
import type { ScheduleChoice } from '../runtime/schedule-choice.js';
import type { GpuContext } from '../runtime/webgpu/device.js';
import type { GpuPlan, PlanInputs } from '../core/gpu-plan.js';
import { randomInputs, randomLike, resolveDims } from './inputs.js';
import { backendChoice, cpuOptions } from './cpu-options.js';
import { BENCH_HELP } from './help.js';



// ---- inputs --------------------------------------------------------------------------------------

/** PMaF's IED data for one instance: |N(0,1)|^{m×m}, then X + Xᵀ (seeds-math §1.5). */
export function pmafSym(rng: Rng, m: number): Float64Array {
  const x = new Float64Array(m * m);
  for (let i = 0; i < x.length; i++) x[i] = Math.abs(rng.normal());
  const out = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) out[i * m + j] = x[i * m + j]! + x[j * m + i]!;
  return out;
}

export interface BenchInputs {
  inputs: Record<string, Tensor>;
  cotangents: Record<string, Tensor>;
  dims: Record<string, number>;
  /** Call dims (int parameters), as the API wants them. */
  callDims: Record<string, number>;
  /** How the inputs were drawn, per parameter. */
  notes: Record<string, string>;
}

/** Random inputs for a benchmark: structured random (cli/inputs.ts), `sym` parameters with PMaF's
 *  IED data, N(0,1) cotangents shaped like the outputs. */
export function benchInputs(fn: CompiledFn, given: Record<string, number>, batch: number, seed: number): BenchInputs {
  const dims = resolveDims(fn, given);
  const bshape = batch > 1 ? [batch] : [];
  // `matc run --random`'s inputs (ints 0, complex parameters in the complex sense), with PMaF's
  // IED data for `sym` parameters
  const inputs = randomInputs(fn, dims, bshape, seed, (t, shape, rng) => (t.struct === 'sym' ? pmafSym(rng, shape[0]!) : undefined));
  const notes: Record<string, string> = {};
  for (const p of fn.func.params) {
    const t = p.node.type as TensorType;
    if (t.shape.length === 0 && p.default !== undefined) continue;
    notes[p.name] = t.dtype === 'i' ? '0' : p.complex ? `random complex ${p.complex}` : t.struct === 'sym' ? 'PMaF IED data: |N(0,1)| then X + Xᵀ' : t.struct && t.struct !== 'general' ? `random ${t.struct}` : 'N(0,1)';
  }
  const callDims: Record<string, number> = {};
  for (const ip of fn.func.intParams) if (dims[ip.name] !== undefined) callDims[ip.name] = dims[ip.name]!;
  // Output shapes without running anything: bind, then evaluate the result types.
  const bind = fn.bind(inputs, { dims: callDims });
  const shapes: Record<string, Tensor> = {};
  for (const r of fn.func.results) {
    const sh = (r.node.type as TensorType).shape.map((d) => d.eval(bind.dims));
    shapes[r.name] = Tensor.zeros([...bind.batch, ...sh]);
  }
  const cotangents = randomLike(shapes, seed + 1);
  return { inputs, cotangents, dims: Object.fromEntries(bind.dims), callDims, notes };
}

// ---- device-resident timing -------------------------------------------------------------------------

/** The instance kernel's launches for a bound call as one resident plan: the same layout and
 *  chunking as runInstanceKernel (runtime/webgpu/backend.ts), but every chunk is its own launch
 *  with its own uniform/input/output buffers, so the whole batch is one timed compute pass. */
export function instancePlan(ctx: GpuContext, spec: InstanceKernelSpec, bind: Binding, grid?: GridLaunches): { plan: GpuPlan; inputs: PlanInputs } {
  const B = bind.batchSize;
  const batched = bind.inputs.map((i) => i.batched);
  const chunking = instanceChunking(ctx, spec, bind);
  const { maxGrid, probe } = chunking;
  const chunk = grid ? Math.min(chunking.chunk, maxGrid) : chunking.chunk;
  const plan: GpuPlan = { kernels: grid ? grid.kernels : { inst: { wgsl: spec.wgsl, entryPoint: spec.entryPoint } }, buffers: [], launches: [], outputs: [] };
  const inputs: PlanInputs = {};
  plan.buffers.push({ name: 'scratch', bytes: Math.max(4, probe.scratchPerInstance * 4 * Math.min(chunk, B)), kind: 'scratch' });
  for (let base = 0, k = 0; base < B; base += chunk, k++) {
    const count = Math.min(chunk, B - base);
    const args = kernelArgs(spec, bind.dims, { count, base, batched });
    const input = packChunkInputs(bind, spec, args, base, count);
    const outLen = args.outputSizes.reduce((s, x) => s + x * count, 0);
    const gx = Math.min(count, maxGrid);
    plan.buffers.push(
      { name: `uni${k}`, bytes: args.uniforms.byteLength, kind: 'uniform' },
      { name: `in${k}`, bytes: input.byteLength, kind: 'input' },
      { name: `out${k}`, bytes: Math.max(4, outLen * 4), kind: 'output' },
    );
    const bindings = instanceBindings({ uni: `uni${k}`, in: `in${k}`, out: `out${k}` });
    if (grid) {
      const ex = grid.expand(count, maxGrid);
      plan.buffers.push(...indirectBuffers(ex.indirectBytes, `disp${k}`));
      for (const l of ex.launches) {
        // the chunk's own buffers; a launch that writes or reads indirect counts, the chunk's too
        const disp = l.bindings.filter((b) => b.buffer === INDIRECT_BUFFER).map((b) => ({ ...b, buffer: `disp${k}` }));
        plan.launches.push({ ...l, label: `chunk${k} ${l.label ?? ''}`, bindings: [...bindings, ...disp], ...(l.indirect ? { indirect: { ...l.indirect, buffer: `disp${k}` } } : {}) });
      }
    }
    else plan.launches.push({ kernel: 'inst', label: `chunk${k}`, bindings, workgroups: [gx, Math.ceil(count / gx), 1] });
    plan.outputs.push(`out${k}`);
    inputs[`uni${k}`] = args.uniforms;
    inputs[`in${k}`] = input;
  }
  return { plan, inputs };
}

export interface PhaseTiming {
  /** Median GPU ms by timestamp queries on resident buffers; null without (CPU, no timestamps). */
  gpuMsMedian: number | null;
  gpuMsMin: number | null;
  gpuSamples: number;
  /** Median wall ms of a full call (upload + one submission + one readback on WebGPU). */
  wallMsMedian: number;
  wallMsMin: number;
  wallSamples: number;
  /** Launches (chunks) per call on WebGPU. */
  launches?: number;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export interface TimingOptions {
  reps: number;
  /** Warm-up wall time before the timed GPU runs (default 250 ms). */
  warmupMs?: number;
  /** Rough time budget per phase and timer; reps shrink (to >= 1) when one run is longer. */
  budgetMs?: number;
}

/** GPU time of a function's kernel on resident buffers (null without timestamp queries). */
export async function timeGpu(ctx: GpuContext, spec: InstanceKernelSpec, bind: Binding, o: TimingOptions, grid?: GridLaunches): Promise<{ ms: number[]; launches: number } | null> {
  if (!ctx.features.timestampQuery) return null;
  const { prepareResidentPlan } = await import('../runtime/webgpu/executor.js');
  const { plan, inputs } = instancePlan(ctx, spec, bind, grid);
  const r = await prepareResidentPlan(ctx, plan, { label: 'bench' });
  try {
    r.write(inputs);
    // One probe run (also the first use of the pipeline), then size the repetitions to the budget.
    const probe = await r.time(1, 0, 0);
    const t1 = Math.max(1e-3, probe.gpuMs?.[0] ?? probe.wallMs[0]!);
    const budget = o.budgetMs ?? Infinity;
    const reps = Math.max(1, Math.min(o.reps, Math.floor(budget / t1)));
    // A run longer than half the budget: the probe was the warm-up (a long kernel keeps the GPU
    // at its working clocks by itself).
    const slow = t1 * 2 > budget;
    const t = await r.time(reps, slow ? 0 : 1, slow ? 0 : Math.min(o.warmupMs ?? 250, budget / 4));
    return { ms: t.gpuMs ?? t.wallMs, launches: plan.launches.length };
  } finally {
    r.release();
  }
}

/** Wall time of full calls: one warm-up call, then up to `reps` calls within the budget. When
 *  the pipeline is already compiled and warm (`warm`) and one call takes over half the budget, the
 *  first call is the only sample. */
export async function timeWall<T>(call: () => Promise<T>, o: TimingOptions, warm = false): Promise<{ ms: number[]; last: T }> {
  const t0 = performance.now();
  let last = await call();
  const first = performance.now() - t0;
  const budget = o.budgetMs ?? Infinity;
  if (warm && first * 2 > budget) return { ms: [first], last };
  const reps = Math.max(1, Math.min(o.reps, Math.floor(budget / Math.max(first, 1e-3))));
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    last = await call();
    ms.push(performance.now() - t);
  }
  return { ms, last };
}

// ---- one benchmark ---------------------------------------------------------------------------------

export interface NodeSummary {
  iterations: [number, number];
  converged: number;
  instances: number;
}

export interface BenchReport {
  backend: string;
  fn: string;
  dims: Record<string, number>;
  batch: number;
  forward: PhaseTiming;
  backward: PhaseTiming;
  reps: number;
  seed: number;
  inputs: Record<string, string>;
  /** The GPU execution model each phase ran on and why (the cost model or MATC_SCHEDULE). */
  schedule?: { forward: ScheduleChoice; backward?: ScheduleChoice };
  /** Solver status of the last timed calls: iterations (min, max) and converged instances. */
  status: { forward: Record<string, NodeSummary>; backward: Record<string, NodeSummary>; warnings: string[] };
}

export interface BenchOptions extends TimingOptions {
  batch: number;
  dims: Record<string, number>;
  seed?: number;
  /** Time the backward (VJP) too (default true). */
  backward?: boolean;
}

export interface BenchRun {
  report: BenchReport;
  data: BenchInputs;
  forward: ForwardResult;
  backward: VjpResult | null;
}

function summarizeNodes(nodes: ForwardResult['status']['nodes']): Record<string, NodeSummary> {
  const out: Record<string, NodeSummary> = {};
  for (const n of nodes) {
    out[n.name] = {
      iterations: extent(n.iterations),
      converged: n.converged.filter(Boolean).length,
      instances: n.converged.length,
    };
  }
  return out;
}

function phase(gpu: { ms: number[]; launches: number } | null, wall: number[]): PhaseTiming {
  return {
    gpuMsMedian: gpu ? median(gpu.ms) : null,
    gpuMsMin: gpu ? Math.min(...gpu.ms) : null,
    gpuSamples: gpu ? gpu.ms.length : 0,
    wallMsMedian: median(wall),
    wallMsMin: Math.min(...wall),
    wallSamples: wall.length,
    ...(gpu ? { launches: gpu.launches } : {}),
  };
}

/** Times forward and backward of `fn` on `backend` (undefined = the CPU reference). */
export async function benchFunction(fn: CompiledFn, backend: Backend | undefined, backendName: string, o: BenchOptions, data?: BenchInputs): Promise<BenchRun> {
  const seed = o.seed ?? 1;
  const d = data ?? benchInputs(fn, o.dims, o.batch, seed);
  const opts: CallOptions = { dims: d.callDims, ...(backend ? { backend } : {}) };
  const gpu = backend?.kind === 'webgpu' ? (backend as WebGpuBackend) : null;
  const program = fn.module.program;

  const schedules: Partial<Record<'forward' | 'vjp', ScheduleChoice>> = {};
  const gpuTime = async (mode: 'forward' | 'vjp', inputs: Record<string, Tensor>) => {
    if (!gpu) return null;
    const exe = fn.executable(mode);
    const bind = bindInputs(exe.signature, inputs, { dims: d.callDims });
    const v = gpu.variantFor(exe, bind.dims, bind.batchSize);
    schedules[mode] = gpu.scheduleChoice(exe.signature, bind.dims, bind.batchSize);
    const { spec, grid } = variantLaunches(v, bind);
    return timeGpu(gpu.ctx, spec, bind, o, grid);
  };

  // GPU time first: its probe run compiles the pipeline and warms the GPU for the wall-time calls.
  const fwdGpu = await gpuTime('forward', d.inputs);
  const fwdWall = await timeWall(() => fn.forward(d.inputs, opts), o, fwdGpu !== null);
  let bwd: PhaseTiming = { gpuMsMedian: null, gpuMsMin: null, gpuSamples: 0, wallMsMedian: NaN, wallMsMin: NaN, wallSamples: 0 };
  let bwdLast: VjpResult | null = null;
  // A function without a reverse rule is still worth timing forward (issue 10: bench refused
  // forward-only functions with MAT0501); the report says why the backward is missing.
  let noBackward: string | undefined;
  if (o.backward !== false) {
    try {
      fn.executable('vjp');
    } catch (e) {
      if (!(e instanceof CompileError)) throw e;
      noBackward = `backward not timed: no VJP: ${e.message.split('\n')[0]}`;
    }
  }
  if (o.backward !== false && noBackward === undefined) {
    const all: Record<string, Tensor> = { ...d.inputs };
    for (const r of fn.func.results) all[cotangentName(r.name)] = d.cotangents[r.name]!;
    const bwdGpu = await gpuTime('vjp', all);
    const bwdWall = await timeWall(() => fn.vjp(d.inputs, d.cotangents, opts), o, bwdGpu !== null);
    bwd = phase(bwdGpu, bwdWall.ms);
    bwdLast = bwdWall.last;
  }
  const report: BenchReport = {
    backend: backendName,
    fn: fn.name,
    dims: d.dims,
    batch: o.batch,
    forward: phase(fwdGpu, fwdWall.ms),
    backward: bwd,
    reps: o.reps,
    seed,
    inputs: d.notes,
    ...(schedules.forward ? { schedule: { forward: schedules.forward, ...(schedules.vjp ? { backward: schedules.vjp } : {}) } } : {}),
    status: {
      forward: summarizeNodes(fwdWall.last.status.nodes),
      backward: bwdLast ? summarizeNodes(bwdLast.status.nodes) : {},
      warnings: [...fwdWall.last.status.warnings, ...(bwdLast?.status.warnings ?? []), ...(noBackward ? [noBackward] : [])].filter((w, i, a) => a.indexOf(w) === i),
    },
  };
  return { report, data: d, forward: fwdWall.last, backward: bwdLast };
}

// ---- the command -------------------------------------------------------------------------------------

function parseKv(text: string | undefined, what: string, ints: boolean): Record<string, number> {
  const out: Record<string, number> = {};
  if (!text) return out;
  for (const part of text.split(',')) {
    // a name, or a member of a dimension family `r[3]` (compile-time collections)
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])?)\s*=\s*([-+0-9.eE]+)\s*$/.exec(part);
    const v = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(v) || (ints && !(Number.isInteger(v) && v >= 0))) {
      throw new MatcRuntimeError('MATR112', `bad ${what} '${part}': expected name=${ints ? 'non-negative integer' : 'number'}`);
    }
    out[m[1]!] = v;
  }
  return out;
}

function positiveInt(v: string | boolean | undefined, what: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new MatcRuntimeError('MATR112', `${what} must be a positive integer, got '${String(v)}'`);
  return n;
}

const fmt = (x: number | null): string => (x === null || !Number.isFinite(x) ? '-' : x >= 100 ? x.toFixed(1) : x >= 1 ? x.toFixed(3) : x.toFixed(4));

export function formatReport(r: BenchReport, note?: string): string {
  const dims = Object.entries(r.dims).map(([k, v]) => `${k}=${v}`).join(', ') || '-';
  const lines = [`${r.fn}  backend: ${r.backend}  dims: ${dims}  batch: ${r.batch}`];
  if (note) lines.push(`  (${note})`);
  for (const [k, v] of Object.entries(r.inputs)) lines.push(`  input ${k}: ${v}`);
  if (r.schedule) {
    const b = r.schedule.backward;
    lines.push(`  schedule  forward: ${r.schedule.forward.model} model (${r.schedule.forward.reason})${b ? `; backward: ${b.model} model (${b.reason})` : ''}`);
  }
  const rows = [
    ['phase', 'gpu ms (median)', 'gpu ms (min)', 'wall ms (median)', 'wall ms (min)', 'samples gpu/wall'],
    ...(['forward', 'backward'] as const)
      .filter((p) => r[p].wallSamples > 0)
      .map((p) => [p, fmt(r[p].gpuMsMedian), fmt(r[p].gpuMsMin), fmt(r[p].wallMsMedian), fmt(r[p].wallMsMin), `${r[p].gpuSamples}/${r[p].wallSamples}`]),
  ];
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const [i, row] of rows.entries()) {
    lines.push('  ' + row.map((c, j) => (j === 0 ? c.padEnd(w[j]!) : c.padStart(w[j]!))).join('  '));
    if (i === 0) lines.push('  ' + w.map((x) => '-'.repeat(x)).join('  '));
  }
  for (const [ph, nodes] of Object.entries(r.status)) {
    if (ph === 'warnings') continue;
    for (const [name, s] of Object.entries(nodes as Record<string, NodeSummary>)) {
      const it = s.iterations[0] === s.iterations[1] ? `${s.iterations[0]}` : `${s.iterations[0]}…${s.iterations[1]}`;
      lines.push(`  ${ph} ${name}: iterations ${it}, converged ${s.converged}/${s.instances}`);
    }
  }
  for (const w of r.status.warnings) lines.push(`  warning: ${w}`);
  if (r.forward.gpuMsMedian === null && r.backend.startsWith('webgpu')) lines.push('  (the adapter has no timestamp queries: no GPU times)');
  return lines.join('\n');
}

export async function benchCommand(positionals: string[], values: Record<string, string | boolean | undefined>): Promise<number> {
  if (positionals.length !== 1) {
    process.stderr.write(`matc bench: expected one FILE\n\n${BENCH_HELP}\n`);
    return 1;
  }
  const file = positionals[0]!;
  if (!existsSync(file)) throw new MatcRuntimeError('MATR111', `no such file: ${file}`);
  const solverOptions = parseKv(values.set as string | undefined, '--set', false);
  const program = compileProgram(readFileSync(file, 'utf8'), { path: resolve(file), ...(Object.keys(solverOptions).length ? { solverOptions } : {}) });
  if (program.warnings.length) process.stderr.write(renderAll(program.warnings) + '\n');
  const module = new Module(program);
  const name = values.fn as string | undefined;
  if (!name && module.functions.length !== 1) throw new MatcRuntimeError('MATR100', `--fn is required (functions: ${module.functions.join(', ')})`);
  const dims = parseKv(values.dims as string | undefined, '--dims', true);
  // a generic function: the specialisation for the static values in --dims (or the defaults)
  const fn = module.fn(name ?? module.functions[0]!).specialize(dims);
  const batch = positiveInt(values.batch, '--batch', 1);
  const reps = positiveInt(values.reps, '--reps', 20);
  const seed = values.seed !== undefined ? Number(values.seed) : 1;
  if (!Number.isFinite(seed)) throw new MatcRuntimeError('MATR112', `--seed must be a number`);
  const sel = await selectBackend(backendChoice(values), cpuOptions(values));
  try {
    const run = await benchFunction(fn, sel.backend, sel.name, { batch, dims, reps, seed, budgetMs: 2000 });
    if (values.json) process.stdout.write(JSON.stringify(run.report) + '\n');
    else process.stdout.write(formatReport(run.report, sel.note) + '\n');
    return 0;
  } finally {
    sel.backend?.dispose?.();
  }
}
