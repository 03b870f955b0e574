// LU `solve` on the grid model (compiler/codegen/wgsl/grid.ts, emitGridSolve): blocked
// right-looking LU with partial pivoting — panels of 64 columns, the trailing updates as tiled
// products — and blocked back substitution, against the CPU f64 reference: ragged last panels,
// several right-hand sides and a vector, a batch of different matrices, a singular matrix (rcond
// at rounding level and the status flag, as the instance model), the VJP, and the schedule's shape.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { Tensor } from '../runtime/tensor.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { gpuOrSkip } from './gpu-available.js';
import { useGridSchedule } from './util/grid-env.js';
import { relErr } from './util/approx.js';
import type { ScheduleStep } from '../core/schedule.js';

useGridSchedule(['MATC_GRID_LU', 'MATC_PACK_SCRATCH']);

const src = `fn f(A: mat[n, n], B: mat[n, k]) -> mat[n, k] = solve(A, B)
fn g(A: mat[n, n], b: vec[n]) -> vec[n] = solve(A, b)`;

function rnd(seed: number, k: number): Float64Array {
  let x = seed >>> 0;
  return Float64Array.from({ length: k }, () => ((x = (Math.imul(1664525, x) + 1013904223) >>> 0) >>> 8) / 16777216 - 0.5);
}

test('grid solve: blocked LU equals the CPU f64 reference (ragged panels, several right-hand sides, a vector, a batch)', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const mod = compile(src, { path: 'grid-solve.mat' });
  // n = 150: panels of 64, 64 and 22 columns; n = 64: one full panel; n = 70: a panel of 6
  for (const [n, k, batch] of [[150, 5, 1], [64, 3, 2], [70, 7, 2]] as const) {
    const A = new Tensor([batch, n, n], rnd(n, batch * n * n));
    const B = new Tensor([batch, n, k], rnd(n + 1, batch * n * k));
    const cpu = await mod.fn('f').forward({ A, B });
    const gpu = await mod.fn('f').forward({ A, B }, { backend });
    assert.equal(backend.variantFor(mod.fn('f').executable('forward'), new Map([['n', n], ['k', k]])).schedule.model, 'grid');
    assert.ok(relErr(gpu.outputs.out!.data, cpu.outputs.out!.data, 1e-3) < 1e-4, `X at n = ${n}, k = ${k}, batch ${batch}`);
    const rc = (r: typeof cpu) => r.status.nodes.find((s) => s.kind === 'linear')!.residual!;
    rc(cpu).forEach((v, i) => assert.ok(Math.abs(rc(gpu)[i]! - v) <= 1e-4 * v, `rcond ${rc(gpu)[i]} vs ${v}`));
  }
  // a 0×0 system: an empty solution with rcond 1, as on the CPU (was +∞ on WebGPU, both models)
  for (const model of ['grid', 'instance']) {
    process.env.MATC_SCHEDULE = model;
    const e = await compile(src, { path: `grid-solve-empty-${model}.mat` }).fn('f').forward({ A: new Tensor([0, 0], []), B: new Tensor([0, 2], []) }, { backend });
    assert.deepEqual(e.status.nodes.find((s) => s.kind === 'linear')!.residual, [1], `${model}: rcond of a 0×0 solve`);
  }
  process.env.MATC_SCHEDULE = 'grid';
  const n = 100;
  const A = new Tensor([n, n], rnd(3, n * n));
  const b = new Tensor([n], rnd(4, n));
  const cpu = await mod.fn('g').forward({ A, b });
  const gpu = await mod.fn('g').forward({ A, b }, { backend });
  assert.ok(relErr(gpu.outputs.out!.data, cpu.outputs.out!.data, 1e-3) < 1e-4, 'vector right-hand side');
});

test('grid solve: a singular matrix gives rcond at rounding level and the status flag, as the instance model and the CPU', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const mod = compile(src, { path: 'grid-solve-singular.mat' });
  const n = 80;
  const a = rnd(5, n * n);
  // row 70 repeats row 3 (rank n − 1); column 70 of the factorization meets a zero pivot
  for (let j = 0; j < n; j++) a[70 * n + j] = a[3 * n + j]!;
  const A = new Tensor([n, n], a);
  const B = new Tensor([n, 2], rnd(6, 2 * n));
  const cpu = await mod.fn('f').forward({ A, B });
  const gpu = await mod.fn('f').forward({ A, B }, { backend });
  process.env.MATC_GRID_LU = '0';
  const seg = await compile(src, { path: 'grid-solve-singular-seg.mat' }).fn('f').forward({ A, B }, { backend });
  delete process.env.MATC_GRID_LU;
  for (const [name, r] of [['grid LU', gpu], ['one-workgroup LU', seg], ['CPU', cpu]] as const) {
    const s = r.status.nodes.find((x) => x.kind === 'linear')!;
    // f64 meets an exact zero pivot or one at rounding level; f32 one at rounding level
    assert.ok(s.residual![0]! <= 1e-6, `${name}: rcond ${s.residual![0]} (singular at working precision)`);
    assert.equal(r.status.ok, false, `${name}: the status flags the singular solve`);
  }
});

test('grid solve: the VJP through solve equals the CPU f64 reference', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const fn = compile(src, { path: 'grid-solve-vjp.mat' }).fn('f');
  const [n, k] = [90, 4];
  // diagonally weighted so that the gradient's solve with Aᵀ is well conditioned in f32
  const a = rnd(7, n * n).map((v, i) => v + (Math.floor(i / n) === i % n ? 3 : 0));
  const A = new Tensor([n, n], a);
  const B = new Tensor([n, k], rnd(8, n * k));
  const cot = { out: new Tensor([n, k], rnd(9, n * k)) };
  const cpu = await fn.vjp({ A, B }, cot);
  const gpu = await fn.vjp({ A, B }, cot, { backend });
  for (const x of ['A', 'B']) assert.ok(relErr(gpu.gradients[x]!.data, cpu.gradients[x]!.data, 1e-3) < 1e-4, `∂/∂${x}`);
});

