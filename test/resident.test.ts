// Device-resident tensors (issue 8 item 5; runtime/gpu-tensor.ts, runtime/webgpu/resident.ts):
// a chain of 100 optimizer steps kept on the GPU equals the same chain through host arrays (bit
// for bit: the same kernels on the same f32 values) and the CPU f64 reference within f32
// tolerance; the buffer pool does not grow over 10⁴ calls; VJP (with a gradient summed over the
// batch on the device) and JVP give the host path's numbers; statuses arrive asynchronously with
// the host path's warnings; a disposed, foreign or failed GpuTensor is a clear error; and a
// GPUDevice owned by someone else can be shared (createWebGpuBackend({ device }), wrap()).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { Tensor } from '../runtime/tensor.js';
import { GpuTensor } from '../runtime/gpu-tensor.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { WebGpuBackend, createWebGpuBackend } from '../runtime/webgpu/backend.js';
import { BufferUsage, MapMode } from '../runtime/webgpu/constants.js';
import { getNodeGPU } from '../runtime/webgpu/device.js';
import { MatcRuntimeError } from '../core/errors.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { buildModuleData } from '../compiler/aot/build.js';
import { compileProgram } from '../compiler/compile.js';
import { defineModule } from '../runtime/aot/module.js';
import { bindInputs } from '../runtime/bind.js';
import { instanceKernelOf, runInstanceKernel } from '../runtime/webgpu/backend.js';
import { runInstanceResident } from '../runtime/webgpu/resident.js';

after(releaseSharedGpu);

// heavy-ball descent on ½xᵀAx − bᵀx: A shared by the batch, x and v per instance
const SRC = `
fn step(x: vec[n], v: vec[n], A: mat[n, n], b: vec[n]) -> (x1: vec[n], v1: vec[n]) =
  let v1 = 0.9 * v + (A * x - b) in (x - 0.05 * v1, v1)

fn half(x: vec[n]) -> y: vec[n] = 0.5 * x + 1

fn lin(A: mat[n, n], b: vec[n]) -> x: vec[n] = solve(A, b)

fn loss(W: mat[m, n], x: vec[n]) -> y: vec[m] = tanh(W * x)

optimizer count(w: vec[n], g: vec[n]) =
  state t: int = 0
  t <- t + 1, w <- w - 0.01 * float(t) * g
`;
const mod = compile(SRC);

function rand(len: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: len }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

/** A well-conditioned SPD matrix (I + MᵀM/n) in f32. */
function spd(n: number, seed: number): Float32Array {
  const M = rand(n * n, seed);
  const A = new Float32Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += M[k * n + i]! * M[k * n + j]!;
      A[i * n + j] = s / n + (i === j ? 1 : 0);
    }
  return A;
}

const B = 3;
const n = 6;

test('a chain of 100 resident steps equals the host-array chain and the f64 reference', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const gpu = new WebGpuBackend(ctx);
  const f = mod.fn('step');
  const A = new Tensor([n, n], spd(n, 1));
  const b = new Tensor([B, n], rand(B * n, 2));
  const x0 = new Tensor([B, n], rand(B * n, 3));
  const v0 = Tensor.zeros([B, n], 'f32');

  // host arrays through WebGPU
  let hx = x0;
  let hv = v0;
  for (let k = 0; k < 100; k++) {
    const r = await f.forward({ x: hx, v: hv, A, b }, { backend: gpu });
    assert.ok(r.status.ok);
    hx = r.outputs.x1!;
    hv = r.outputs.v1!;
  }
  // the CPU f64 reference
  const cpu = new CpuBackend({ threads: 1 });
  let cx = x0;
  let cv = v0;
  for (let k = 0; k < 100; k++) {
    const r = await f.forward({ x: cx, v: cv, A, b }, { backend: cpu });
    cx = r.outputs.x1!;
    cv = r.outputs.v1!;
  }
  // resident: x and v never leave the device; A and b go up once
  const live0 = ctx.pool.stats.liveBytes;
  let x = await gpu.upload(x0);
  let v = await gpu.upload(v0);
  const Ad = await gpu.upload(A);
  const bd = await gpu.upload(b);
  const statuses: Promise<unknown>[] = [];
  for (let k = 0; k < 100; k++) {
    const r = await f.forward({ x, v, A: Ad, b: bd }, { backend: gpu, resident: true });
    assert.ok(r.outputs.x1 instanceof GpuTensor);
    x.dispose();
    v.dispose();
    x = r.outputs.x1;
    v = r.outputs.v1!;
    statuses.push(r.status);
  }
  const sts = (await Promise.all(statuses)) as { ok: boolean }[];
  assert.ok(sts.every((s) => s.ok));
  const rx = await x.read();
  const rv = await v.read();
  assert.deepEqual(rx.shape, [B, n]);
  assert.deepEqual(Array.from(rx.data), Array.from(hx.data), 'resident x = host-array x, bit for bit');
  assert.deepEqual(Array.from(rv.data), Array.from(hv.data), 'resident v = host-array v, bit for bit');
  let err = 0;
  let scale = 0;
  for (let i = 0; i < rx.data.length; i++) {
    err = Math.max(err, Math.abs(rx.data[i]! - cx.data[i]!));
    scale = Math.max(scale, Math.abs(cx.data[i]!));
  }
  assert.ok(err <= 1e-4 * Math.max(1, scale), `resident chain vs the f64 reference: ${err}`);
  for (const d of [x, v, Ad, bd]) d.dispose();
  assert.equal(ctx.pool.stats.liveBytes, live0, 'every buffer is back in the pool');
});

