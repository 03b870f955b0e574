// Thread scaling of the CPU backend (issue 11: "the batched cases scale ≥ 1.7× on 2 cores"):
// one process, one build, the same inputs; calls with 1 thread and with T threads alternate
// (A B A B …) so that a drift of the machine's speed hits both alike. Reports each side's median
// and the median of the per-pair ratios, checks that both give the same numbers bit for bit, and
// prints the machine's load average before and after (a busy machine makes scaling meaningless:
// quote only runs that started with a 1-minute load below 1.3).
//
//   node dist/bench/cpu-threads.js [--reps N] [--threads T] [--only qr,ied,less] [--json FILE]

import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compile } from '../api/module.js';
import { stdlibDir } from '../compiler/check/items.js';
import { benchInputs, median } from '../cli/bench.js';
import { CpuBackend, defaultThreads } from '../runtime/cpu/cpu-backend.js';
import type { Tensor } from '../runtime/tensor.js';
import { CPU_CASES } from './cpu.js';

interface Row {
  name: string;
  one: number[];
  many: number[];
  ratios: number[];
  identical: boolean;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reps: { type: 'string' }, threads: { type: 'string' }, only: { type: 'string' }, json: { type: 'string' } } });
  const reps = Number(values.reps ?? 15);
  const T = Number(values.threads ?? (await defaultThreads()));
  const only = (values.only ?? 'qr 1024,ied 1024,less 1024').split(',');
  const cases = CPU_CASES.filter((c) => c.batch > 1 && only.some((s) => c.name.toLowerCase().startsWith(s)));
  const load0 = loadavg();
  process.stderr.write(`load average before: ${load0.map((x) => x.toFixed(2)).join(' ')}\n`);
  const rows: Row[] = [];
  for (const c of cases) {
    const path = join(stdlibDir(), c.file);
    const fn = compile(readFileSync(path, 'utf8'), { path }).fn(c.fn);
    const d = benchInputs(fn, c.dims, c.batch, 1);
    const one = new CpuBackend({ threads: 1, engine: 'wasm' });
    const many = new CpuBackend({ threads: T, engine: 'wasm' });
    const call = async (b: CpuBackend): Promise<Record<string, Tensor>> => {
      const opts = { dims: d.callDims, backend: b };
      if (c.phase === 'fwd') return (await fn.forward(d.inputs, opts)).outputs;
      const r = await fn.vjp(d.inputs, d.cotangents, opts);
      return { ...r.outputs, ...r.gradients };
    };
    try {
      // warm-up: compiles, starts the workers, sizes the staging
      let a = await call(one);
      let b = await call(many);
      a = await call(one);
      b = await call(many);
      const row: Row = { name: c.name, one: [], many: [], ratios: [], identical: true };
      for (let i = 0; i < reps; i++) {
        let t = performance.now();
        a = await call(one);
        const t1 = performance.now() - t;
        t = performance.now();
        b = await call(many);
        const t2 = performance.now() - t;
        row.one.push(t1);
        row.many.push(t2);
        row.ratios.push(t1 / t2);
      }
      for (const [k, x] of Object.entries(a)) {
        const y = b[k]!.data;
        for (let i = 0; i < x.data.length; i++) if (!Object.is(x.data[i], y[i])) row.identical = false;
      }
      rows.push(row);
      process.stderr.write(`  ${c.name}: 1 thread ${median(row.one).toFixed(1)} ms, ${T} threads ${median(row.many).toFixed(1)} ms, ratio ${median(row.ratios).toFixed(2)}× (pairs ${Math.min(...row.ratios).toFixed(2)}–${Math.max(...row.ratios).toFixed(2)})${row.identical ? '' : ' RESULTS DIFFER'}\n`);
    } finally {
      one.dispose();
      many.dispose();
    }
  }
  const load1 = loadavg();
  process.stderr.write(`load average after: ${load1.map((x) => x.toFixed(2)).join(' ')}\n`);
  console.log(`| case | 1 thread (ms, median) | ${T} threads (ms, median) | speed-up (median of pairs) | pairs min–max | same numbers |`);
  console.log('|---|---:|---:|---:|---|---|');
  for (const r of rows) console.log(`| ${r.name} | ${median(r.one).toFixed(1)} | ${median(r.many).toFixed(1)} | ${median(r.ratios).toFixed(2)}× | ${Math.min(...r.ratios).toFixed(2)}–${Math.max(...r.ratios).toFixed(2)} | ${r.identical ? 'bit for bit' : 'NO'} |`);
  if (values.json) writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), threads: T, reps, loadBefore: load0, loadAfter: load1, node: process.version, rows }, null, 1));
}

if (process.argv[1]?.endsWith('cpu-threads.js')) await main();
