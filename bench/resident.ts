// Device-resident calls against their GPU time (issue 8 item 5's targets): QR 16384 × 32×32
// forward + backward (one VJP call) with
//   - inputs and results kept on the device (GpuTensors, `resident: true`; each call waits for
//     its status, so its wall time includes the GPU's work): target ≤ 1.3 × its GPU time;
//   - inputs from host Float32Arrays and host results: target ≤ 2 × (GPU time + the transfer of
//     its bytes), the transfer measured here as an upload of the input bytes plus a read of the
//     result bytes through GpuTensors;
//   - f64 host arrays (the default path), for reference.
// GPU time: timestamp queries on resident buffers (cli/bench.ts timeGpu); null on adapters
// without them (lavapipe), where only correctness counts: the resident results equal the host
// path's bit for bit, and one instance's gradient matches the CPU f64 reference.
//
//   node dist/bench/resident.js [--quick] [--reps N] [--json out.json]
//   source .gpu/enter.sh && bash bench/run-resident.sh OUTDIR        (one device call)

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compile } from '../api/module.js';
import { stdlibDir } from '../compiler/check/items.js';
import { benchInputs, median, timeGpu, timeWall } from '../cli/bench.js';
import { bindInputs } from '../runtime/bind.js';
import { cotangentName } from '../core/derivative-names.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { createWebGpuBackend, instanceKernelOf } from '../runtime/webgpu/backend.js';
import { Tensor } from '../runtime/tensor.js';
import type { GpuTensor } from '../runtime/gpu-tensor.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    reps: { type: 'string', default: '20' },
    'budget-ms': { type: 'string', default: '6000' },
    json: { type: 'string' },
  },
});
const B = args.quick ? 256 : 16384;
const m = 32;
const n = 32;
const o = { reps: Number(args.reps), budgetMs: Number(args['budget-ms']), warmupMs: 250 };

const gpu = await createWebGpuBackend();
if (!gpu) throw new Error('no WebGPU adapter');
console.log(`# resident QR ${B} × ${m}×${n} fwd+bwd on ${gpu.ctx.details()}`);
const fn = compile(readFileSync(join(stdlibDir(), 'qr.mat'), 'utf8'), { path: 'qr.mat' }).fn('qr');
const d = benchInputs(fn, { m, n }, B, 1);
const f32 = (t: Tensor) => new Tensor(t.shape, Float32Array.from(t.data));
const in32 = Object.fromEntries(Object.entries(d.inputs).map(([k, v]) => [k, f32(v)]));
const ct32 = Object.fromEntries(Object.entries(d.cotangents).map(([k, v]) => [k, f32(v)]));
const opts = { dims: d.callDims, backend: gpu };

// GPU time of the VJP kernel
const exe = fn.executable('vjp');
const all: Record<string, Tensor> = { ...in32 };
for (const r of fn.func.results) all[cotangentName(r.name)] = ct32[r.name]!;
const bind = bindInputs(exe.signature, all, { dims: d.callDims });
const g = await timeGpu(gpu.ctx, instanceKernelOf(gpu.variantFor(exe, bind.dims)), bind, o);
const gpuMs = g ? median(g.ms) : null;

// host paths
const host64 = await timeWall(() => fn.vjp(d.inputs, d.cotangents, opts), o, true);
const host32 = await timeWall(() => fn.vjp(in32, ct32, opts), o, true);

// resident: inputs up once; each call waits for its status (the GPU's work), results disposed
const up: Record<string, GpuTensor> = {};
for (const [k, v] of Object.entries(in32)) up[k] = await gpu.upload(v);
const upCt: Record<string, GpuTensor> = {};
for (const [k, v] of Object.entries(ct32)) upCt[k] = await gpu.upload(v);
let keep: { outputs: Record<string, Tensor>; gradients: Record<string, Tensor> } | null = null;
const res = await timeWall(
  async () => {
    const r = await fn.vjp(up, upCt, { ...opts, resident: true });
    const st = await r.status;
    if (!st.ok) throw new Error(st.warnings.join('; '));
    if (keep === null) {
      // the first call's results, read back once for the check below
      const kept: { outputs: Record<string, Tensor>; gradients: Record<string, Tensor> } = { outputs: {}, gradients: {} };
      for (const [name, t] of Object.entries(r.outputs)) kept.outputs[name] = await t.read();
      for (const [name, t] of Object.entries(r.gradients)) kept.gradients[name] = await t.read();
      keep = kept;
    }
    for (const t of [...Object.values(r.outputs), ...Object.values(r.gradients)]) t.dispose();
  },
  o,
  true,
);

