// Issue 12's reproducers, each a regression test: what a hostile user or a fuzzer throws at the
// checker and the pipeline ends in a diagnostic with a code and a span (never a stack overflow,
// an InternalError or a hang), and the passes that were super-linear in the size of an
// expression stay near-linear. The run-time reproducers (bounds, inputs, options) are in
// test/hardening-runtime.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompileError, checkSource, compileProgram } from '../compiler/compile.js';
import { render, renderAll, type Diagnostic } from '../compiler/diagnostics.js';
import { stepCount } from '../compiler/ir/budget.js';
import { Worker } from 'node:worker_threads';
import { limits } from '../compiler/limits.js';
import { withSpec } from './util/spec-file.js';
import { Module } from '../api/module.js';
import { Tensor } from '../runtime/tensor.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = [resolve(here, '../..'), resolve(here, '..')].find((p) => existsSync(join(p, 'stdlib', 'less.mat')))!;
const matcJs = join(root, 'dist', 'cli', 'matc.js');
const PATH = 'hardening.mat';

/** Checks `src` and returns its error codes; throwing (a RangeError, an InternalError) fails. */
function codes(src: string): string[] {
  let ds: Diagnostic[] = [];
  assert.doesNotThrow(() => {
    ds = checkSource(src, { path: PATH });
  });
  for (const d of ds) assert.ok(d.span, `${d.code} has no span`);
  return ds.filter((d) => d.severity === 'error').map((d) => d.code);
}

const rep = (s: string, n: number, sep = ''): string => Array.from({ length: n }, () => s).join(sep);

test('mutual recursion (f calls g calls f) is MAT0304, not a stack overflow', () => {
  const src = 'fn f(x: vec[n]) -> vec[n] = g(x)\nfn g(x: vec[n]) -> vec[n] = f(x)\n';
  assert.deepEqual(codes(src), ['MAT0304']);
  const d = checkSource(src, { path: PATH })[0]!;
  assert.match(d.message, /recursive call to 'f'/);
  assert.ok(d.notes?.some((n) => /call chain: f → g → f/.test(n.message)), JSON.stringify(d.notes));
});

test('a cycle of five functions, and recursion through a solver clause, are one MAT0304 each', () => {
  const five = Array.from({ length: 5 }, (_, i) => `fn f${i}(x: vec[n]) -> vec[n] = 2 * f${(i + 1) % 5}(x)\n`).join('');
  assert.deepEqual(codes(five), ['MAT0304']);
  const viaInit = 'fn s(A: mat[m, n], b: vec[m]) -> vec[n] =\n  argmin x: vec[n] of sumsq(A * x - b) init s(A, b)\n';
  assert.deepEqual(codes(viaInit), ['MAT0304']);
  // a function called by a cycle but not on it is not recursive
  const caller = 'fn f(x: vec[n]) -> vec[n] = g(x)\nfn g(x: vec[n]) -> vec[n] = g(x)\nfn h(x: vec[n]) -> vec[n] = x\n';
  assert.deepEqual(codes(caller), ['MAT0304']);
});

test('143 nested parentheses are MAT0701 (the parser used to overflow at 143), 20 are fine', () => {
  const deep = (n: number) => `fn f(x: real) -> real = ${'('.repeat(n)}x${')'.repeat(n)}\n`;
  assert.deepEqual(codes(deep(20)), []);
  for (const n of [143, 150, 5000]) assert.deepEqual(codes(deep(n)), ['MAT0701'], `${n} levels`);
  // brackets, call arguments, prefix operators and let/if chains nest too
  assert.deepEqual(codes(`fn f(x: real) -> real = ${rep('exp(', 300)}x${')'.repeat(300)}\n`), ['MAT0701']);
  assert.deepEqual(codes(`fn f(x: real) -> real = ${'- '.repeat(3000)}x\n`), ['MAT0701']);
  assert.deepEqual(codes(`fn f(x: real) -> real = ${rep('if x > 0 then x else', 3000, ' ')} x\n`), ['MAT0701']);
  assert.deepEqual(codes(`fn f(x: real) -> real = sum(${'['.repeat(300)}x${']'.repeat(300)})\n`), ['MAT0701']);
  assert.deepEqual(codes(`fn f(x: vec[${rep('(', 300)}n${rep(')', 300)}]) -> real = sum(x)\n`), ['MAT0701']);
  // a dimension chain nests as long as it is: 20,000 terms overflowed the checker
  assert.deepEqual(codes(`fn f(x: vec[n], y: vec[${rep('n', 20000, ' + ')}]) -> real = sum(x) + sum(y)\n`), ['MAT0701']);
  assert.deepEqual(codes(`fn f(x: vec[n]) -> vec[n] where k = ${rep('n', 20000, ' * ')} = x\n`), ['MAT0701']);
  assert.deepEqual(codes(`fn f(x: vec[n], y: vec[${rep('n', 100, ' + ')}]) -> real = sum(x) + sum(y)\n`), []);
});

