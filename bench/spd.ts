// Structured SPD optimizer steps (issue 15's targets; stdlib/spd.mat) on WebGPU or on the CPU:
//
//   ingd           INGD (local_cov.py): the step on its T-th steps ("update": the factor update,
//                  ~8 p³ of products written, then Δ = B Bᵀ ∇W A Aᵀ) and on the others ("plain": Δ only)
//   kfac           KFAC with inverses (the baseline): EMA of the statistics, two LU inverses, Δ
//   singd_diag     SINGD with diagonal factors: O(n p) per step
//   singd_block30  SINGD with block-diagonal factors (blocks of 30, ragged last block)
//   ingd_f16 …     the low-precision instances (`ingd[lowp = 1]`), timed when the module has them
//   ingd_body      a diagnostic, not the optimizer: the same update written without the branch
//                  (this file's spec), so the grid model runs its products as tiled launches
//
// at p = d ∈ --sizes (default 1024,4096; --quick 64,128), statistics factors a: n×p, g: m×d with
// n = m = --batch (default 128; --quick 16). T = 10 (the default).
//
//   node dist/bench/spd.js [--quick] [--sizes 1024,4096] [--batch N] [--cases ingd,kfac,…]
//                          [--backend webgpu|cpu] [--precision f64|f32] [--reps N] [--budget-ms N]
//                          [--check-sizes 64,128] [--stdlib DIR] [--json out.json]
//
// WebGPU: the optimizer state lives on the device (GpuTensors, `resident: true`): every step takes
// the previous step's state results and returns new ones, so no step round-trips its state through
// the host; W, G, a, g go up once. Two timings per case and branch:
//   residentMs  wall time of one resident step, the call awaited until its status arrives (what a
//               training loop that waits on each step pays), median of --reps chained steps
//   gpuMs       GPU time of the step's launches by timestamp queries (cli/bench.ts timeGpu; null
//               on adapters without timestamps, e.g. lavapipe), median
// The update step is the call with t ≡ 0 (mod T) and the plain step the call with t ≡ 1: the int
// counter t is passed from the host (a scalar) so that either branch can be repeated; everything
// else is chained. CPU (--backend cpu): the compiled program on one thread (WebAssembly in f64;
// in f32 the WebAssembly program with f32 buffers), host tensors chained the
// same way, wall time per call.
//
// Correctness (--check-sizes, default on --quick): 4 chained steps with T = 2 (update, plain,
// update, plain) and factor learning rates large enough that the factors move, the backend's
// final state against the CPU f64 reference interpreter's: max |x − ref| / max(1, |ref|) over every
// state entry and W, and the relative Frobenius error of W.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compile, type CompiledFn, type Module } from '../api/module.js';
import { stdlibDir } from '../compiler/check/items.js';
import { createWebGpuBackend, variantLaunches, type WebGpuBackend } from '../runtime/webgpu/backend.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import type { Backend } from '../runtime/backend.js';
import { Tensor } from '../runtime/tensor.js';
import { GpuTensor } from '../runtime/gpu-tensor.js';
import { Rng } from '../runtime/random.js';
import { bindInputs } from '../runtime/bind.js';
import { median, timeGpu } from '../cli/bench.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    batch: { type: 'string' },
    cases: { type: 'string' },
    backend: { type: 'string', default: 'webgpu' },
    precision: { type: 'string', default: 'f32' },
    reps: { type: 'string', default: '10' },
    'budget-ms': { type: 'string', default: '20000' },
    'check-sizes': { type: 'string' },
    'skip-s': { type: 'string', default: '60' },
    'deadline-s': { type: 'string', default: '0' },
    stdlib: { type: 'string' },
    dump: { type: 'string' },
    json: { type: 'string' },
  },
});

const quick = args.quick!;
const sizes = (args.sizes ?? (quick ? '64,128' : '1024,4096')).split(',').map(Number);
const batch = Number(args.batch ?? (quick ? 16 : 128));
const reps = Number(args.reps);
const budgetMs = Number(args['budget-ms']);
const checkSizes = (args['check-sizes'] ?? (quick ? '64,128' : '')).split(',').filter((s) => s !== '').map(Number);
const skipMs = Number(args['skip-s']) * 1000;
const deadlineMs = Number(args['deadline-s']) * 1000;
const T = 10;

