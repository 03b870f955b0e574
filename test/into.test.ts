// Results into the caller's tensors (CallOptions.into): a training loop passes the results of the
// step before the last, and the CPU programs write into them instead of allocating — the same
// numbers, bit for bit, as a call without it; on other backends (the interpreter, WebGPU) the
// results are copied into them; bad tensors are refused with MATR115.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { Tensor } from '../runtime/tensor.js';
import { MatcRuntimeError } from '../core/errors.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';

after(releaseSharedGpu);

const mod = compile(`
optimizer heavy(w: vec[n], g: vec[n]) =
  state v: vec[n] = zeros(n), t: int = 0
  let v2 = 0.9 * v + g in w <- w - 0.1 * v2, v <- v2, t <- t + 1
`, { path: 'into.mat' });
const step = mod.fn('heavy');

const vec = (n: number, f: (i: number) => number, batch?: number) => new Tensor(batch ? [batch, n] : [n], Float64Array.from({ length: n * (batch ?? 1) }, (_, i) => f(i)));

/** k steps; with `into`, each step writes into the results of the step before the last. */
async function run(backend: CpuBackend | WebGpuBackend, k: number, useInto: boolean, batch?: number) {
  const n = 7;
  let cur: Record<string, Tensor> = { w: vec(n, (i) => Math.sin(i), batch), v: vec(n, () => 0, batch), t: new Tensor(batch ? [batch] : [], new Float64Array(batch ?? 1)) };
  let spare: Record<string, Tensor> | undefined;
  const reused: boolean[] = [];
  for (let s = 0; s < k; s++) {
    const g = vec(n, (i) => Math.cos(i + s), batch);
    const r = await step.forward({ ...cur, g }, { backend, ...(useInto && spare ? { into: spare } : {}) });
    if (useInto && spare) reused.push(Object.keys(spare).every((name) => r.outputs[name] === spare![name]));
    spare = cur;
    cur = r.outputs;
  }
  return { cur, reused };
}

test('CPU: results written into the caller\'s tensors equal a call without into, bit for bit (f64, f32, threads, the interpreter)', async () => {
  for (const [what, backend, batch] of [
    ['f64', new CpuBackend({ threads: 1 }), undefined],
    ['f32', new CpuBackend({ threads: 1, precision: 'f32' }), undefined],
    ['two threads, batch 20000', new CpuBackend({ threads: 2 }), 20000],
    ['interpreter', new CpuBackend({ reference: true }), 3],
  ] as const) {
    const a = await run(backend, 6, true, batch);
    const b = await run(backend, 6, false, batch);
    for (const k of Object.keys(b.cur)) assert.deepEqual(Array.from(a.cur[k]!.data), Array.from(b.cur[k]!.data), `${what}: ${k}`);
    assert.ok(a.reused.length === 5 && a.reused.every((x) => x), `${what}: the returned results are the into tensors`);
  }
});

test('CPU: into arrays of the program\'s element type and of another (f32 for an f64 result: rounded into it)', async () => {
  const backend = new CpuBackend({ threads: 1 });
  const inputs = { w: vec(4, (i) => i), g: vec(4, () => 1), v: vec(4, () => 0), t: new Tensor([], [0]) };
  const plain = await step.forward(inputs, { backend });
  const w64 = new Tensor([4], new Float64Array(4));
  const v32 = new Tensor([4], new Float32Array(4));
  const r = await step.forward(inputs, { backend, into: { w: w64, v: v32 } });
  assert.equal(r.outputs.w, w64);
  assert.equal(r.outputs.v, v32);
  assert.deepEqual(Array.from(w64.data), Array.from(plain.outputs.w!.data));
  assert.deepEqual(Array.from(v32.data), Array.from(plain.outputs.v!.data, Math.fround));
});