test('a dimension polynomial past degree 64 or 1000 terms is MAT0701 at once (k * k * … of 2,000 factors took 25 s)', () => {
  const t0 = performance.now();
  assert.deepEqual(codes(`fn f(A: mat[m, n], k: int) -> mat[m, n] = A[:, 0:(${rep('k', 2000, ' * ')})]\n`), ['MAT0701']);
  assert.ok(performance.now() - t0 < 5000, `took ${performance.now() - t0} ms`);
  // (a + b + c + d + 1)^12 has 1,820 terms
  assert.deepEqual(codes(`fn f(A: mat[m, n], a: int, b: int, c: int, d: int) -> mat[m, n] = A[:, 0:(${rep('(a + b + c + d + 1)', 12, ' * ')})]\n`), ['MAT0701']);
  // degree 8 with a few terms is an ordinary dimension
  assert.deepEqual(codes(`fn f(x: vec[n], y: vec[m], z: vec[${rep('n', 8, ' * ')} + m]) -> real = sum(x) + sum(y) + sum(z)\n`), []);
});

test('long chains are read by loops: 20,000 additions and 3,000 transposes check and compile', () => {
  const sum = `fn f(x: vec[n]) -> vec[n] = ${rep('x', 20000, ' + ')}\n`;
  assert.deepEqual(codes(sum), []);
  const p = compileProgram(sum, { path: PATH });
  for (const m of ['forward', 'vjp', 'jvp'] as const) p[m]('f');
  assert.deepEqual(codes(`fn f(A: mat[n, n]) -> mat[n, n] = A${"'".repeat(3000)}\n`), []);
  // and printed back by loops (`matc ir --stage parse`)
  for (const src of [`fn f(A: mat[n, n]) -> mat[n, n] = A${"'".repeat(20000)}\n`, sum]) assert.ok(compileProgram(src, { path: PATH }).stage('f', 'parse').length > 20000);
  // a let with thousands of bindings chains no scopes
  const lets = `fn f(x: vec[n]) -> vec[n] = let ${Array.from({ length: 5000 }, (_, i) => `y${i} = sin(${i ? `y${i - 1}` : 'x'}) + x`).join(', ')} in y4999\n`;
  assert.deepEqual(codes(lets), []);
  compileProgram(lets, { path: PATH }).vjp('f');
});

test('a chain of 400 matrix products (25 s in `ir --stage opt` before) is ordered in linear work', () => {
  const chain = (k: number) => `fn f(A: mat[m, n], B: mat[n, m]) -> mat[m, m] = ${Array.from({ length: k }, (_, i) => (i % 2 ? 'B' : 'A')).join(' * ')}\n`;
  const cost = (k: number): { steps: number; ms: number } => {
    const p = compileProgram(chain(k), { path: PATH });
    const s0 = stepCount();
    const t0 = performance.now();
    p.stage('f', 'opt');
    return { steps: stepCount() - s0, ms: performance.now() - t0 };
  };
  const small = cost(400);
  const large = cost(1600);
  assert.ok(small.ms < 5000, `400 products took ${small.ms.toFixed(0)} ms`);
  // 4× the factors: about 4× the work (the DP is windowed), not 16× or 256×
  assert.ok(large.steps < 6 * small.steps, `steps grew from ${small.steps} to ${large.steps}`);
});

