// The `matc` command line as a newcomer meets it (the "done when" commands of issues 2–5), run as
// child processes of the built CLI: exit codes, the --json shape scripts rely on (DESIGN §4),
// code frames with the right span, a passing gradient check, readable derived IR, and the IED
// batch on WebGPU with a gradient check (lavapipe in CI).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { withSpec } from './util/spec-file.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = [resolve(here, '../..'), resolve(here, '..')].find((p) => existsSync(join(p, 'stdlib', 'less.mat')))!;
const matcJs = join(root, 'dist', 'cli', 'matc.js');

function matc(args: string[], timeout = 120_000): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [matcJs, ...args], { cwd: root, encoding: 'utf8', timeout, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}


test('matc check: a shape error exits 1 with its code, a code frame and a caret under the operand', () => {
  const src = 'fn f(A: mat[m, n], x: vec[m]) -> vec[m] =\n  A * x\n';
  withSpec(src, (p) => {
    const r = matc(['check', p]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /error\[MAT0\d{3}\]/);
    // the frame shows line 2 and underlines `A * x` (columns 3..7), not the whole item
    const lines = r.stderr.split('\n');
    const at = lines.findIndex((l) => /^\s*2 \|\s+A \* x/.test(l));
    assert.ok(at >= 0, r.stderr);
    const caret = lines[at + 1] ?? '';
    const col = caret.indexOf('^');
    assert.equal(caret.slice(col).replace(/\s.*$/, ''), '^^^^^', `caret line: ${JSON.stringify(caret)}`);
    assert.equal(col - caret.indexOf('|') - 2, 2, 'the caret starts at `A`');
    assert.doesNotMatch(r.stderr, /\n\s+at .*\.js:\d+/, 'no stack trace');
  });
});

test('matc check: a misspelled function gets a did-you-mean, exit 1; a clean stdlib file exits 0', () => {
  withSpec('fn f(x: vec[n]) -> real =\n  sumsqq(x)\n', (p) => {
    const r = matc(['check', p]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /sumsqq/);
    assert.match(r.stderr, /sumsq/);
  });
  const ok = matc(['check', join(root, 'stdlib', 'less.mat'), join(root, 'stdlib', 'qr.mat')]);
  assert.equal(ok.code, 0, ok.stderr);
});