function labels(steps: readonly ScheduleStep[], out: string[] = []): string[] {
  for (const s of steps) {
    if (s.k === 'launch') out.push(`${s.span ?? 'instance'} ${s.label ?? ''}`);
    else if (s.k === 'loop') {
      out.push(`loop ${s.count}`);
      labels(s.body, out);
    }
  }
  return out;
}

test('grid solve: the schedule is a loop over panels with tiled trailing updates, not one workgroup per instance; MATC_GRID_LU=0 restores it', () => {
  const fn = compile(src, { path: 'grid-solve-schedule.mat' }).fn('f');
  const ls = labels(fn.executable('forward').variant({ workgroupSize: 256, subgroups: false, model: 'grid' }).schedule.steps);
  assert.ok(ls.some((l) => /^loop div\(n \+ 63, 64\)|^loop .*64/.test(l)), ls.join('\n'));
  assert.ok(ls.some((l) => l.startsWith('tiles') && /trailing update A22/.test(l)), 'a tiled trailing update');
  assert.ok(!ls.some((l) => /solve \(one workgroup per instance\)/.test(l)), 'no solve segment');
  process.env.MATC_GRID_LU = '0';
  try {
    const seg = compile(src, { path: 'grid-solve-schedule-seg.mat' }).fn('f');
    const ls0 = labels(seg.executable('forward').variant({ workgroupSize: 256, subgroups: false, model: 'grid' }).schedule.steps);
    assert.ok(ls0.some((l) => /solve \(one workgroup per instance\)/.test(l)), ls0.join('\n'));
  } finally {
    delete process.env.MATC_GRID_LU;
  }
});

test('grid triangular solves: lower, upper, transposed, vector and matrix right-hand sides, and their VJPs, equal the CPU f64 reference', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const mod = compile(`fn a(L: mat[n, n], B: mat[n, k]) -> mat[n, k] = tril_solve(L, B)
fn b(U: mat[n, n], B: mat[n, k]) -> mat[n, k] = triu_solve(U, B)
fn c(L: mat[n, n], b: vec[n]) -> vec[n] = tril_solve(L', b)
fn d(U: mat[n, n], B: mat[n, k]) -> mat[n, k] = triu_solve(U', B)`, { path: 'grid-trisolve.mat' });
  const [n, k] = [150, 6];
  // triangular factors with a dominant diagonal (well conditioned in f32); the other triangle is
  // noise that a correct solve never reads
  const T = rnd(11, n * n).map((v, i) => v + (Math.floor(i / n) === i % n ? 4 : 0));
  const ins = { L: new Tensor([n, n], T), U: new Tensor([n, n], T), B: new Tensor([n, k], rnd(12, n * k)), b: new Tensor([n], rnd(13, n)) };
  const params: Record<string, (keyof typeof ins)[]> = { a: ['L', 'B'], b: ['U', 'B'], c: ['L', 'b'], d: ['U', 'B'] };
  for (const f of ['a', 'b', 'c', 'd']) {
    const fn = mod.fn(f);
    const args = Object.fromEntries(params[f]!.map((p) => [p, ins[p]]));
    const cpu = await fn.forward(args);
    const gpu = await fn.forward(args, { backend });
    assert.ok(relErr(gpu.outputs.out!.data, cpu.outputs.out!.data, 1e-3) < 1e-4, `${f}: X`);
    const cot = { out: new Tensor(cpu.outputs.out!.shape, rnd(14, cpu.outputs.out!.data.length)) };
    const gc = await fn.vjp(args, cot);
    const gg = await fn.vjp(args, cot, { backend });
    for (const p of Object.keys(args)) assert.ok(relErr(gg.gradients[p]!.data, gc.gradients[p]!.data, 1e-3) < 1e-4, `${f}: ∂/∂${p}`);
  }
  const labels0 = labels(mod.fn('a').executable('forward').variant({ workgroupSize: 256, subgroups: false, model: 'grid' }).schedule.steps);
  assert.ok(labels0.some((l) => l.startsWith('tiles') && /X2 −= op\(T\)21 X1/.test(l)), labels0.join('\n'));
  assert.ok(!labels0.some((l) => /trisolve \(one workgroup per instance\)/.test(l)));
  // MATC_GRID_LU=0: the substitution in one workgroup, with the same results
  process.env.MATC_GRID_LU = '0';
  try {
    const seg = compile(`fn a(L: mat[n, n], B: mat[n, k]) -> mat[n, k] = tril_solve(L, B)`, { path: 'grid-trisolve-seg.mat' }).fn('a');
    const ls0 = labels(seg.executable('forward').variant({ workgroupSize: 256, subgroups: false, model: 'grid' }).schedule.steps);
    assert.ok(ls0.some((l) => /trisolve \(one workgroup per instance\)/.test(l)), ls0.join('\n'));
    const cpu = await seg.forward({ L: ins.L, B: ins.B });
    const gpu = await seg.forward({ L: ins.L, B: ins.B }, { backend });
    assert.ok(relErr(gpu.outputs.out!.data, cpu.outputs.out!.data, 1e-3) < 1e-4, 'segment X');
  } finally {
    delete process.env.MATC_GRID_LU;
  }
});