test('inlining: 65 nested calls and a call tree doubling 20 levels deep are MAT0702, quickly', () => {
  const chain = Array.from({ length: 70 }, (_, i) => `fn f${i}(x: vec[n]) -> vec[n] = ${i ? `2 * f${i - 1}(x)` : 'x'}\n`).join('');
  const cs = codes(chain);
  assert.ok(cs.length > 0 && cs.every((c) => c === 'MAT0702'), cs.join(', '));
  const t0 = performance.now();
  const tree = ['fn f0(x: vec[n]) -> vec[n] = x', ...Array.from({ length: 20 }, (_, i) => `fn f${i + 1}(x: vec[n]) -> vec[n] = f${i}(sin(x)) + f${i}(cos(x))`)].join('\n') + '\n';
  const ts = codes(tree);
  assert.ok(ts.length > 0 && ts.every((c) => c === 'MAT0702'), ts.join(', '));
  assert.ok(performance.now() - t0 < 20000, `${(performance.now() - t0).toFixed(0)} ms`);
  // the same call tree with the same arguments at every level is inlined once per level
  const shared = ['fn f0(x: vec[n]) -> vec[n] = sin(x)', ...Array.from({ length: 40 }, (_, i) => `fn f${i + 1}(x: vec[n]) -> vec[n] = f${i}(x) + f${i}(x)`)].join('\n') + '\n';
  assert.deepEqual(codes(shared), []);
});

test('a stage past its budget is MAT0703 from checkSource and a CompileError from every form', () => {
  const src = `fn f(A: mat[n, n], x: vec[n]) -> vec[n] = ${rep('A', 200, ' * ')} * x\n`;
  assert.deepEqual(checkSource(src, { path: PATH, budgetSteps: 100 }).map((d) => d.code), ['MAT0703']);
  const p = compileProgram(src, { path: PATH, budgetSteps: 1500 });
  assert.throws(() => p.vjp('f'), (e: unknown) => e instanceof CompileError && e.diagnostics[0]!.code === 'MAT0703' && /reverse mode|VJP/.test(e.diagnostics[0]!.message));
  // the failure is remembered: the second request fails at once with the same diagnostic
  assert.throws(() => p.vjp('f'), (e: unknown) => e instanceof CompileError && e.diagnostics[0]!.code === 'MAT0703');
});


test('code generation is a budgeted stage: a CPU program past the budget is MAT0703 from the call that needs it, at once the second time (issue 12)', async () => {
  // the CPU program of this forward costs ~1,000 steps (lowering and emission charge one per IR
  // node and per statement), its compile stages ~100: before, code generation ran outside every
  // budget (a fuzzed argmin spent 20 s generating its VJP's program on the first call)
  const src = `fn f(A: mat[n, n]) -> mat[n, n] = ${rep('A', 8, ' * ')}\n`;
  const A = new Tensor([3, 3], Float64Array.from({ length: 9 }, (_, i) => Math.sin(i + 1)));
  const tight = new Module(compileProgram(src, { path: PATH, budgetSteps: 500 }));
  assert.doesNotThrow(() => tight.program.forward('f'), 'the compile stages fit the budget');
  const isBudget = (e: unknown): boolean => {
    if (!(e instanceof CompileError)) return false;
    const d = e.diagnostics[0]!;
    return d.code === 'MAT0703' && /generating the CPU program of f/.test(d.message) && d.span?.file.path === PATH;
  };
  await assert.rejects(() => tight.fn('f').forward({ A }), isBudget);
  const t0 = performance.now();
  await assert.rejects(() => tight.fn('f').forward({ A }), isBudget);
  assert.ok(performance.now() - t0 < 50, 'the failure is remembered');
  // the same spec within the default budget runs, and gives A⁸
  const r = await new Module(compileProgram(src, { path: PATH })).fn('f').forward({ A });
  let P = A.data as Float64Array;
  for (let k = 1; k < 8; k++) P = Float64Array.from({ length: 9 }, (_, ij) => [0, 1, 2].reduce((acc, l) => acc + P[3 * Math.floor(ij / 3) + l]! * (A.data as Float64Array)[3 * l + (ij % 3)]!, 0));
  const got = Object.values(r.outputs)[0]!.data as Float64Array;
  for (let i = 0; i < 9; i++) assert.ok(Math.abs(got[i]! - P[i]!) <= 1e-12 * Math.max(1, Math.abs(P[i]!)), `entry ${i}: ${got[i]} vs ${P[i]}`);
});

