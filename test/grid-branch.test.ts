// Branches on the grid model (compiler/codegen/wgsl/grid.ts, the 'guarded' strategy): a `cond`
// runs as guarded launches — its flag computed once per instance, each region's launches returning
// at once for the instances that do not take it — instead of one workgroup per instance. Checked
// against the CPU f64 reference with instances of one batch taking different regions, with tensor,
// scalar and int results, an index that is out of range only in the region not taken, derivatives,
// and an `until` loop inside a region.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { Tensor } from '../runtime/tensor.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { gpuOrSkip } from './gpu-available.js';
import { useGridSchedule } from './util/grid-env.js';
import { relErr } from './util/approx.js';
import type { ScheduleStep } from '../core/schedule.js';

useGridSchedule(['MATC_GRID_LU', 'MATC_PACK_SCRATCH']);

// j = floor(x[0]) indexes a column only where x[0] > 0; the instance with x[0] = −3.5 takes the
// other region, where A[:, j] would read column −4 (MATR107 if its check fired there)
const branchy = `fn f(A: mat[n, n], B: mat[n, n], x: vec[n]) -> (C: mat[n, n], s: real, y: vec[n], z: real) =
  let j = floor(x[0]) in
  let (C, s, k, y) = if x[0] > 0 then (A * B + B, sum(A * B), maxloc(x), A[:, j] .* x) else (B' * A - A, trace(B), mod(0 - j, n), x - A * x) in
  (C, s, y, x[k] * s)`;

const n = 4;
const batch = 3;
const mk = (seed: number, len: number) => Array.from({ length: len }, (_, i) => Math.sin(seed * 7.1 + i * 1.3) + 0.25 * Math.cos(i * seed));
const A = new Tensor([batch, n, n], mk(1, batch * n * n));
const B = new Tensor([batch, n, n], mk(2, batch * n * n));
// instance 0 takes the first region (j = 1), instance 1 the second (j = −4), instance 2 the first (j = 0)
const xs = [1.7, 0.3, -0.2, 0.9, -3.5, 1.1, 0.4, -0.6, 0.4, 2.5, -1.0, 0.2];
const x = new Tensor([batch, n], xs);

test('grid branch: a batch whose instances take different regions equals the CPU f64 reference (tensor, scalar and int results)', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const fn = compile(branchy, { path: 'branchy.mat' }).fn('f');
  const cpu = await fn.forward({ A, B, x });
  const gpu = await fn.forward({ A, B, x }, { backend });
  assert.equal(backend.variantFor(fn.executable('forward'), new Map([['n', n]])).schedule.model, 'grid');
  assert.ok(gpu.status.ok, 'no index check fired: the out-of-range column is read only in the region not taken');
  for (const k of ['C', 's', 'y', 'z']) assert.ok(relErr(gpu.outputs[k]!.data, cpu.outputs[k]!.data, 1e-3) < 1e-5, k);
  // the reference took both regions (a check that the inputs exercise what the test says)
  const C = cpu.outputs.C!.data;
  const a = (b: number, i: number, j: number) => A.data[b * 16 + i * 4 + j]!;
  const bb = (b: number, i: number, j: number) => B.data[b * 16 + i * 4 + j]!;
  let ab = 0;
  for (let q = 0; q < 4; q++) ab += a(0, 0, q) * bb(0, q, 0);
  assert.ok(Math.abs(C[0]! - (ab + bb(0, 0, 0))) < 1e-12, 'instance 0: A B + B');
  let bta = 0;
  for (let q = 0; q < 4; q++) bta += bb(1, q, 0) * a(1, q, 0);
  assert.ok(Math.abs(C[16]! - (bta - a(1, 0, 0))) < 1e-12, 'instance 1: Bᵀ A − A');
});

test('grid branch: the VJP through a branch equals the CPU f64 reference', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const fn = compile(branchy, { path: 'branchy.mat' }).fn('f');
  const cot = {
    C: new Tensor([batch, n, n], mk(3, batch * n * n)),
    s: new Tensor([batch], [0.5, -1.5, 2.0]),
    y: new Tensor([batch, n], mk(4, batch * n)),
    z: new Tensor([batch], [1.0, 0.25, -0.75]),
  };
  const cpu = await fn.vjp({ A, B, x }, cot);
  const gpu = await fn.vjp({ A, B, x }, cot, { backend });
  for (const k of ['A', 'B', 'x']) assert.ok(relErr(gpu.gradients[k]!.data, cpu.gradients[k]!.data, 1e-3) < 1e-4, `∂/∂${k}`);
});

