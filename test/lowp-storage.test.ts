// 16-bit storage (issue 15 item 3; compiler/opt/lowp-storage.ts, core/lowp.ts): values a program
// only reads through a rounding to binary16 / bfloat16, results it produces as one, and optimizer
// states that stay in a format by construction travel in 16 bits on WebGPU, two to a word.
//   - the host codecs: every binary16 and bfloat16 bit pattern decodes and encodes back; encoding
//     rounds as roundF16 / roundBF16 do (themselves checked against numpy and torch in
//     test/spd-lowp.test.ts);
//   - the analysis: which inputs, results and states are proven, and which are not (a raw use, an
//     update that leaves the format on one path, a state whose update passes another state through
//     that is not proven);
//   - the semantics on the CPU: a proven state is read through its rounding;
//   - on a WebGPU device: every finite binary16 value and random f64 values through a rounding
//     kernel with 16-bit input and output equal the CPU bit for bit (odd runs, batches); INGD and
//     KFAC with binary16 / bfloat16 factors give the same numbers with 16-bit buffers as with f32
//     ones (MATC_HALF_STORAGE=0), on both execution models; resident steps keep the states in
//     16-bit GpuTensors of half the bytes, equal to the host path; a 16-bit GpuTensor passed to an
//     f32 input, and an f32 one to a 16-bit input, are converted on the device; a non-finite value
//     in a 16-bit GpuTensor is found with its index.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { compileProgram } from '../compiler/compile.js';
import { storageOf } from '../compiler/opt/lowp-storage.js';
import { scheduleText } from '../compiler/schedule/text.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { GpuTensor } from '../runtime/gpu-tensor.js';
import { Tensor } from '../runtime/tensor.js';
import { MatcRuntimeError } from '../core/errors.js';
import { decodeHalf, encodeHalf, roundBF16, roundF16 } from '../core/lowp.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { withCompiledModule } from './util/aot-module.js';
import { withEnv } from './util/env.js';
import { readFileSync } from 'node:fs';
import { getNodeGPU } from '../runtime/webgpu/device.js';

after(releaseSharedGpu);

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(1664525, s) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('host codecs: every 16-bit pattern round-trips; encoding rounds as roundF16 / roundBF16', () => {
  for (const fmt of ['f16', 'bf16'] as const) {
    for (let h = 0; h < 0x10000; h++) {
      const v = decodeHalf(fmt, h);
      if (Number.isNaN(v)) {
        assert.ok(Number.isNaN(decodeHalf(fmt, encodeHalf(fmt, v))), `${fmt} NaN ${h}`);
        continue;
      }
      assert.equal(encodeHalf(fmt, v), h, `${fmt} pattern ${h.toString(16)} (${v})`);
    }
  }
  const u = lcg(3);
  for (let k = 0; k < 20000; k++) {
    // magnitudes from 2⁻³⁰ to 2⁷⁰: subnormals, normals and overflow of both formats
    const x = (u() < 0.5 ? -1 : 1) * 2 ** (100 * u() - 30) * (1 + u());
    assert.ok(Object.is(decodeHalf('f16', encodeHalf('f16', x)), roundF16(x)), `f16 ${x}`);
    assert.ok(Object.is(decodeHalf('bf16', encodeHalf('bf16', x)), roundBF16(x)), `bf16 ${x}`);
  }
  // ties to even at 1 + 2⁻¹¹ (binary16) and 1 + 2⁻⁸ (bfloat16); signed zero
  assert.equal(decodeHalf('f16', encodeHalf('f16', 1 + 2 ** -11)), 1);
  assert.equal(decodeHalf('bf16', encodeHalf('bf16', 1 + 2 ** -8)), 1);
  assert.equal(encodeHalf('f16', -0), 0x8000);
});

