// Code-generation variants of the instance kernels, timed in one run on one device: workgroup
// size (64, 128, 256) × subgroup reductions (on/off) for the layer and QR cases, to choose the
// defaults from measurements. GPU time by timestamp queries (median), plus one traced wall-time
// breakdown per case (MATC_TRACE).
//
//   node dist/bench/variants.js [--quick] [--json out.json]

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { stdlibDir } from '../compiler/check/items.js';
import { createWebGpuBackend } from '../runtime/webgpu/backend.js';
import { benchFunction } from '../cli/bench.js';

const quick = process.argv.includes('--quick');
const jsonAt = process.argv.indexOf('--json');
interface Case { file: string; fn: string; dims: Record<string, number>; batch: number }
const cases: Case[] = quick
  ? [
      { file: 'qr.mat', fn: 'qr', dims: { m: 8, n: 8 }, batch: 32 },
      { file: 'ied.mat', fn: 'ied', dims: { m: 8 }, batch: 8 },
    ]
  : [
      { file: 'qr.mat', fn: 'qr', dims: { m: 32, n: 32 }, batch: 16384 },
      { file: 'qr.mat', fn: 'qr', dims: { m: 128, n: 128 }, batch: 1024 },
      { file: 'less.mat', fn: 'less', dims: { m: 64, n: 32 }, batch: 16384 },
      { file: 'ied.mat', fn: 'ied', dims: { m: 128 }, batch: 1024 },
    ];
const variants = quick ? [{ wg: 64, sg: true }, { wg: 128, sg: false }] : [64, 128, 256].flatMap((wg) => [true, false].map((sg) => ({ wg, sg })));

async function main(): Promise<void> {
  const backend = await createWebGpuBackend();
  if (!backend) throw new Error('no WebGPU adapter');
  const rows: unknown[] = [];
  try {
    for (const c of cases) {
      const path = join(stdlibDir(), c.file);
      const fn = compile(readFileSync(path, 'utf8'), { path }).fn(c.fn);
      for (const v of variants) {
        if (v.sg && !backend.ctx.features.subgroups) continue;
        process.env.MATC_WG = String(v.wg);
        process.env.MATC_SUBGROUPS = v.sg ? '1' : '0';
        try {
          const run = await benchFunction(fn, backend, backend.describe(), { batch: c.batch, dims: c.dims, reps: quick ? 3 : 10, warmupMs: quick ? 0 : 150, budgetMs: quick ? 500 : 1200 });
          const f = run.report.forward.gpuMsMedian;
          const b = run.report.backward.gpuMsMedian;
          console.log(`${c.fn} ${JSON.stringify(c.dims)} ×${c.batch}  wg ${v.wg} sg ${v.sg ? 'on ' : 'off'}: fwd ${f?.toFixed(3)} ms, fwd+bwd ${b?.toFixed(3)} ms (wall ${run.report.forward.wallMsMedian.toFixed(1)} / ${run.report.backward.wallMsMedian.toFixed(1)} ms)`);
          rows.push({ ...c, ...v, fwd: f, bwd: b, wallFwd: run.report.forward.wallMsMedian, wallBwd: run.report.backward.wallMsMedian });
        } catch (e) {
          console.log(`${c.fn} wg ${v.wg} sg ${v.sg}: ERROR ${(e as Error).message.split('\n')[0]}`);
        }
      }
      // one traced call with the defaults, for the host-side breakdown
      delete process.env.MATC_WG;
      delete process.env.MATC_SUBGROUPS;
      process.env.MATC_TRACE = '1';
      const t0 = performance.now();
      await benchFunction(fn, backend, backend.describe(), { batch: c.batch, dims: c.dims, reps: 1, warmupMs: 0, backward: false });
      console.log(`  traced forward call(s): ${(performance.now() - t0).toFixed(0)} ms in all`);
      delete process.env.MATC_TRACE;
    }
  } finally {
    backend.dispose();
  }
  if (jsonAt >= 0) writeFileSync(process.argv[jsonAt + 1]!, JSON.stringify(rows, null, 1));
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(2);
  },
);