test('matc check on deep nesting and mutual recursion exits 1 with a diagnostic, not 2 with a stack trace', () => {
  const specs = [
    `fn f(x: real) -> real = ${'('.repeat(150)}x${')'.repeat(150)}\n`, // "Invalid array length" inside chevrotain
    'fn f(x: vec[n]) -> vec[n] = g(x)\nfn g(x: vec[n]) -> vec[n] = f(x)\n',
    `fn f(x: vec[n]) -> vec[n] = ${rep('x', 5000, ' + ')}\n`,
  ];
  for (const s of specs) {
    withSpec(s, (p) => {
      const r = spawnSync(process.execPath, [matcJs, 'check', p], { encoding: 'utf8', timeout: 60000 });
      assert.ok(r.status === 0 || r.status === 1, `exit ${r.status}: ${r.stderr.slice(0, 400)}`);
      assert.doesNotMatch(r.stderr, /internal error|RangeError|    at /, r.stderr.slice(0, 400));
    });
  }
});

/** Checks `src` in a fresh worker with `mb` MB of stack: error codes, or 'threw …'. */
function coldCheck(src: string, mb: number): Promise<string> {
  const w = new Worker(new URL('./util/cold-check.js', import.meta.url), { workerData: { src }, resourceLimits: { stackSizeMb: mb } });
  return new Promise<string>((resolve) => {
    w.on('message', (m: string) => resolve(m));
    w.on('error', (e) => resolve(`threw ${e.message}`));
  }).finally(() => void w.terminate());
}

test('the limits hold with cold code on a 0.8 MB stack, below the main thread\'s (worst cases measured)', async () => {
  const callsNear = Math.floor(limits.parseDepth / 11);
  const cases: string[] = [];
  // chevrotain's error recovery walks the grammar from the deepest point: an error there, for
  // each nesting just below the parser's limit, in a body and at the item level
  for (const [open, close] of [['abs(', ')'], ['(', ')'], ['[', ']'], ['(x, ', ')']]) {
    for (const n of [callsNear, callsNear + 3]) {
      cases.push(`fn f(x: real) -> real = ${open.repeat(n)}where${close.repeat(n)}\n`);
      cases.push(`fn g(A: mat[m, n]) -> mat[m, n] ${open.repeat(n)}where${close.repeat(n)} k = min(m, n) =\n  A\n`);
    }
  }
  // 64 inlined functions, each nesting builtin calls, up to and past the checker's limit
  for (const [open, close] of [['sin(', ')'], ['solve(eye(n), ', ')'], ['(', ')']]) {
    for (const per of [8, 20]) cases.push(Array.from({ length: 64 }, (_, i) => `fn f${i}(x: vec[n]) -> vec[n] = ${i ? `${open.repeat(per)}f${i - 1}(x)${close.repeat(per)}` : 'x'}\n`).join(''));
  }
  cases.push(`fn f(x: vec[n], y: vec[${rep('n', limits.dimDepth - 1, ' + ')}]) -> real = sum(x) + sum(y)\n`);
  cases.push(`fn f(x: vec[n]) -> vec[n] = ${'- '.repeat(limits.parseDepth - 10)}x\n`);
  // three workers at a time: each loads the compiler afresh
  for (let i = 0; i < cases.length; i += 3) {
    const batch = cases.slice(i, i + 3);
    const rs = await Promise.all(batch.map((src) => coldCheck(src, 0.8)));
    rs.forEach((r, j) => assert.ok(!r.startsWith('threw'), `${r}\nspec: ${batch[j]!.slice(0, 200)}…`));
  }
});

