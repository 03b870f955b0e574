// Blocked Householder QR on the grid model (compiler/codegen/wgsl/grid.ts emitGridHouseholder):
// panels of 64 columns factored in one workgroup, their compact WY factors T, the trailing
// updates and the accumulation of Q as tiled products — against the CPU f64 reference: ragged
// panels, tall, wide and square matrices, a batch of different matrices, a zero column and a zero
// matrix (no reflection there), the stdlib `qr` forward and VJP and `lq`, the schedule's shape, and
// MATC_GRID_QR=0 (the unblocked loops every other back end runs) for comparison, and the routine
// inside loops (a run-time trip count: lowered there; an `until` loop with a static one: blocked).

import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { Tensor } from '../runtime/tensor.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { gpuOrSkip } from './gpu-available.js';
import { useGridSchedule } from './util/grid-env.js';
import { relErr } from './util/approx.js';
import type { ScheduleStep } from '../core/schedule.js';
import { repoRoot } from './gen/paths.js';

useGridSchedule(['MATC_GRID_QR']);

const src = `import "qr.mat"
fn f(A: mat[m, n]) -> (Q: mat[m, k], R: mat[k, n]) where k = min(m, n) = householder_qr(A)`;

function rnd(seed: number, k: number): Float64Array {
  let x = seed >>> 0;
  return Float64Array.from({ length: k }, () => ((x = (Math.imul(1664525, x) + 1013904223) >>> 0) >>> 8) / 16777216 - 0.5);
}

function labels(steps: readonly ScheduleStep[], out: string[] = []): string[] {
  for (const s of steps) {
    if (s.k === 'launch') out.push(s.label ?? '');
    else if (s.k === 'loop') labels(s.body, out);
  }
  return out;
}

test('grid householder_qr: blocked QR equals the CPU f64 reference (ragged panels; tall, wide, square; a batch; zero columns)', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const mod = compile(src, { path: 'grid-qr.mat' });
  const fn = mod.fn('f');
  // 150 × 130: panels of 64, 64 and 2 columns; 70 × 140 (wide): k = 70, trailing columns past k;
  // 64 × 64: one full panel; 1 × 1
  for (const [m, n, batch] of [[150, 130, 1], [70, 140, 1], [64, 64, 3], [1, 1, 2], [9, 5, 2]] as const) {
    const data = rnd(m * 3 + n, batch * m * n);
    if (batch > 1 && m > 2) {
      // instance 1: column 2 zero (nothing to eliminate: v = 0), so instances take different paths
      for (let i = 0; i < m; i++) data[m * n + i * n + 2] = 0;
    }
    const A = new Tensor([batch, m, n], data);
    const cpu = await fn.forward({ A });
    const gpu = await fn.forward({ A }, { backend });
    assert.equal(backend.variantFor(fn.executable('forward'), new Map([['m', m], ['n', n]])).schedule.model, 'grid');
    for (const o of ['Q', 'R'] as const) {
      const e = relErr(gpu.outputs[o]!.data, cpu.outputs[o]!.data, 1e-2);
      assert.ok(e < 1e-4, `${o} at ${m} × ${n}, batch ${batch}: ${e.toExponential(2)}`);
    }
    assert.ok(gpu.status.ok, gpu.status.warnings.join('; '));
  }
  // the zero matrix: Q = I[:, 0:k], R = 0, on both
  const Z = new Tensor([80, 70], new Float64Array(80 * 70));
  const z = await fn.forward({ A: Z }, { backend });
  const zc = await fn.forward({ A: Z });
  assert.deepEqual(Array.from(z.outputs.R!.data), Array.from(zc.outputs.R!.data), 'R of the zero matrix');
  assert.deepEqual(Array.from(z.outputs.Q!.data), Array.from(zc.outputs.Q!.data), 'Q of the zero matrix');
});

test('grid householder_qr far from 1 (1e-30, 1e30): the blocked routine runs on A / max|A| (f32 squares leave the range past 1e±19; compiler/solvers/spectral.ts inputScale)', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const fn = compile(src, { path: 'grid-qr.mat' }).fn('f');
  const [m, n] = [150, 130];
  const data = rnd(7, m * n);
  const cpu = await fn.forward({ A: new Tensor([m, n], data) });
  for (const sc of [1e-30, 1e30]) {
    const gpu = await fn.forward({ A: new Tensor([m, n], data.map((x) => x * sc)) }, { backend });
    assert.equal(backend.variantFor(fn.executable('forward'), new Map([['m', m], ['n', n]])).schedule.model, 'grid');
    assert.ok(gpu.status.ok, gpu.status.warnings.join('; '));
    const e = relErr(gpu.outputs.R!.data.map((x) => x / sc), cpu.outputs.R!.data, 1e-2);
    const eq = relErr(gpu.outputs.Q!.data, cpu.outputs.Q!.data, 1e-2);
    assert.ok(e < 1e-4 && eq < 1e-4, `scale ${sc}: R/s off by ${e.toExponential(2)}, Q by ${eq.toExponential(2)}`);
  }
});