test('grid branch: the index check fires where the region that reads out of range is taken (MATR107)', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const fn = compile(branchy, { path: 'branchy.mat' }).fn('f');
  // x[0] = 9.5 > 0 takes the first region with j = 9 ≥ n
  const bad = new Tensor([n], [9.5, 0.1, 0.2, 0.3]);
  await assert.rejects(fn.forward({ A: new Tensor([n, n], mk(1, 16)), B: new Tensor([n, n], mk(2, 16)), x: bad }, { backend }), (e: Error & { code?: string }) => e.code === 'MATR107' && /index 9 is out of range/.test(e.message));
});

test('grid branch: an `until` loop inside a region ends early although another instance skips it', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const fn = compile(`fn h(A: mat[n, n], x0: vec[n]) -> vec[n] = if x0[0] > 0 then (iterate (x = x0) for i in 0..100000 => 0.5 * x until norm(x) < 1e-3 * norm(x0)) else A * x0`, { path: 'h.mat' }).fn('h');
  const A2 = new Tensor([2, 3, 3], mk(5, 18));
  const x0 = new Tensor([2, 3], [1, 2, 3, -4, 5, 6]);
  // count the launches the runtime records against those its plan holds (10⁵ iterations)
  const { ResidentPlan } = await import('../runtime/webgpu/executor.js');
  const run = ResidentPlan.prototype.run;
  let recorded = 0;
  let planned = 0;
  ResidentPlan.prototype.run = function (this: InstanceType<typeof ResidentPlan>, opts = {}) {
    const [a, b] = opts.range ?? [0, this.plan.launches.length];
    recorded += b - a;
    planned = this.plan.launches.length;
    return run.call(this, opts);
  };
  let gpu;
  try {
    gpu = await fn.forward({ A: A2, x0 }, { backend });
  } finally {
    ResidentPlan.prototype.run = run;
  }
  const cpu = await fn.forward({ A: A2, x0 });
  assert.ok(relErr(gpu.outputs.out!.data, cpu.outputs.out!.data, 1e-6) < 1e-5);
  // instance 0 stops after 10 or 11 halvings, instance 1 skips the loop: the first flag check (at
  // 16 iterations) ends it, unless instance 1's flag stays 0 because its region skipped the loop
  assert.ok(planned > 100_000 && recorded < planned / 100, `${recorded} of ${planned} launches recorded: the launches past the first flag check were left out`);
});

/** Launch labels of a schedule, loops flattened. */
function labels(steps: readonly ScheduleStep[], out: string[] = []): string[] {
  for (const s of steps) {
    if (s.k === 'launch') out.push(`${s.span ?? 'instance'} ${s.label ?? ''}`);
    else if (s.k === 'loop') labels(s.body, out);
  }
  return out;
}

test("grid branch: INGD's T-th-step factor update runs its products as tiled launches, not one workgroup per instance", () => {
  const src = readFileSync(join(import.meta.dirname, '..', '..', 'stdlib', 'spd.mat'), 'utf8');
  const ingd = compile(src, { path: 'spd.mat' }).fn('ingd');
  const v = ingd.executable('forward').variant({ workgroupSize: 256, subgroups: false, model: 'grid' });
  assert.equal(v.schedule.model, 'grid');
  const ls = labels(v.schedule.steps);
  assert.ok(!ls.some((l) => / cond /.test(l) && /one workgroup per instance/.test(l)), 'no cond segment');
  // consecutive single-invocation launches share one dispatch: the step counter's select and the
  // branch flag are one launch
  assert.ok(ls.some((l) => l.startsWith('instance') && /select; .*cond branch flag/.test(l)), 'the flag joins the single launch before it');
  const flag = ls.findIndex((l) => /cond branch flag/.test(l));
  const end = ls.findIndex((l) => /region 1 result/.test(l));
  assert.ok(flag >= 0 && end > flag, 'the branch flag, then both regions');
  const tiled = ls.slice(flag, end).filter((l) => l.startsWith('tiles'));
  // INGD's update: a'a, g'g, the four products of each factor's step and the two preconditioners
  assert.ok(tiled.length >= 8, `${tiled.length} tiled products inside the branch`);
});

