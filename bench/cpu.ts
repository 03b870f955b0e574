// The CPU benchmark, matc's side (issue 11): the cases of the CPU table — QR, IED and LESS,
// batched small and single large — on the compiled CPU backend, f64, as the API runs them
// (binding, the program, statuses): one thread, then every core, each also with its results
// written into the tensors of the call before the last (CallOptions.into, the training-loop
// pattern); the WebAssembly and the JavaScript forms; the reference interpreter on the smallest
// cases for the before/after.
// bench/torch_cpu.py times PyTorch and numpy on the same inputs (written here as raw f64 files)
// and bench/compare-cpu.ts pairs the two into the table of bench/RESULTS.md;
// bench/run-cpu.sh runs all three in one go.
//
// Timing: wall time of whole calls (performance.now), one warm-up call (two with `into`), then the
// median of up to --reps calls within a budget per variant; the WebAssembly variants are called in
// rounds, one call of each per round, so that they share the machine's slow spells (a 2-core VM
// whose speed varies 2× from one call to the next). Inputs: N(0,1), IED's X = |N(0,1)| + transpose (PMaF's
// data); cotangents N(0,1). Every variant's outputs are compared with the first (same numbers to
// rounding) before its time counts.
//
//   node dist/bench/cpu.js [--out DIR] [--reps N] [--budget-ms N] [--only qr,ied,less] [--quick]

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compile, type CompiledFn } from '../api/module.js';
import { stdlibDir } from '../compiler/check/items.js';
import { benchInputs, median } from '../cli/bench.js';
import { CpuBackend, defaultThreads } from '../runtime/cpu/cpu-backend.js';
import type { Backend } from '../runtime/backend.js';
import type { Tensor } from '../runtime/tensor.js';

export interface CpuCase {
  name: string;
  file: string;
  fn: string;
  dims: Record<string, number>;
  batch: number;
  /** forward only, or forward and backward (one VJP call, which re-runs the forward) */
  phase: 'fwd' | 'fwdbwd';
  /** time the reference interpreter too (slow: only the cases where it finishes) */
  reference?: boolean;
}

export const CPU_CASES: CpuCase[] = [
  { name: 'QR 1024 × 32×32 fwd+bwd', file: 'qr.mat', fn: 'qr', dims: { m: 32, n: 32 }, batch: 1024, phase: 'fwdbwd', reference: true },
  { name: 'QR 64 × 128×128 fwd', file: 'qr.mat', fn: 'qr', dims: { m: 128, n: 128 }, batch: 64, phase: 'fwd' },
  { name: 'QR 1 × 512×512 fwd', file: 'qr.mat', fn: 'qr', dims: { m: 512, n: 512 }, batch: 1, phase: 'fwd' },
  { name: 'IED 1024 × 32×32 fwd+bwd', file: 'ied.mat', fn: 'ied', dims: { m: 32 }, batch: 1024, phase: 'fwdbwd', reference: true },
  { name: 'IED 5 × 256×256 fwd+bwd', file: 'ied.mat', fn: 'ied', dims: { m: 256 }, batch: 5, phase: 'fwdbwd' },
  { name: 'IED 5 × 1024×1024 fwd+bwd', file: 'ied.mat', fn: 'ied', dims: { m: 1024 }, batch: 5, phase: 'fwdbwd' },
  // PMaF's RM descent, the algorithm the PyTorch side runs (same start, same steps, |Δf| < 1e-7)
  { name: 'LESS 1024 × 64×32 fwd+bwd (PMaF RM)', file: 'less.mat', fn: 'less_pmaf', dims: { m: 64, n: 32 }, batch: 1024, phase: 'fwdbwd', reference: true },
  // the default layer (Riemannian CG, KKT stop, Newton polish): a different, converging algorithm;
  // its PyTorch row is the same PMaF descent, so the times compare and the values do not
  { name: 'LESS 1024 × 64×32 fwd+bwd (default)', file: 'less.mat', fn: 'less', dims: { m: 64, n: 32 }, batch: 1024, phase: 'fwdbwd' },
];