test('the whole program has a check budget: items each within theirs but together past it are one MAT0703 (issue 12)', () => {
  const item = (k: number) => `fn f${k}(x: vec[n]) -> vec[n] = ${Array.from({ length: 60 }, (_, i) => `${i + 1} * x`).join(' + ')}`;
  // the steps one item takes to check, measured
  const s0 = stepCount();
  assert.deepEqual(checkSource(item(0), { path: PATH }), []);
  const one = stepCount() - s0;
  const budgetSteps = Math.ceil(1.5 * one);
  assert.deepEqual(checkSource(item(0), { path: PATH, budgetSteps }), [], 'one item fits its budget');
  // 30 items need 30× one item's steps, past the program's 10 × budgetSteps = 15× one item
  const src = Array.from({ length: 30 }, (_, k) => item(k)).join('\n');
  const ds = checkSource(src, { path: PATH, budgetSteps });
  assert.ok(ds.length >= 1 && ds.every((d) => d.code === 'MAT0703'), JSON.stringify(ds.map((d) => d.message)));
  assert.match(ds[ds.length - 1]!.message, /checking the program \(30 items; \d+ not checked: f\d+/);
  assert.ok(ds.length <= 2, 'one diagnostic for the program (and at most one for the item it stopped in)');
});

test('diagnostics are deduplicated per (code, span) without scanning the list: a 3,000-term chain of unknown names in a generic SPD optimizer (66,000 reports) checks in about a second, not 7.5 s', async () => {
  const { DiagnosticBag } = await import('../compiler/diagnostics.js');
  const { sourceFile } = await import('../compiler/source.js');
  const f = sourceFile('a.mat', 'x'.repeat(10000));
  const g = sourceFile('a.mat', 'x'.repeat(10000));
  const bag = new DiagnosticBag();
  // the list is never scanned per report (the scan was O(items) per report: 66,000 reports of
  // megamorphic diagnostics against 3,000 items took 6.5 of the 7.5 s in fuzz case 1463 of seed 777)
  let scans = 0;
  for (const m of ['some', 'find', 'findIndex', 'filter', 'indexOf', 'includes'] as const) {
    const orig = (bag.items[m] as (...a: unknown[]) => unknown).bind(bag.items);
    Object.defineProperty(bag.items, m, { value: (...a: unknown[]) => (scans++, orig(...a)) });
  }
  for (let rep = 0; rep < 22; rep++) for (let i = 0; i < 3000; i++) bag.error('MAT0301', "unknown name 'SC'", { file: f, start: 3 * i, end: 3 * i + 2 });
  assert.equal(bag.items.length, 3000);
  // same span, another code; same offsets in another file object: both kept
  bag.error('MAT0201', 'other', { file: f, start: 0, end: 2 });
  bag.error('MAT0301', "unknown name 'SC'", { file: g, start: 0, end: 2 });
  assert.equal(bag.items.length, 3002);
  assert.equal(scans, 0, 'report scanned the diagnostics list');
  // the fuzz case itself: stdlib/spd.mat with one state type replaced by a 3,000-term chain
  const spd = readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'stdlib', 'spd.mat'), 'utf8');
  const target = 'mC: SC[d] = SC.zeros(d)';
  assert.ok(spd.includes(target));
  const mutant = spd.replace(target, `mC: (${Array(3000).fill('SC').join(' + ')})[d] = SC.zeros(d)`);
  const ds = checkSource(mutant, { path: 'spd-mutant.mat' });
  assert.ok(ds.some((d) => d.code === 'MAT0301'));
});

// A fuzzed projunn.mat mutant (seed 7373, case 18300: a 'chain' mutation) put a 90,000-character line
// under 3,011 diagnostics; each code frame printed the whole line and its caret row, 540 million
// characters, 7.4 s of rendering, past the fuzzer's 10 s watchdog under load. Frames now show a
// window of the line around the span.
test('code frames of a very long line show a window around the span, and the caret still points at it', () => {
  const chain = Array.from({ length: 6000 }, (_, i) => `x${i % 7}`).join(' + ');
  const src = `fn f(x: real) -> real = ${chain} + oops + ${chain}\n`;
  const ds = checkSource(src, { path: 'long.mat' });
  assert.ok(ds.length >= 1);
  const text = renderAll(ds);
  assert.ok(text.length < 400 * ds.length, `${text.length} characters for ${ds.length} diagnostics`);
  const d = ds.find((x) => x.message.includes("'oops'"));
  assert.ok(d, ds.map((x) => x.message).join('; '));
  const lines = render(d).split('\n');
  const code = lines.findIndex((l) => /^\s*1 \| /.test(l));
  const at = lines[code + 1]!.indexOf('^');
  assert.equal(lines[code]!.slice(at, at + 4), 'oops');
  assert.ok(lines[code]!.startsWith('1 | …') && lines[code]!.endsWith('…'));
  // a short line is shown whole, as before
  const short = render(checkSource('fn f(x: real) -> real = oops\n', { path: 's.mat' })[0]!);
  assert.match(short, /1 \| fn f\(x: real\) -> real = oops\n +\| +\^\^\^\^/);
});

test('a complex modeprod with too few arguments is MAT0303, not a TypeError in the checker (fuzz seed 6868, case 324598)', () => {
  // the complex handler read its second argument before the arity was checked
  for (const call of ['modeprod(T)', 'modeprod(T, T)', 'modeprod()']) {
    const ds = checkSource(`fn f(T: cmat[2, 2]) -> cmat[2, 2] = ${call}`, { path: 'modeprod.mat' });
    assert.deepEqual(ds.map((d) => d.code), ['MAT0303'], call);
  }
});
