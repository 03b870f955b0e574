// STTP benchmarks (issue 14 targets; stdlib/sttp.mat) on whatever adapter Dawn finds (the GPU
// machine's H100/H200 through Vulkan; lavapipe on CPU-only machines, correctness only):
//
//   householder  the batched Householder frame Q = stiefel_full(P), P: [b, d, r], forward and
//                VJP (the torch-householder rule): b = 64, 512 × 64 and b = 8, 2048 × 256;
//                PyTorch: torch.linalg.householder_product with autograd (36.1 ms and 211.7 ms on
//                an H100 in the baseline; bench/torch_sttp.py measures it beside).
//   sttp_apply   one STTP layer, W·X without forming W, forward and VJP: d_out = 512,
//                d_in = 256·3·3 = 2304, r = 32, c = 256 columns; PyTorch materialises W from the
//                same frames and multiplies.
//   sttp batched the same layer with its frames batched per shape (api/sttp-batched.ts: one
//                batched stiefel call per frame shape, then sttp_apply_frames), forward + VJP,
//                wall time host to host of the whole composition (median of --reps).
//
//   node dist/bench/sttp.js [--quick] [--json out.json] [--reps N] [--budget-ms N]
//
// --quick runs small shapes (b = 4, 32 × 8; 4 × 6, r = 3, c = 2), for lavapipe (the VJP kernel of a
// whole STTP layer takes minutes to compile cold there). Every case is
// checked: matc's f32 device results (output and every gradient) against matc's CPU f64 on the
// same inputs (the first batch instance of a batched case), relative error in the report.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, type CompiledFn } from '../api/module.js';
import { createWebGpuBackend, type WebGpuBackend } from '../runtime/webgpu/backend.js';
import { benchFunction, type BenchReport } from '../cli/bench.js';
import { Tensor } from '../runtime/tensor.js';
import { sttpParamShapes, sttpShape } from '../api/sttp.js';
import { sttpVjp } from '../api/sttp-batched.js';
import { Rng } from '../runtime/random.js';

interface Row {
  name: string;
  report?: BenchReport;
  check?: { forwardRelErr: number; backwardRelErr: number };
  error?: string;
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}