const SRC = `
fn cast(x: vec[n]) -> vec[n] = f16(x)
fn castb(x: vec[n]) -> vec[n] = bf16(x)
fn mixed(x: vec[n]) -> vec[n] = f16(x) + x
fn twice(x: vec[n]) -> vec[n] = 2 * f16(x)
fn sq(A: mat[p, p]) -> real = sum(A .* A)

optimizer keep(w: vec[n], g: vec[n]) =
  state m: vec[n] = zeros(n), t: int = 0
  let m2 = if mod(t, 2) == 0 then f16(0.5 * m + g) else m
  in m <- m2, w <- w - 0.1 * m2, t <- t + 1

optimizer leak(w: vec[n], g: vec[n]) =
  state m: vec[n] = zeros(n), t: int = 0
  let m2 = if mod(t, 2) == 0 then f16(0.5 * m + g) else m + g
  in m <- m2, w <- w - 0.1 * m2, t <- t + 1

optimizer reset(w: vec[n], g: vec[n]) =
  state z: vec[n] = zeros(n), o: vec[n] = ones(n)
  w <- w - 0.1 * (g + z + o), z <- zeros(n), o <- f16(o)

optimizer chain(w: vec[n], g: vec[n]) =
  state s1: vec[n] = zeros(n), s2: vec[n] = zeros(n), s3: vec[n] = zeros(n), t: int = 0
  let c = mod(t, 2) == 0,
      n1 = if c then f16(s1 + g) else s2,
      n2 = if c then f16(s2 - g) else s1,
      n3 = if c then f16(s3 + g) else s3 + s1
  in s1 <- n1, s2 <- n2, s3 <- n3, w <- w - 0.1 * (n1 + n2 + n3), t <- t + 1
`;

test('the analysis: rounded-only inputs, rounded results, states proven by a greatest fixed point', () => {
  const p = compileProgram(SRC, { path: 'lowp-storage.mat' });
  const st = (fn: string) => {
    const f = p.forward(fn);
    const s = storageOf(f);
    const name = (xs: { name: string }[], fs: (string | undefined)[]) => Object.fromEntries(xs.map((x, i) => [x.name, fs[i] ?? 'f32']));
    return { params: name(f.params, s.params), results: name(f.results, s.results) };
  };
  assert.deepEqual(st('cast'), { params: { x: 'f16' }, results: { out: 'f16' } });
  assert.deepEqual(st('castb'), { params: { x: 'bf16' }, results: { out: 'bf16' } });
  assert.deepEqual(st('mixed'), { params: { x: 'f32' }, results: { out: 'f32' } }, 'x is also read as it is');
  assert.deepEqual(st('twice'), { params: { x: 'f16' }, results: { out: 'f32' } });
  assert.deepEqual(st('keep').params.m, 'f16', 'the state passed through on odd steps is read rounded');
  assert.deepEqual(st('keep').results.m, 'f16');
  assert.deepEqual(st('keep').results.w, 'f32');
  assert.deepEqual(st('leak').params.m, 'f32', 'm + g leaves binary16');
  assert.deepEqual(st('leak').results.m, 'f32');
  assert.deepEqual([st('reset').params.z, st('reset').params.o], ['f32', 'f16'], 'a state set to a constant is not low precision; one rounded is');
  const c = st('chain');
  assert.deepEqual([c.params.s1, c.params.s2, c.params.s3], ['f16', 'f16', 'f32'], 's1 and s2 swap (proven together); s3 + s1 is not binary16');
  assert.deepEqual([c.results.s1, c.results.s2, c.results.s3], ['f16', 'f16', 'f32']);
});

test('a rounding of a 16-bit input is read from the input: the schedules of ingd_f16 hold no copy of its states or statistics', () => {
  const p = compileProgram('import "spd.mat"', { path: 'lowp-schedule.mat' });
  const text = scheduleText(p, 'ingd_f16', 'schedule');
  // slot lines name the node they hold ("S3  p*p  %31: f[p, p] = half %mA"); a rounding of a
  // parameter (or of a branch's capture of one: %a.1) would be a copy of a 16-bit input
  const copies = text.split('\n').filter((l) => /= (half|bfloat) %(A|B|mA|mB|PA|PB|a|g)(\.\d+)?$/.test(l));
  assert.deepEqual(copies, []);
  assert.match(text, /= half %\d+$/m, 'roundings of computed values are still there');
});

const mod = compile(SRC, { path: 'lowp-storage.mat' });

