// Issue 12's run-time reproducers, each a regression test: a spec that checks also compiles and
// runs, and what the runtime cannot do it refuses with a MatcRuntimeError that names the
// parameter, never a silently wrong result with ok: true. Index bounds (CPU, WebGPU, AOT),
// structured unknowns, layers inside declarative nodes and their derivatives. The checker's
// reproducers are in test/hardening.test.ts; the input layer's in test/inputs.test.ts.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { compile, type CompiledFn } from '../api/module.js';
import { MatcRuntimeError } from '../core/errors.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { compileProgram } from '../compiler/compile.js';
import { genInstanceKernel } from '../compiler/codegen/wgsl/instance.js';
import { Tensor } from '../runtime/tensor.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { withCompiledModule } from './util/aot-module.js';
import { repoRoot } from './gen/paths.js';

after(releaseSharedGpu);

const PAST_BOUND = 'fn f(A: mat[m, n]) -> vec[m] = iterate (x = zeros(m)) for j in 0..n + 1 => A[:, j]\n';
// a data-dependent index: past the end in the instances whose largest entry is last
const DATA_INDEX = 'fn g(x: vec[n]) -> real = x[maxloc(x) + 1]\n';
const isOob = (re: RegExp) => (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR107' && re.test(e.message);

const A = new Tensor([3, 4], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
const xs = new Tensor([3, 3], [3, 1, 2, 1, 2, 3, 2, 3, 1]); // instance 1 has its maximum last

test('a loop index past its bound is MATR107 on the CPU', async () => {
  const m = compile(PAST_BOUND, { path: 'oob.mat' });
  await assert.rejects(m.fn('f').forward({ A }), isOob(/a column index: index 4 is out of range for a dimension of size 4/));
  await assert.rejects(compile(DATA_INDEX, { path: 'oob.mat' }).fn('g').forward({ x: xs }), isOob(/an index: index 3 is out of range/));
});

test('WebGPU: a loop index past its bound is MATR107, not a silent 0 with ok: true (issue 12)', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const m = compile(PAST_BOUND, { path: 'oob.mat' });
  await assert.rejects(m.fn('f').forward({ A }, { backend }), isOob(/a column index: index 4 is out of range for a dimension of size 4 \(valid: 0 … 3\)/));
  // in range, the same kernel runs and agrees with the CPU
  const ok = compile('fn f(A: mat[m, n]) -> vec[m] = iterate (x = zeros(m)) for j in 0..n => x + A[:, j]\n', { path: 'ok.mat' }).fn('f');
  const [gpu, cpu] = [await ok.forward({ A }, { backend }), await ok.forward({ A })];
  assert.ok(gpu.status.ok);
  assert.deepEqual(Array.from(gpu.outputs.out!.data), Array.from(cpu.outputs.out!.data));
  // a data-dependent index fails in the instance where it leaves the range, named in the message
  const g = compile(DATA_INDEX, { path: 'oob.mat' }).fn('g');
  await assert.rejects(g.forward({ x: xs }, { backend }), isOob(/an index: index 3 is out of range for a dimension of size 3 .* in batch instance 1/));
  const fine = new Tensor([2, 3], [3, 1, 2, 2, 3, 1]);
  assert.deepEqual(Array.from((await g.forward({ x: fine }, { backend })).outputs.out!.data), [1, 1]);
});

test('AOT: the embedded kernel checks its indices too', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  await withCompiledModule<{ functions: { f: CompiledFn } }, void>('oob.mat', PAST_BOUND, async (ns) => {
    await assert.rejects(ns.functions.f.forward({ A }), isOob(/a column index: index 4/));
    await assert.rejects(ns.functions.f.forward({ A }, { backend: new WebGpuBackend(ctx) }), isOob(/a column index: index 4/));
  });
});