// the INGD update without the branch (diagnostic row): the T-th step's body of stdlib/spd.mat's
// ingd with t ≡ 0, lr₁ given, no weight decay (t < 20·T)
const BODY_SRC = `
fn ingd_body(W: mat[d, p], G: mat[d, p], a: mat[n, p], g: mat[m, d], A: mat[p, p], B: mat[d, d],
             mA: mat[p, p], mB: mat[d, d], buf: mat[d, p], lr: real, momentum: real, damping: real,
             beta2: real, lr1: real) -> (W2: mat[d, p], A2: mat[p, p], B2: mat[d, d], mA2: mat[p, p], mB2: mat[d, d], buf2: mat[d, p]) =
  let t1 = a' * (a * A), t2 = g' * (g * B),
      trBB = sumsq(B), trAA = sumsq(A),
      tva = sum(A .* t1), tvb = sum(B .* t2),
      ngA = (A' * ((damping * trBB / d) * A + (tvb / d) * t1) - eye(p)) / 2,
      ngB = (B' * ((damping * trAA / p) * B + (tva / p) * t2) - eye(d)) / 2,
      mA2 = beta2 * mA + sym(ngA), mB2 = beta2 * mB + sym(ngB),
      A2 = A - lr1 * (A * mA2), B2 = B - lr1 * (B * mB2),
      D = (B2 * B2') * G * (A2 * A2'),
      buf2 = momentum * buf + D
  in (W - lr * buf2, A2, B2, mA2, mB2, buf2)
`;

type Value = Tensor | GpuTensor | number;
type State = Record<string, Value>;

interface Timing {
  residentMs?: number | null;
  wallMs?: number | null;
  gpuMs?: number | null;
  samples: number;
  note?: string;
}

interface Row {
  case: string;
  p: number;
  d: number;
  n: number;
  update?: Timing;
  plain?: Timing;
  /** (update + (T − 1) plain) / T, from the medians */
  amortizedMs?: number | null;
  schedule?: string;
  error?: string;
}

interface Check {
  case: string;
  p: number;
  n: number;
  maxRelErr: number;
  wRelFro: number;
  factorsMoved: boolean;
  worstOutput: string;
  schedule?: string;
  error?: string;
}