test('matc run --check-grad --json on ½‖Ax − b‖² reports a passing gradient check (exit 0)', () => {
  const src = 'fn f(A: mat[m, n], x: vec[n], b: vec[m]) -> real =\n  0.5 * sumsq(A * x - b)\n';
  withSpec(src, (p) => {
    const r = matc(['run', p, '--fn', 'f', '--random', '--seed', '3', '--dims', 'm=5,n=3', '--check-grad', '--backend', 'cpu', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    for (const k of ['backend', 'fn', 'dims', 'outputs', 'status', 'gradCheck']) assert.ok(k in out, `--json has ${k}`);
    const gc = out.gradCheck as { ok: boolean; maxRelErr: number; tolerance: number };
    assert.equal(gc.ok, true);
    assert.ok(gc.maxRelErr < 1e-6, `maxRelErr ${gc.maxRelErr}`);
    assert.match(String(out.backend), /^cpu/);
  });
});

test('matc run: a wrong --dims value and an unknown function are user errors (exit 1), not crashes', () => {
  const less = join(root, 'stdlib', 'less.mat');
  const a = matc(['run', less, '--fn', 'lesss', '--random']);
  assert.equal(a.code, 1);
  assert.match(a.stderr, /lesss/);
  const b = matc(['run', less, '--fn', 'less', '--random', '--dims', 'm=-1']);
  assert.equal(b.code, 1);
  assert.doesNotMatch(a.stderr + b.stderr, /internal error/);
});

test('matc ir --stage diff on LESS: readable gradient IR with one bordered solve and named gradients', () => {
  const r = matc(['ir', join(root, 'stdlib', 'less.mat'), '--fn', 'less', '--stage', 'diff']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /grad\.A/);
  assert.match(r.stdout, /grad\.b/);
  // the forward's start (lstsq: an n×n solve) and the backward's bordered (n+1)×(n+1) KKT solve
  const solves = r.stdout.split('\n').filter((l) => /= solve /.test(l));
  assert.equal(solves.length, 2, solves.join('\n'));
  assert.equal(solves.filter((l) => /\(f\[n \+ 1\], f\[\]\) = solve/.test(l)).length, 1, `one bordered KKT solve:\n${solves.join('\n')}`);
});

test('issue 4 done-when: matc run stdlib/ied.mat --fn ied --random --batch 1024 --backend webgpu --check-grad --json', async (t) => {
  if (!(await gpuOrSkip(t))) return;
  await releaseSharedGpu(); // the child opens its own device
  const r = matc(['run', join(root, 'stdlib', 'ied.mat'), '--fn', 'ied', '--random', '--batch', '1024', '--backend', 'webgpu', '--check-grad', '--json'], 300_000);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { backend: string; batch: number[]; outputs: { u: { shape: number[]; data: number[] } }; gradCheck: { ok: boolean } };
  assert.match(out.backend, /^webgpu/);
  assert.deepEqual(out.batch, [1024]);
  assert.deepEqual(out.outputs.u.shape.slice(0, 1), [1024]);
  assert.ok(out.outputs.u.data.every(Number.isFinite), 'every eigenvector entry finite');
  assert.equal(out.gradCheck.ok, true);
});

test('matc run --json through a pipe: a megabyte of output arrives whole (no truncation at exit)', () => {
  const r = matc(['run', join(root, 'stdlib', 'ied.mat'), '--fn', 'ied', '--random', '--batch', '20000', '--dims', 'm=3', '--backend', 'cpu', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.length > 1 << 20, `${r.stdout.length} bytes`);
  const out = JSON.parse(r.stdout) as { outputs: { u: { shape: number[]; data: number[] } }; status: { ok: boolean; warnings: string[] } };
  assert.deepEqual(out.outputs.u.shape, [20000, 3]);
  assert.equal(out.outputs.u.data.length, 60000);
  // random symmetric matrices: some have tiny eigengaps, which the status reports (not NaN)
  assert.ok(out.outputs.u.data.every(Number.isFinite));
});

test('the bundled CLI (the package bin, dist/bundle/matc.js) runs help, check, run on the CPU with threads', () => {
  const bundle = join(root, 'dist', 'bundle', 'matc.js');
  assert.ok(existsSync(bundle), 'npm test builds the bundle (scripts/bundle.mjs)');
  const run = (args: string[]) => spawnSync(process.execPath, [bundle, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  const h = run(['--help']);
  assert.equal(h.status, 0, h.stderr);
  assert.match(h.stdout, /usage: matc <command>/);
  const c = run(['check', 'stdlib/less.mat', 'stdlib/qr.mat']);
  assert.equal(c.status, 0, c.stderr);
  // the worker thread of the bundle lives next to it (runtime/cpu/threads.ts)
  const r = run(['run', 'stdlib/qr.mat', '--fn', 'qr', '--random', '--dims', 'm=6,n=4', '--batch', '200', '--backend', 'cpu', '--threads', '2', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { backend: string; status: { ok: boolean }; outputs: { Q: { shape: number[] } } };
  assert.match(j.backend, /^cpu \(compiled, f64, 2 threads\)$/);
  assert.equal(j.status.ok, true);
  assert.deepEqual(j.outputs.Q.shape, [200, 6, 4]);
  const ref = spawnSync(process.execPath, [matcJs, 'run', 'stdlib/qr.mat', '--fn', 'qr', '--random', '--dims', 'm=6,n=4', '--batch', '200', '--backend', 'cpu', '--reference', '--json'], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  const jr = JSON.parse(ref.stdout) as { backend: string; outputs: { Q: { data: number[] } } };
  assert.equal(jr.backend, 'cpu (f64 reference interpreter)');
  const q = (j as unknown as { outputs: { Q: { data: number[] } } }).outputs.Q.data;
  jr.outputs.Q.data.forEach((x, i) => assert.ok(Math.abs(x - q[i]!) < 1e-12, `Q[${i}]: ${q[i]} threaded vs ${x} reference`));
  // the CPU backend's options choose the CPU when --backend is not given (auto would run them on a
  // WebGPU adapter and ignore them), and contradict --backend webgpu
  const implicit = run(['run', 'stdlib/qr.mat', '--fn', 'qr', '--random', '--dims', 'm=6,n=4', '--reference', '--json']);
  assert.equal(implicit.status, 0, implicit.stderr);
  assert.equal((JSON.parse(implicit.stdout) as { backend: string }).backend, 'cpu (f64 reference interpreter)');
  const clash = run(['run', 'stdlib/qr.mat', '--fn', 'qr', '--random', '--dims', 'm=6,n=4', '--reference', '--backend', 'webgpu']);
  assert.notEqual(clash.status, 0);
  assert.match(clash.stderr, /MATR112.*--reference is an option of the CPU backend/);
});

test('matc run with a batch of 200,000: the status summary of every instance prints (a spread of 2·10⁵ iterations overflowed the stack)', () => {
  const src = 'fn f(x: vec[n]) -> vec[n] = iterate (y = x) for i in 0..3 => 0.5 * y until norm(y) < 0\n';
  withSpec(src, (p) => {
    const r = matc(['run', p, '--fn', 'f', '--random', '--batch', '200000', '--dims', 'n=1', '--backend', 'cpu']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /iterations 3…3/);
    assert.doesNotMatch(r.stderr, /internal error|RangeError/);
  });
});
