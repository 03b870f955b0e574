// Thread scaling of the CPU backend (issue 11: "the batched cases scale ≥ 1.7× on 2 cores"):
// one process, one build, the same inputs; calls with 1 thread and with T threads alternate
// (A B A B …) so that a drift of the machine's speed hits both alike. Reports each side's median
// and the median of the per-pair ratios, checks that both give the same numbers bit for bit, and
// prints the machine's load average before and after (a busy machine makes scaling meaningless:
// quote only runs that started with a 1-minute load below 1.3).
//
// On a shared machine (Linux), `--max-other F` keeps only the pairs during whose two calls other
// processes used at most F of one core on average (from /proc/stat: all CPU time less this process's own,
// process.cpuUsage(), which counts its worker threads), and goes on until --reps pairs were kept
// or --max-seconds passed; the pairs tried and kept are reported.
//
//   node dist/bench/cpu-threads.js [--reps N] [--threads T] [--only qr,ied,less] [--precision f64|f32] [--json FILE]
//                                  [--max-other F --max-seconds S]

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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
  /** pairs timed (with --max-other, more than the pairs kept) */
  tried: number;
  /** the largest share of a core other processes used during a kept call */
  otherMax: number;
}

/** Busy and total CPU time of the machine so far, in seconds (Linux /proc/stat), or null. */
function machineCpu(): { busy: number } | null {
  if (!existsSync('/proc/stat')) return null;
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
  return { busy: busy / 100 };
}

/** Runs a call and measures its wall time and the CPU seconds other processes used meanwhile. */
async function measured<T>(f: () => Promise<T>): Promise<{ ms: number; other: number; value: T }> {
  const m0 = machineCpu();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await f();
  const ms = performance.now() - t0;
  const c1 = process.cpuUsage(c0);
  const m1 = machineCpu();
  const mine = (c1.user + c1.system) / 1e6;
  // /proc/stat ticks are 10 ms: the share is exact only to ±10 ms over the call
  const other = m0 && m1 ? Math.max(0, m1.busy - m0.busy - mine) : 0;
  return { ms, other, value };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reps: { type: 'string' }, threads: { type: 'string' }, only: { type: 'string' }, json: { type: 'string' }, 'max-other': { type: 'string' }, 'max-seconds': { type: 'string' }, precision: { type: 'string' } } });
  const precision = values.precision === 'f32' ? 'f32' : 'f64';
  const maxOther = values['max-other'] === undefined ? Infinity : Number(values['max-other']);
  const maxSeconds = Number(values['max-seconds'] ?? 600);
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
    const one = new CpuBackend({ threads: 1, engine: 'wasm', precision });
    const many = new CpuBackend({ threads: T, engine: 'wasm', precision });
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
      const row: Row = { name: c.name, one: [], many: [], ratios: [], identical: true, tried: 0, otherMax: 0 };
      const deadline = performance.now() + maxSeconds * 1000;
      while (row.ratios.length < reps && (row.tried < reps || (maxOther < Infinity && performance.now() < deadline))) {
        const x = await measured(() => call(one));
        const y = await measured(() => call(many));
        a = x.value;
        b = y.value;
        row.tried++;
        // others' share of one core over the pair (/proc/stat counts 10 ms ticks)
        const other = (x.other + y.other) / ((x.ms + y.ms) / 1000);
        if (other > maxOther) continue;
        row.otherMax = Math.max(row.otherMax, other);
        row.one.push(x.ms);
        row.many.push(y.ms);
        row.ratios.push(x.ms / y.ms);
      }
      if (row.ratios.length === 0) {
        process.stderr.write(`  ${c.name}: no pair of ${row.tried} had other processes below ${maxOther} of a core\n`);
        continue;
      }
      for (const [k, x] of Object.entries(a)) {
        const y = b[k]!.data;
        for (let i = 0; i < x.data.length; i++) if (!Object.is(x.data[i], y[i])) row.identical = false;
      }
      rows.push(row);
      process.stderr.write(`  ${c.name}: 1 thread ${median(row.one).toFixed(1)} ms, ${T} threads ${median(row.many).toFixed(1)} ms, ratio ${median(row.ratios).toFixed(2)}× (pairs ${Math.min(...row.ratios).toFixed(2)}–${Math.max(...row.ratios).toFixed(2)}; ${row.ratios.length} of ${row.tried} pairs kept, others ≤ ${row.otherMax.toFixed(2)} core)${row.identical ? '' : ' RESULTS DIFFER'}\n`);
    } finally {
      one.dispose();
      many.dispose();
    }
  }
  const load1 = loadavg();
  process.stderr.write(`load average after: ${load1.map((x) => x.toFixed(2)).join(' ')}\n`);
  console.log(`| case | 1 thread (ms, median) | ${T} threads (ms, median) | speed-up (median of pairs) | pairs min–max | pairs kept / timed | others' CPU (max, cores) | same numbers |`);
  console.log('|---|---:|---:|---:|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.name} | ${median(r.one).toFixed(1)} | ${median(r.many).toFixed(1)} | ${median(r.ratios).toFixed(2)}× | ${Math.min(...r.ratios).toFixed(2)}–${Math.max(...r.ratios).toFixed(2)} | ${r.ratios.length} / ${r.tried} | ${r.otherMax.toFixed(2)} | ${r.identical ? 'bit for bit' : 'NO'} |`);
  if (values.json) writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), threads: T, reps, maxOther, loadBefore: load0, loadAfter: load1, node: process.version, rows }, null, 1));
}

if (process.argv[1]?.endsWith('cpu-threads.js')) await main();
