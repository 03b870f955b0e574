// projUNN benchmarks (stdlib/projunn.mat, issue 13): one projunn_t and one projunn_d step (k = 1)
// and their VJPs on WebGPU, at N = 1024 and 4096 (--quick: 64 and 256), beside bench/torch_projunn.py
// (bench/run-projunn.sh runs both in one device call).
//
//   node dist/bench/projunn.js [--quick] [--json out.json] [--reps N] [--stdlib DIR] [--backend cpu]
//
// Each case reports the GPU time (timestamp queries on resident buffers, median) of the forward
// and VJP kernels, the wall time of full calls, and ‖OᵀO − I‖ of the result (f64, from the f32
// output; N ≤ 1024). The retractions are O(kN²) but run as instance kernels (one workgroup per
// instance) until the grid model exists (issue 8), so a single large N is the unfavourable case.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { stdlibDir } from '../compiler/check/items.js';
import { createWebGpuBackend } from '../runtime/webgpu/backend.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import type { Backend } from '../runtime/backend.js';
import { benchFunction, benchInputs, type BenchReport } from '../cli/bench.js';

interface Row {
  name: string;
  fn: string;
  n: number;
  k: number;
  report?: BenchReport;
  orthErr?: number;
  note?: string;
  error?: string;
}

function args(argv: string[]) {
  const get = (k: string) => {
    const i = argv.indexOf(k);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return { quick: argv.includes('--quick'), json: get('--json'), reps: Number(get('--reps') ?? 10), stdlib: get('--stdlib') ?? stdlibDir(), cpu: get('--backend') === 'cpu' };
}

function orthErr(O: ArrayLike<number>, n: number): number {
  let e = 0;
  for (let i = 0; i < n; i++)
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let p = 0; p < n; p++) s += O[p * n + i]! * O[p * n + j]!;
      e = Math.max(e, Math.abs(s - (i === j ? 1 : 0)));
    }
  return e;
}

async function main(): Promise<number> {
  const a = args(process.argv.slice(2));
  const backend: Backend | null = a.cpu ? new CpuBackend({ engine: 'wasm', precision: 'f32', threads: 1 }) : await createWebGpuBackend();
  if (!backend) {
    console.error('no WebGPU adapter');
    return 1;
  }
  const name = a.cpu ? 'cpu (wasm f32, 1 thread)' : (backend as { describe(): string }).describe();
  // the stdlib's retractions declare W: orth[n], which the binder checks on the host in O(N³) per
  // call (2 s at N = 512 in JavaScript): the step is timed through `mat` wrappers (as the
  // optimizers call it), on inputs drawn for the orth-typed function (W orthogonal)
  const path = join(a.stdlib, 'projunn.mat');
  const lib = compile(readFileSync(path, 'utf8'), { path });
  const src = `import { projunn_t, projunn_d } from "projunn.mat"
fn step_t(W: mat[n, n], a: mat[n, k], b: mat[n, k]) -> mat[n, n] = projunn_t(W, a, b)
fn step_d(W: mat[n, n], a: mat[n, k], b: mat[n, k]) -> mat[n, n] = projunn_d(W, a, b)
`;
  const mod = compile(src, { path: join(a.stdlib, 'projunn_bench.mat') });
  const rows: Row[] = [];
  const sizes = a.quick ? [64, 256] : [1024, 4096];
  let prev: { n: number; ms: number } | null = null;
  try {
    for (const n of sizes)
      for (const fn of ['projunn_t', 'projunn_d']) {
        const row: Row = { name: `${fn} N=${n} k=1`, fn, n, k: 1 };
        rows.push(row);
        // O(kN²): predict from the previous size and skip a case predicted past a minute
        if (prev && prev.ms * (n / prev.n) ** 2 > 60000) {
          row.note = `skipped: predicted ${((prev.ms * (n / prev.n) ** 2) / 1000).toFixed(0)} s`;
          console.log(`${row.name}: ${row.note}`);
          continue;
        }
        try {
          const data = benchInputs(lib.fn(fn), { n, k: 1 }, 1, 1);
          const run = await benchFunction(mod.fn(fn === 'projunn_t' ? 'step_t' : 'step_d'), backend, name, { batch: 1, dims: { n, k: 1 }, reps: n >= 4096 ? 3 : a.reps, warmupMs: n >= 4096 ? 0 : 250 }, data);
          row.report = run.report;
          if (n <= 1024) row.orthErr = orthErr(run.forward.outputs.out!.data, n);
          const f = run.report.forward;
          const b = run.report.backward;
          console.log(`${row.name}: forward ${f.gpuMsMedian?.toFixed(3) ?? '-'} ms GPU (${f.wallMsMedian.toFixed(1)} ms wall), fwd+bwd ${b.gpuMsMedian?.toFixed(3) ?? '-'} ms GPU (${b.wallMsMedian.toFixed(1)} ms wall)${row.orthErr !== undefined ? `, ‖OᵀO − I‖ ${row.orthErr.toExponential(1)}` : ''}`);
          prev = { n, ms: f.gpuMsMedian ?? f.wallMsMedian };
        } catch (e) {
          row.error = (e as Error).message.split('\n')[0];
          console.log(`${row.name}: ERROR ${row.error}`);
        }
      }
  } finally {
    backend.dispose?.();
  }
  if (a.json) writeFileSync(a.json, JSON.stringify({ device: name, rows }, null, 1));
  return 0;
}

main().then(
  (c) => process.exit(c),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