test('grid qr layer: forward and VJP (the closed-form backward after the blocked forward), and lq, equal the CPU reference', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const mod = compile(`import "qr.mat"`, { path: 'grid-qr-layer.mat' });
  for (const [name, m, n] of [['qr', 100, 80], ['lq', 70, 100]] as const) {
    const fn = mod.fn(name);
    const A = new Tensor([m, n], rnd(m + n, m * n));
    const cpu = await fn.forward({ A });
    const gpu = await fn.forward({ A }, { backend });
    for (const [o, v] of Object.entries(cpu.outputs)) assert.ok(relErr(gpu.outputs[o]!.data, v.data, 1e-2) < 1e-4, `${name} ${o}`);
    const ct = Object.fromEntries(Object.entries(cpu.outputs).map(([o, v], i) => [o, new Tensor(v.shape, rnd(7 + i, v.size))]));
    const gc = await fn.vjp({ A }, ct);
    const gg = await fn.vjp({ A }, ct, { backend });
    const e = relErr(gg.gradients.A!.data, gc.gradients.A!.data, 1e-2);
    assert.ok(e < 1e-3, `${name}: VJP ${e.toExponential(2)}`);
    assert.ok(gg.status.ok, gg.status.warnings.join('; '));
  }
});

test('grid householder_qr: the schedule runs panels (one-workgroup factorization, tiled WY updates), and MATC_GRID_QR=0 the unblocked loops', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const dims = new Map([['m', 200], ['n', 200]]);
  const blocked = compile(src, { path: 'grid-qr-shape.mat' }).fn('f');
  const s = backend.variantFor(blocked.executable('forward'), dims).schedule;
  const ls = labels(s.steps);
  for (const part of ['householder: panel factorization and T (one workgroup)', 'trailing update: W = Vᵀ X (tiled)', 'trailing update: X −= V W (tiled)', 'Q update: X −= V W (tiled)']) {
    assert.ok(ls.some((l) => l.includes(part)), `a launch '${part}' in ${ls.join(' | ')}`);
  }
  // two schedule loops (the panels, then Q by panels), none over single columns
  assert.equal(s.steps.filter((x) => x.k === 'loop').length, 2, 'the loops of the blocked schedule');
  process.env.MATC_GRID_QR = '0';
  try {
    const unblocked = compile(src, { path: 'grid-qr-shape-0.mat' }).fn('f');
    const u = labels(backend.variantFor(unblocked.executable('forward'), dims).schedule.steps);
    assert.ok(!u.some((l) => l.includes('householder: panel')), 'MATC_GRID_QR=0: no panel launches');
    const A = new Tensor([130, 100], rnd(11, 13000));
    const a = await unblocked.forward({ A }, { backend });
    const b = await blocked.forward({ A }, { backend });
    for (const o of ['Q', 'R'] as const) assert.ok(relErr(a.outputs[o]!.data, b.outputs[o]!.data, 1e-2) < 1e-4, `${o}: blocked vs unblocked`);
  } finally {
    delete process.env.MATC_GRID_QR;
  }
});

test('grid householder_qr inside a loop whose trip count is known only at run time (a segment): lowered to its loops there, blocked outside', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const mod = compile(`fn f(A: mat[m, n], s: real) -> mat[m, k] where k = min(m, n) =
  iterate (X = zeros(m, k)) for i in 0..floor(s) => let (Q, R) = householder_qr(A) in X + Q
fn g(A: mat[m, n], s: real) -> mat[m, k] where k = min(m, n) =
  iterate (X = zeros(m, k)) for i in 0..floor(s) => let (Q, R) = householder_qr(A + 0.1 * X * A[0:k, :]) in X + Q`, { path: 'grid-qr-segment.mat' });
  const dims = new Map([['m', 70], ['n', 66]]);
  const A = new Tensor([70, 66], rnd(21, 70 * 66));
  const s = new Tensor([], [3]);
  for (const [name, blocked] of [['f', true], ['g', false]] as const) {
    const fn = mod.fn(name);
    const ls = labels(backend.variantFor(fn.executable('forward'), dims).schedule.steps);
    // f's QR does not depend on the loop (computed once, before it, by the routine); g's does
    assert.equal(ls.some((l) => l.includes('householder: panel')), blocked, `${name}: ${ls.join(' | ')}`);
    const cpu = await fn.forward({ A, s });
    const gpu = await fn.forward({ A, s }, { backend });
    assert.ok(relErr(gpu.outputs.out!.data, cpu.outputs.out!.data, 1e-2) < 1e-4, `${name}: against the CPU`);
  }
});

test('grid householder_qr inside an `until` loop with a static trip count (ied_topk’s subspace iteration): blocked, and equal to the CPU', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const path = join(repoRoot, 'stdlib', 'ied.mat');
  const fn = compile(readFileSync(path, 'utf8'), { path }).fn('ied_topk');
  const n = 70;
  // PMaF's IED data: |N|-like positive entries, symmetrized (a dominant eigenvalue with a gap)
  const a = Array.from(rnd(7, n * n), (v) => Math.abs(v) * 2);
  const X = new Tensor([n, n], a.map((v, i) => v + a[(i % n) * n + Math.floor(i / n)]!));
  const dims = { k: 3 };
  const ls = labels(backend.variantFor(fn.executable('forward'), new Map([['m', n], ['k', 3]])).schedule.steps);
  assert.ok(ls.some((l) => l.includes('householder: panel')), 'the QR of each iteration is the blocked routine');
  const cpu = await fn.forward({ X }, { dims });
  const gpu = await fn.forward({ X }, { backend, dims });
  for (const o of ['U', 'lam'] as const) assert.ok(relErr(gpu.outputs[o]!.data, cpu.outputs[o]!.data, 1e-2) < 1e-4, `${o} against the CPU`);
});