test('an index that is provably past its dimension (x[n] of a vec[n]) is MAT0210 at check time', () => {
  assert.throws(() => compile('fn f(x: vec[n]) -> real = x[n]\n', { path: 'x.mat' }), /MAT0210[\s\S]*index n is out of range for a dimension of size n/);
  assert.throws(() => compile('fn f(A: mat[m, n]) -> vec[m] = A[:, n + 2]\n', { path: 'x.mat' }), /MAT0210/);
  compile('fn f(x: vec[n]) -> real = x[n - 1]\n', { path: 'x.mat' });
});

const inner = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

/** f64 central differences of ⟨ct, f(X)⟩ along D against the VJP and the JVP. */
async function derivativesAgree(f: CompiledFn, inputs: Record<string, Tensor>, dir: Record<string, Tensor>, ct: Record<string, Tensor>): Promise<void> {
  const h = 1e-6;
  const shift = (s: number) => Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, new Tensor(v.shape, v.data.map((x, i) => x + s * h * (dir[k]?.data[i] ?? 0)))]));
  const dot = async (ins: Record<string, Tensor>) => {
    const r = await f.forward(ins);
    return Object.entries(ct).reduce((s, [k, c]) => s + inner(r.outputs[k]!.data, c.data), 0);
  };
  const fd = (await dot(shift(1)) - (await dot(shift(-1)))) / (2 * h);
  const g = await f.vjp(inputs, ct);
  const viaVjp = Object.entries(dir).reduce((s, [k, d]) => s + inner(g.gradients[k]!.data, d.data), 0);
  const j = await f.jvp(inputs, dir);
  const viaJvp = Object.entries(ct).reduce((s, [k, c]) => s + inner(j.tangents[k]!.data, c.data), 0);
  const tol = 1e-5 * Math.max(1, Math.abs(fd));
  assert.ok(Math.abs(viaVjp - fd) < tol, `VJP ${viaVjp} vs finite differences ${fd}`);
  assert.ok(Math.abs(viaJvp - fd) < tol, `JVP ${viaJvp} vs finite differences ${fd}`);
}

const X = new Tensor([3, 3], [4, 1, 0.5, 1, 3, 0.2, 0.5, 0.2, 1]);
const Dsym = new Tensor([3, 3], [1, 0.5, 0, 0.5, -1, 0.3, 0, 0.3, 2]);

test('the ied layer inside a solve … such that equation compiles, runs and differentiates (issue 12)', async () => {
  const m = compile(
    `import "ied.mat"
layer g(X: sym[m]) -> y: vec[m] =
  solve y: vec[m] such that y == 0.1 * ied(X + diag(y))
layer h(X: sym[m]) -> y: vec[m] =
  iterate (y = ones(m)) for i in 0..3 => ied(X + y * y')
`,
    { path: join(repoRoot, 'stdlib', 'use.mat'), solverOptions: { max_iter: 2000, tol: 1e-13 } },
  );
  const g = m.fn('g');
  const r = await g.forward({ X });
  assert.ok(r.status.ok, r.status.warnings.join('; '));
  await derivativesAgree(g, { X }, { X: Dsym }, { y: new Tensor([3], [1, 2, 3]) });
  assert.ok((await m.fn('h').forward({ X })).status.ok);
});

test('a layer called on a computed matrix (ied(3 * X)) has its whole derivative (it had half)', async () => {
  const m = compile(
    `layer e(X: sym[m]) -> u: sphere[m] =
  argmax u: sphere[m] of u' * X * u
    by power_iteration(max_iter: 3000, tol: 1e-14)
layer scaled(X: sym[m]) -> u: vec[m] = e(3 * X)
layer doubled(X: sym[m]) -> u: vec[m] = e(X + X)
`,
    { path: 'e.mat' },
  );
  for (const name of ['scaled', 'doubled']) await derivativesAgree(m.fn(name), { X }, { X: Dsym }, { u: new Tensor([3], [1, 2, 3]) });
});

