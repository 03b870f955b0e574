// `matc bench` (cli/bench.ts): on a tiny case it prints one JSON object with the documented fields
// { backend, fn, dims, batch, forward: { gpuMsMedian, wallMsMedian }, backward: {...}, reps } on the
// CPU backend, and on WebGPU where an adapter exists (GPU times by timestamp queries there); the
// table form, the PMaF inputs for `sym` parameters, and the user errors.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile } from '../api/module.js';
import { benchInputs, instancePlan } from '../cli/bench.js';
import { BENCH_HELP } from '../cli/help.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { genInstanceKernel } from '../compiler/codegen/wgsl/instance.js';
import { bindInputs } from '../runtime/bind.js';

const here = dirname(fileURLToPath(import.meta.url));
// Compiled tests run from dist/test: the checkout is two levels up.
const root = [resolve(here, '../..'), resolve(here, '..')].find((p) => existsSync(join(p, 'stdlib', 'less.mat')))!;
const matc = join(root, 'dist', 'cli', 'matc.js');

after(releaseSharedGpu);

function bench(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [matc, 'bench', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function checkPhase(p: unknown, gpu: 'null' | 'number'): void {
  const o = p as Record<string, unknown>;
  assert.ok(o && typeof o === 'object', 'phase is an object');
  assert.ok('gpuMsMedian' in o, 'gpuMsMedian present');
  if (gpu === 'null') assert.equal(o.gpuMsMedian, null);
  else assert.ok(typeof o.gpuMsMedian === 'number' && o.gpuMsMedian > 0, `gpuMsMedian ${String(o.gpuMsMedian)}`);
  assert.ok(typeof o.wallMsMedian === 'number' && o.wallMsMedian > 0, `wallMsMedian ${String(o.wallMsMedian)}`);
}

function parseOne(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one line of JSON on stdout, got:\n${stdout}`);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

test('matc bench --json on the CPU backend: documented fields', () => {
  const r = bench([join(root, 'stdlib', 'less.mat'), '--fn', 'less', '--dims', 'm=6,n=3', '--batch', '2', '--reps', '2', '--backend', 'cpu', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = parseOne(r.stdout);
  assert.match(String(j.backend), /^cpu/);
  assert.equal(j.fn, 'less');
  assert.deepEqual(j.dims, { m: 6, n: 3 });
  assert.equal(j.batch, 2);
  assert.equal(j.reps, 2);
  checkPhase(j.forward, 'null');
  checkPhase(j.backward, 'null');
  const st = j.status as { forward: Record<string, { iterations: number[]; converged: number; instances: number }> };
  const node = Object.entries(st.forward).find(([k]) => k.startsWith('less/argmin'));
  assert.ok(node, 'solver status reported');
  assert.equal(node[1].instances, 2);
});

test('matc bench uses PMaF data for a sym parameter (IED) and says so', () => {
  assert.match(BENCH_HELP, /PMaF/);
  assert.match(BENCH_HELP, /\|N\(0,1\)\|/);
  const r = bench([join(root, 'stdlib', 'ied.mat'), '--fn', 'ied', '--dims', 'm=5', '--reps', '1', '--backend', 'cpu', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = parseOne(r.stdout);
  assert.equal(j.batch, 1);
  assert.match((j.inputs as Record<string, string>).X!, /PMaF/);
  checkPhase(j.backward, 'null');
  // The data itself: symmetric with positive entries (|N(0,1)| + its transpose).
  const fn = compile(readFileSync(join(root, 'stdlib', 'ied.mat'), 'utf8')).fn('ied');
  const d = benchInputs(fn, { m: 4 }, 3, 7);
  const X = d.inputs.X!;
  assert.deepEqual([...X.shape], [3, 4, 4]);
  for (let b = 0; b < 3; b++)
    for (let i = 0; i < 4; i++)
      for (let k = 0; k < 4; k++) {
        const v = X.data[b * 16 + i * 4 + k]!;
        assert.ok(v > 0);
        assert.equal(v, X.data[b * 16 + k * 4 + i]);
      }
  assert.deepEqual([...d.cotangents.u!.shape], [3, 4]);
});

test('matc bench: an int parameter starts at 0 and a complex one is drawn as complex, as `matc run --random` (was MATR150: a random real for an int)', () => {
  const src = `optimizer count(W: cmat[n, n], G: cmat[n, n]; lr: real = 0.1) =
  state t: int = 0
  W <- W - lr * G / float(t + 1), t <- t + 1
`;
  const fn = compile(src, { path: 'count.mat' }).fn('count');
  const d = benchInputs(fn, { n: 3 }, 2, 5);
  assert.deepEqual(Array.from(d.inputs.t!.data), [0, 0], 'int state starts at 0');
  assert.deepEqual([...d.inputs.W!.shape], [2, 3, 3, 2], 'a complex parameter: (re, im) pairs');
  assert.match(d.notes.W!, /complex/);
  const dir = mkdtempSync(join(tmpdir(), 'matc-bench-'));
  try {
    writeFileSync(join(dir, 'count.mat'), src);
    const r = bench([join(dir, 'count.mat'), '--fn', 'count', '--dims', 'n=3', '--reps', '1', '--backend', 'cpu', '--json']);
    assert.equal(r.code, 0, r.stderr);
    checkPhase(parseOne(r.stdout).forward, 'null');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('matc bench prints a table without --json', () => {
  const r = bench([join(root, 'stdlib', 'less.mat'), '--fn', 'less', '--dims', 'm=5,n=2', '--reps', '1', '--backend', 'cpu']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /wall ms \(median\)/);
  assert.match(r.stdout, /^\s+forward\s/m);
  assert.match(r.stdout, /^\s+backward\s/m);
});

test('matc bench: user errors exit 1', () => {
  assert.equal(bench([join(root, 'stdlib', 'nope.mat'), '--fn', 'x']).code, 1);
  assert.equal(bench([join(root, 'stdlib', 'less.mat'), '--fn', 'less', '--reps', '0', '--backend', 'cpu']).code, 1);
  assert.equal(bench([join(root, 'stdlib', 'less.mat'), '--fn', 'less', '--dims', 'm=-1', '--backend', 'cpu']).code, 1);
  assert.equal(bench([join(root, 'stdlib', 'less.mat'), '--fn', 'nofn', '--backend', 'cpu']).code, 1);
});

test('matc bench --json on WebGPU (when an adapter exists): GPU times by timestamps', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  const r = bench([join(root, 'stdlib', 'ied.mat'), '--fn', 'ied', '--dims', 'm=8', '--batch', '3', '--reps', '2', '--backend', 'webgpu', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = parseOne(r.stdout);
  assert.match(String(j.backend), /^webgpu/);
  assert.equal(j.fn, 'ied');
  assert.deepEqual(j.dims, { m: 8 });
  assert.equal(j.batch, 3);
  const gpu = ctx.features.timestampQuery ? 'number' : 'null';
  checkPhase(j.forward, gpu);
  checkPhase(j.backward, gpu);
  assert.deepEqual((j.status as { warnings: string[] }).warnings, []);
});

test('instancePlan splits a batch over the binding limit into one launch per chunk', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  const fn = compile(readFileSync(join(root, 'stdlib', 'ied.mat'), 'utf8')).fn('ied');
  const f = fn.module.program.forward('ied');
  const d = benchInputs(fn, { m: 4 }, 10, 3);
  const bind = bindInputs(f, d.inputs, {});
  const spec = genInstanceKernel(f);
  const whole = instancePlan(ctx, spec, bind);
  assert.equal(whole.plan.launches.length, 1);
  assert.deepEqual(whole.plan.launches[0]!.workgroups, [10, 1, 1]);
  // A fake context whose binding limit holds exactly 4 instances.
  const per = Math.max(...whole.plan.buffers.filter((b) => b.kind !== 'uniform').map((b) => b.bytes / 10));
  const small = { limits: { ...limitsOf(ctx), maxStorageBufferBindingSize: 4 * per } } as unknown as typeof ctx;
  const split = instancePlan(small, spec, bind);
  assert.deepEqual(
    split.plan.launches.map((l) => l.workgroups[0]),
    [4, 4, 2],
  );
  // Both plans compute the same u (the first m·count floats of each chunk's output).
  const { runPlan } = await import('../runtime/webgpu/executor.js');
  const one = (await runPlan(ctx, whole.plan, whole.inputs)).outputs.out0!.subarray(0, 40);
  const parts = (await runPlan(ctx, split.plan, split.inputs)).outputs;
  const joined = [...parts.out0!.subarray(0, 16), ...parts.out1!.subarray(0, 16), ...parts.out2!.subarray(0, 8)];
  assert.deepEqual(joined, [...one]);
  assert.ok(joined.every((v) => Number.isFinite(v) && Math.abs(v) <= 1));
  assert.equal((split.inputs.in2 as Float32Array).length, 2 * 16);
});

function limitsOf(ctx: { limits: { maxStorageBufferBindingSize: number; maxBufferSize: number; maxComputeWorkgroupsPerDimension: number } }): Record<string, number> {
  const l = ctx.limits;
  return { maxStorageBufferBindingSize: l.maxStorageBufferBindingSize, maxBufferSize: l.maxBufferSize, maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension };
}