test('CPU: a proven state is read through its rounding; an unproven one as it is', async () => {
  const backend = new CpuBackend({ threads: 1 });
  const w = new Tensor([3], [1, 2, 3]);
  const g = new Tensor([3], [0.1, 0.2, 0.3]);
  const m = new Tensor([3], [0.1, -1 / 3, 1e-6]);
  const t = new Tensor([], [1]); // an odd step: the state passes through
  const keep = await mod.fn('keep').forward({ w, g, m, t }, { backend });
  assert.deepEqual(Array.from(keep.outputs.m!.data), Array.from(m.data, roundF16));
  const leak = await mod.fn('leak').forward({ w, g, m, t }, { backend });
  assert.deepEqual(Array.from(leak.outputs.m!.data), Array.from(m.data, (v, i) => v + g.data[i]!));
});

// every finite binary16 value, its neighbours' midpoints (ties), and random f64 values
function castInputs(): Float64Array {
  const xs: number[] = [];
  for (let h = 0; h < 0x10000; h++) {
    const v = decodeHalf('f16', h);
    if (Number.isFinite(v)) xs.push(v);
  }
  for (let h = 1; h < 0x7bff; h += 7) xs.push((decodeHalf('f16', h) + decodeHalf('f16', h + 1)) / 2);
  const u = lcg(11);
  for (let k = 0; k < 5001; k++) xs.push((u() < 0.5 ? -1 : 1) * 2 ** (60 * u() - 30) * (1 + u()));
  return Float64Array.from(xs);
}

test('WebGPU: a rounding with 16-bit input and output equals the CPU bit for bit (odd runs, batches)', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const gpu = new WebGpuBackend(ctx);
  const cpu = new CpuBackend({ threads: 1 });
  const wgsl = scheduleText(compileProgram(SRC, { path: 'lowp-storage.mat' }), 'cast', 'wgsl');
  assert.match(wgsl, /in_half\(/, 'the input is read from 16-bit storage');
  assert.match(wgsl, /h16_enc\(/, 'the result is written as 16-bit words');
  const xs = castInputs();
  for (const fn of ['cast', 'castb', 'twice']) {
    for (const shape of [[xs.length], [3, 7], [1, 1], [5, 2]]) {
      const size = shape.reduce((a, b) => a * b, 1);
      const x = new Tensor(shape, size === xs.length ? xs : xs.subarray(1000, 1000 + size));
      const [a, b] = await Promise.all([mod.fn(fn).forward({ x }, { backend: gpu }), mod.fn(fn).forward({ x }, { backend: cpu })]);
      const bad = [] as string[];
      for (let i = 0; i < size; i++) if (!Object.is(a.outputs.out!.data[i], b.outputs.out!.data[i])) bad.push(`${x.data[i]}: ${a.outputs.out!.data[i]} vs ${b.outputs.out!.data[i]}`);
      assert.deepEqual(bad.slice(0, 5), [], `${fn} [${shape}]`);
    }
  }
});

// ---- the stdlib's optimizers with 16-bit factors -------------------------------------------------

const spdSrc = 'import "spd.mat"';
const dims = { p: 5, d: 3 };
function stepInputs(seed: number, n = 4, m = 4) {
  const u = lcg(seed);
  const r = (len: number) => Float64Array.from({ length: len }, () => u() - 0.5);
  return {
    W: new Tensor([dims.d, dims.p], r(dims.d * dims.p)),
    G: new Tensor([dims.d, dims.p], r(dims.d * dims.p)),
    a: new Tensor([n, dims.p], r(n * dims.p)),
    g: new Tensor([m, dims.d], r(m * dims.d)),
  };
}

/** `steps` steps (T = 2: update and pass-through steps alternate) from the init state. */
async function steps(fn: string, backend: WebGpuBackend | CpuBackend, count: number, halfStorage: boolean): Promise<Record<string, Float64Array>> {
  return withEnv('MATC_HALF_STORAGE', halfStorage ? process.env.MATC_HALF_STORAGE : '0', async () => {
    // a module of its own: kernels are generated at its first call, under the setting above
    const spd = compile(spdSrc, { path: `lowp-${fn}-${halfStorage}.mat` });
    let st: Record<string, Tensor> | undefined;
    let W: Tensor | undefined;
    for (let k = 0; k < count; k++) {
      const inp = stepInputs(100 + k);
      const inputs = { ...inp, W: W ?? inp.W };
      st ??= (await spd.fn(`${fn}.init`).forward(inputs, { backend: new CpuBackend({ threads: 1 }) })).outputs;
      const r = await spd.fn(fn).forward({ ...inputs, ...st }, { backend, dims: { T: 2 } });
      assert.ok(r.status.ok, JSON.stringify(r.status));
      const { W: W2, ...rest } = r.outputs;
      W = W2!;
      st = rest as Record<string, Tensor>;
    }
    return Object.fromEntries(Object.entries({ W: W!, ...st! }).map(([k, v]) => [k, Float64Array.from(v.data)]));
  });
}

test('WebGPU: INGD and KFAC with 16-bit factors: 16-bit buffers give the numbers of f32 buffers, on both execution models', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const gpu = new WebGpuBackend(ctx);
  for (const sched of ['instance', 'grid']) {
    await withEnv('MATC_SCHEDULE', sched, async () => {
      for (const fn of ['ingd_f16', 'kfac_bf16']) {
        const a = await steps(fn, gpu, 3, true);
        const b = await steps(fn, gpu, 3, false);
        for (const k of Object.keys(b)) assert.deepEqual(Array.from(a[k]!), Array.from(b[k]!), `${sched} ${fn}: ${k}`);
      }
    });
  }
});

