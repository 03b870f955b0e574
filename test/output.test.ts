// Quiet, honest output (issue 12): Dawn's adapter-probe warnings do not reach a user of the CLI
// unless MATC_VERBOSE=1 asks for them, status lines say what failed (a singular solve, a failed
// monitor, an iteration limit), and the published package ships the runtime, compiler, CLI,
// stdlib, types and docs — no tests, benchmarks or CI scripts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { repoRoot } from './gen/paths.js';

/** Runs node with its stderr in a file, as a terminal, a shell pipe or a log file give it (a
 *  Node parent's default stdio is a socket, which cannot be reopened, so the probe's warnings
 *  are left alone there). */
function node(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'matc-stderr-'));
  try {
    const errPath = join(dir, 'stderr');
    const fd = openSync(errPath, 'w');
    const r = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: 'utf8', timeout: 120000, stdio: ['ignore', 'pipe', fd], env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', ...env } });
    closeSync(fd);
    return { status: r.status, stdout: r.stdout, stderr: readFileSync(errPath, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const matc = (args: string[], env: Record<string, string> = {}) => node([join(repoRoot, 'dist', 'cli', 'matc.js'), ...args], env);

test('withQuietStderr drops native writes to fd 2 while it runs, and only then', () => {
  const device = pathToFileURL(join(repoRoot, 'dist', 'runtime', 'webgpu', 'device.js')).href;
  const script = `import { writeSync } from 'node:fs';
import { setQuietAdapterProbe, withQuietStderr } from '${device}';
setQuietAdapterProbe(true);
writeSync(2, 'before\\n');
const v = withQuietStderr(() => { writeSync(2, 'dropped\\n'); return 7; });
writeSync(2, 'after ' + v + '\\n');
console.error('console still works');`;
  const quiet = node(['--input-type=module', '-e', script]);
  assert.equal(quiet.status, 0, quiet.stderr);
  assert.equal(quiet.stderr, 'before\nafter 7\nconsole still works\n');
  const verbose = node(['--input-type=module', '-e', script], { MATC_VERBOSE: '1' });
  assert.equal(verbose.stderr, 'before\ndropped\nafter 7\nconsole still works\n');
});

test('matc run --backend webgpu prints no adapter-probe warnings', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  await releaseSharedGpu();
  const dir = mkdtempSync(join(tmpdir(), 'matc-quiet-'));
  try {
    const spec = join(dir, 'f.mat');
    writeFileSync(spec, 'fn f(A: mat[m, n]) -> vec[m] = iterate (x = zeros(m)) for j in 0..n => x + A[:, j]\n');
    const r = matc(['run', spec, '--fn', 'f', '--random', '--backend', 'webgpu']);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /artificially reduced|Couldn't load Vulkan|Warning:/);
    assert.equal(r.stderr, '');
    // errors after the probe still reach stderr
    writeFileSync(spec, 'fn f(A: mat[m, n]) -> vec[m] = iterate (x = zeros(m)) for j in 0..n + 1 => A[:, j]\n');
    const e = matc(['run', spec, '--fn', 'f', '--random', '--backend', 'webgpu']);
    assert.equal(e.status, 1);
    assert.match(e.stderr, /^error\[MATR107\]: a column index: index 4 is out of range/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('matc run status lines word each kind: a failed monitor is FAILED with its value, a solve SINGULAR', () => {
  const dir = mkdtempSync(join(tmpdir(), 'matc-status-'));
  try {
    // a rank-deficient A: its second column is twice the first
    const A = { shape: [3, 2], data: [1, 2, 2, 4, 3, 6] };
    const inputs = join(dir, 'in.json');
    writeFileSync(inputs, JSON.stringify({ A, b: { shape: [3], data: [1, 2, 3] } }));
    const qrIn = join(dir, 'qr.json');
    writeFileSync(qrIn, JSON.stringify({ A }));
    const qr = matc(['run', join(repoRoot, 'stdlib', 'qr.mat'), '--fn', 'qr', '--inputs', qrIn, '--backend', 'cpu']);
    assert.match(qr.stdout, /qr\/rcond\(R\)  value \S+e-1\d  FAILED/);
    assert.match(qr.stdout, /warning: qr\/rcond\(R\): the monitored condition failed/);
    assert.doesNotMatch(qr.stdout, /rcond\(R\).*NOT converged|iteration limit/);
    const spec = join(dir, 'ls.mat');
    writeFileSync(spec, 'fn ls(A: mat[m, n], b: vec[m]) -> vec[n] = lstsq(A, b)\n');
    const ls = matc(['run', spec, '--fn', 'ls', '--inputs', inputs, '--backend', 'cpu']);
    assert.match(ls.stdout, /ls\/lstsq@1:44  rcond \S+  SINGULAR/);
    assert.match(ls.stdout, /the linear system is singular or nearly so/);
    assert.doesNotMatch(ls.stdout, /did not converge|NOT converged/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm pack ships the runtime, compiler, CLI, stdlib, types and docs, and no tests, benchmarks or CI scripts', () => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, encoding: 'utf8', timeout: 120000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return; // no npm on PATH
  assert.equal(r.status, 0, r.stderr);
  const files: string[] = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  const allowed = /^(dist\/index\.(js|d\.ts)|dist\/(api|cli|compiler|core|grammar|runtime|vendor|bundle)\/.+\.(js|d\.ts)|stdlib\/[^/]+\.mat|docs\/[^/]+\.md|README\.md|LICENSE(\.md)?|package\.json)$/;
  assert.deepEqual(files.filter((f) => !allowed.test(f)), [], 'files outside the runtime, compiler, CLI, stdlib, types and docs');
  assert.deepEqual(files.filter((f) => /(^|\/)(test|bench|scripts|\.ci)\//.test(f) && !/^dist\/cli\/bench\./.test(f)), []);
  for (const need of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/matc.js', 'dist/bundle/matc.js', 'dist/bundle/index.js', 'dist/bundle/runtime.js', 'dist/vendor/chevrotain.js', 'dist/runtime/aot/index.js', 'stdlib/less.mat', 'docs/diagnostics.md', 'README.md']) {
    assert.ok(files.includes(need), `${need} is not in the package`);
  }
});
