// The grid model without a GPU (issue 8): the cost model's choice (runtime/schedule-choice.ts),
// the grid schedules of every stdlib function verify and print, and a fused epilogue makes
// `A * B + C` one launch.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { chooseSchedule, largestOperand } from '../runtime/schedule-choice.js';
import { verifySchedule, type ScheduleStep } from '../core/schedule.js';
import { expandGridSteps } from '../runtime/webgpu/grid.js';

const root = join(import.meta.dirname, '..', '..');
const stdlib = join(root, 'stdlib');

test('cost model: grid for one 512² QR and a batch of 8 × 1024², instance for 4096 × 16² and 1024 × 128²; MATC_SCHEDULE overrides', () => {
  const qr = compile(readFileSync(join(stdlib, 'qr.mat'), 'utf8'), { path: 'qr.mat' }).fn('qr');
  const sig = qr.executable('forward').signature;
  const dims = (m: number, n: number) => new Map([['m', m], ['n', n], ['k', Math.min(m, n)]]);
  assert.equal(largestOperand(sig, dims(512, 512)), 512 * 512);
  assert.equal(chooseSchedule(largestOperand(sig, dims(512, 512)), 1, undefined).model, 'grid');
  assert.equal(chooseSchedule(largestOperand(sig, dims(1024, 1024)), 8, undefined).model, 'grid');
  assert.equal(chooseSchedule(largestOperand(sig, dims(16, 16)), 4096, undefined).model, 'instance');
  assert.equal(chooseSchedule(largestOperand(sig, dims(128, 128)), 1024, undefined).model, 'instance');
  assert.equal(chooseSchedule(largestOperand(sig, dims(512, 512)), 1, 'instance').model, 'instance');
  assert.equal(chooseSchedule(largestOperand(sig, dims(16, 16)), 4096, 'grid').model, 'grid');
  assert.match(chooseSchedule(512 * 512, 1, undefined).reason, /batch 1 < 128/);
});

test('A * B + C is one launch on the grid model (the addition fused into the product)', () => {
  const fn = compile('fn f(A: mat[m, k], B: mat[k, n], C: mat[m, n]) -> mat[m, n] = A * B + C', { path: 'abc.mat' }).fn('f');
  const v = fn.executable('forward').variant({ workgroupSize: 256, subgroups: false, model: 'grid' });
  const launches = v.schedule.steps.filter((s) => s.k === 'launch');
  assert.equal(launches.length, 1, JSON.stringify(v.schedule.steps));
  assert.match(v.kernels.grid!.wgsl, /OUT\[[^\n]*= \(cv \+ IN\[/, "the epilogue adds C to the tile's accumulator");
  assert.deepEqual(verifySchedule(v.schedule, ['grid']), []);
});

test('every stdlib function has a grid schedule that verifies (forward and VJP), loops as schedule loops', () => {
  let functions = 0;
  let loops = 0;
  const countLoops = (xs: readonly ScheduleStep[]): number => xs.reduce((s, x) => s + (x.k === 'loop' ? 1 + countLoops(x.body) : 0), 0);
  for (const file of readdirSync(stdlib).filter((f) => f.endsWith('.mat'))) {
    const m = compile(readFileSync(join(stdlib, file), 'utf8'), { path: file });
    for (const name of m.functions) {
      const fn = m.fn(name);
      if (fn.generic) continue;
      for (const mode of ['forward', 'vjp'] as const) {
        let exe;
        try {
          exe = fn.executable(mode);
        } catch {
          continue; // no VJP (forward-only functions): nothing to schedule
        }
        const v = exe.variant({ workgroupSize: 256, subgroups: false, model: 'grid' });
        assert.equal(v.schedule.model, 'grid');
        assert.deepEqual(verifySchedule(v.schedule, ['grid']), [], `${file} ${name} ${mode}`);
        loops += countLoops(v.schedule.steps);
        functions++;
      }
    }
  }
  assert.ok(functions > 50, `${functions} functions scheduled`);
  assert.ok(loops > 10, `${loops} schedule loops`);
});

test('a grid schedule expands per call: loop counts from the dimensions, elements over ⌈N/WG⌉ workgroups', () => {
  const fn = compile('fn f(A: mat[n, n], x0: vec[n]) -> vec[n] = iterate (x = x0) for i in 0..n => normalize(A * x + x0)', { path: 'it.mat' }).fn('f');
  const v = fn.executable('forward').variant({ workgroupSize: 256, subgroups: false, model: 'grid' });
  const body = (v.schedule.steps.find((s) => s.k === 'loop') as Extract<ScheduleStep, { k: 'loop' }>).body.length;
  const at = (n: number) => expandGridSteps(v.schedule.steps, new Map([['n', n]]), 2, 256, 65535);
  assert.equal(at(10).length - at(4).length, 6 * body, 'six more iterations, each the loop body');
  // the elementwise launches over n = 1000 entries of 2 instances (normalize's max|v| is a launch
  // of its own, over instances)
  const spread = at(1000).filter((l) => l.workgroups[0] > 1).map((l) => l.workgroups.join('×'));
  assert.ok(spread.includes(`${Math.ceil(1000 / 256)}×2×1`), spread.join(', '));
});