test('WebGPU resident: 16-bit states stay in 16-bit GpuTensors (half the bytes), equal to the host path; conversions both ways; non-finite values found', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const gpu = new WebGpuBackend(ctx);
  const spd = compile(spdSrc, { path: 'lowp-resident.mat' });
  const fn = spd.fn('ingd_f16');
  const init = (await spd.fn('ingd_f16.init').forward(stepInputs(100), { backend: new CpuBackend({ threads: 1 }) })).outputs;
  // host path
  let hostSt: Record<string, Tensor> = init;
  let hostW = stepInputs(100).W;
  for (let k = 0; k < 4; k++) {
    const r = await fn.forward({ ...stepInputs(100 + k), W: hostW, ...hostSt }, { backend: gpu, dims: { T: 2 } });
    const { W, ...rest } = r.outputs;
    hostW = W!;
    hostSt = rest as Record<string, Tensor>;
  }
  // resident: the state never leaves the device
  let st: Record<string, GpuTensor> = {};
  for (const [k, v] of Object.entries(init)) st[k] = await gpu.upload(v, k === 't' ? { int: true } : {});
  let W: GpuTensor = await gpu.upload(stepInputs(100).W);
  for (let k = 0; k < 4; k++) {
    const inp = stepInputs(100 + k);
    const r = await fn.forward({ ...inp, W, ...st }, { backend: gpu, dims: { T: 2 }, resident: true });
    assert.ok((await r.status).ok);
    for (const v of [W, ...Object.values(st)]) v.dispose();
    const { W: W2, ...rest } = r.outputs as Record<string, GpuTensor>;
    W = W2!;
    st = rest;
  }
  assert.equal(st.A!.dtype, 'f16');
  assert.equal(st.mB!.dtype, 'f16');
  assert.equal(st.buf!.dtype, 'f32');
  assert.equal(st.A!.byteLength, 4 * Math.ceil((dims.p * dims.p) / 2), 'binary16: half the bytes of f32 (a word for the odd last value)');
  assert.equal(st.B!.byteLength, 4 * Math.ceil((dims.d * dims.d) / 2));
  for (const [k, v] of Object.entries(st)) assert.deepEqual(Array.from((await v.read()).data), Array.from(hostSt[k]!.data), `resident ${k} = host ${k}`);
  assert.deepEqual(Array.from((await W.read()).data), Array.from(hostW.data));

  // a 16-bit GpuTensor into an f32 input: converted on the device
  const A = st.A!;
  const sqDev = await mod.fn('sq').forward({ A }, { backend: gpu, resident: true });
  const sqHost = await mod.fn('sq').forward({ A: await A.read() }, { backend: gpu });
  assert.deepEqual(Array.from((await (sqDev.outputs.out as GpuTensor).read()).data), Array.from(sqHost.outputs.out!.data));
  // an f32 GpuTensor of values binary16 does not hold into a 16-bit input: rounded on the device
  // as the host path rounds it
  const raw = new Tensor([dims.p, dims.p], Float32Array.from({ length: dims.p * dims.p }, (_, i) => Math.fround(1 / (i + 3))));
  const hostIn = { ...stepInputs(200), ...hostSt, A: raw };
  const devIn = { ...stepInputs(200), ...st, A: await gpu.upload(raw), W };
  const h = await fn.forward({ ...hostIn, W: hostW }, { backend: gpu, dims: { T: 2 } });
  const d = await fn.forward(devIn, { backend: gpu, dims: { T: 2 }, resident: true });
  for (const k of Object.keys(h.outputs)) assert.deepEqual(Array.from((await (d.outputs[k] as GpuTensor).read()).data), Array.from(h.outputs[k]!.data), `f32 → binary16 input: ${k}`);

  // batched 16-bit runs of odd length: copied (same format and run), converted (f32 input)
  const xs = Float64Array.from({ length: 15 }, (_, i) => (i === 13 ? 1e6 : 0.1 * i - 0.7)); // 1e6 → +∞ in binary16
  const c1 = await mod.fn('cast').forward({ x: new Tensor([3, 5], xs) }, { backend: gpu, resident: true });
  const y = c1.outputs.out as GpuTensor;
  assert.equal(y.dtype, 'f16');
  assert.equal(y.byteLength, 3 * 4 * 3, 'three runs of five values, three words each');
  assert.deepEqual((await c1.status).warnings.length > 0, true, 'the +∞ result is reported');
  const yh = await y.read();
  assert.deepEqual(Array.from(yh.data), Array.from(xs, roundF16));
  await assert.rejects(
    (async () => (await mod.fn('twice').forward({ x: y }, { backend: gpu, resident: true })).status)(),
    (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR104' && /flat index 13/.test(e.message),
  );
  for (const v of [W, ...Object.values(st), y]) v.dispose();
});