function rnd(rng: Rng, shape: number[], scale: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const x = rng.normals(n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * x[i]!;
  return new Tensor(shape, out);
}

/** The layer's data: W, its gradient, the statistics factors a = x/√n (n × p), g (m × d). */
function layer(p: number, d: number, n: number, seed: number): Record<string, Tensor> {
  const rng = new Rng(seed);
  return {
    W: rnd(rng, [d, p], 1 / Math.sqrt(p)),
    G: rnd(rng, [d, p], 0.01),
    a: rnd(rng, [n, p], 1 / Math.sqrt(n)),
    g: rnd(rng, [n, d], 0.1),
  };
}

const STATIC_INPUTS = new Set(['G', 'a', 'g']);

/** Hyper-parameters of the timing runs (the defaults) and of the check (factors moving fast). */
function checkHyper(fn: string): Record<string, number> {
  if (fn.startsWith('ingd')) return { lr: 0.1, lr_cov_init: 0.05, lr_cov_warm: 0.05, lr_cov: 0.05 };
  if (fn.startsWith('kfac')) return { lr: 0.1, stat_decay: 0.5 };
  return { lr: 0.1, lr_cov: 0.05 };
}

class Runner {
  constructor(
    readonly mod: Module,
    readonly body: Module,
    readonly backend: Backend,
  ) {}

  get gpu(): WebGpuBackend | null {
    return this.backend.kind === 'webgpu' ? (this.backend as WebGpuBackend) : null;
  }

  async put(t: Tensor): Promise<Value> {
    return this.gpu ? this.gpu.upload(t) : t;
  }

  /** The optimizer's initial state (on the device for WebGPU). */
  async init(fn: string, data: Record<string, Value>): Promise<State> {
    if (fn === 'ingd_body') {
      const [p, d] = [(data.W as Tensor | GpuTensor).shape[1]!, (data.W as Tensor | GpuTensor).shape[0]!];
      const eye = (k: number) => {
        const x = new Float32Array(k * k);
        for (let i = 0; i < k; i++) x[i * k + i] = 1;
        return new Tensor([k, k], x);
      };
      const z = (r: number, c: number) => new Tensor([r, c], new Float32Array(r * c));
      return { A: await this.put(eye(p)), B: await this.put(eye(d)), mA: await this.put(z(p, p)), mB: await this.put(z(d, d)), buf: await this.put(z(d, p)) };
    }
    const f = this.mod.fn(`${fn}.init`);
    const inputs = Object.fromEntries(f.func.params.filter((x) => x.name in data).map((x) => [x.name, data[x.name]!]));
    if (this.gpu) {
      const r = await f.forward(inputs as Record<string, Tensor | GpuTensor>, { backend: this.backend, resident: true });
      const st = await r.status;
      if (!st.ok) throw new Error(`${fn}.init: ${st.warnings.join('; ')}`);
      return r.outputs;
    }
    return (await f.forward(inputs as Record<string, Tensor>, { backend: this.backend })).outputs;
  }

  /** One step; returns the new W and state (the old ones are released on the device). */
  async step(fn: string, W: Value, data: Record<string, Value>, st: State, extra: Record<string, number>): Promise<{ W: Value; st: State }> {
    const f = fn === 'ingd_body' ? this.body.fn('ingd_body') : this.mod.fn(fn);
    const hyper = fn === 'ingd_body' ? { lr: 0.001, momentum: 0.9, damping: 0.001, beta2: 0.5, lr1: extra.lr1 ?? 0.0002 } : {};
    const { lr1: _l, T: _T, ...rest } = extra;
    const inputs = { ...data, W, ...st, ...hyper, ...(fn === 'ingd_body' ? {} : rest) } as Record<string, Tensor | GpuTensor | number>;
    if (fn === 'ingd_body') delete inputs.t;
    const dims: Record<string, number> = fn === 'ingd_body' ? {} : { T: extra.T ?? T };
    if (this.gpu) {
      const r = await f.forward(inputs, { backend: this.backend, resident: true, dims });
      const s = await r.status;
      if (!s.ok) throw new Error(`${fn}: ${s.warnings.join('; ')}`);
      const out = r.outputs;
      for (const v of [W, ...Object.values(st)]) if (v instanceof GpuTensor) v.dispose();
      if (fn === 'ingd_body') return { W: out.W2!, st: { A: out.A2!, B: out.B2!, mA: out.mA2!, mB: out.mB2!, buf: out.buf2! } };
      const { W: W2, ...next } = out;
      return { W: W2!, st: next };
    }
    const r = await f.forward(inputs as Record<string, Tensor | number>, { backend: this.backend, dims });
    if (!r.status.ok) throw new Error(`${fn}: ${r.status.warnings.join('; ')}`);
    if (fn === 'ingd_body') {
      const o = r.outputs;
      return { W: o.W2!, st: { A: o.A2!, B: o.B2!, mA: o.mA2!, mB: o.mB2!, buf: o.buf2! } };
    }
    const { W: W2, ...next } = r.outputs;
    return { W: W2!, st: next };
  }

  /** GPU time (timestamp queries) of one step's launches on these inputs; null without timestamps. */
  async gpuTime(fn: string, W: Value, data: Record<string, Value>, st: State, extra: Record<string, number>): Promise<{ ms: number | null; schedule: string }> {
    const gpu = this.gpu!;
    const f = fn === 'ingd_body' ? this.body.fn('ingd_body') : this.mod.fn(fn);
    const host: Record<string, Tensor | number> = {};
    const hyper = fn === 'ingd_body' ? { lr: 0.001, momentum: 0.9, damping: 0.001, beta2: 0.5, lr1: 0.0002 } : {};
    for (const [k, v] of Object.entries({ ...data, W, ...st })) host[k] = v instanceof GpuTensor ? await v.read() : v;
    if (fn === 'ingd_body') delete host.t;
    const { lr1: _l, T: _T, ...rest } = extra;
    Object.assign(host, hyper, fn === 'ingd_body' ? {} : rest);
    const exe = f.executable('forward');
    // parameters left out take their declared defaults, as in a call
    const dims: Record<string, number> = fn === 'ingd_body' ? {} : { T: extra.T ?? T };
    const bind = bindInputs(exe.signature, host, { dims });
    const choice = gpu.scheduleChoice(exe.signature, bind.dims, bind.batchSize);
    const v = gpu.variantFor(exe, bind.dims, bind.batchSize);
    const { spec, grid } = variantLaunches(v, bind);
    const t = await timeGpu(gpu.ctx, spec, bind, { reps, budgetMs, warmupMs: 100 }, grid);
    return { ms: t ? median(t.ms) : null, schedule: `${choice.model} (${choice.reason})` };
  }
}

async function timeCase(r: Runner, fn: string, p: number, n: number): Promise<Row> {
  const row: Row = { case: fn, p, d: p, n };
  const host = layer(p, p, n, 7);
  const data: Record<string, Value> = {};
  for (const k of STATIC_INPUTS) data[k] = await r.put(host[k]!);
  let W = await r.put(host.W!);
  let st = await r.init(fn, { ...data, W });
  // warm-up: both branches once (compiles the pipelines), then the timed steps of each branch
  const branches: [keyof Row & ('update' | 'plain'), number][] = [['update', 0], ['plain', 1]];
  for (const [, t] of branches) ({ W, st } = await r.step(fn, W, data, st, { t }));
  for (const [name, t] of branches) {
    if (fn === 'ingd_body' && name === 'plain') continue;
    const ms: number[] = [];
    const t0 = performance.now();
    while (ms.length < reps && (ms.length === 0 || performance.now() - t0 < budgetMs)) {
      const s = performance.now();
      ({ W, st } = await r.step(fn, W, data, st, { t }));
      ms.push(performance.now() - s);
    }
    const timing: Timing = { samples: ms.length };
    if (r.gpu) {
      timing.residentMs = median(ms);
      try {
        const g = await r.gpuTime(fn, W, data, st, { t });
        timing.gpuMs = g.ms;
        row.schedule = g.schedule;
      } catch (e) {
        timing.note = `gpu timing: ${(e as Error).message.split('\n')[0]}`;
      }
    } else timing.wallMs = median(ms);
    row[name] = timing;
  }
  const pick = (x?: Timing) => (x ? (x.gpuMs ?? x.residentMs ?? x.wallMs ?? null) : null);
  const u = pick(row.update);
  const q = pick(row.plain);
  row.amortizedMs = u !== null && q !== null ? (u + (T - 1) * q) / T : null;
  for (const v of [W, ...Object.values(st), ...Object.values(data)]) if (v instanceof GpuTensor) v.dispose();
  return row;
}

/** --dump: the check's inputs and the f64 reference's final W, for bench/torch_spd.py --verify */
const dumps: Record<string, unknown>[] | null = args.dump ? [] : null;

/** 4 chained steps at T = 2 on the backend and on the CPU f64 reference; the final states compared. */
async function check(r: Runner, ref: Runner, fn: string, p: number, n: number): Promise<Check> {
  const host = layer(p, p, n, 3);
  const run = async (x: Runner): Promise<Record<string, Tensor>> => {
    const data: Record<string, Value> = {};
    for (const k of STATIC_INPUTS) data[k] = await x.put(host[k]!);
    let W = await x.put(host.W!);
    let st = await x.init(fn, { ...data, W });
    const hyper = checkHyper(fn);
    for (let s = 0; s < 4; s++) ({ W, st } = await x.step(fn, W, data, st, fn === 'ingd_body' ? { lr1: 0.05 } : { ...hyper, T: 2 }));
    const out: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries({ W, ...st })) out[k] = v instanceof GpuTensor ? await v.read() : (v as Tensor);
    for (const v of [W, ...Object.values(st), ...Object.values(data)]) if (v instanceof GpuTensor) v.dispose();
    return out;
  };
  const want = await run(ref);
  if (dumps && fn !== 'ingd_body')
    dumps.push({ case: fn, p, n, T: 2, steps: 4, hyper: checkHyper(fn), ...Object.fromEntries(['W', 'G', 'a', 'g'].map((k) => [k, { shape: host[k]!.shape, data: Array.from(host[k]!.data) }])), W_ref: Array.from(want.W!.data) });
  const got = await run(r);
  let worst = 0;
  let worstOutput = '-';
  let moved = false;
  for (const [k, v] of Object.entries(want)) {
    const g = got[k]!;
    if (g.data.length !== v.data.length) throw new Error(`${fn} ${k}: ${g.data.length} values, want ${v.data.length}`);
    for (let i = 0; i < v.data.length; i++) {
      const e = Math.abs(g.data[i]! - v.data[i]!) / Math.max(1, Math.abs(v.data[i]!));
      if (!(e <= worst)) {
        worst = Number.isNaN(e) ? Infinity : e;
        worstOutput = k;
      }
    }
    if (k !== 'W' && k !== 't' && k !== 'buf') moved ||= v.data.some((x) => x !== 0 && x !== 1);
  }
  let num = 0;
  let den = 0;
  const gw = got.W!.data;
  const rw = want.W!.data;
  for (let i = 0; i < rw.length; i++) {
    num += (gw[i]! - rw[i]!) ** 2;
    den += rw[i]! ** 2;
  }
  let schedule: string | undefined;
  if (r.gpu) {
    const f = fn === 'ingd_body' ? r.body.fn('ingd_body') : r.mod.fn(fn);
    const exe = f.executable('forward');
    const inputs: Record<string, Tensor | number> = { ...host, ...want, ...(fn === 'ingd_body' ? { lr: 0.1, momentum: 0.9, damping: 0.001, beta2: 0.5, lr1: 0.05 } : {}) };
    if (fn === 'ingd_body') for (const k of ['W2', 'A2', 'B2', 'mA2', 'mB2', 'buf2']) delete inputs[k];
    const bind = bindInputs(exe.signature, inputs, { dims: fn === 'ingd_body' ? {} : { T: 2 } });
    const c = r.gpu.scheduleChoice(exe.signature, bind.dims, bind.batchSize);
    schedule = `${c.model} (${c.reason})`;
  }
  return { case: fn, p, n, maxRelErr: worst, wRelFro: Math.sqrt(num / den), factorsMoved: moved, worstOutput, ...(schedule ? { schedule } : {}) };
}