interface Variant {
  name: string;
  backend: Backend;
  /** results (and gradients) into the tensors of the call before the last (CallOptions.into): the
   *  training-loop pattern, no fresh result arrays per call */
  into?: boolean;
  /** timed on its own, not in the rounds of the others (slow: the JavaScript form, the interpreter) */
  alone?: boolean;
}

export interface VariantResult {
  ms: number;
  msMin: number;
  samples: number;
  /** max |Δ| / max|x| of every output (and gradient) against the first variant */
  relDiff: number;
  /** iterations of the first status entry (min, max), when it has some */
  iterations?: [number, number];
  ok: boolean;
}

export interface CpuCaseResult {
  case: CpuCase;
  /** files with the inputs, the cotangents (ct.NAME) and matc's results (out.NAME, grad.NAME), for
   *  bench/torch_cpu.py */
  files: Record<string, { path: string; shape: number[] }>;
  variants: Record<string, VariantResult>;
}

async function timeCalls<T>(call: () => Promise<T>, reps: number, budgetMs: number, warm = 1): Promise<{ ms: number[]; last: T }> {
  let last = await call();
  for (let i = 1; i < warm; i++) last = await call();
  const t0 = performance.now();
  last = await call();
  const first = performance.now() - t0;
  const n = Math.max(1, Math.min(reps, Math.floor(budgetMs / Math.max(first, 1e-3))));
  const ms = [first];
  for (let i = 1; i < n; i++) {
    const t = performance.now();
    last = await call();
    ms.push(performance.now() - t);
  }
  return { ms, last };
}

function relDiff(a: Record<string, Tensor>, b: Record<string, Tensor>): number {
  let worst = 0;
  for (const [k, x] of Object.entries(a)) {
    const y = b[k]!;
    let scale = 1e-300;
    for (const v of x.data) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < x.data.length; i++) worst = Math.max(worst, Math.abs(x.data[i]! - y.data[i]!) / scale);
  }
  return worst;
}