test('into: bad tensors are refused with MATR115', async () => {
  const backend = new CpuBackend({ threads: 1 });
  const w = vec(4, (i) => i);
  const inputs = { w, g: vec(4, () => 1), v: vec(4, () => 0), t: new Tensor([], [0]) };
  const refused = (re: RegExp) => (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR115' && re.test(e.message);
  await assert.rejects(step.forward(inputs, { backend, into: { ww: vec(4, () => 0) } }), refused(/no result 'ww' \(did you mean 'w'\?\)/));
  await assert.rejects(step.forward(inputs, { backend, into: { w: vec(5, () => 0) } }), refused(/shape \[5\], the result \[4\]/));
  await assert.rejects(step.forward(inputs, { backend, into: { w } }), refused(/shares its memory with an input/));
  const shared = new Float64Array(8);
  await assert.rejects(step.forward(inputs, { backend, into: { w: new Tensor([4], shared.subarray(0, 4)), v: new Tensor([4], shared.subarray(2, 6)) } }), refused(/another result/));
  await assert.rejects(step.forward(inputs, { backend, into: { w: [1, 2, 3, 4] as unknown as Tensor } }), refused(/not a Tensor/));
});

test('WebGPU host results are copied into the caller\'s tensors; a resident call refuses into', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const gpu = new WebGpuBackend(ctx);
  const a = await run(gpu, 4, true);
  const b = await run(gpu, 4, false);
  for (const k of Object.keys(b.cur)) assert.deepEqual(Array.from(a.cur[k]!.data), Array.from(b.cur[k]!.data), k);
  assert.ok(a.reused.every((x) => x));
  const inputs = { w: vec(4, (i) => i), g: vec(4, () => 1), v: vec(4, () => 0), t: new Tensor([], [0]) };
  await assert.rejects(step.forward(inputs, { backend: gpu, resident: true, into: { w: vec(4, () => 0) } }), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR115');
});

test('vjp: results and gradients into the caller\'s tensors (a batched input\'s gradient written in place, a shared one summed then copied) equal a call without them', async () => {
  const m = compile('fn loss(W: mat[k, n], x: vec[n]) -> y: vec[k] = tanh(W * x)', { path: 'into-vjp.mat' });
  const f = m.fn('loss');
  const B = 5;
  const W = new Tensor([3, 4], Float64Array.from({ length: 12 }, (_, i) => Math.sin(i)));
  const x = new Tensor([B, 4], Float64Array.from({ length: 4 * B }, (_, i) => Math.cos(i)));
  const ct = { y: new Tensor([B, 3], Float64Array.from({ length: 3 * B }, (_, i) => i - 7)) };
  for (const backend of [new CpuBackend({ threads: 1 }), new CpuBackend({ reference: true })]) {
    const plain = await f.vjp({ W, x }, ct, { backend });
    const y = new Tensor([B, 3], new Float64Array(3 * B));
    const gW = new Tensor([3, 4], new Float64Array(12));
    const gx = new Tensor([B, 4], new Float64Array(4 * B));
    const r = await f.vjp({ W, x }, ct, { backend, into: { y }, intoGradients: { W: gW, x: gx } });
    assert.equal(r.outputs.y, y);
    assert.equal(r.gradients.W, gW);
    assert.equal(r.gradients.x, gx);
    assert.deepEqual(Array.from(y.data), Array.from(plain.outputs.y!.data));
    assert.deepEqual(Array.from(gW.data), Array.from(plain.gradients.W!.data));
    assert.deepEqual(Array.from(gx.data), Array.from(plain.gradients.x!.data));
  }
  const backend = new CpuBackend({ threads: 1 });
  const refused = (re: RegExp) => (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR115' && re.test(e.message);
  await assert.rejects(f.vjp({ W, x }, ct, { backend, intoGradients: { w: new Tensor([3, 4], new Float64Array(12)) } }), refused(/'w' is not a differentiable input/));
  await assert.rejects(f.vjp({ W, x }, ct, { backend, intoGradients: { W: new Tensor([4, 3], new Float64Array(12)) } }), refused(/shape \[4, 3\], the gradient \[3, 4\]/));
});