// transfer of the call's bytes: upload its inputs, read its results
const inBytes = [...Object.values(in32), ...Object.values(ct32)].reduce((s, t) => s + t.data.byteLength, 0);
const outBytes = [...Object.values(host32.last.outputs), ...Object.values(host32.last.gradients)].reduce((s, t) => s + t.data.byteLength, 0);
const outsUp = await Promise.all(Object.values(host32.last.gradients).concat(Object.values(host32.last.outputs)).map((t) => gpu.upload(t)));
const xfer = await timeWall(
  async () => {
    const ts = await Promise.all([...Object.values(in32), ...Object.values(ct32)].map((t) => gpu.upload(t)));
    await Promise.all(outsUp.map((t) => t.read())); // after the uploads, on the one queue
    for (const t of ts) t.dispose();
  },
  o,
  true,
);
for (const t of outsUp) t.dispose();
const xferMs = median(xfer.ms);

// correctness: resident = host f32 bit for bit; instance 0's gradient vs the CPU f64 reference
const k = keep as unknown as { outputs: Record<string, Tensor>; gradients: Record<string, Tensor> }; // set by the first timed call
let same = true;
for (const [name, t] of Object.entries(host32.last.gradients)) same &&= t.data.every((v, i) => Object.is(v, k.gradients[name]!.data[i]));
for (const [name, t] of Object.entries(host32.last.outputs)) same &&= t.data.every((v, i) => Object.is(v, k.outputs[name]!.data[i]));
const one = (t: Tensor) => new Tensor(t.shape.slice(1), t.data.slice(0, t.data.length / B));
const ref = await fn.vjp(Object.fromEntries(Object.entries(d.inputs).map(([a, t]) => [a, one(t)])), Object.fromEntries(Object.entries(d.cotangents).map(([a, t]) => [a, one(t)])), { dims: d.callDims, backend: new CpuBackend({ threads: 1 }) });
const gA = k.gradients.A!.data.subarray(0, m * n);
const rA = ref.gradients.A!.data;
let num = 0;
let den = 0;
for (let i = 0; i < gA.length; i++) {
  num += (gA[i]! - rA[i]!) ** 2;
  den += rA[i]! ** 2;
}
const gradRel = Math.sqrt(num / den);

const rows = {
  device: gpu.describe(),
  batch: B,
  gpuMs,
  residentWallMs: median(res.ms),
  hostF32WallMs: median(host32.ms),
  hostF64WallMs: median(host64.ms),
  transferMs: xferMs,
  inBytes,
  outBytes,
  residentOverGpu: gpuMs ? median(res.ms) / gpuMs : null,
  hostF32OverGpuPlusTransfer: gpuMs ? median(host32.ms) / (gpuMs + xferMs) : null,
  residentEqualsHostBitForBit: same,
  gradRelErrVsF64: gradRel,
};
const f = (x: number | null) => (x === null ? '—' : x.toFixed(2));
console.log(`| QR ${B} × 32×32 fwd+bwd | GPU ms | resident wall ms | resident / GPU (target ≤ 1.3) | host f32 wall ms | transfer ms | host f32 / (GPU + transfer) (target ≤ 2) | host f64 wall ms |`);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
console.log(`| ${gpu.describe()} | ${f(gpuMs)} | ${f(rows.residentWallMs)} | ${f(rows.residentOverGpu)} | ${f(rows.hostF32WallMs)} | ${f(xferMs)} | ${f(rows.hostF32OverGpuPlusTransfer)} | ${f(rows.hostF64WallMs)} |`);
console.log(`resident = host f32 bit for bit: ${same}; instance 0 grad A vs CPU f64: rel err ${gradRel.toExponential(2)}`);
if (args.json) writeFileSync(args.json, JSON.stringify(rows, null, 2));
for (const t of [...Object.values(up), ...Object.values(upCt)]) t.dispose();
gpu.dispose();
if (!same || !(gradRel < 1e-3)) process.exit(1);