export async function runCpuCase(c: CpuCase, fn: CompiledFn, variants: Variant[], o: { reps: number; budgetMs: number; out: string }): Promise<CpuCaseResult> {
  const d = benchInputs(fn, c.dims, c.batch, 1);
  const files: CpuCaseResult['files'] = {};
  const slug = c.name.replace(/[^A-Za-z0-9]+/g, '_');
  const save = (k: string, t: Tensor) => {
    const path = join(o.out, `${slug}.${k}.f64`);
    writeFileSync(path, Buffer.from(Float64Array.from(t.data).buffer));
    files[k] = { path, shape: [...t.shape] };
  };
  for (const [k, t] of Object.entries(d.inputs)) save(k, t);
  for (const [k, t] of Object.entries(d.cotangents)) save(`ct.${k}`, t);
  const res: Record<string, VariantResult> = {};
  let first: Record<string, Tensor> | null = null;
  type Res = { outputs: Record<string, Tensor>; gradients?: Record<string, Tensor>; status: { ok: boolean; nodes: { iterations: number[] }[] } };
  const callOf = (v: Variant): (() => Promise<Res>) => {
    // with `into`, two sets of result tensors alternate (a call never writes the tensors it was
    // given by the call just before: those are what a training loop still reads)
    const held: Res[] = [];
    const intoOpts = (): { into?: Record<string, Tensor>; intoGradients?: Record<string, Tensor> } => {
      if (!v.into || held.length < 2) return {};
      const r = held.shift()!;
      return { into: r.outputs, ...(r.gradients ? { intoGradients: r.gradients } : {}) };
    };
    return async (): Promise<Res> => {
      const opts = { dims: d.callDims, backend: v.backend, ...intoOpts() };
      const r = (c.phase === 'fwd' ? await fn.forward(d.inputs, opts) : await fn.vjp(d.inputs, d.cotangents, opts)) as Res;
      if (v.into) held.push(r);
      return r;
    };
  };
  // the WebAssembly variants in rounds (each round calls every one of them once), so that the
  // machine's slow spells fall on all of them alike; the slow ones (JavaScript, the interpreter)
  // one after another as before
  const timed = new Map<Variant, { ms: number[]; last: Res }>();
  const together = variants.filter((v) => !v.alone);
  if (together.length) {
    const calls = together.map(callOf);
    const last: Res[] = [];
    for (const [i, call] of calls.entries()) for (let w = 0; w < (together[i]!.into ? 2 : 1); w++) last[i] = await call();
    const ms: number[][] = together.map(() => []);
    const round = async (): Promise<number> => {
      const t0 = performance.now();
      for (const [i, call] of calls.entries()) {
        const t = performance.now();
        last[i] = await call();
        ms[i]!.push(performance.now() - t);
      }
      return performance.now() - t0;
    };
    const first = await round();
    const rounds = Math.max(1, Math.min(o.reps, Math.floor((o.budgetMs * together.length) / Math.max(first, 1e-3))));
    for (let r = 1; r < rounds; r++) await round();
    together.forEach((v, i) => timed.set(v, { ms: ms[i]!, last: last[i]! }));
  }
  for (const v of variants) if (v.alone) timed.set(v, await timeCalls(callOf(v), o.reps, o.budgetMs, v.into ? 2 : 1));
  for (const v of variants) {
    const t = timed.get(v)!;
    const out = { ...t.last.outputs, ...(t.last.gradients ?? {}) };
    const it = t.last.status.nodes.find((n) => n.iterations.some((x) => x > 0))?.iterations;
    res[v.name] = {
      ms: median(t.ms),
      msMin: Math.min(...t.ms),
      samples: t.ms.length,
      relDiff: first ? relDiff(first, out) : 0,
      ...(it ? { iterations: [Math.min(...it), Math.max(...it)] as [number, number] } : {}),
      ok: t.last.status.ok,
    };
    if (!first) {
      first = out;
      for (const [k, x] of Object.entries(t.last.outputs)) save(`out.${k}`, x);
      for (const [k, x] of Object.entries(t.last.gradients ?? {})) save(`grad.${k}`, x);
    }
    process.stderr.write(`  ${c.name}: ${v.name} ${res[v.name]!.ms.toFixed(2)} ms (${t.ms.length} calls)\n`);
  }
  return { case: c, files, variants: res };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, reps: { type: 'string' }, 'budget-ms': { type: 'string' }, only: { type: 'string' }, quick: { type: 'boolean' }, json: { type: 'string' } },
  });
  const out = values.out ?? 'bench/raw/cpu-inputs';
  mkdirSync(out, { recursive: true });
  const reps = Number(values.reps ?? 15);
  const budgetMs = Number(values['budget-ms'] ?? 6000);
  const only = values.only?.split(',');
  const threads = await defaultThreads();
  const cases = CPU_CASES.filter((c) => !only || only.some((s) => c.name.toLowerCase().startsWith(s))).map((c) => (values.quick ? { ...c, batch: Math.min(c.batch, 16) } : c));
  const results: CpuCaseResult[] = [];
  for (const c of cases) {
    const path = join(stdlibDir(), c.file);
    const fn = compile(readFileSync(path, 'utf8'), { path }).fn(c.fn);
    const variants: Variant[] = [
      { name: 'wasm, 1 thread', backend: new CpuBackend({ threads: 1, engine: 'wasm' }) },
      { name: `wasm, ${threads} threads`, backend: new CpuBackend({ threads, engine: 'wasm' }) },
      { name: 'wasm, 1 thread, into', backend: new CpuBackend({ threads: 1, engine: 'wasm' }), into: true },
      { name: `wasm, ${threads} threads, into`, backend: new CpuBackend({ threads, engine: 'wasm' }), into: true },
      { name: 'js, 1 thread', backend: new CpuBackend({ threads: 1, engine: 'js' }), alone: true },
      ...(c.reference ? [{ name: 'reference interpreter', backend: new CpuBackend({ reference: true }), alone: true }] : []),
    ];
    try {
      results.push(await runCpuCase(c, fn, variants, { reps, budgetMs, out }));
    } finally {
      for (const v of variants) v.backend.dispose?.();
    }
  }
  const json = JSON.stringify({ date: new Date().toISOString(), threads, node: process.version, results }, null, 1);
  if (values.json) writeFileSync(values.json, json);
  else process.stdout.write(json + '\n');
}

if (process.argv[1]?.endsWith('cpu.js')) await main();
