// The WebGPU runtime layer on a real adapter (lavapipe in CI): plans give the right numbers with
// one submission and one readback, pipelines compile once per key even under concurrent requests,
// bad WGSL and bad plans fail as InternalErrors that say what is wrong, the pool reuses buffers,
// and a lost device is replaced and reported.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { InternalError } from '../core/errors.js';
import { BufferPool, sizeClass } from '../runtime/webgpu/buffer-pool.js';
import { BufferUsage } from '../runtime/webgpu/constants.js';
import { adapterName, createGpuContext, getNodeGPU } from '../runtime/webgpu/device.js';
import { prepareResidentPlan, runPlan } from '../runtime/webgpu/executor.js';
import { PipelineCache, layoutKey } from '../runtime/webgpu/pipeline-cache.js';
import { planProblems, validatePlan } from '../runtime/webgpu/plan-check.js';
import type { GpuPlan } from '../core/gpu-plan.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';

after(releaseSharedGpu);

// y = a·x + b elementwise (a, b from a uniform block), then z = y + x, then s = Σ over a small
// zero-initialised scratch accumulator: three launches, two outputs, one scratch buffer.
const AXPB = `
struct P { a: f32, b: f32, n: u32, pad: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(64)
fn axpb(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < p.n) { y[g.x] = p.a * x[g.x] + p.b; }
}`;
const ADD = `
@group(0) @binding(0) var<storage, read> u: array<f32>;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;
@compute @workgroup_size(64)
fn add(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < arrayLength(&w)) { w[g.x] = w[g.x] + u[g.x] + v[g.x]; }
}`;

function tinyPlan(n: number): GpuPlan {
  const wg: [number, number, number] = [Math.ceil(n / 64), 1, 1];
  return {
    kernels: { axpb: { wgsl: AXPB, entryPoint: 'axpb' }, add: { wgsl: ADD, entryPoint: 'add' } },
    buffers: [
      { name: 'x', bytes: 4 * n, kind: 'input' },
      { name: 'p', bytes: 16, kind: 'uniform' },
      { name: 'y', bytes: 4 * n, kind: 'output' },
      { name: 'acc', bytes: 4 * n, kind: 'scratch', zero: true },
      { name: 'z', bytes: 4 * n, kind: 'output', zero: true },
    ],
    launches: [
      { kernel: 'axpb', bindings: [{ binding: 0, buffer: 'x', access: 'read' }, { binding: 1, buffer: 'y', access: 'read_write' }, { binding: 2, buffer: 'p', access: 'uniform' }], workgroups: wg, label: 'axpb' },
      // acc = 0 + y + x
      { kernel: 'add', bindings: [{ binding: 0, buffer: 'y', access: 'read' }, { binding: 1, buffer: 'x', access: 'read' }, { binding: 2, buffer: 'acc', access: 'read_write' }], workgroups: wg },
      // z = 0 + acc + y  = (a·x + b) + x + (a·x + b)
      { kernel: 'add', bindings: [{ binding: 0, buffer: 'acc', access: 'read' }, { binding: 1, buffer: 'y', access: 'read' }, { binding: 2, buffer: 'z', access: 'read_write' }], workgroups: wg },
    ],
    outputs: ['z', 'y'],
  };
}

function tinyInputs(n: number, a: number, b: number): { x: Float32Array; p: Uint32Array } {
  const x = Float32Array.from({ length: n }, (_, i) => (i % 17) - 8 + i / 1000);
  const p = new Uint32Array(4);
  new Float32Array(p.buffer).set([a, b]);
  p[2] = n;
  return { x, p };
}

