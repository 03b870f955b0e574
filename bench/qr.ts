// QR benchmarks (stdlib/qr.mat): batched small QR forward and forward+backward — the case where a
// fusing compiler should win by orders of magnitude (PyTorch: 1,347 ms for 16384 × 32×32 with
// autograd on an H100, DESIGN §5) — and single large QRs, which the per-instance kernel runs in
// ONE workgroup (no blocked, multi-workgroup Householder yet), so they are expected to be slow.
//
//   node dist/bench/qr.js [--quick] [--json out.json] [--reps N] [--stdlib DIR]
//
// Each case reports the GPU time (timestamp queries on resident buffers, median) of the forward
// kernel and of the VJP kernel (which recomputes the forward, so it alone is matc's fwd+bwd), the
// wall time of full calls, and an f64 check on one instance: ‖QR − A‖, ‖QᵀQ − I‖ and the gradient
// against the CPU reference.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { stdlibDir } from '../compiler/check/items.js';
import { createWebGpuBackend } from '../runtime/webgpu/backend.js';
import { benchFunction, type BenchReport } from '../cli/bench.js';
import { Tensor } from '../runtime/tensor.js';

interface Case {
  name: string;
  m: number;
  n: number;
  batch: number;
  backward: boolean;
}

interface Row extends Case {
  report?: BenchReport;
  check?: { qrErr: number; orthErr: number; gradRelErr: number | null };
  note?: string;
  error?: string;
}

function args(argv: string[]) {
  const get = (k: string) => {
    const i = argv.indexOf(k);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return { quick: argv.includes('--quick'), json: get('--json'), reps: Number(get('--reps') ?? 20), stdlib: get('--stdlib') ?? stdlibDir() };
}

function cases(quick: boolean): Case[] {
  if (quick) {
    return [
      { name: 'qr 64 × 8×8', m: 8, n: 8, batch: 64, backward: true },
      { name: 'qr 16 × 16×8', m: 16, n: 8, batch: 16, backward: true },
      { name: 'qr 1 × 64×64', m: 64, n: 64, batch: 1, backward: false },
    ];
  }
  return [
    { name: 'qr 16384 × 32×32', m: 32, n: 32, batch: 16384, backward: true },
    { name: 'qr 16384 × 64×32', m: 64, n: 32, batch: 16384, backward: true },
    { name: 'qr 1024 × 128×128', m: 128, n: 128, batch: 1024, backward: true },
    { name: 'qr 1 × 256×256', m: 256, n: 256, batch: 1, backward: false },
    { name: 'qr 1 × 1024×1024', m: 1024, n: 1024, batch: 1, backward: false },
    { name: 'qr 1 × 4096×4096', m: 4096, n: 4096, batch: 1, backward: false },
  ];
}

function matmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number, ao = 0, bo = 0): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) {
    const x = a[ao + i * k + p]!;
    for (let j = 0; j < n; j++) out[i * n + j]! += x * b[bo + p * n + j]!;
  }
  return out;
}

async function main(): Promise<number> {
  const a = args(process.argv.slice(2));
  const backend = await createWebGpuBackend();
  if (!backend) {
    console.error('no WebGPU adapter');
    return 1;
  }
  const path = join(a.stdlib, 'qr.mat');
  const fn = compile(readFileSync(path, 'utf8'), { path }).fn('qr');
  const rows: Row[] = [];
  let prevLarge: { m: number; ms: number } | null = null;
  try {
    for (const c of cases(a.quick)) {
      const row: Row = { ...c };
      rows.push(row);
      if (c.batch === 1 && prevLarge && prevLarge.ms * (c.m / prevLarge.m) ** 3 > 5000) {
        row.note = `skipped: predicted ${((prevLarge.ms * (c.m / prevLarge.m) ** 3) / 1000).toFixed(0)} s in one workgroup (from ${prevLarge.m}×${prevLarge.m})`;
        console.log(`${c.name}: ${row.note}`);
        continue;
      }
      try {
        const reps = c.batch === 1 && c.m >= 1024 ? 3 : a.reps;
        const run = await benchFunction(fn, backend, backend.describe(), { batch: c.batch, dims: { m: c.m, n: c.n }, reps, backward: c.backward, warmupMs: c.m >= 1024 ? 0 : 250 });
        row.report = run.report;
        // f64 checks on instance 0
        const k = Math.min(c.m, c.n);
        const A = run.data.inputs.A!.data;
        const Q = run.forward.outputs.Q!.data;
        const R = run.forward.outputs.R!.data;
        const QR = matmul(Q, R, c.m, k, c.n);
        let qrErr = 0;
        let aMax = 0;
        for (let i = 0; i < c.m * c.n; i++) {
          qrErr = Math.max(qrErr, Math.abs(QR[i]! - A[i]!));
          aMax = Math.max(aMax, Math.abs(A[i]!));
        }
        let orthErr = 0;
        if (c.m <= 256) {
          for (let p = 0; p < k; p++) for (let q = p; q < k; q++) {
            let s = 0;
            for (let i = 0; i < c.m; i++) s += Q[i * k + p]! * Q[i * k + q]!;
            orthErr = Math.max(orthErr, Math.abs(s - (p === q ? 1 : 0)));
          }
        }
        let gradRelErr: number | null = null;
        if (c.backward && run.backward && c.m <= 128) {
          const one = { A: new Tensor([c.m, c.n], A.subarray(0, c.m * c.n)) };
          const cot = { Q: new Tensor([c.m, k], run.data.cotangents.Q!.data.subarray(0, c.m * k)), R: new Tensor([k, c.n], run.data.cotangents.R!.data.subarray(0, k * c.n)) };
          const ref = await fn.vjp(one, cot);
          const g = run.backward.gradients.A!.data;
          const r = ref.gradients.A!.data;
          let e = 0;
          let s = 0;
          for (let i = 0; i < r.length; i++) {
            e = Math.max(e, Math.abs(g[i]! - r[i]!));
            s = Math.max(s, Math.abs(r[i]!));
          }
          gradRelErr = e / s;
        }
        row.check = { qrErr: qrErr / aMax, orthErr, gradRelErr };
        const f = run.report.forward;
        const b = run.report.backward;
        console.log(`${c.name}: forward ${f.gpuMsMedian?.toFixed(3)} ms GPU (${f.wallMsMedian.toFixed(1)} ms wall)${c.backward ? `, fwd+bwd ${b.gpuMsMedian?.toFixed(3)} ms GPU (${b.wallMsMedian.toFixed(1)} ms wall)` : ''}; ‖QR−A‖/‖A‖ ${row.check.qrErr.toExponential(1)}, ‖QᵀQ−I‖ ${orthErr.toExponential(1)}${gradRelErr !== null ? `, ∂A vs f64 ${gradRelErr.toExponential(1)}` : ''}`);
        if (c.batch === 1 && f.gpuMsMedian !== null) prevLarge = { m: c.m, ms: f.gpuMsMedian };
      } catch (e) {
        row.error = (e as Error).message.split('\n')[0];
        console.log(`${c.name}: ERROR ${row.error}`);
      }
    }
  } finally {
    backend.dispose();
  }
  if (a.json) writeFileSync(a.json, JSON.stringify({ device: backend.describe(), rows }, null, 1));
  return 0;
}

main().then(
  (c) => process.exit(c),
  (e) => {
    console.error(e);
    process.exit(2);
  },
);
