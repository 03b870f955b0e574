// The host path of a large-batch WebGPU call, timed on the CPU alone (issue 8 item 6): what the
// runtime does around the kernel — bind and validate the inputs, pack them into the kernel's f32
// input buffer, take the readback apart into result tensors and status entries, and summarize the
// call's status (non-finite outputs, failed instances) — each stage against a plain copy of the
// same bytes in the same process (`dst.set(src)` into a preallocated array of the same type: a
// memcpy). No GPU is needed: the kernel layout is the real one (the executable's instance kernel
// spec, generated here), the readback is a Float32Array of its size filled with plausible values.
//
//   node dist/bench/host-path.js [--reps N] [--budget-ms N] [--out FILE] [--quick]
//
// Stage → what it touches → its reference copy:
//   bind      bindInputs: shapes, dimensions, finite check (and ints)   the input bytes (host dtype)
//   pack      kernelArgs + packChunkInputs (host dtype → f32)          the input bytes (host dtype)
//   unpack    the readback's copy out of the mapped range (runPlan), the per-output split and
//             the status decoding (decodeInstanceOutputs)             the output bytes (f32)
//   summarize vjpResults + summarize (non-finite scan, failed counts)  the output bytes (f32)

import { writeFileSync } from 'node:fs';
import { loadavg, cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, type CompiledFn } from '../api/module.js';
import { stdlibDir } from '../compiler/check/items.js';
import { bindInputs, type Binding, type InputValue } from '../runtime/bind.js';
import { kernelArgs, type InstanceKernelSpec } from '../core/instance-layout.js';
import { decodeInstanceOutputs, instanceKernelOf, packChunkInputs, unpackChunkOutputs } from '../runtime/webgpu/backend.js';
import { summarize, vjpInputs, vjpResults } from '../runtime/call.js';
import type { Executable } from '../runtime/executable.js';
import { Tensor } from '../runtime/tensor.js';
import { benchInputs, median } from '../cli/bench.js';

interface Case {
  name: string;
  file: string;
  fn: string;
  dims: Record<string, number>;
  batch: number;
  mode: 'forward' | 'vjp';
}

const CASES: Case[] = [
  { name: 'QR 16384 × 32×32 VJP', file: 'qr.mat', fn: 'qr', dims: { m: 32, n: 32 }, batch: 16384, mode: 'vjp' },
  { name: 'LESS 16384 × 64×32 fwd', file: 'less.mat', fn: 'less', dims: { m: 64, n: 32 }, batch: 16384, mode: 'forward' },
];

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '15' },
    'budget-ms': { type: 'string', default: '4000' },
    out: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const reps = Number(args.reps);
const budget = Number(args['budget-ms']);

/** Median ms of `f` over up to `reps` runs within the budget, after one warm-up run. */
function time(f: () => unknown): number {
  f();
  const ts: number[] = [];
  const t0 = performance.now();
  while (ts.length < reps && (ts.length < 3 || performance.now() - t0 < budget)) {
    const t = performance.now();
    f();
    ts.push(performance.now() - t);
  }
  return median(ts);
}

/** A plain copy of `bytes` bytes: a typed-array set into a preallocated (warm) array of the same
 *  type, and the same into a fresh array (what handing new memory to a caller costs: the first
 *  touch of every page). */
function copyTime(bytes: number, f64: boolean): { warm: number; fresh: number } {
  const n = Math.max(1, Math.round(bytes / (f64 ? 8 : 4)));
  const src = f64 ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) src[i] = i * 1e-3;
  const dst = f64 ? new Float64Array(n) : new Float32Array(n);
  const warm = time(() => dst.set(src));
  const fresh = time(() => (f64 ? new Float64Array(n) : new Float32Array(n)).set(src));
  return { warm, fresh };
}

/** The finite scan as it was before this bench (runtime/tensor.ts at cc0ab3c): one loop for
 *  both array types. */
function polymorphicScan(d: Float64Array | Float32Array): number {
  let acc = 0;
  for (let i = 0; i < d.length; i++) acc += d[i]! - d[i]!;
  if (acc === 0) return -1;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) return i;
  return -1;
}

function asF32(inputs: Record<string, InputValue>): Record<string, InputValue> {
  const out: Record<string, InputValue> = {};
  for (const [k, v] of Object.entries(inputs)) out[k] = v instanceof Tensor ? new Tensor(v.shape, Float32Array.from(v.data)) : v;
  return out;
}

interface Row {
  case: string;
  inputDtype: 'f64' | 'f32';
  stage: string;
  bytes: number;
  ms: number;
  copyMs: number;
  freshCopyMs: number;
  ratio: number;
  freshRatio: number;
}