test('a tiny three-launch plan returns the right numbers', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  const n = 1000;
  const { x, p } = tinyInputs(n, 1.5, -2);
  const r = await runPlan(ctx, tinyPlan(n), { x, p }, { timing: true });
  assert.deepEqual(Object.keys(r.outputs), ['z', 'y']);
  for (let i = 0; i < n; i++) {
    const y = Math.fround(Math.fround(1.5 * x[i]!) - 2);
    assert.equal(r.outputs.y![i], y, `y[${i}]`);
    assert.ok(Math.abs(r.outputs.z![i]! - (2 * y + x[i]!)) <= 1e-5 * (1 + Math.abs(2 * y + x[i]!)), `z[${i}]`);
  }
  if (ctx.features.timestampQuery) {
    assert.equal(r.launchMs?.length, 3);
    assert.ok(r.gpuMs !== undefined && r.gpuMs >= 0 && r.launchMs!.every((m) => m >= 0));
  }
  // A second run with different data reuses the pooled buffers and the zero flags still hold
  // (the scratch accumulator would otherwise carry the first run's sums).
  const hits = ctx.pool.stats.hits;
  const again = tinyInputs(n, -0.5, 3);
  const r2 = await runPlan(ctx, tinyPlan(n), again);
  assert.ok(ctx.pool.stats.hits > hits, 'second run served from the pool');
  for (let i = 0; i < n; i++) {
    const y = Math.fround(Math.fround(-0.5 * again.x[i]!) + 3);
    assert.ok(Math.abs(r2.outputs.z![i]! - (2 * y + again.x[i]!)) <= 1e-5 * (1 + Math.abs(y)), `run 2 z[${i}]`);
  }
});

test('one queue submission and one buffer mapping per plan run', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  const n = 256;
  const { x, p } = tinyInputs(n, 2, 1);
  const plan = tinyPlan(n);
  await runPlan(ctx, plan, { x, p }); // compile outside the counted run
  const queue = ctx.device.queue;
  const qProto = Object.getPrototypeOf(queue) as { submit: GPUQueue['submit'] };
  const probe = ctx.device.createBuffer({ size: 4, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  const bProto = Object.getPrototypeOf(probe) as { mapAsync: GPUBuffer['mapAsync'] };
  probe.destroy();
  const submit = qProto.submit;
  const mapAsync = bProto.mapAsync;
  let submits = 0;
  let maps = 0;
  qProto.submit = function (this: GPUQueue, cbs: Iterable<GPUCommandBuffer>) {
    submits++;
    return submit.call(this, cbs);
  };
  bProto.mapAsync = function (this: GPUBuffer, ...args: Parameters<GPUBuffer['mapAsync']>) {
    maps++;
    return mapAsync.apply(this, args);
  };
  try {
    const r = await runPlan(ctx, plan, { x, p }, { timing: true });
    assert.equal(submits, 1, 'queue.submit calls');
    assert.equal(maps, 1, 'mapAsync calls');
    assert.equal(r.outputs.y![3], Math.fround(Math.fround(2 * x[3]!) + 1));
  } finally {
    qProto.submit = submit;
    bProto.mapAsync = mapAsync;
  }
});

test('the pipeline cache compiles once for concurrent requests of one key', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  const cache = new PipelineCache(ctx.device);
  const slots = [
    { binding: 0, access: 'read' as const },
    { binding: 1, access: 'read_write' as const },
    { binding: 2, access: 'uniform' as const },
  ];
  const k = { wgsl: AXPB, entryPoint: 'axpb' };
  const all = await Promise.all(Array.from({ length: 6 }, () => cache.get(k, slots)));
  assert.equal(cache.stats.compiles, 1);
  assert.equal(cache.stats.hits, 5);
  assert.ok(all.every((p) => p.pipeline === all[0]!.pipeline));
  // The same text with the bindings listed in another order is the same layout.
  const again = await cache.get(k, [...slots].reverse());
  assert.equal(again.pipeline, all[0]!.pipeline);
  assert.equal(layoutKey(slots), '0:read,1:read_write,2:uniform');
  // A different layout is a different pipeline.
  await cache.get(k, [slots[0]!, { binding: 1, access: 'read_write' }, { binding: 2, access: 'uniform' }, { binding: 3, access: 'read' }]).catch(() => undefined);
  assert.equal(cache.stats.requests, 8);
});