/** Instance 0 of a batched tensor (or the tensor itself when unbatched). */
const first = (t: Tensor, batched: boolean): Tensor => (batched ? new Tensor(t.shape.slice(1), t.data.slice(0, t.size / t.shape[0]!)) : t);

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const arg = (k: string, d: string) => (args.includes(k) ? args[args.indexOf(k) + 1]! : d);
  const quick = args.includes('--quick');
  const reps = Number(arg('--reps', '20'));
  const budgetMs = Number(arg('--budget-ms', '3000'));
  const stdlib = arg('--stdlib', 'stdlib');
  const path = join(stdlib, 'sttp.mat');
  const mod = compile(readFileSync(path, 'utf8'), { path });
  const backend = (await createWebGpuBackend()) as WebGpuBackend | null;
  if (!backend) {
    console.error('no WebGPU adapter');
    return 2;
  }
  console.log(`adapter: ${backend.describe()}`);
  const s = quick ? sttpShape(4, 6, 3) : sttpShape(512, 256, 32, { kernel: 3 });
  const sDims = Object.fromEntries(Object.entries(s.dims).filter(([k]) => k !== 'K' && k !== 'Kout'));
  const cases: { name: string; fn: CompiledFn; batch: number; dims: Record<string, number> }[] = [
    ...(quick ? [[4, 32, 8]] : [[64, 512, 64], [8, 2048, 256]]).map(([b, d, r]) => ({
      name: `householder b=${b} ${d}×${r}`, fn: mod.fn('stiefel_full'), batch: b!, dims: { d: d!, r: r! },
    })),
    { name: `sttp_apply ${s.dOut}×${s.dIn} r=${s.rank} c=${quick ? 2 : 256}`, fn: mod.fn('sttp_apply').specialize(s.dims), batch: 1, dims: { ...sDims, c: quick ? 2 : 256 } },
  ];
  const rows: Row[] = [];
  for (const c of cases) {
    const row: Row = { name: c.name };
    try {
      const run = await benchFunction(c.fn, backend, backend.describe(), { batch: c.batch, dims: c.dims, reps, budgetMs, seed: 1 });
      row.report = run.report;
      const batched = c.batch > 1;
      const inputs = Object.fromEntries(Object.entries(run.data.inputs).map(([k, t]) => [k, first(t, batched)]));
      const cot = Object.fromEntries(Object.entries(run.data.cotangents).map(([k, t]) => [k, first(t, batched)]));
      const ref = await c.fn.vjp(inputs, cot, { dims: run.data.callDims });
      const out = Object.keys(ref.outputs)[0]!;
      const fe = relErr(first(run.forward.outputs[out]!, batched).data, ref.outputs[out]!.data);
      let be = 0;
      for (const k of Object.keys(ref.gradients)) be = Math.max(be, relErr(first(run.backward!.gradients[k]!, batched).data, ref.gradients[k]!.data));
      row.check = { forwardRelErr: fe, backwardRelErr: be };
      const f = run.report.forward, b = run.report.backward;
      console.log(`${c.name}: forward ${f.gpuMsMedian?.toFixed(3) ?? '—'} ms GPU / ${f.wallMsMedian.toFixed(2)} ms wall; fwd+bwd (VJP) ${b.gpuMsMedian?.toFixed(3) ?? '—'} ms GPU / ${b.wallMsMedian.toFixed(2)} ms wall; vs CPU f64: fwd ${fe.toExponential(2)}, grads ${be.toExponential(2)}`);
    } catch (e) {
      row.error = (e as Error).message;
      console.log(`${c.name}: error ${row.error}`);
    }
    rows.push(row);
  }
  {
    // the layer with its frames batched per shape, against sttp_apply's CPU f64 VJP
    const name = `sttp batched frames ${s.dOut}×${s.dIn} r=${s.rank} c=${quick ? 2 : 256}`;
    const row: Row = { name };
    try {
      const rng = new Rng(1);
      const c = quick ? 2 : 256;
      const ps = sttpParamShapes(s, 'learned');
      const T = (sh: number[], scale = 0.5) => new Tensor(sh, rng.normals(sh.reduce((a, x) => a * x, 1)).map((v) => v * scale));
      const p = { PL: ps.PL.map((x) => T(x)), Pm: T(ps.Pm), Pv: T(ps.Pv), PR: ps.PR.map((x) => T(x)), S: T(ps.S!) };
      const X = T([s.dIn, c], 1);
      const dY = T([s.dOut, c], 1);
      const ref = await mod.fn('sttp_apply').vjp({ ...p, X }, { Y: dY }, { dims: s.dims });
      let got = await sttpVjp(mod, p, X, dY, s, { backend });
      const times: number[] = [];
      const t0 = performance.now();
      for (let k = 0; k < reps && performance.now() - t0 < budgetMs; k++) {
        const t = performance.now();
        got = await sttpVjp(mod, p, X, dY, s, { backend });
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      const med = times[Math.floor(times.length / 2)] ?? NaN;
      const fe = relErr(got.Y.data, ref.outputs.Y!.data);
      const pairs: [Tensor, Tensor][] = [[got.grads.X, ref.gradients.X!], [got.grads.Pm, ref.gradients.Pm!], [got.grads.Pv, ref.gradients.Pv!], [got.grads.S!, ref.gradients.S!],
        ...got.grads.PL.map((g, i) => [g, ref.gradientLists.PL![i]!] as [Tensor, Tensor]), ...got.grads.PR.map((g, i) => [g, ref.gradientLists.PR![i]!] as [Tensor, Tensor])];
      const be = Math.max(...pairs.map(([a, b]) => relErr(a.data, b.data)));
      row.check = { forwardRelErr: fe, backwardRelErr: be };
      (row as Row & { wallMsMedian?: number; calls?: number }).wallMsMedian = med;
      (row as Row & { calls?: number }).calls = got.calls;
      console.log(`${name}: fwd+bwd ${med.toFixed(2)} ms wall (${got.calls} calls, ${times.length} reps); vs CPU f64 sttp_apply: fwd ${fe.toExponential(2)}, grads ${be.toExponential(2)}`);
    } catch (e) {
      row.error = (e as Error).message;
      console.log(`${name}: error ${row.error}`);
    }
    rows.push(row);
  }
  const json = arg('--json', '');
  if (json) writeFileSync(json, JSON.stringify({ adapter: backend.describe(), quick, rows }, null, 1));
  const bad = rows.filter((r) => r.error || !r.check || r.check.forwardRelErr > 1e-3 || r.check.backwardRelErr > 1e-2);
  backend.dispose?.();
  return bad.length ? 1 : 0;
}

main().then((c) => process.exit(c), (e) => {
  console.error(e);
  process.exit(1);
});
