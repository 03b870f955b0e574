// The input layer under malformed input (issue 12): every value a caller can pass for an input,
// a cotangent or a tangent, every dimension and solver option, is either read or refused with a
// MatcRuntimeError that names the parameter or option — on the JIT API (api/module.ts), on AOT
// modules (runtime/aot/function.ts) and from the command line. Never a TypeError, a string read
// as digits, a tangent ignored, or empty outputs with ok: true.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compile, type CompiledFn } from '../api/module.js';
import { compileProgram, checkSource } from '../compiler/compile.js';
import { gradCheck } from '../api/gradcheck.js';
import { forwardMany, vjpMany } from '../api/batch-map.js';
import { compileToDir } from '../cli/aot.js';
import { MatcRuntimeError } from '../core/errors.js';
import { Tensor } from '../runtime/tensor.js';
import { CpuBackend, createCpuBackend, type CpuBackendOptions } from '../runtime/cpu/cpu-backend.js';
import { createWebGpuBackend } from '../runtime/webgpu/backend.js';
import type { InputValue } from '../runtime/bind.js';
import { repoRoot } from './gen/paths.js';

const SRC = "fn f(A: mat[m, n], b: vec[m]) -> vec[n] = A' * b\nfn g(X: sym[m], k: int = 2) -> mat[m, k] = X[:, 0:k]\n";

interface Callable {
  forward(i: Record<string, unknown>, o?: object): Promise<{ outputs: Record<string, Tensor>; status: { ok: boolean } }>;
  vjp(i: Record<string, unknown>, c: Record<string, unknown>, o?: object): Promise<{ gradients: Record<string, Tensor> }>;
  jvp(i: Record<string, unknown>, t: Record<string, unknown>, o?: object): Promise<{ tangents: Record<string, Tensor> }>;
}