test('invalid WGSL is an InternalError showing numbered source and line:col messages', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  const bad = `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  y[g.x] = undefined_thing * 2.0;
}`;
  const cache = new PipelineCache(ctx.device);
  await assert.rejects(cache.get({ wgsl: bad, entryPoint: 'main' }, [{ binding: 0, access: 'read_write' }]), (e: unknown) => {
    assert.ok(e instanceof InternalError, 'InternalError');
    assert.match(e.message, /4:\d+: error: .*undefined_thing/);
    assert.match(e.message, /^\s*4 \| {3}y\[g\.x\] = undefined_thing \* 2\.0;$/m);
    assert.match(e.message, /^\s*1 \| @group\(0\)/m);
    return true;
  });
  assert.equal(cache.stats.failures, 1);
  assert.equal(cache.size, 0, 'failures are not cached');
  // A layout that does not match the shader is also an InternalError with the source attached.
  await assert.rejects(cache.get({ wgsl: AXPB, entryPoint: 'axpb' }, [{ binding: 0, access: 'read' }]), (e: unknown) => {
    assert.ok(e instanceof InternalError);
    assert.match(e.message, /could not be created/);
    assert.match(e.message, /^\s*\d+ \| fn axpb/m);
    return true;
  });
});

test('the buffer pool reuses released buffers by usage and size class and bounds idle bytes', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  const usage = BufferUsage.STORAGE | BufferUsage.COPY_DST;
  const pool = new BufferPool(ctx.device, { maxIdleBytes: 8192 });
  const a = pool.acquire(1000, usage);
  assert.equal(a.size, 1024);
  pool.release(a);
  const b = pool.acquire(900, usage);
  assert.equal(b, a, 'same size class and usage: reused');
  const c = pool.acquire(900, usage | BufferUsage.COPY_SRC);
  assert.notEqual(c, a, 'other usage: a new buffer');
  assert.deepEqual([pool.stats.hits, pool.stats.misses], [1, 2]);
  assert.throws(() => pool.release(ctx.device.createBuffer({ size: 4, usage })), InternalError);
  pool.release(b);
  pool.release(c);
  assert.equal(pool.stats.idleBytes, 2048);
  // Past the idle budget the oldest idle buffers go.
  const big = [pool.acquire(4096, usage), pool.acquire(4096, usage)];
  big.forEach((x) => pool.release(x));
  assert.ok(pool.stats.idleBytes <= 8192);
  assert.ok(pool.stats.evicted >= 1);
  assert.throws(() => pool.release(a), InternalError, 'double release');
  pool.destroy();
  assert.equal(pool.idleCount, 0);
  assert.equal(sizeClass(1), 256);
  assert.equal(sizeClass(3 << 20), 3 << 20);
  assert.equal(sizeClass((5 << 20) + 1), 6 << 20);
});

test('invalid plans are rejected with every problem listed', () => {
  const good = tinyPlan(64);
  assert.deepEqual(planProblems(good), []);
  const bad: GpuPlan = {
    kernels: { axpb: { wgsl: AXPB, entryPoint: 'axpb' }, add: { wgsl: ADD, entryPoint: 'add' } },
    buffers: [
      { name: 'x', bytes: 30, kind: 'input' },
      { name: 'x', bytes: 32, kind: 'input' },
      { name: 'y', bytes: 64, kind: 'scratch' },
      { name: 'p', bytes: 16, kind: 'uniform', zero: true },
    ],
    launches: [
      { kernel: 'nope', bindings: [{ binding: 0, buffer: 'x', access: 'read' }], workgroups: [1, 1, 1] },
      { kernel: 'add', bindings: [{ binding: 0, buffer: 'y', access: 'read' }, { binding: 1, buffer: 'y', access: 'read_write' }, { binding: 1, buffer: 'ghost', access: 'read' }], workgroups: [1, 1.5, 1] },
      { kernel: 'add', bindings: [{ binding: 0, buffer: 'p', access: 'read' }], workgroups: [70000, 1, 1] },
    ],
    outputs: ['y', 'missing'],
  };
  const problems = planProblems(bad, { maxComputeWorkgroupsPerDimension: 65535, maxStorageBuffersPerShaderStage: 1 });
  const expect = [
    /'x' size 30 is not a multiple of 4/,
    /'x' is declared twice/,
    /of kind uniform cannot be zero-filled/,
    /unknown kernel 'nope'/,
    /binds @binding\(1\) twice/,
    /unknown buffer 'ghost'/,
    /invalid workgroups/,
    /more than once with write access/,
    /over maxStorageBuffersPerShaderStage 1/,
    /binds uniform buffer 'p' as storage/,
    /over maxComputeWorkgroupsPerDimension/,
    /launched with layout .* but earlier with/,
    /output 'y' is a scratch buffer/,
    /output 'missing' is not a declared buffer/,
  ];
  for (const re of expect) assert.ok(problems.some((p) => re.test(p)), `expected a problem matching ${re}; got:\n${problems.join('\n')}`);
  assert.throws(() => validatePlan(bad), (e: unknown) => e instanceof InternalError && /invalid GPU plan \(\d+ problems\)/.test(e.message));
});