test('a compiled module (matc compile, no compiler at run time) runs 16-bit inputs and results on WebGPU and on the f32 CPU module as the JIT does', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  type NS = { createModule(o?: object): Promise<{ fn(name: string): { forward(i: object): Promise<{ outputs: Record<string, Tensor> }> }; dispose(): void }> };
  await withCompiledModule<NS, void>('lowp.mat', SRC, async (ns, js) => {
    assert.match(readFileSync(js, 'utf8'), /"half":"f16"|half: "f16"/, 'the kernel layout records the 16-bit storage');
    const gpu = await getNodeGPU();
    const loaded = await ns.createModule({ gpu });
    const cpu32 = await ns.createModule({ backend: 'cpu', cpu: { precision: 'f32', threads: 1 } });
    try {
      const x = new Tensor([3, 7], Float64Array.from({ length: 21 }, (_, i) => Math.sin(i) * 10 ** (i % 5)));
      const w = new Tensor([7], Float64Array.from({ length: 7 }, (_, i) => i - 3));
      const m = new Tensor([7], Float64Array.from({ length: 7 }, (_, i) => 1 / (i + 3)));
      const calls: [string, Record<string, Tensor>][] = [['cast', { x }], ['castb', { x }], ['keep', { w, g: w, m, t: new Tensor([], [1]) }]];
      for (const [fn, inputs] of calls) {
        const jit: { outputs: Record<string, Tensor> } = await mod.fn(fn).forward(inputs, { backend: new WebGpuBackend(ctx) });
        const aot = await loaded.fn(fn).forward(inputs);
        const c32 = await cpu32.fn(fn).forward(inputs);
        const ref = await mod.fn(fn).forward(inputs, { backend: new CpuBackend({ threads: 1, precision: 'f32' }) });
        for (const k of Object.keys(jit.outputs)) {
          assert.deepEqual(Array.from(aot.outputs[k]!.data), Array.from(jit.outputs[k]!.data), `${fn} ${k}: compiled module on WebGPU`);
          assert.deepEqual(Array.from(c32.outputs[k]!.data), Array.from(ref.outputs[k]!.data), `${fn} ${k}: compiled module, f32 CPU`);
        }
      }
    } finally {
      loaded.dispose();
      cpu32.dispose();
    }
  });
});