test('structured unknowns of every kind solve and differentiate, diag[k, n] included (it was an IR type error)', async () => {
  const kinds: [string, string, string][] = [
    ['diag[m, n]', 'Y', 'A .* eye(m, n)'],
    ['diag[m]', 'Y', '(A * A\') .* eye(m)'],
    ['tril[m, n]', 'Y', 'tril(A)'],
    ['triu[m, n]', 'Y', 'triu(A)'],
    ['sym[m]', 'Y', "A * A'"],
    ['spd[m]', 'Y', "A * A' + eye(m)"],
    ['stiefel[m, n]', "Y' * Y", 'eye(n)'],
    ['orth[m]', "Y' * Y", 'eye(m)'],
    ['sphere[m]', 'sumsq(Y)', '1'],
  ];
  const A3 = new Tensor([3, 2], [1, 0.5, -0.3, 2, 0.7, 0.1]);
  for (const [ty, lhs, rhs] of kinds) {
    const f = compile(`layer f(A: mat[m, n]) -> Y: ${ty} =\n  solve Y: ${ty} such that ${lhs} == ${rhs}\n`, { path: 'k.mat' }).fn('f');
    const r = await f.forward({ A: A3 });
    assert.ok(r.status.ok, `${ty}: ${r.status.warnings.join('; ')}`);
    const ct = new Tensor(r.outputs.Y!.shape, Array.from({ length: r.outputs.Y!.size }, (_, i) => 1 + i));
    assert.ok((await f.vjp({ A: A3 }, { Y: ct })).status.ok, ty);
    assert.ok((await f.jvp({ A: A3 }, { A: A3 })).status.ok, ty);
  }
  // the rectangular diagonal solve gives the diagonal of A, and its gradient is the masked cotangent
  const f = compile('layer f(A: mat[k, n]) -> R: diag[k, n] =\n  solve R: diag[k, n] such that R == A .* eye(k, n)\n', { path: 'd.mat' }).fn('f');
  const A34 = new Tensor([3, 4], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.deepEqual(Array.from((await f.forward({ A: A34 })).outputs.R!.data), [1, 0, 0, 0, 0, 6, 0, 0, 0, 0, 11, 0]);
  const g = await f.vjp({ A: A34 }, { R: new Tensor([3, 4], Array(12).fill(1)) });
  assert.deepEqual(Array.from(g.gradients.A!.data).map((v) => Math.round(v * 1e9) / 1e9), [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]);
});

test('a chain of 3,000 fused views generates WGSL (it overflowed the generator recursion)', () => {
  const n = 3000;
  const src = `fn f(x: vec[n]) -> vec[n] = let ${Array.from({ length: n }, (_, i) => `y${i} = sin(${i ? `y${i - 1}` : 'x'}) + x`).join(', ')} in y${n - 1}\n`;
  const p = compileProgram(src, { path: 'chain.mat' });
  for (const mode of ['forward', 'vjp', 'jvp'] as const) {
    const k = genInstanceKernel(p[mode]('f'), { packScratch: false });
    // materialized every MAX_FUSION_DEPTH views: about n / 32 slots for the forward chain
    assert.ok(k.slots.length >= n / 40, `${mode}: ${k.slots.length} slots`);
    // and the liveness planning (slot-pack.ts) folds the forward chain's slots into a few (the
    // VJP and JVP as emitted keep the forward values their derivative parts read)
    const packed = genInstanceKernel(p[mode]('f'));
    assert.ok(packed.slots.length <= (mode === 'forward' ? k.slots.length / 10 : k.slots.length), `${mode}: ${packed.slots.length} packed slots of ${k.slots.length}`);
  }
});

test('an intermediate too large for a typed array is MATR131 on the reference interpreter too, not a RangeError', async () => {
  const { CpuBackend } = await import('../runtime/cpu/cpu-backend.js');
  const { Tensor } = await import('../runtime/tensor.js');
  const fn = compile('fn f(x: vec[n]) -> real = max(exp(x * x\'))', { path: 'big.mat' }).fn('f');
  const x = new Tensor([100000], new Float64Array(100000).fill(1e-3));
  await assert.rejects(fn.forward({ x }, { backend: new CpuBackend({ reference: true }) }), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR131' && /reference interpreter/.test(e.message));
});
