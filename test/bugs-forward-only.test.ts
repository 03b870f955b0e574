// Issue 10, bug 2: `matc ir --stage opt` and `matc bench` refused functions whose derivative
// cannot be derived (MAT0501 from inside an imported file, with no call chain), while `matc
// compile` only warned. Stages and commands that need no derivative now work (the opt stage
// prints the forward and why the VJP is missing; bench times the forward and says the backward
// was not timed), and where a derivative is needed the diagnostic names the call chain from the
// user's function to the construct (Span.via, recorded when calls are inlined).
//
// The forward-only construct here is a `solve` node whose backward asks for MINRES (MAT0409 when
// the derivative is built: its Jacobian is not symmetric), reached through two calls, one of them
// in an imported file — loops are becoming reverse-differentiable, so MAT0501 is not used.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompileError, compileProgram } from '../compiler/compile.js';
import { Module } from '../api/module.js';
import { benchFunction } from '../cli/bench.js';
import { lineCol } from '../compiler/source.js';
import { repoRoot } from './gen/paths.js';

const LIB = `fn cubic_root(a: vec[n]) -> vec[n] =
  solve y: vec[n] such that y .* y .* y + y == a by newton(backward: minres)

fn inner(a: vec[n]) -> vec[n] = 2 * cubic_root(a)
`;
const USE = `import { inner } from "lib.mat"
fn mine(x: vec[n]) -> real = sum(inner(x .* x))
`;

const files: Record<string, string> = { '/virtual/lib.mat': LIB, '/virtual/use.mat': USE };
const loader = { read: (p: string) => files[p] };
const program = () => compileProgram(USE, { path: '/virtual/use.mat', loader });

test('the opt stage prints the forward of a function without a VJP, and says why the VJP is missing', () => {
  const p = program();
  const text = p.stage('mine', 'opt');
  assert.match(text, /^fn mine\(%x: f\[n\]\)/);
  assert.match(text, /\n\/\/ mine \(vjp\): not compiled: error\[MAT0409\]: backward: minres needs a symmetric system/);
  // the stages that need the derivative still fail, with the diagnostic
  assert.throws(() => p.stage('mine', 'diff'), (e: unknown) => e instanceof CompileError && e.diagnostics[0]!.code === 'MAT0409');
});

test('a derivative that cannot be derived names the call chain from the user function, with each call', () => {
  for (const mode of ['vjp', 'jvp'] as const) {
    const p = program();
    let err: CompileError | undefined;
    try {
      p[mode]('mine');
    } catch (e) {
      if (e instanceof CompileError) err = e;
      else throw e;
    }
    assert.ok(err, `${mode}: a CompileError`);
    const d = err.diagnostics[0]!;
    assert.equal(d.code, 'MAT0409');
    assert.equal(d.span?.file.path, '/virtual/lib.mat');
    const notes = d.notes ?? [];
    assert.equal(notes[0]?.message, 'call chain: mine → inner → cubic_root');
    assert.equal(notes[1]?.message, 'mine calls inner here');
    assert.equal(notes[1]?.span?.file.path, '/virtual/use.mat');
    assert.deepEqual(lineCol(notes[1]!.span!.file, notes[1]!.span!.start), { line: 2, col: 34 });
    assert.equal(notes[2]?.message, 'inner calls cubic_root here');
    assert.equal(notes[2]?.span?.file.path, '/virtual/lib.mat');
    assert.deepEqual(lineCol(notes[2]!.span!.file, notes[2]!.span!.start), { line: 4, col: 37 });
    assert.match(err.message, /= note: call chain: mine → inner → cubic_root/);
  }
  // the function that holds the construct itself: no chain to name
  const p = program();
  assert.throws(() => p.vjp('cubic_root'), (e: unknown) => e instanceof CompileError && e.diagnostics[0]!.notes === undefined);
});

test('bench times the forward of a function without a VJP and says the backward was not timed', async () => {
  const fn = new Module(program()).fn('mine');
  const run = await benchFunction(fn, undefined, 'cpu (reference)', { batch: 2, dims: { n: 3 }, reps: 2, budgetMs: 200, warmupMs: 0 });
  assert.equal(run.report.forward.wallSamples > 0, true);
  assert.equal(run.report.backward.wallSamples, 0);
  assert.equal(run.backward, null);
  assert.ok(run.report.status.warnings.some((w) => /^backward not timed: no VJP: error\[MAT0409\]/.test(w)), run.report.status.warnings.join('\n'));
  assert.equal(run.forward.outputs.out!.shape.join(','), '2');
});

test('the CLI: matc ir --stage opt and matc bench exit 0; matc run --grad fails with the chain', () => {
  const dir = mkdtempSync(join(tmpdir(), 'matc-fwdonly-'));
  try {
    writeFileSync(join(dir, 'lib.mat'), LIB);
    writeFileSync(join(dir, 'use.mat'), USE);
    const cli = join(repoRoot, 'dist', 'cli', 'matc.js');
    const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, MATC_CPU: 'js' } });
    const ir = run('ir', join(dir, 'use.mat'), '--fn', 'mine', '--stage', 'opt');
    assert.equal(ir.status, 0, ir.stderr);
    assert.match(ir.stdout, /\/\/ mine \(vjp\): not compiled: error\[MAT0409\]/);
    const bench = run('bench', join(dir, 'use.mat'), '--fn', 'mine', '--dims', 'n=3', '--backend', 'cpu', '--reps', '2', '--json');
    assert.equal(bench.status, 0, bench.stderr);
    const report = JSON.parse(bench.stdout) as { forward: { wallSamples: number }; status: { warnings: string[] } };
    assert.ok(report.forward.wallSamples > 0);
    assert.ok(report.status.warnings.some((w) => w.startsWith('backward not timed: no VJP: error[MAT0409]')));
    const grad = run('run', join(dir, 'use.mat'), '--fn', 'mine', '--random', '--dims', 'n=3', '--grad', '--backend', 'cpu');
    assert.equal(grad.status, 1, grad.stderr);
    assert.match(grad.stderr, /error\[MAT0409\][\s\S]*= note: call chain: mine → inner → cubic_root[\s\S]*= note: mine calls inner here\n\s*--> .*use\.mat:2:34/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