test('grid branch: three INGD steps (T = 2: update, plain, update) on the grid model equal the CPU f64 program, packed scratch bit for bit as unpacked', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const { CpuBackend } = await import('../runtime/cpu/cpu-backend.js');
  const { threeSteps, rnd } = await import('./util/spd.js');
  const [D, P, N] = [5, 7, 4];
  const inputs = (s: number) => ({ G: new Tensor([D, P], rnd(10 + s, D * P)), a: new Tensor([N, P], rnd(20 + s, N * P, 2)), g: new Tensor([N, D], rnd(30 + s, N * D, 2)) });
  const hyper = { lr: 0.1, damping: 1e-3, lr_cov: 0.05, weight_decay: 0.01 };
  const W0 = new Tensor([D, P], rnd(1, D * P));
  const want = await threeSteps(compile('import "spd.mat"', { path: 'ingd-cpu.mat' }), 'ingd', W0, inputs, hyper, new CpuBackend({ engine: 'wasm', threads: 1 }));
  const got: Record<string, Record<string, Float64Array>> = {};
  const savedPack = process.env.MATC_PACK_SCRATCH;
  try {
    for (const pack of ['1', '0']) {
      process.env.MATC_PACK_SCRATCH = pack;
      // a fresh module per setting: kernels are generated when a module first runs a function
      got[pack] = await threeSteps(compile('import "spd.mat"', { path: `ingd-grid-${pack}.mat` }), 'ingd', W0, inputs, hyper, new WebGpuBackend(ctx));
    }
  } finally {
    if (savedPack === undefined) delete process.env.MATC_PACK_SCRATCH;
    else process.env.MATC_PACK_SCRATCH = savedPack;
  }
  let worst = 0;
  for (const [k, v] of Object.entries(want)) {
    assert.deepEqual(Array.from(got['1']![k]!), Array.from(got['0']![k]!), `${k}: packed = unpacked`);
    v.forEach((x, i) => (worst = Math.max(worst, Math.abs(got['1']![k]![i]! - x) / Math.max(1, Math.abs(x)))));
  }
  assert.ok(Object.entries(want).some(([k, v]) => k !== 'W' && k !== 't' && v.some((x) => x !== 0 && x !== 1)), 'the factor update ran');
  assert.ok(worst <= 1e-4, `worst ${worst}`);
});

test('grid branch: launches inside regions dispatch indirectly by counts a select kernel writes; all-one-region, mixed and nested branches equal the CPU', async (t) => {
  // the schedule: a select kernel (one workgroup) after the flag, every region launch indirect
  const nested = compile(`fn f(A: mat[n, n], x: vec[n]) -> vec[n] =
  if x[0] > 0 then (if x[1] > 0 then A * x + x else A' * x) else x - A * (A * x)`, { path: 'nested.mat' }).fn('f');
  const v = nested.executable('forward').variant({ workgroupSize: 256, subgroups: false, model: 'grid' });
  const steps = v.schedule.steps.filter((s) => s.k === 'launch') as Extract<ScheduleStep, { k: 'launch' }>[];
  const selects = steps.filter((s) => s.span === 'once');
  assert.equal(selects.length, 2, 'a select kernel per branch');
  // select kernels always run (they write the indirect buffer, so none is dispatched from it)
  assert.ok(selects.every((s) => s.indirect === undefined && s.bindings.some((b) => b.buffer === 'disp')));
  const inRegion = steps.filter((s) => / region |matvec/.test(s.label ?? '') && s.span !== 'once');
  assert.ok(inRegion.length > 0 && inRegion.every((s) => s.indirect !== undefined), 'region launches are indirect');
  assert.ok(v.schedule.buffers.some((b) => b.kind === 'indirect'));
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const n2 = 5;
  const A3 = new Tensor([4, n2, n2], mk(7, 4 * n2 * n2));
  // every instance in the first region's first branch; every one in the second region; mixed
  for (const [label, xs] of [
    ['all (then, then)', [1, 1, 0, 0, 0, 2, 3, 0, 0, 0, 1, 2, 0, 0, 0, 4, 1, 0, 0, 0]],
    ['all else', [-1, 1, 0, 0, 0, -2, 3, 0, 0, 0, -1, 2, 0, 0, 0, -4, 1, 0, 0, 0]],
    ['mixed', [1, 1, 0, 0, 0, 2, -3, 0, 0, 0, -1, 2, 0, 0, 0, 4, 1, 0, 0, 0]],
  ] as const) {
    const x = new Tensor([4, n2], xs.map((v, i) => v + 0.1 * Math.sin(i)));
    const cpu = await nested.forward({ A: A3, x });
    const gpu = await nested.forward({ A: A3, x }, { backend });
    assert.ok(relErr(gpu.outputs.out!.data, cpu.outputs.out!.data, 1e-3) < 1e-5, label);
  }
});