const rows: Row[] = [];
const cases = args.quick ? CASES.map((c) => ({ ...c, batch: 2048 })) : CASES;
for (const c of cases) {
  const label = c.name.replace(/^(\w+) \d+/, `$1 ${c.batch}`);
  const mod = compile(readFileSync(join(stdlibDir(), c.file), 'utf8'), { path: c.file });
  const fn: CompiledFn = mod.fn(c.fn);
  const bi = benchInputs(fn, c.dims, c.batch, 1);
  const exe: Executable = fn.executable(c.mode);
  const spec: InstanceKernelSpec = instanceKernelOf(exe.variant({ subgroups: false, workgroupSize: 128 }));
  const results = fn.func.results.map((r) => r.name);
  const base64: Record<string, InputValue> = c.mode === 'vjp' ? vjpInputs(fn.name, results, bi.inputs, bi.cotangents) : { ...bi.inputs };
  for (const dtype of ['f64', 'f32'] as const) {
    const given = dtype === 'f64' ? base64 : asF32(base64);
    const bindOnce = (): Binding => bindInputs(exe.signature, given, { dims: bi.callDims, strictDims: true });
    const bind = bindOnce();
    const inBytes = bind.inputs.reduce((s, i) => s + i.tensor.data.byteLength, 0);
    const tBind = time(bindOnce);
    const B = bind.batchSize;
    const ka = kernelArgs(spec, bind.dims, { count: B, base: 0, batched: bind.inputs.map((i) => i.batched) });
    const tPackFresh = time(() => packChunkInputs(bind, spec, kernelArgs(spec, bind.dims, { count: B, base: 0, batched: bind.inputs.map((i) => i.batched) }), 0, B));
    // the runtime packs into an array kept from the last call (runInstanceKernel's scratch)
    const scratch = packChunkInputs(bind, spec, ka, 0, B);
    const tPack = time(() => packChunkInputs(bind, spec, kernelArgs(spec, bind.dims, { count: B, base: 0, batched: bind.inputs.map((i) => i.batched) }), 0, B, scratch));
    // a readback of the kernel's output layout: results N(0,1)-ish, statuses converged
    const outLen = ka.outputSizes.reduce((s, x) => s + x * B, 0);
    const mapped = new Float32Array(outLen);
    let o = 0;
    spec.outputs.forEach((out, i) => {
      const n = ka.outputSizes[i]! * B;
      for (let k = 0; k < n; k++) mapped[o + k] = out.kind === 'check' ? 0 : out.field === 'converged' ? 1 : out.field === 'iterations' ? 7 : Math.sin(k);
      o += n;
    });
    const outBytes = outLen * 4;
    const unpack = () => {
      const out = new Float32Array(mapped.buffer.slice(0, outBytes)); // runPlan: copy out of the mapped range
      const outData: Float32Array[] = [];
      unpackChunkOutputs(outData, out, ka.outputSizes, 0, B, B);
      return decodeInstanceOutputs(spec, exe.signature, bind, outData);
    };
    const tUnpack = time(unpack);
    // before (commit cc0ab3c): every output copied again into a fresh array of the whole batch
    const tUnpackBefore = time(() => {
      const out = new Float32Array(mapped.buffer.slice(0, outBytes));
      const outData = spec.outputs.map((_, i) => new Float32Array(ka.outputSizes[i]! * B));
      unpackChunkOutputs(outData, out, ka.outputSizes, 0, B, 2 * B); // count ≠ B: copies
      return decodeInstanceOutputs(spec, exe.signature, bind, outData);
    });
    // before: the finite scan was one loop for f32 and f64 arrays alike (polymorphic)
    const tScanBefore = time(() => {
      for (const inp of bind.inputs) polymorphicScan(inp.tensor.data);
    });
    const tScan = time(() => {
      for (const inp of bind.inputs) inp.tensor.firstNonFinite();
    });
    const dec = unpack();
    const tSum = time(() => {
      if (c.mode === 'vjp') {
        const { outputs, gradients } = vjpResults(dec.outputs, bind);
        return summarize(dec.nodes, outputs, gradients);
      }
      return summarize(dec.nodes, dec.outputs);
    });
    const cIn = copyTime(inBytes, dtype === 'f64');
    const cOut = copyTime(outBytes, false);
    const add = (stage: string, bytes: number, ms: number, copy: { warm: number; fresh: number }) => rows.push({ case: label, inputDtype: dtype, stage, bytes, ms, copyMs: copy.warm, freshCopyMs: copy.fresh, ratio: ms / copy.warm, freshRatio: ms / copy.fresh });
    add('bind + validate', inBytes, tBind, cIn);
    add('  of which the finite scan', inBytes, tScan, cIn);
    add('  the finite scan before (one polymorphic loop)', inBytes, tScanBefore, cIn);
    add('pack (kept array)', inBytes, tPack, cIn);
    add('pack (first call: fresh array)', inBytes, tPackFresh, cIn);
    add('unpack + statuses (fresh result arrays)', outBytes, tUnpack, cOut);
    add('unpack + statuses before (a second copy)', outBytes, tUnpackBefore, cOut);
    add('summarize', outBytes, tSum, cOut);
  }
}

const mb = (b: number) => (b / 2 ** 20).toFixed(1);
console.log(`host path of large-batch WebGPU calls (CPU only); Node ${process.version}, ${cpus()[0]?.model ?? '?'}, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log('| case | inputs | stage | MiB | ms | copy, warm ms | copy, fresh ms | × warm copy | × fresh copy |');
console.log('|---|---|---|---:|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.case} | ${r.inputDtype} | ${r.stage} | ${mb(r.bytes)} | ${r.ms.toFixed(2)} | ${r.copyMs.toFixed(2)} | ${r.freshCopyMs.toFixed(2)} | ${r.ratio.toFixed(1)} | ${r.freshRatio.toFixed(2)} |`);
if (args.out) writeFileSync(args.out, JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model, load: loadavg(), rows }, null, 2));