test('runPlan rejects invalid plans and mismatched inputs before running', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  const good = tinyPlan(64);
  const bad: GpuPlan = { ...good, buffers: [...good.buffers, { name: 'odd', bytes: 6, kind: 'scratch' }] };
  // runPlan validates against the device's limits before touching the device.
  await assert.rejects(runPlan(ctx, bad, {}), InternalError);
  const max = ctx.limits.maxStorageBufferBindingSize;
  const huge: GpuPlan = { ...good, buffers: good.buffers.map((b) => (b.name === 'acc' ? { ...b, bytes: max + 4 } : b)) };
  await assert.rejects(runPlan(ctx, huge, {}), /exceeds maxStorageBufferBindingSize/);
  // Inputs must match the plan exactly.
  const { x, p } = tinyInputs(64, 1, 0);
  await assert.rejects(runPlan(ctx, good, { x: x.subarray(1), p }), /data for 'x' has 252 bytes/);
  await assert.rejects(runPlan(ctx, good, { x, p, y: x }), /data given for output buffer 'y'/);
  await assert.rejects(runPlan(ctx, good, { p }), /no data for input buffer 'x'/);
});

test('resident plans re-run on device data and time with timestamps', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  const n = 128;
  const { x, p } = tinyInputs(n, 1, 1);
  const r = await prepareResidentPlan(ctx, tinyPlan(n));
  try {
    r.write({ x, p });
    const samples = await r.time(20, 1);
    assert.equal(samples.wallMs.length, 20);
    if (ctx.features.timestampQuery) assert.equal(samples.gpuMs?.length, 20);
    // Each timed iteration re-ran the plan, and zero-filled outputs were cleared every time.
    const out = await r.read(['z', 'acc']);
    assert.ok(Math.abs(out.z![5]! - (2 * (x[5]! + 1) + x[5]!)) < 1e-5);
    assert.ok(Math.abs(out.acc![5]! - (x[5]! + 1 + x[5]!)) < 1e-5);
  } finally {
    r.release();
  }
  assert.throws(() => r.write({ x, p }), InternalError);
});

test('a lost device is replaced on the next run and the loss is reported', async (t) => {
  const shared = await gpuOrSkip(t);
  if (shared === null) return;
  const gpu = await getNodeGPU();
  assert.ok(gpu !== null);
  const losses: string[] = [];
  const ctx = await createGpuContext({ gpu, onDeviceLost: (l) => losses.push(l.reason) });
  try {
    assert.match(ctx.describe(), /^webgpu \(.+\)$/);
    const { x, p } = tinyInputs(64, 3, 0);
    const first = ctx.device;
    first.destroy(); // what a driver reset looks like from here
    await first.lost;
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(ctx.lost?.reason, 'destroyed');
    const r = await runPlan(ctx, tinyPlan(64), { x, p });
    assert.equal(r.deviceRecovered?.reason, 'destroyed');
    assert.notEqual(ctx.device, first);
    assert.equal(ctx.generation, 1);
    assert.equal(r.outputs.y![2], Math.fround(3 * x[2]!));
    assert.deepEqual(losses, ['destroyed']);
    const r2 = await runPlan(ctx, tinyPlan(64), { x, p });
    assert.equal(r2.deviceRecovered, undefined, 'reported once');
  } finally {
    ctx.destroy();
  }
});

test('adapter names are short and human', () => {
  const info = (o: Partial<GPUAdapterInfo>): GPUAdapterInfo => ({ vendor: '', architecture: '', device: '', description: '', ...o }) as GPUAdapterInfo;
  assert.equal(adapterName(info({ vendor: 'nvidia', architecture: 'hopper' })), 'nvidia hopper');
  assert.equal(adapterName(info({ vendor: 'mesa', architecture: 'software', description: 'llvmpipe: Mesa 25.0.7' })), 'llvmpipe');
  assert.equal(adapterName(info({ description: 'Some GPU (rev 2)' })), 'some gpu');
});