test('the pool does not grow over 10⁴ resident calls', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const gpu = new WebGpuBackend(ctx);
  const f = mod.fn('half');
  const live0 = ctx.pool.stats.liveBytes;
  let x = await gpu.upload(new Tensor([4], [10, -6, 2, 0.5]));
  let missesAt1000 = -1;
  let last: Promise<{ ok: boolean }> | null = null;
  for (let k = 0; k < 10_000; k++) {
    const r = await f.forward({ x }, { backend: gpu, resident: true });
    x.dispose();
    x = r.outputs.y!;
    last = r.status; // never awaited inside the loop: the runtime holds a caller that runs ahead
    if (k === 999) missesAt1000 = ctx.pool.stats.misses;
  }
  assert.ok((await last!).ok);
  assert.equal(ctx.pool.stats.misses, missesAt1000, 'no buffer was created after the first 1,000 calls');
  // x_k = 2 + (x_0 − 2)/2^k: 2 in f32 long before 10⁴ steps
  assert.deepEqual(Array.from((await x.read()).data), [2, 2, 2, 2]);
  x.dispose();
  assert.equal(ctx.pool.stats.liveBytes, live0);
  assert.ok(ctx.pool.stats.idleBytes < 1 << 20, `idle bytes stay small: ${ctx.pool.stats.idleBytes}`);
});

test('resident VJP (shared input summed over the batch on the device) and JVP equal the host path', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const gpu = new WebGpuBackend(ctx);
  const f = mod.fn('loss');
  const m = 5;
  const W = new Tensor([m, n], rand(m * n, 7));
  const x = new Tensor([B, n], rand(B * n, 8));
  const ct = new Tensor([B, m], rand(B * m, 9));
  const host = await f.vjp({ W, x }, { y: ct }, { backend: gpu });
  const Wd = await gpu.upload(W);
  const xd = await gpu.upload(x);
  const res = await f.vjp({ W: Wd, x: xd }, { y: ct }, { backend: gpu, resident: true });
  assert.deepEqual(res.gradients.W!.shape, [m, n], 'the shared input gets one gradient');
  assert.equal((await res.status).ok, true);
  assert.deepEqual(Array.from((await res.outputs.y!.read()).data), Array.from(host.outputs.y!.data));
  assert.deepEqual(Array.from((await res.gradients.x!.read()).data), Array.from(host.gradients.x!.data));
  const gW = (await res.gradients.W!.read()).data;
  const hW = host.gradients.W!.data;
  for (let i = 0; i < gW.length; i++) assert.ok(Math.abs(gW[i]! - hW[i]!) <= 1e-5 * Math.max(1, Math.abs(hW[i]!)), `grad W[${i}]: ${gW[i]} vs ${hW[i]}`);
  // and against the f64 reference
  const ref = await f.vjp({ W, x }, { y: ct }, { backend: new CpuBackend({ threads: 1 }) });
  for (let i = 0; i < gW.length; i++) assert.ok(Math.abs(gW[i]! - ref.gradients.W!.data[i]!) <= 1e-4, `grad W[${i}] vs f64`);

  const tg = new Tensor([B, n], rand(B * n, 10));
  const hj = await f.jvp({ W, x }, { x: tg }, { backend: gpu });
  const rj = await f.jvp({ W: Wd, x: xd }, { x: await gpu.upload(tg) }, { backend: gpu, resident: true });
  assert.deepEqual(Array.from((await rj.tangents.y!.read()).data), Array.from(hj.tangents.y!.data));
  // GpuTensor inputs without `resident`: host results, the status at once
  const mixed = await f.forward({ W: Wd, x }, { backend: gpu });
  assert.ok(mixed.outputs.y instanceof Tensor);
  assert.deepEqual(Array.from(mixed.outputs.y.data), Array.from(host.outputs.y!.data));
  assert.equal(mixed.status.ok, true);
  for (const g of [...Object.values(res.outputs), ...Object.values(res.gradients), ...Object.values(rj.outputs), ...Object.values(rj.tangents), Wd, xd]) g.dispose();
});

