// The grid model (compiler/codegen/wgsl/grid.ts, issue 8) against the CPU f64 reference: every
// parity spec (test/parity-specs.ts: every IR op and construct) and the stdlib's QR run as a grid
// program on WebGPU (MATC_SCHEDULE=grid) and agree with the reference forward and backward, as
// their instance kernels do in test/webgpu-parity.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { Tensor } from '../runtime/tensor.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { randomInputs } from '../cli/inputs.js';
import { gpuOrSkip } from './gpu-available.js';
import { useGridSchedule } from './util/grid-env.js';
import { paritySpecs } from './parity-specs.js';
import { checkParity } from './util/parity-check.js';
import { relErr } from './util/approx.js';

useGridSchedule();

const only = process.env.MATC_GRID_SPECS?.split(',');

for (const s of paritySpecs) {
  if (s.kernelCost) continue; // the spectral specs' loops: covered by their instance kernels (heavy to compile)
  if (only && !only.includes(s.name)) continue;
  test(`grid parity: ${s.name}`, async (t) => {
    const ctx = await gpuOrSkip(t);
    if (!ctx) return;
    const backend = new WebGpuBackend(ctx);
    const fn = compile(s.src, { path: `${s.name}.mat` }).fn(s.fn);
    for (const [grow, batch, seed] of [[0, 1, 7], [1, 3, 11]] as const) {
      const dims: Record<string, number> = {};
      for (const [k, v] of Object.entries(s.dims)) dims[k] = v + grow;
      const { statuses } = await checkParity(s, fn, backend, dims, batch, seed);
      assert.equal(backend.variantFor(fn.executable('forward'), new Map(Object.entries(dims))).schedule.model, 'grid', 'ran on the grid model');
      assert.deepEqual(statuses[0], statuses[1], 'statuses agree');
    }
  });
}

test('grid: stdlib QR forward and backward against the CPU f64 reference (one 24×16 and a batch of 2 wide)', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const backend = new WebGpuBackend(ctx);
  const qr = compile(readFileSync(join(import.meta.dirname, '..', '..', 'stdlib', 'qr.mat'), 'utf8'), { path: 'qr.mat' }).fn('qr');
  for (const [dims, batch] of [[{ m: 24, n: 16 }, []], [{ m: 6, n: 9 }, [2]]] as const) {
    const inputs = randomInputs(qr, dims, [...batch], 5);
    const cpu = await qr.forward(inputs);
    const gpu = await qr.forward(inputs, { backend });
    for (const k of ['Q', 'R']) assert.ok(relErr(gpu.outputs[k]!.data, cpu.outputs[k]!.data, 1e-3) < 1e-4, `${k} ${JSON.stringify(dims)}`);
    const cot = { Q: new Tensor(cpu.outputs.Q!.shape, cpu.outputs.Q!.data.map((_, i) => Math.sin(i))), R: new Tensor(cpu.outputs.R!.shape, cpu.outputs.R!.data.map((_, i) => Math.cos(i))) };
    const gc = await qr.vjp(inputs, cot);
    const gg = await qr.vjp(inputs, cot, { backend });
    assert.ok(relErr(gg.gradients.A!.data, gc.gradients.A!.data, 1e-3) < 1e-3, `∂A ${JSON.stringify(dims)}`);
    assert.equal(gpu.status.ok, true);
  }
});

test('grid: an index past its bound is MATR107 (never a silent read)', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const fn = compile('fn f(A: mat[m, n]) -> vec[m] = iterate (x = zeros(m)) for j in 0..n + 1 => A[:, j]', { path: 'oob.mat' }).fn('f');
  const A = new Tensor([3, 2], [1, 2, 3, 4, 5, 6]);
  await assert.rejects(fn.forward({ A }, { backend }), (e: Error & { code?: string }) => e.code === 'MATR107' && /index 2 is out of range/.test(e.message));
});

test('grid: an `until` loop ends early (its flags read every 16 iterations), not at its cap of 10⁵ iterations', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const fn = compile('fn f(x0: vec[n]) -> vec[n] = iterate (x = x0) for i in 0..100000 => 0.5 * x until norm(x) < 1e-3 * norm(x0)', { path: 'early.mat' }).fn('f');
  const x0 = new Tensor([2, 3], [1, 2, 3, -4, 5, 6]);
  const t0 = performance.now();
  const gpu = await fn.forward({ x0 }, { backend });
  const ms = performance.now() - t0;
  const cpu = await fn.forward({ x0 });
  assert.ok(relErr(gpu.outputs.out!.data, cpu.outputs.out!.data, 1e-6) < 1e-5);
  const it = gpu.status.nodes[0]!;
  assert.deepEqual(it.iterations, cpu.status.nodes[0]!.iterations, 'the same iteration counts as the CPU (10 or 11)');
  assert.ok(it.iterations.every((k) => k < 16), `stopped by its own test: ${it.iterations}`);
  assert.ok(ms < 60_000, `${ms} ms: the launches past the first check were left out`);
});

test('grid: a device-resident chain (GpuTensors in and out) equals the host-array chain on the grid model', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const { GpuTensor } = await import('../runtime/gpu-tensor.js');
  const backend = new WebGpuBackend(ctx);
  // one power-iteration step with an `until`-free body and a tiled product: x ← normalize(A x) , Y ← A Y + Y
  const f = compile('fn step(A: mat[n, n], x: vec[n], Y: mat[n, n]) -> (x1: vec[n], Y1: mat[n, n]) = (normalize(A * x), 0.1 * (A * Y) + Y)', { path: 'step.mat' }).fn('step');
  const n = 5;
  const A = new Tensor([n, n], Array.from({ length: n * n }, (_, i) => Math.sin(i + 1)));
  let hx = new Tensor([n], Array.from({ length: n }, (_, i) => 1 + i));
  let hY = new Tensor([n, n], Array.from({ length: n * n }, (_, i) => Math.cos(i)));
  let x = await backend.upload(hx);
  let Y = await backend.upload(hY);
  const Ad = await backend.upload(A);
  for (let k = 0; k < 5; k++) {
    const h = await f.forward({ A, x: hx, Y: hY }, { backend });
    hx = h.outputs.x1!;
    hY = h.outputs.Y1!;
    const r = await f.forward({ A: Ad, x, Y }, { backend, resident: true });
    assert.ok(r.outputs.x1 instanceof GpuTensor);
    x.dispose();
    Y.dispose();
    x = r.outputs.x1;
    Y = r.outputs.Y1!;
    assert.equal(((await r.status) as { ok: boolean }).ok, true);
  }
  assert.equal(backend.variantFor(f.executable('forward'), new Map([['n', n]])).schedule.model, 'grid');
  assert.deepEqual(Array.from((await x.read()).data), Array.from(hx.data), 'resident x = host x, bit for bit');
  assert.deepEqual(Array.from((await Y.read()).data), Array.from(hY.data), 'resident Y = host Y, bit for bit');
});