async function main(): Promise<number> {
  const dir = args.stdlib ?? stdlibDir();
  const path = join(dir, 'spd.mat');
  const mod = compile(readFileSync(path, 'utf8'), { path });
  const body = compile(BODY_SRC, { path: join(dir, 'spd_bench_body.mat') });
  const have = new Set(mod.functions);
  const lowp = ['ingd_f16', 'kfac_f16'].filter((f) => have.has(f));
  const all = ['ingd', 'kfac', 'singd_diag', 'singd_block30', ...lowp, 'ingd_body'];
  const cases = args.cases ? args.cases.split(',').filter((c) => all.includes(c) || have.has(c)) : all;
  let backend: Backend;
  let device: string;
  if (args.backend === 'cpu') {
    const precision = args.precision === 'f64' ? 'f64' : 'f32';
    backend = new CpuBackend({ engine: 'wasm', precision, threads: 1 });
    // the WebAssembly program of the precision (f32: f32 buffers, f64 arithmetic)
    device = precision === 'f64' ? 'cpu (WebAssembly f64, 1 thread)' : 'cpu (WebAssembly f32 buffers, 1 thread)';
  } else {
    const g = await createWebGpuBackend();
    if (!g) {
      console.error('no WebGPU adapter');
      return 2;
    }
    backend = g;
    device = g.describe();
  }
  console.log(`# spd steps on ${device}; cases ${cases.join(', ')}${lowp.length ? '' : ' (no ingd_f16/kfac_f16 in this stdlib: f16 rows left out)'}; p = d ∈ {${sizes.join(', ')}}, n = m = ${batch}, T = ${T}`);
  const r = new Runner(mod, body, backend);
  const checks: Check[] = [];
  if (checkSizes.length) {
    const ref = new Runner(mod, body, new CpuBackend({ reference: true }));
    for (const p of checkSizes)
      for (const c of cases) {
        try {
          const x = await check(r, ref, c, p, batch);
          checks.push(x);
          console.log(`check ${c} p = d = ${p}, n = ${batch}: 4 steps (T = 2) vs CPU f64 reference: max rel err ${x.maxRelErr.toExponential(2)} (${x.worstOutput}), W rel Frobenius ${x.wRelFro.toExponential(2)}, factors moved ${x.factorsMoved}${x.schedule ? `; ${x.schedule}` : ''}`);
        } catch (e) {
          checks.push({ case: c, p, n: batch, maxRelErr: NaN, wRelFro: NaN, factorsMoved: false, worstOutput: '', error: (e as Error).message.split('\n')[0]! });
          console.log(`check ${c} p = ${p}: ERROR ${(e as Error).message.split('\n')[0]}`);
        }
      }
  }
  if (dumps) writeFileSync(args.dump!, JSON.stringify(dumps));
  const rows: Row[] = [];
  const f = (x: number | null | undefined) => (x === null || x === undefined ? '—' : x < 10 ? x.toFixed(3) : x.toFixed(1));
  // the cheap cases first at each size, KFAC (its LU inverses) last
  const order = (c: string) => (c.startsWith('singd') ? 0 : c === 'ingd_body' ? 1 : c.startsWith('kfac') ? 3 : 2);
  const ordered = [...cases].sort((x, y) => order(x) - order(y));
  const started = performance.now();
  for (const p of sizes)
    for (const c of ordered) {
      // O(p³) steps: predicted from the previous size, skipped past --skip-s per update step
      const prev = rows.filter((x) => x.case === c && x.p < p && x.update).at(-1);
      const pu = prev ? (prev.update!.gpuMs ?? prev.update!.residentMs ?? prev.update!.wallMs ?? 0) * (p / prev.p) ** 3 : 0;
      const late = deadlineMs > 0 && performance.now() - started > deadlineMs;
      if (pu > skipMs || late) {
        rows.push({ case: c, p, d: p, n: batch, error: late ? `skipped: past --deadline-s ${deadlineMs / 1000}` : `skipped: the update step predicted at ${(pu / 1000).toFixed(0)} s from p = ${prev!.p} (--skip-s ${skipMs / 1000})` });
        console.log(`${c} p = d = ${p}: ${rows.at(-1)!.error}`);
        continue;
      }
      try {
        const row = await timeCase(r, c, p, batch);
        rows.push(row);
        const u = row.update;
        const q = row.plain;
        console.log(
          `${c} p = d = ${p}, n = ${batch}: update ${f(u?.gpuMs)} ms GPU / ${f(u?.residentMs ?? u?.wallMs)} ms ${r.gpu ? 'resident wall' : 'wall'}; ` +
            `plain ${f(q?.gpuMs)} ms GPU / ${f(q?.residentMs ?? q?.wallMs)} ms; amortized (T = ${T}) ${f(row.amortizedMs)} ms${row.schedule ? `; ${row.schedule}` : ''}`,
        );
      } catch (e) {
        rows.push({ case: c, p, d: p, n: batch, error: (e as Error).message.split('\n')[0]! });
        console.log(`${c} p = d = ${p}: ERROR ${rows.at(-1)!.error}`);
      }
    }
  // the targets' ratios, from this run
  const at = (c: string, p: number) => rows.find((x) => x.case === c && x.p === p && !x.error);
  const ms = (x?: Timing) => (x ? (x.gpuMs ?? x.residentMs ?? x.wallMs ?? null) : null);
  const ratios: Record<string, number | null> = {};
  for (const p of sizes) {
    const ingd = ms(at('ingd', p)?.update);
    for (const c of ['singd_diag', 'singd_block30']) {
      const x = ms(at(c, p)?.update);
      ratios[`ingd update / ${c} update, p = ${p}`] = ingd !== null && x !== null ? ingd / x : null;
    }
    for (const c of lowp) {
      const base = ms(at(c.replace('_f16', ''), p)?.update);
      const x = ms(at(c, p)?.update);
      ratios[`${c.replace('_f16', '')} / ${c} update, p = ${p}`] = base !== null && x !== null ? base / x : null;
    }
  }
  for (const [k, v] of Object.entries(ratios)) if (v !== null) console.log(`ratio ${k}: ${v.toFixed(2)}×`);
  if (args.json) writeFileSync(args.json, JSON.stringify({ device, T, batch, sizes, cases, lowp, checks, rows, ratios }, null, 1));
  backend.dispose?.();
  // f32 against f64: 1e-3 (relative to max(1, |x|)); the f16 instances round to binary16 where
  // their values are formed, and an f32 value next to a rounding boundary may round one f16 ulp
  // (2⁻¹⁰ ≈ 1e-3) the other way: 1e-2 for them; f64 programs 1e-9
  const tol = (c: Check) => (backend.kind === 'webgpu' || args.precision !== 'f64' ? (/_f16$|_bf16$/.test(c.case) ? 1e-2 : 1e-3) : 1e-9);
  const badCheck = checks.some((c) => c.error || !(c.maxRelErr <= tol(c)) || !c.factorsMoved);
  return badCheck ? 1 : 0;
}

main().then(
  (c) => process.exit(c),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