test('a resident status has the host path\'s warnings; a non-finite GPU input fails its call and every call downstream', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const gpu = new WebGpuBackend(ctx);
  const lin = mod.fn('lin');
  const A = new Tensor([2, 2, 2], [2, 0, 0, 1, 1, 1, 1, 1]); // instance 1 is singular
  const b = new Tensor([2, 2], [1, 1, 1, 2]);
  const host = await lin.forward({ A, b }, { backend: gpu });
  const res = await lin.forward({ A: await gpu.upload(A), b }, { backend: gpu, resident: true });
  const st = await res.status;
  assert.equal(host.status.ok, false);
  assert.deepEqual(st.warnings, host.status.warnings);
  assert.deepEqual(st.nodes.map((s) => s.converged), host.status.nodes.map((s) => s.converged));

  const half = mod.fn('half');
  const bad = await gpu.upload(new Tensor([3], [1, NaN, 2]));
  const r1 = await half.forward({ x: bad }, { backend: gpu, resident: true });
  const r2 = await half.forward({ x: r1.outputs.y! }, { backend: gpu, resident: true }); // taken before r1 is known to fail
  await assert.rejects(r1.status, (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR104' && /input 'x' \(a GPU tensor\) has 1 non-finite value\(s\), the first at flat index 1/.test(e.message));
  await assert.rejects(r1.outputs.y!.read(), /MATR104|non-finite/);
  await assert.rejects(r2.status, /non-finite/, 'the failure travels down the chain');
  await assert.rejects(r2.outputs.y!.read(), /non-finite/);
  // once known, a failed tensor is refused when it is passed on
  await assert.rejects(half.forward({ x: r1.outputs.y! }, { backend: gpu, resident: true }), /non-finite/);
  // a NaN made on the device is a warning of the status, as on the host
  const inf = await gpu.upload(new Tensor([2], [3e38, 1]));
  const r3 = await mod.fn('step').forward({ x: inf, v: inf, A: new Tensor([2, 2], [3e38, 0, 0, 1]), b: new Tensor([2], [0, 0]) }, { backend: gpu, resident: true });
  const s3 = await r3.status;
  assert.equal(s3.ok, false);
  assert.ok(s3.warnings.some((w) => /output x1 has \d+ non-finite value\(s\)/.test(w)), s3.warnings.join('; '));
  for (const d of [bad, r1.outputs.y!, r2.outputs.y!, inf, r3.outputs.x1!, r3.outputs.v1!, ...Object.values(res.outputs)]) d.dispose();
});

test('disposed, misplaced and mistyped GPU tensors are clear errors', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const gpu = new WebGpuBackend(ctx);
  const half = mod.fn('half');
  const x = await gpu.upload(new Float32Array([1, 2, 3]));
  x.dispose();
  x.dispose(); // idempotent
  await assert.rejects(half.forward({ x }, { backend: gpu, resident: true }), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR210' && /half: input 'x' is a GPU tensor that was disposed/.test(e.message));
  await assert.rejects(x.read(), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR210' && /GPU tensor used after dispose\(\)/.test(e.message));
  assert.throws(() => x.buffer, /MATR210|after dispose/);

  const y = await gpu.upload([1, 2, 3]);
  await assert.rejects(half.forward({ x: y }, { backend: new CpuBackend({ threads: 1 }) }), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR215' && /GPU tensors were given, but the call runs on the cpu backend/.test(e.message));
  await assert.rejects(half.forward({ x: [1, 2] }, { resident: true }), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR215');
  const i = await gpu.upload([1, 2, 3], { int: true });
  await assert.rejects(half.forward({ x: i }, { backend: gpu }), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR213' && /input 'x' is a real, but the GPU tensor given holds ints/.test(e.message));
  await assert.rejects(gpu.upload([1.5], { int: true }), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR150');
  // a GpuTensor of another device
  const other = await createWebGpuBackend();
  assert.ok(other);
  const z = await other.upload([1, 2, 3]);
  await assert.rejects(half.forward({ x: z }, { backend: gpu }), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR211');
  z.dispose();
  other.dispose();
  y.dispose();
  i.dispose();
});

test('a device and buffers owned by another library are shared, not taken over', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const gpuObj = await getNodeGPU();
  assert.ok(gpuObj);
  // "the other library": it owns this device and writes its tensor into its own buffer
  const adapter = (await gpuObj.requestAdapter())!;
  const device = await adapter.requestDevice();
  const theirs = device.createBuffer({ size: 4 * 2 * n, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST });
  const vals = rand(2 * n, 11);
  device.queue.writeBuffer(theirs, 0, vals);
  const gpu = (await createWebGpuBackend({ device }))!;
  assert.match(gpu.describe(), /shared device/);
  const x = await gpu.wrap(theirs, [2, n]);
  const r = await mod.fn('half').forward({ x }, { backend: gpu, resident: true });
  // the other library reads matc's result buffer with its own copy
  const out = r.outputs.y!;
  const staging = device.createBuffer({ size: out.byteLength, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(out.buffer as GPUBuffer, out.offset, staging, 0, out.byteLength);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(MapMode.READ);
  const got = new Float32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  assert.deepEqual(Array.from(got), Array.from(vals, (v) => Math.fround(0.5 * v + 1)));
  await assert.rejects(gpu.wrap(theirs, [3, n]), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR213' && /needs 72 bytes from offset 0, but the buffer has 48/.test(e.message));
  const noCopy = device.createBuffer({ size: 16, usage: BufferUsage.STORAGE });
  await assert.rejects(gpu.wrap(noCopy, [4]), /COPY_SRC/);
  x.dispose(); // forgets the wrapped buffer: it stays the owner's
  out.dispose();
  gpu.dispose(); // releases matc's pool and pipelines, not the device
  const again = new Float32Array(2 * n);
  const s2 = device.createBuffer({ size: 4 * 2 * n, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  const e2 = device.createCommandEncoder();
  e2.copyBufferToBuffer(theirs, 0, s2, 0, 4 * 2 * n);
  device.queue.submit([e2.finish()]);
  await s2.mapAsync(MapMode.READ);
  again.set(new Float32Array(s2.getMappedRange()));
  s2.unmap();
  assert.deepEqual(Array.from(again), Array.from(vals), 'the device and the wrapped buffer outlive matc, unchanged');
  device.destroy();
});

test('AOT modules take and give GPU tensors like the JIT', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const gpu = new WebGpuBackend(ctx);
  const aot = defineModule(buildModuleData(compileProgram(SRC), SRC, 'test'));
  const step = aot.fn('step');
  const A = new Tensor([n, n], spd(n, 4));
  const b = new Tensor([B, n], rand(B * n, 5));
  const x0 = new Tensor([B, n], rand(B * n, 6));
  const v0 = Tensor.zeros([B, n], 'f32');
  const host = await step.forward({ x: x0, v: v0, A, b }, { backend: gpu });
  const r = await step.forward({ x: await gpu.upload(x0), v: await gpu.upload(v0), A: await gpu.upload(A), b }, { backend: gpu, resident: true });
  assert.ok(r.outputs.x1 instanceof GpuTensor);
  assert.equal((await r.status).ok, true);
  assert.deepEqual(Array.from((await r.outputs.x1.read()).data), Array.from(host.outputs.x1!.data));
  await assert.rejects(step.forward({ x: r.outputs.x1, v: v0, A, b }, { backend: 'cpu' }), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR215');
  for (const g of Object.values(r.outputs)) g.dispose();
});

test('batches split into chunks give the same numbers, host and resident', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const gpu = new WebGpuBackend(ctx);
  const f = mod.fn('step');
  const Bc = 5;
  const inputs = { x: new Tensor([Bc, n], rand(Bc * n, 12)), v: new Tensor([Bc, n], rand(Bc * n, 13)), A: new Tensor([n, n], spd(n, 14)), b: new Tensor([Bc, n], rand(Bc * n, 15)) };
  const exe = f.executable('forward');
  const spec = instanceKernelOf(gpu.variantFor(exe, new Map([['n', n]])));
  const whole = await runInstanceKernel(ctx, spec, exe.signature, bindInputs(exe.signature, inputs));
  const split = await runInstanceKernel(ctx, spec, exe.signature, bindInputs(exe.signature, inputs), { maxChunk: 2 });
  const up = { x: await gpu.upload(inputs.x), v: inputs.v, A: await gpu.upload(inputs.A), b: inputs.b };
  const res = await runInstanceResident(ctx, spec, exe.signature, bindInputs(exe.signature, up), 'test', 2);
  await res.status;
  for (const k of ['x1', 'v1']) {
    assert.deepEqual(Array.from(split.outputs[k]!.data), Array.from(whole.outputs[k]!.data), `${k}: chunks of 2 = one launch`);
    assert.deepEqual(Array.from((await res.outputs[k]!.read()).data), Array.from(whole.outputs[k]!.data), `${k}: resident chunks of 2 = one launch`);
    res.outputs[k]!.dispose();
  }
  // a non-finite value in instance 3 (chunk 2 of 3) is reported at its flat index in the tensor
  const bad = Float32Array.from(inputs.x.data);
  bad[3 * n + 2] = Infinity;
  const xb = await gpu.upload(new Tensor([Bc, n], bad));
  const rb = await runInstanceResident(ctx, spec, exe.signature, bindInputs(exe.signature, { ...up, x: xb }), 'test', 2);
  await assert.rejects(rb.status, new RegExp(`input 'x' \\(a GPU tensor\\) has 1 non-finite value\\(s\\), the first at flat index ${3 * n + 2}`));
  for (const d of [xb, up.x, up.A, ...Object.values(rb.outputs)]) d.dispose();
});

test('an optimizer\'s int state stays on the device as i32 and stays exact', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const gpu = new WebGpuBackend(ctx);
  const f = mod.fn('count');
  const ts = [1, 2147483646, -7, 16777217];
  const g = new Tensor([ts.length, 2], rand(2 * ts.length, 16));
  const host = { w: new Tensor([ts.length, 2], rand(2 * ts.length, 17)), t: new Tensor([ts.length], ts) };
  let w = await gpu.upload(host.w);
  let st = await gpu.upload(host.t, { int: true });
  for (let k = 0; k < 3; k++) {
    const r = await f.forward({ w: host.w, g, t: host.t }, { backend: gpu });
    host.w = r.outputs.w!;
    host.t = r.outputs.t!;
  }
  const gd = await gpu.upload(g);
  for (let k = 0; k < 3; k++) {
    const r: { outputs: Record<string, GpuTensor> } = await f.forward({ w, g: gd, t: st }, { backend: gpu, resident: true });
    assert.equal(r.outputs.t!.dtype, 'i32');
    w.dispose();
    st.dispose();
    w = r.outputs.w!;
    st = r.outputs.t!;
  }
  const tr = await st.read();
  assert.deepEqual([...tr.data], [4, -2147483647, -4, 16777220], 'wrapped past 2³¹ − 1 like every backend, exact');
  assert.deepEqual([...tr.data], [...host.t.data]);
  assert.deepEqual([...(await w.read()).data], [...host.w.data]);
  for (const d of [w, st, gd]) d.dispose();
});