const jit = compile(SRC, { path: 'inputs.mat' });
const paths: Record<string, { f: Callable; g: Callable }> = { jit: { f: jit.fn('f') as unknown as Callable, g: jit.fn('g') as unknown as Callable } };
let dir = '';
/** the compiled module of SRC (matc compile) */
let modFile = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'matc-inputs-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  writeFileSync(join(dir, 'inputs.mat'), SRC);
  const r = compileToDir(join(dir, 'inputs.mat'), dir, { runtime: join(repoRoot, 'dist') });
  modFile = r.js;
  const ns = (await import(pathToFileURL(r.js).href)) as { functions: Record<string, Callable> };
  paths.aot = { f: ns.functions.f!, g: ns.functions.g! };
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const A = new Tensor([2, 2], [1, 2, 3, 4]);
const err = (code: string, re: RegExp) => (e: unknown) => {
  assert.ok(e instanceof MatcRuntimeError, `expected a MatcRuntimeError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  assert.equal(e.code, code, e.message);
  assert.match(e.message, re);
  return true;
};

for (const path of ['jit', 'aot']) {
  test(`${path}: null, strings, booleans and ragged arrays are MATR001 naming the input`, async () => {
    const { f } = paths[path]!;
    await assert.rejects(f.forward({ A, b: null }), err('MATR001', /input 'b' is null/));
    await assert.rejects(f.forward({ A, b: '12' }), err('MATR001', /input 'b' is a string \("12"\)/));
    await assert.rejects(f.forward({ A, b: ['1', '2'] }), err('MATR001', /input 'b' has a string \("1"\) at \[0\]/));
    await assert.rejects(f.forward({ A, b: true }), err('MATR001', /input 'b' is a boolean/));
    await assert.rejects(f.forward({ A: [[1, 2], [3]], b: [1, 2] }), err('MATR001', /input 'A' is a ragged array: \[1\] has 1 entries where \[0\] has 2/));
    await assert.rejects(f.forward({ A: [[1, 2], 3], b: [1, 2] }), err('MATR001', /input 'A' has a number at \[1\] where an array of 2 was expected/));
    await assert.rejects(f.forward({ A: { shape: [2, 2], data: [1, 2, 3] }, b: [1, 2] }), err('MATR001', /input 'A' has 3 data values but shape \[2, 2\] needs 4/));
    await assert.rejects(f.forward({ A: { shape: [2, 'x'], data: [1, 2, 3, 4] }, b: [1, 2] }), err('MATR001', /input 'A' has a bad shape \[2, "x"\]/));
    await assert.rejects(f.forward({ A: { shape: [2, 2] }, b: [1, 2] }), err('MATR001', /input 'A' has no "data" array/));
    await assert.rejects(f.forward({ A: { rows: 2 }, b: [1, 2] }), err('MATR001', /input 'A' is an object with keys \{rows\}/));
    await assert.rejects(f.forward(null as unknown as Record<string, unknown>), err('MATR101', /must be an object/));
  });

  test(`${path}: nested arrays, {shape, data} and typed arrays are read as the tensors they spell`, async () => {
    const { f } = paths[path]!;
    const want = Array.from((await f.forward({ A, b: [1, 2] })).outputs.out!.data);
    const forms: Record<string, InputValue>[] = [
      { A: [[1, 2], [3, 4]], b: [1, 2] },
      { A: { shape: [2, 2], data: [1, 2, 3, 4] }, b: { shape: [2], data: new Float64Array([1, 2]) } },
      { A, b: new Float32Array([1, 2]) },
    ];
    for (const inputs of forms) assert.deepEqual(Array.from((await f.forward(inputs)).outputs.out!.data), want);
  });

  test(`${path}: cotangents and tangents are read the same way; unknown or null ones are errors`, async () => {
    const { f } = paths[path]!;
    await assert.rejects(f.vjp({ A, b: [1, 2] }, { out: null }), err('MATR001', /the cotangent of output 'out' is null/));
    await assert.rejects(f.vjp({ A, b: [1, 2] }, { out: [1, 2], outt: [1, 2] }), err('MATR101', /has no output 'outt'.*did you mean 'out'/));
    // a tangent under an unknown name was silently ignored; vjp already rejected unknown cotangents
    await assert.rejects(f.jvp({ A, b: [1, 2] }, { bb: [1, 0] }), err('MATR101', /has no input 'bb' to take a tangent for \(inputs: A, b\); did you mean 'b'/));
    await assert.rejects(f.jvp({ A, b: [1, 2] }, { b: null }), err('MATR001', /the tangent of input 'b' is null/));
    const t = await f.jvp({ A, b: [1, 2] }, { b: [[1], [0]].map((r) => r[0]!) });
    assert.deepEqual(Array.from(t.tangents.out!.data), [1, 2]); // Aᵀ ḃ
    const g = await f.vjp({ A, b: [1, 2] }, { out: [[1, 0]].flat() });
    assert.deepEqual(Array.from(g.gradients.b!.data), [1, 3]); // A ct
  });

  test(`${path}: dims are validated, and an int parameter of 0 gives empty outputs`, async () => {
    const { g } = paths[path]!;
    const X = new Tensor([3, 3], [2, 1, 0, 1, 2, 0, 0, 0, 1]);
    // issue 10: empty dimensions are legal (issue 12 refused them while kernels were undefined on
    // empty tensors); X[:, 0:0] is the exact, empty answer
    const empty = await g.forward({ X }, { dims: { k: 0 } });
    assert.deepEqual(empty.outputs.out!.shape, [3, 0]);
    assert.equal(empty.status.ok, true);
    await assert.rejects(g.forward({ X }, { dims: { k: 4 } }), err('MATR103', /slice 0:k needs k <= m/));
    await assert.rejects(g.forward({ X }, { dims: { k: -1 } }), err('MATR103', /dimension k must be a non-negative integer, got -1/));
    await assert.rejects(g.forward({ X }, { dims: { K: 1 } }), err('MATR103', /has no dimension 'K' \(dimensions: k, m\); did you mean 'k'/));
    await assert.rejects(g.forward({ X }, { dims: { k: 1.5 } }), err('MATR103', /got 1.5/));
    assert.deepEqual((await g.forward({ X }, { dims: { k: 1 } })).outputs.out!.shape, [3, 1]);
  });

  test(`${path}: call options: a typo, a wrong type or a backend named by a string other than 'cpu' is MATR116 naming the option`, async () => {
    const { f } = paths[path]!;
    const inputs = { A, b: [1, 2] };
    const want = Array.from((await f.forward(inputs)).outputs.out!.data);
    // before: { backend: 'webgpu' } was a TypeError ("backend.run is not a function") on the JIT, a
    // typo such as { backnd } or { dim } was ignored, and options that were not an object were read as {}
    await assert.rejects(f.forward(inputs, { backend: 'webgpu' }), err('MATR116', /option 'backend' must be a backend object .* got a string \("webgpu"\); a WebGPU backend is an object/));
    await assert.rejects(f.forward(inputs, { backnd: 'cpu' }), err('MATR116', /unknown option 'backnd'; did you mean 'backend'\?/));
    await assert.rejects(f.vjp(inputs, { out: [1, 0] }, { dim: { m: 2 } }), err('MATR116', /unknown option 'dim'; did you mean 'dims'\?/));
    await assert.rejects(f.forward(inputs, { f32: 'yes' }), err('MATR116', /option 'f32' must be true or false, got a string \("yes"\)/));
    await assert.rejects(f.forward(inputs, { dims: 3 }), err('MATR116', /option 'dims' must be an object \{name: integer\}, got a number/));
    await assert.rejects(f.forward(inputs, { resident: 1 }), err('MATR116', /option 'resident' must be true or false, got a number/));
    await assert.rejects(f.forward(inputs, 'cpu' as unknown as object), err('MATR116', /the call options must be an object \{option: value\}, got a string \("cpu"\)/));
    await assert.rejects(f.forward(inputs, null as unknown as object), err('MATR116', /got null/));
    await assert.rejects(f.jvp(inputs, { b: [1, 0] }, { into: {} }), err('MATR116', /unknown option 'into' \(options: dims, f32, backend, resident\)/));
    // 'cpu' runs the compiled CPU program in this thread on both paths; undefined options are absent
    assert.deepEqual(Array.from((await f.forward(inputs, { backend: 'cpu', f32: undefined })).outputs.out!.data), want);
  });
}

test('API arguments: CPU backend options, compile arguments, function names and tensor data are checked (MATR117, MATR100, MATR001)', async () => {
  // before: every CpuBackend option was taken as given (threads 0, 'two' or 1e9, precision 'f16',
  // engine 'x', typos); compile(123) was a RangeError, compile() and fn(3) TypeErrors, and
  // new Tensor([2], 'ab') held NaNs
  const bad = [
    [{ threads: 0 }, /option 'threads' must be a whole number of threads, 1 or more, got a number/],
    [{ threads: 'two' }, /option 'threads' must be .* got a string \("two"\)/],
    [{ threads: 1.5 }, /option 'threads'/],
    [{ threads: 1e9 }, /option 'threads'/],
    [{ precision: 'f16' }, /option 'precision' must be 'f64' or 'f32', got a string \("f16"\)/],
    [{ engine: 'x' }, /option 'engine' must be 'wasm' or 'js'/],
    [{ thread: 2 }, /unknown option 'thread'; did you mean 'threads'\?/],
    ['fast', /the CPU backend's options must be an object \{option: value\}, got a string/],
  ] as const;
  for (const [opts, re] of bad) {
    assert.throws(() => new CpuBackend(opts as CpuBackendOptions), err('MATR117', re));
    await assert.rejects(createCpuBackend(opts as CpuBackendOptions), err('MATR117', re));
  }
  assert.equal(new CpuBackend({ threads: 2, precision: 'f32', engine: 'js', reference: false }).threads, 2);
  assert.throws(() => compile(123 as unknown as string), err('MATR117', /compile: the source must be the text of a \.mat program \(a string\), got a number/));
  assert.throws(() => compile(undefined as unknown as string), err('MATR117', /got undefined/));
  assert.throws(() => compile('fn f(x: vec[n]) -> vec[n] = x\n', 'f.mat' as unknown as object), err('MATR117', /compile: the compile options must be an object/));
  assert.throws(() => compile('fn f(x: vec[n]) -> vec[n] = x\n', { pth: 'f.mat' } as unknown as object), err('MATR117', /unknown option 'pth'; did you mean 'path'\?/));
  assert.throws(() => jit.fn(3 as unknown as string), err('MATR100', /a function name must be a string, got a number \(have: f, g\)/));
  assert.throws(() => new Tensor([2], 'ab' as unknown as number[]), err('MATR001', /tensor data must be .* got a string \("ab"\)/));
  assert.throws(() => new Tensor([2], [1, '2'] as unknown as number[]), err('MATR001', /tensor data has a string \("2"\) at \[1\]; numbers were expected/));
  assert.throws(() => new Tensor([2], [1, null] as unknown as number[]), err('MATR001', /tensor data has null at \[1\]/));
  assert.throws(() => new Tensor(2 as unknown as number[], [1, 2]), err('MATR001', /invalid tensor shape: an array of dimensions was expected, got a number/));
  assert.deepEqual(Array.from(new Tensor([2], [1, 2]).data), [1, 2]);
  // the compiler's own entry points, gradCheck, forwardMany / vjpMany, Tensor.complex, executable:
  // a RangeError, TypeErrors ('calls.forEach is not a function', 'p[mode] is not a function') before
  assert.throws(() => compileProgram(123 as unknown as string), err('MATR117', /compile: the source must be the text of a \.mat program/));
  assert.throws(() => checkSource(undefined as unknown as string), err('MATR117', /checkSource: the source must be .* got undefined/));
  const f = jit.fn('f');
  const inputs = { A, b: new Tensor([2], [1, 2]) };
  await assert.rejects(gradCheck('f' as unknown as CompiledFn, inputs), err('MATR117', /gradCheck: the function must be a CompiledFn/));
  await assert.rejects(gradCheck(f, inputs, { tolerence: 1e-6 } as unknown as object), err('MATR117', /gradCheck: unknown option 'tolerence'; did you mean 'tolerance'\?/));
  await assert.rejects(forwardMany(f, 5 as unknown as []), err('MATR101', /forwardMany: the calls must be an array/));
  await assert.rejects(forwardMany(f, [{ A, b: [1, 2] }] as unknown as []), err('MATR001', /forwardMany: calls\[0\]\.b must be a Tensor/));
  await assert.rejects(vjpMany(f, [inputs], 5 as unknown as []), err('MATR101', /vjpMany: the cotangents must be an array/));
  assert.equal((await forwardMany(f, [inputs, inputs])).outputs.length, 2);
  assert.throws(() => Tensor.complex([2], 'xy' as unknown as number[]), err('MATR191', /the real part of a complex tensor must be .* got a string/));
  assert.throws(() => Tensor.complex([2], [1, 2], [0, '1'] as unknown as number[]), err('MATR191', /the imaginary part of a complex tensor has a string \("1"\) at \[1\]/));
  assert.throws(() => f.executable('nope' as 'forward'), err('MATR117', /executable: the form must be 'forward', 'vjp' or 'jvp'/));
  // checked before any adapter is looked for, so on machines without one too
  await assert.rejects(createWebGpuBackend({ device: 5 } as unknown as object), err('MATR117', /createWebGpuBackend: option 'device' must be a GPUDevice, got a number/));
  await assert.rejects(createWebGpuBackend({ devce: {} } as unknown as object), err('MATR117', /unknown option 'devce'; did you mean 'device'\?/));
});

test('a compiled module\'s load options are checked (MATR117), the CPU options inside them too', async () => {
  const ns = (await import(pathToFileURL(modFile).href)) as { load(o?: unknown): Promise<unknown> };
  await assert.rejects(ns.load({ backnd: 'cpu' }), err('MATR117', /load: unknown option 'backnd'; did you mean 'backend'\?/));
  await assert.rejects(ns.load({ backend: 'cpu', cpu: { threads: 0 } }), err('MATR117', /load: cpu: option 'threads'/));
  await assert.rejects(ns.load({ gpu: 'yes' }), err('MATR117', /option 'gpu' must be a WebGPU GPU object/));
  await assert.rejects(ns.load('cpu'), err('MATR117', /the load options must be an object/));
  assert.ok(await ns.load({ backend: 'cpu', cpu: { threads: 1 } }));
});

test('ied_topk with k = 0 gives the empty top-0 eigenvectors (issue 10; issue 12 refused it with MATR106)', async () => {
  const m = compile('import "ied.mat"\n', { path: join(repoRoot, 'stdlib', 'use.mat') });
  const X = new Tensor([3, 3], [2, 1, 0, 1, 2, 0, 0, 0, 1]);
  const r = await m.fn('ied_topk').forward({ X }, { dims: { k: 0 } });
  assert.deepEqual(r.outputs.U!.shape, [3, 0]);
  assert.deepEqual(r.outputs.lam!.shape, [0]);
  assert.equal(r.status.ok, true);
  // an empty batch is still refused
  await assert.rejects(m.fn('ied_topk').forward({ X: new Tensor([0, 3, 3], []) }, { dims: { k: 1 } }), err('MATR106', /the batch \[0\] is empty/));
});

test('an output too large to allocate is MATR109 before anything runs', async () => {
  const f = compile("fn f(x: vec[m], y: vec[n]) -> mat[m, n] = x * y'\n", { path: 'big.mat' }).fn('f');
  // a Tensor of 10⁵ values each; their outer product would have 10¹⁰
  const x = Tensor.zeros([100000]);
  await assert.rejects(f.forward({ x, y: x }), err('MATR109', /output 'out' would have 1\.00e\+10 elements/));
});

test('solver option overrides: a typo or a bad value is MATR114 naming the option', () => {
  const src = 'layer l(A: mat[m, n], b: vec[m]) -> x: vec[n] =\n  argmin x: vec[n] of sumsq(A * x - b)\n';
  assert.throws(() => compile(src, { path: 'o.mat', solverOptions: { maxiter: 5 } }), err('MATR114', /unknown solver option 'maxiter'; did you mean 'max_iter'/));
  assert.throws(() => compile(src, { path: 'o.mat', solverOptions: { max_iter: -5 } }), err('MATR114', /'max_iter' must be a positive integer/));
  assert.throws(() => compile(src, { path: 'o.mat', solverOptions: { max_iter: 2.5 } }), err('MATR114', /'max_iter' must be a positive integer/));
  assert.throws(() => compile(src, { path: 'o.mat', solverOptions: { tol: -1 } }), err('MATR114', /'tol' must be non-negative/));
  assert.throws(() => compile(src, { path: 'o.mat', solverOptions: { gradient: 1 } }), err('MATR114', /'gradient' takes one of riemannian, euclidean/));
  compile(src, { path: 'o.mat', solverOptions: { max_iter: 5, tol: 1e-9 } });
});

const matc = (args: string[]) => spawnSync(process.execPath, [join(repoRoot, 'dist', 'cli', 'matc.js'), ...args], { encoding: 'utf8', timeout: 120000 });

test('matc run: --set typos and bad values, and --dims too large, exit 1 with MATR112 (no stack trace)', () => {
  const less = join(repoRoot, 'stdlib', 'less.mat');
  const cases: [string[], RegExp][] = [
    [['--set', 'max_iter=-5'], /error\[MATR112\]: --set max_iter=-5: solver option 'max_iter' must be a positive integer/],
    [['--set', 'maxiter=5'], /error\[MATR112\]: --set maxiter=5: 'maxiter' is neither a scalar input of less .* nor a solver option; did you mean 'max_iter'/],
    [['--dims', 'm=100000,n=100000'], /error\[MATR112\]: --dims: input 'A' would have 1\.00e\+10 elements/],
    [['--seed', 'abc'], /error\[MATR112\]: --seed must be an integer/],
  ];
  for (const [extra, re] of cases) {
    const r = matc(['run', less, '--fn', 'less', '--random', '--backend', 'cpu', ...extra]);
    assert.equal(r.status, 1, `${extra.join(' ')}: exit ${r.status}\n${r.stderr}`);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /internal error|    at /);
  }
  const ok = matc(['run', less, '--fn', 'less', '--random', '--backend', 'cpu', '--set', 'max_iter=7']);
  assert.equal(ok.status, 0, ok.stderr);
});

test('matc compile --out a path that cannot be a directory: MATR118, exit 1 (was a stack trace, and a hang on /proc)', () => {
  const spec = join(dir, 'inputs.mat');
  const cases: [string, RegExp][] = [
    [join(dir, 'inputs.mat'), /error\[MATR118\]: --out .*inputs\.mat: .*inputs\.mat is a file, not a directory/],
    [join(dir, 'inputs.mat', 'sub'), /error\[MATR118\]: --out .*inputs\.mat\/sub: .*inputs\.mat is a file, not a directory/],
    ['/dev/null/sub', /error\[MATR118\]: --out \/dev\/null\/sub: \/dev\/null is a file, not a directory/],
    // Node's recursive mkdirSync never returns here; the guard's timeout makes that a failure
    ...(process.platform === 'linux' ? ([['/proc/matc-out', /error\[MATR118\]: --out \/proc\/matc-out: cannot create the directory/]] as [string, RegExp][]) : []),
  ];
  for (const [out, re] of cases) {
    const r = spawnSync(process.execPath, [join(repoRoot, 'dist', 'cli', 'matc.js'), 'compile', spec, '--out', out], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.error, undefined, `${out}: ${String(r.error)}`);
    assert.equal(r.status, 1, `${out}: exit ${r.status}\n${r.stderr}`);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /internal error|    at /);
  }
});

test('matc run --inputs: a bad entry names the file and the entry', () => {
  const d = mkdtempSync(join(tmpdir(), 'matc-inputs-cli-'));
  try {
    const file = join(d, 'in.json');
    writeFileSync(file, JSON.stringify({ A: { shape: [3, 2], data: [1, 2, 3, 4, 5] }, b: { shape: [3], data: [1, 2, 3] } }));
    const r = matc(['run', join(repoRoot, 'stdlib', 'less.mat'), '--fn', 'less', '--inputs', file, '--backend', 'cpu']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /error\[MATR001\]: inputs file .*in\.json: entry 'A' has 5 data values but shape \[3, 2\] needs 6/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('sym inputs: finiteness and symmetry checked in one pass give the errors of two (first non-finite flat index before any asymmetric instance; the first asymmetric instance and pair), f64 and f32, odd and even sizes', async () => {
  // the reference: what the two separate scans reported (runtime/bind.ts validate before symScan)
  const expected = (x: Float64Array | Float32Array, m: number): { code: string; re: RegExp } | null => {
    for (let k = 0; k < x.length; k++) if (!Number.isFinite(x[k]!)) return { code: 'MATR104', re: new RegExp(`flat index ${k}$`) };
    const size = m * m;
    for (let b = 0; b < x.length / size; b++) {
      let scale = 0;
      for (let k = 0; k < size; k++) scale = Math.max(scale, Math.abs(x[b * size + k]!));
      const tol = 1e-6 * Math.max(1, scale);
      for (let i = 0; i < m; i++)
        for (let j = i + 1; j < m; j++) if (Math.abs(x[b * size + i * m + j]! - x[b * size + j * m + i]!) > tol) return { code: 'MATR105', re: new RegExp(`X\\[${i},${j}\\] = [^(]*${x.length > size ? ` \\(batch instance ${b}\\)` : ''}$`) };
    }
    return null;
  };
  const g = jit.fn('g');
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  let cases = 0;
  const seen = new Set<string>();
  for (const f32 of [false, true])
    for (const m of [2, 3, 4, 7, 8])
      for (let t = 0; t < 24; t++) {
        const B = 1 + Math.floor(rnd() * 5);
        const size = m * m;
        const x = f32 ? new Float32Array(B * size) : new Float64Array(B * size);
        for (let b = 0; b < B; b++)
          for (let i = 0; i < m; i++)
            for (let j = 0; j <= i; j++) {
              const v = (rnd() - 0.5) * (t % 3 === 0 ? 1e7 : 4);
              x[b * size + i * m + j] = v;
              x[b * size + j * m + i] = v;
            }
        // 0–2 defects: a NaN, ±∞ (on or off the diagonal), an asymmetry above or below the tolerance
        for (let d = 0; d < t % 3; d++) {
          const k = Math.floor(rnd() * x.length);
          const kind = Math.floor(rnd() * 5);
          if (kind === 0) x[k] = NaN;
          else if (kind === 1) x[k] = rnd() < 0.5 ? Infinity : -Infinity;
          else if (kind === 2) x[k] = x[k]! + 1e-3 * Math.max(1, Math.abs(x[k]!));
          else if (kind === 3) x[k] = x[k]! * (1 + 1e-9);
          else x[Math.floor(k / size) * size + (k % m) * m + (k % m)] = Infinity; // a diagonal ∞
        }
        const want = expected(x, m);
        seen.add(want?.code ?? 'ok');
        const call = g.forward({ X: new Tensor([B, m, m], x) }, { dims: { k: 2 } });
        if (!want) await call;
        else await assert.rejects(call, (e: unknown) => e instanceof MatcRuntimeError && e.code === want.code && want.re.test(e.message), `f32 ${f32}, m ${m}, case ${t}: want ${want.code} ${want.re}`);
        cases++;
      }
  assert.equal(cases, 240);
  assert.deepEqual([...seen].sort(), ['MATR104', 'MATR105', 'ok'], 'every outcome is exercised');
});
