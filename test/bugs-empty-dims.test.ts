// Issue 10, item 5: empty dimensions flow through every op. Inputs, intermediates and outputs may
// have a dimension of size 0 on every backend; an empty sum, dot or product is 0, norms are 0, a
// 0×0 solve has an empty result with rcond 1, loops run zero trips, max/min of nothing are −∞/+∞
// (flagged as non-finite outputs), maxloc/minloc of an empty vector is MATR170 where it runs,
// normalize and mean of an empty operand are MATR170 when the call is bound, and an empty batch
// stays MATR106.
//
// Parity: every spec below (the op parity specs with each dimension set to 0 in turn, and specs
// for what they do not reach) runs forward, VJP and JVP on the reference interpreter, the
// compiled CPU program (WebAssembly and JavaScript), which must agree to rounding (statuses and
// errors included), and on WebGPU (f32, within tolerance). A tensor-train-like layer whose
// `where R = min(n1, r)` makes a middle parameter empty is checked against central finite
// differences over its non-empty inputs, and run from the CLI as the reproducer did.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile, type CompiledFn } from '../api/module.js';
import { randomInputs } from '../cli/inputs.js';
import { MatcRuntimeError } from '../core/errors.js';
import type { Backend } from '../runtime/backend.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { Tensor } from '../runtime/tensor.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { withCompiledModule } from './util/aot-module.js';
import { layerGpuOrSkip } from './util/gpu-layers.js';
import { paritySpecs } from './parity-specs.js';
import { repoRoot } from './gen/paths.js';

after(releaseSharedGpu);

interface ZeroSpec {
  name: string;
  src: string;
  fn: string;
  /** dimension sets, each with at least one dimension 0 */
  cases: Record<string, number>[];
  grad?: boolean;
  /** kernels slow to compile cold on a software adapter (test/parity-specs.ts) */
  kernelCost?: 'heavy' | 'slow';
}

// the op parity specs, each dimension set to 0 in turn
const fromParity: ZeroSpec[] = paritySpecs.map((s) => ({
  name: s.name,
  src: s.src,
  fn: s.fn,
  grad: s.grad ?? false,
  cases: Object.keys(s.dims).map((k) => ({ ...s.dims, [k]: 0 })),
  ...(s.kernelCost ? { kernelCost: s.kernelCost } : {}),
}));

// what the parity specs do not reach at zero sizes
const extra: ZeroSpec[] = [
  {
    name: 'empty-reductions',
    fn: 'f',
    grad: true,
    cases: [{ m: 0, n: 3 }, { m: 3, n: 0 }, { m: 0, n: 0 }],
    src: `fn f(A: mat[m, n], x: vec[n], y: vec[m]) -> (a: real, b: real, c: vec[n], d: vec[m], e: real, t: real, s: real, g: real, h: vec[m], o: mat[m, n], z: real) =
  (sum(A), sumsq(A), colsum(A)', rowsum(A), norm(A), trace(A' * A), dot(x, x), sum(x) + norm(x), A * x, y * x', y' * A * x)`,
  },
  { name: 'empty-max-min', fn: 'f', cases: [{ n: 0, m: 2 }], src: `fn f(x: vec[n], y: vec[m]) -> (a: real, b: real, c: vec[m]) = (max(x), min(x), y * 2)` },
  {
    name: 'empty-einsum',
    fn: 'f',
    grad: true,
    cases: [{ a: 2, b: 3, c: 0, d: 2 }, { a: 0, b: 3, c: 2, d: 2 }],
    src: `fn f(T: tensor[a, b, c], M: mat[c, d], N: mat[b, d]) -> (U: tensor[a, b, d], V: mat[a, d], w: real) = (einsum("abc,cd->abd", T, M), einsum("abc,cd,bd->ad", T, M, N), sum(sum(T, 2)))`,
  },
  {
    name: 'empty-blocks',
    fn: 'f',
    grad: true,
    cases: [{ n: 0, m: 2, k: 3 }, { n: 2, m: 0, k: 3 }, { n: 2, m: 2, k: 0 }],
    src: `fn f(x: vec[n], y: vec[m], A: mat[n, k], B: mat[m, k]) -> (v: vec[n + m], C: mat[n + m, k], D: mat[n, k + 1], r: vec[n], w: vec[k * n]) =
  ([x; y], [A; B], [A, x], reshape(vec(A), n, k) * ones(k), vec(A'))`,
  },
  {
    name: 'empty-constructors',
    fn: 'f',
    grad: true,
    cases: [{ n: 0 }],
    src: `fn f(x: vec[n]) -> (I: mat[n, n], Z: mat[n, 3], O: vec[n], q: vec[n], D: mat[n, n], L: mat[n, n], s: real) =
  (eye(n), zeros(n, 3), ones(n), iota(n) + x, diag(x), tril(x * x') + triu(x * x', 1) + sym(x * x') + skew(x * x'), sum(diag(x * x')))`,
  },
  {
    name: 'empty-loops',
    fn: 'f',
    cases: [{ n: 0, m: 2 }, { n: 2, m: 0 }],
    src: `fn f(x0: vec[n], A: mat[m, m], b: vec[m]) -> (x: vec[n], S: mat[n, n], c: real, y: vec[m], u: vec[m]) =
  let (x, S, c) = iterate (x = x0, S = zeros(n, n), c = 0) for i in 0..n => (x + 1, setcol(S, i, x), c + sum(x)),
      y = iterate (y = b) for i in reverse 0..m => set(y, i, y[i] * 2 + sum(y)),
      u = iterate (u = b) for i in 0..50 => let v = 0.5 * (A * u) + b in v until norm(v - u) < 1e-9
  in (x, S, c, y, u)`,
  },
  {
    name: 'empty-solves',
    kernelCost: 'heavy', // solver and LU kernels: minutes cold on lavapipe
    fn: 'f',
    grad: true,
    cases: [{ n: 0, m: 2 }, { n: 2, m: 0 }],
    src: `fn f(A: mat[n, n], b: vec[n], B: mat[n, m], C: mat[m, n]) -> (x: vec[n], X: mat[n, m], Y: mat[n, n], z: vec[n], W: mat[n, m], l: vec[n]) =
  (solve(A + 4 * eye(n), b), solve(A' + 4 * eye(n), B), inv(A + 5 * eye(n)), tril_solve(tril(A) + 5 * eye(n), b), triu_solve(triu(A) + 5 * eye(n), B), lstsq([A + 4 * eye(n); C], [b; C * b]))`,
  },
  {
    name: 'empty-declarative',
    kernelCost: 'heavy', // solver and LU kernels: minutes cold on lavapipe
    fn: 'f',
    grad: true,
    cases: [{ m: 3, n: 0 }, { m: 0, n: 2 }],
    src: `fn f(A: mat[m, n], b: vec[m], c: vec[n]) -> (x: vec[n], y: vec[n], z: vec[n], w: vec[n]) =
  (argmin x: vec[n] of 0.5 * sumsq(A * x - b) + 0.5 * sumsq(x) by newton(),
   argmin x: vec[n] of 0.5 * sumsq(A * x - b) + sumsq(x - c) by gradient_descent(tol: 1e-4),
   argmin x: vec[n] of 0.5 * sumsq(A * x - b) + 0.5 * sumsq(x) by newton(backward: minres),
   solve y: vec[n] such that y .* y .* y + y == c by newton(tol: 1e-5))`,
  },
  { name: 'empty-norm', fn: 'f', grad: true, cases: [{ n: 0, m: 2 }], src: `fn f(x: vec[n], y: vec[m]) -> vec[m] = y * (1 + norm(x)) + sumsq(x) * y` },
];

const specs = [...fromParity, ...extra];

type Outcome = { error: string } | { values: Record<string, Tensor>; ok: boolean; nodes: string };

function cotangents(outputs: Record<string, Tensor>): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, new Tensor([...v.shape], Array.from({ length: v.size }, (_, i) => Math.cos(i + 1)))]));
}

function tangents(inputs: Record<string, Tensor>, fn: CompiledFn): Record<string, Tensor> {
  const diff = new Set(fn.params.filter((p) => p.differentiable).map((p) => p.name));
  return Object.fromEntries(Object.entries(inputs).filter(([k]) => diff.has(k)).map(([k, v]) => [k, new Tensor([...v.shape], Array.from({ length: v.size }, (_, i) => Math.sin(i + 2)))]));
}

async function outcome(run: () => Promise<{ values: Record<string, Tensor>; status: { ok: boolean; nodes: { name: string; converged: boolean[] }[] } }>): Promise<Outcome> {
  try {
    const r = await run();
    return { values: r.values, ok: r.status.ok, nodes: JSON.stringify(r.status.nodes.map((n) => [n.name, n.converged])) };
  } catch (e) {
    if (e instanceof MatcRuntimeError) return { error: `${e.code}: ${e.message}` };
    throw e;
  }
}

async function runAll(fn: CompiledFn, inputs: Record<string, Tensor>, dims: Record<string, number>, backend: Backend, grad: boolean, cot: Record<string, Tensor> | null): Promise<Record<string, Outcome>> {
  const opts = { backend, dims };
  const out: Record<string, Outcome> = {};
  out.forward = await outcome(async () => {
    const r = await fn.forward(inputs, opts);
    return { values: r.outputs, status: r.status };
  });
  if (grad && cot) {
    out.vjp = await outcome(async () => {
      const r = await fn.vjp(inputs, cot, opts);
      return { values: { ...r.outputs, ...Object.fromEntries(Object.entries(r.gradients).map(([k, v]) => [`grad.${k}`, v])) }, status: r.status };
    });
  }
  out.jvp = await outcome(async () => {
    const r = await fn.jvp(inputs, tangents(inputs, fn), opts);
    return { values: { ...r.outputs, ...Object.fromEntries(Object.entries(r.tangents).map(([k, v]) => [`tg.${k}`, v])) }, status: r.status };
  });
  return out;
}

/** Equal outcomes: the same error code, or the same shapes, non-finite pattern, values within
 *  `tol` (relative to each tensor's magnitude) and the same ok flag and converged flags. */
type Values = Extract<Outcome, { values: unknown }>;

function sameOutcome(oa: Outcome, ob: Outcome, tol: number, what: string, compareNodes = true): void {
  if ('error' in oa || 'error' in ob) {
    const ea = 'error' in oa ? oa.error : 'values';
    const eb = 'error' in ob ? ob.error : 'values';
    assert.equal(eb.split(':')[0], ea.split(':')[0], `${what}: ${ea} vs ${eb}`);
    return;
  }
  const a = oa as Values;
  const b = ob as Values;
  assert.deepEqual(Object.keys(b.values).sort(), Object.keys(a.values).sort(), what);
  for (const [k, x] of Object.entries(a.values)) {
    const y = b.values[k]!;
    assert.deepEqual([...y.shape], [...x.shape], `${what} ${k}: shape`);
    const scale = Math.max(1, ...Array.from(x.data).filter(Number.isFinite).map(Math.abs));
    for (let i = 0; i < x.size; i++) {
      const u = x.data[i]!;
      const v = y.data[i]!;
      if (!Number.isFinite(u)) assert.ok(Object.is(u, v) || (Number.isNaN(u) && Number.isNaN(v)), `${what} ${k}[${i}]: ${u} vs ${v}`);
      else assert.ok(Math.abs(u - v) <= tol * scale, `${what} ${k}[${i}]: ${u} vs ${v}`);
    }
  }
  assert.equal(b.ok, a.ok, `${what}: ok`);
  if (compareNodes) assert.equal(b.nodes, a.nodes, `${what}: statuses`);
}

const interp = new CpuBackend({ reference: true, threads: 1 });
const f32 = new CpuBackend({ threads: 1, precision: 'f32' });
const cpuPaths: [string, Backend][] = [
  ['wasm', new CpuBackend({ threads: 1 })],
  ['js', new CpuBackend({ threads: 1, engine: 'js' })],
];

async function reference(s: ZeroSpec, fn: CompiledFn, dims: Record<string, number>, seed: number) {
  const inputs = randomInputs(fn, dims, [2], seed);
  let cot: Record<string, Tensor> | null = null;
  if (s.grad) {
    try {
      cot = cotangents((await fn.forward(inputs, { backend: interp, dims })).outputs);
    } catch (e) {
      if (!(e instanceof MatcRuntimeError)) throw e;
    }
  }
  return { inputs, cot, ref: await runAll(fn, inputs, dims, interp, s.grad ?? false, cot) };
}

for (const s of specs) {
  test(`empty dimensions, CPU paths: ${s.name}`, async () => {
    const fn = compile(s.src, { path: `${s.name}.mat` }).fn(s.fn);
    for (const [ci, dims] of s.cases.entries()) {
      const { inputs, cot, ref } = await reference(s, fn, dims, 10 + ci);
      for (const [name, backend] of cpuPaths) {
        const got = await runAll(fn, inputs, dims, backend, s.grad ?? false, cot);
        for (const mode of Object.keys(ref)) sameOutcome(ref[mode]!, got[mode]!, 1e-12, `${s.name} ${JSON.stringify(dims)} ${mode} ${name}`);
      }
      // f32 storage (the JavaScript form): values to f32 rounding
      const got = await runAll(fn, inputs, dims, f32, s.grad ?? false, cot);
      for (const mode of Object.keys(ref)) sameOutcome(ref[mode]!, got[mode]!, 1e-4, `${s.name} ${JSON.stringify(dims)} ${mode} f32`, false);
    }
  });
}

for (const s of specs) {
  test(`empty dimensions, WebGPU = the f64 CPU: ${s.name}`, async (t) => {
    // kernels that take a minute or more to compile cold on lavapipe are checked at zero sizes
    // there only with MATC_GPU_LAYERS=1 (their CPU paths run here, their kernels in webgpu-parity)
    const ctx = s.kernelCost ? await layerGpuOrSkip(t) : await gpuOrSkip(t);
    if (!ctx) return;
    const gpu = new WebGpuBackend(ctx);
    const fn = compile(s.src, { path: `${s.name}.mat` }).fn(s.fn);
    // kernels are size-generic: every case of a spec runs the same three kernels
    for (const [ci, dims] of s.cases.entries()) {
      const { inputs, cot, ref } = await reference(s, fn, dims, 10 + ci);
      const got = await runAll(fn, inputs, dims, gpu, s.grad ?? false, cot);
      // f32 kernels: values to f32 tolerance; solver statuses may differ in iteration counts
      for (const mode of Object.keys(ref)) sameOutcome(ref[mode]!, got[mode]!, 2e-3, `${s.name} ${JSON.stringify(dims)} ${mode} webgpu`, false);
    }
  });
}

// ---- the semantics, stated ------------------------------------------------------------------------

const num = (t: Tensor | undefined) => Array.from(t!.data);

test('an empty sum, dot, matrix product, norm and trace is 0; a 0×0 solve is empty with rcond 1', async () => {
  const m = compile(extra.find((x) => x.name === 'empty-reductions')!.src, { path: 'r.mat' });
  const A = new Tensor([0, 3], []);
  const r = await m.fn('f').forward({ A, x: [1, 2, 3], y: new Tensor([0], []) });
  assert.ok(r.status.ok);
  assert.deepEqual(num(r.outputs.a), [0]);
  assert.deepEqual(num(r.outputs.b), [0]);
  assert.deepEqual(num(r.outputs.c), [0, 0, 0]);
  assert.deepEqual([...r.outputs.d!.shape], [0]);
  assert.deepEqual(num(r.outputs.e), [0]);
  assert.deepEqual(num(r.outputs.t), [0]);
  assert.deepEqual(num(r.outputs.s), [14]);
  assert.deepEqual(num(r.outputs.z), [0]); // yᵀ A x with no rows
  const s = compile(extra.find((x) => x.name === 'empty-solves')!.src, { path: 's.mat' }).fn('f');
  const e = new Tensor([0, 0], []);
  const rs = await s.forward({ A: e, b: new Tensor([0], []), B: new Tensor([0, 2], []), C: new Tensor([2, 0], []) });
  assert.ok(rs.status.ok, rs.status.warnings.join('; '));
  for (const n of rs.status.nodes) assert.deepEqual(n.converged, [true], n.name);
  assert.deepEqual([...rs.outputs.Y!.shape], [0, 0]);
  // a product over an empty inner dimension is the zero matrix
  const p = compile('fn f(A: mat[m, k], B: mat[k, n]) -> mat[m, n] = A * B\n', { path: 'p.mat' }).fn('f');
  const rp = await p.forward({ A: new Tensor([2, 0], []), B: new Tensor([0, 3], []) });
  assert.deepEqual(num(rp.outputs.out), [0, 0, 0, 0, 0, 0]);
});

test('max and min of nothing are −∞ and +∞, and the call says the outputs are not finite', async () => {
  const f = compile(extra.find((x) => x.name === 'empty-max-min')!.src, { path: 'mm.mat' }).fn('f');
  const r = await f.forward({ x: new Tensor([0], []), y: [1, 2] });
  assert.deepEqual(num(r.outputs.a), [-Infinity]);
  assert.deepEqual(num(r.outputs.b), [Infinity]);
  assert.equal(r.status.ok, false);
  assert.ok(r.status.warnings.some((w) => /output a has 1 non-finite/.test(w)), r.status.warnings.join('; '));
});

test('the norm of an empty vector has tangent 0 (no 0/0), its gradient is empty', async () => {
  const f = compile(extra.find((x) => x.name === 'empty-norm')!.src, { path: 'n.mat' }).fn('f');
  const x = new Tensor([0], []);
  const r = await f.jvp({ x, y: [1, 2] }, { x, y: [3, 4] });
  assert.ok(r.status.ok);
  assert.deepEqual(num(r.tangents.out), [3, 4]);
  const g = await f.vjp({ x, y: [1, 2] }, { out: [1, 1] });
  assert.ok(g.status.ok);
  assert.deepEqual([...g.gradients.x!.shape], [0]);
  assert.deepEqual(num(g.gradients.y), [1, 1]);
});

const MATR = (code: string, re: RegExp) => (e: unknown) => e instanceof MatcRuntimeError && e.code === code && re.test(e.message);

test('maxloc/minloc of an empty vector is MATR170 where it runs, on every CPU path and on WebGPU', async (t) => {
  const src = 'fn f(x: vec[n], y: vec[m]) -> real = float(maxloc(x)) + y[minloc(y)]\n';
  const f = compile(src, { path: 'ml.mat' }).fn('f');
  const x = new Tensor([0], []);
  const backends: [string, Backend][] = [['interp', interp], ...cpuPaths];
  const ctx = await gpuOrSkip(t);
  if (ctx) backends.push(['webgpu', new WebGpuBackend(ctx)]);
  for (const [name, backend] of backends) {
    await assert.rejects(f.forward({ x, y: [3, 1, 2] }, { backend }), MATR('MATR170', /^maxloc of an empty vector: it has no entries/), name);
    await assert.rejects(f.forward({ x: [1, 5], y: new Tensor([0], []) }, { backend }), MATR('MATR170', /^minloc of an empty vector/), name);
    assert.deepEqual(num((await f.forward({ x: [1, 5], y: [3, 1, 2] }, { backend })).outputs.out), [2], name);
  }
  // in a loop that does not run it is never evaluated (a loop-invariant maxloc(x) would be: it is
  // computed once before the loop, as every invariant value)
  const g = compile('fn g(x: vec[n]) -> real = iterate (s = 0) for i in 0..n => s + float(maxloc(x + i))\n', { path: 'ml.mat' }).fn('g');
  for (const [name, backend] of backends) assert.deepEqual(num((await g.forward({ x }, { backend })).outputs.out), [0], name);
});

test('normalize and mean of an empty operand are MATR170 when the call is bound; an empty batch is MATR106', async () => {
  const m = compile('fn f(x: vec[n]) -> vec[n] = normalize(x)\nfn g(A: mat[m, n]) -> real = mean(A)\nfn h(x: vec[n]) -> vec[n] = 2 * x\n', { path: 'nm.mat' });
  for (const backend of [interp, ...cpuPaths.map((p) => p[1])]) {
    await assert.rejects(m.fn('f').forward({ x: new Tensor([0], []) }, { backend }), MATR('MATR170', /f: normalize\(x\) is not defined on an empty operand \(it has n entries\), which fails for n=0/));
    await assert.rejects(m.fn('g').forward({ A: new Tensor([2, 0], []) }, { backend }), MATR('MATR170', /g: mean\(A\) is not defined on an empty operand \(it has m\*n entries\)/));
  }
  assert.deepEqual(num((await m.fn('f').forward({ x: [3, 4] })).outputs.out), [0.6, 0.8]);
  await assert.rejects(m.fn('h').forward({ x: new Tensor([0, 3], []) }), MATR('MATR106', /the batch \[0\] is empty/));
  // the derived forms carry the check too
  await assert.rejects(m.fn('f').vjp({ x: new Tensor([0], []) }, { out: new Tensor([0], []) }), MATR('MATR170', /normalize/));
  // an index into an empty dimension is out of range as before
  const ix = compile('fn f(A: mat[m, n]) -> vec[m] = A[:, 0]\n', { path: 'ix.mat' }).fn('f');
  await assert.rejects(ix.forward({ A: new Tensor([2, 0], []) }), MATR('MATR107', /a column index: index 0 is out of range for a dimension of size 0/));
});

test('the stdlib at empty sizes: QR of 3×0 and 0×3, ied_topk with k = 0', async () => {
  const m = compile('import "qr.mat"\nimport "ied.mat"\n', { path: join(repoRoot, 'stdlib', 'use.mat') });
  for (const shape of [[3, 0], [0, 3]]) {
    const A = new Tensor(shape, []);
    const r = await m.fn('qr').forward({ A });
    assert.ok(r.status.ok, r.status.warnings.join('; '));
    assert.deepEqual([...r.outputs.Q!.shape], [shape[0], 0]);
    assert.deepEqual([...r.outputs.R!.shape], [0, shape[1]]);
    const g = await m.fn('qr').vjp({ A }, { Q: new Tensor([shape[0]!, 0], []), R: new Tensor([0, shape[1]!], []) });
    assert.ok(g.status.ok);
    assert.deepEqual([...g.gradients.A!.shape], shape);
  }
  const X = new Tensor([3, 3], [2, 1, 0, 1, 2, 0, 0, 0, 1]);
  const t = await m.fn('ied_topk').forward({ X }, { dims: { k: 0 } });
  assert.ok(t.status.ok, t.status.warnings.join('; '));
  assert.deepEqual([...t.outputs.U!.shape], [3, 0]);
  const tv = await m.fn('ied_topk').vjp({ X }, { U: new Tensor([3, 0], []), lam: new Tensor([0], []) }, { dims: { k: 0 } });
  assert.deepEqual(num(tv.gradients.X), new Array(9).fill(0));
});

// ---- a tensor-train-like layer with an empty middle parameter ----------------------------------------

const TT = `// A tensor-train-like layer: G1 (Σ_{j,b,k} G2[a, j, b] G3[b, k] x[j, k]), plus a block on the
// rows the rank leaves free (E: empty when the rank is full, r >= n1).
layer tt_apply(G1: mat[n1, R], G2: tensor[R, n2, S], G3: mat[S, n3], E: mat[n1 - R, n2 * n3], x: mat[n2, n3], r: int = 2, s: int = 2) -> vec[n1] where R = min(n1, r), S = min(n3, s) =
  let core = G1 * einsum("ajb,bk,jk->a", G2, G3, x)
  in tanh(core + [zeros(R); E * vec(x)])
`;

/** Central differences of ⟨c, f⟩ along random directions of the non-empty inputs, against the VJP. */
async function gradCheck(fn: CompiledFn, inputs: Record<string, Tensor>, dims: Record<string, number>, backend: Backend): Promise<void> {
  const f0 = await fn.forward(inputs, { dims, backend });
  const c = cotangents(f0.outputs).out!;
  const g = await fn.vjp(inputs, { out: c }, { dims, backend });
  assert.ok(g.status.ok, g.status.warnings.join('; '));
  const phi = async (x: Record<string, Tensor>) => {
    const o = (await fn.forward(x, { dims, backend })).outputs.out!;
    return Array.from(o.data).reduce((s, v, i) => s + v * c.data[i]!, 0);
  };
  let seed = 7;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0), seed / 2 ** 32 - 0.5);
  for (let trial = 0; trial < 3; trial++) {
    const dir = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, Array.from({ length: v.size }, rnd)]));
    const h = 1e-6;
    const shift = (sg: number) => Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, new Tensor([...v.shape], Array.from(v.data, (x, i) => x + sg * h * dir[k]![i]!))]));
    const fd = ((await phi(shift(1))) - (await phi(shift(-1)))) / (2 * h);
    let an = 0;
    for (const [k, d] of Object.entries(dir)) d.forEach((v, i) => (an += v * g.gradients[k]!.data[i]!));
    assert.ok(Math.abs(an - fd) <= 1e-7 * Math.max(1, Math.abs(fd)), `directional derivative ${an} vs central differences ${fd}`);
  }
  for (const [k, v] of Object.entries(inputs)) assert.deepEqual([...g.gradients[k]!.shape], [...v.shape], `the gradient of ${k} has its shape`);
}

test('a TT-like layer whose where R = min(n1, r) empties a middle parameter: forward and VJP (finite differences)', async () => {
  const fn = compile(TT, { path: 'tt.mat' }).fn('tt_apply');
  // r ≥ n1: E is [0, n2 n3]; r = 0: G1 is [n1, 0] and G2 [0, n2, S]
  for (const dims of [{ n1: 2, n2: 3, n3: 2, r: 3, s: 2 }, { n1: 3, n2: 2, n3: 2, r: 0, s: 1 }, { n1: 3, n2: 2, n3: 2, r: 2, s: 0 }]) {
    const inputs = randomInputs(fn, dims, [], 3);
    const empty = Object.entries(inputs).filter(([, v]) => v.size === 0).map(([k]) => k);
    assert.ok(empty.length > 0, `some parameter is empty for ${JSON.stringify(dims)}`);
    for (const backend of [interp, ...cpuPaths.map((p) => p[1])]) await gradCheck(fn, inputs, dims, backend);
  }
});

test('WebGPU: the TT-like layer with an empty parameter agrees with the f64 CPU', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const gpu = new WebGpuBackend(ctx);
  const fn = compile(TT, { path: 'tt.mat' }).fn('tt_apply');
  for (const dims of [{ n1: 2, n2: 3, n3: 2, r: 3, s: 2 }, { n1: 3, n2: 2, n3: 2, r: 0, s: 1 }]) {
    const inputs = randomInputs(fn, dims, [3], 5);
    const cot = cotangents((await fn.forward(inputs, { dims })).outputs);
    const a = await runAll(fn, inputs, dims, interp, true, cot);
    const b = await runAll(fn, inputs, dims, gpu, true, cot);
    for (const mode of Object.keys(a)) sameOutcome(a[mode]!, b[mode]!, 2e-3, `tt ${JSON.stringify(dims)} ${mode}`, false);
  }
});

test('the CLI: matc run --random --dims that empty a parameter runs, with its gradient check', () => {
  const dir = mkdtempSync(join(tmpdir(), 'matc-empty-'));
  try {
    writeFileSync(join(dir, 'tt.mat'), TT);
    const cli = join(repoRoot, 'dist', 'cli', 'matc.js');
    const r = spawnSync(process.execPath, [cli, 'run', join(dir, 'tt.mat'), '--fn', 'tt_apply', '--random', '--dims', 'n1=2,n2=3,n3=2,r=3', '--check-grad', '--backend', 'cpu'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /R=2/);
    assert.match(r.stdout, /gradient check \(f64, central differences, 4 random directions\): max relative error \S+ — ok/);
    const g = spawnSync(process.execPath, [cli, 'run', join(dir, 'tt.mat'), '--fn', 'tt_apply', '--random', '--dims', 'n1=2,n2=3,n3=2,r=3', '--grad', '--backend', 'cpu'], { encoding: 'utf8' });
    assert.equal(g.status, 0, g.stderr);
    assert.match(g.stdout, /\n {2}E {2}\[0, 6\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('AOT modules: empty parameters run, and the MATR170 binding checks are embedded', async () => {
  type Fn = { forward(i: Record<string, unknown>, o?: object): Promise<{ outputs: Record<string, Tensor>; status: { ok: boolean } }>; vjp(i: Record<string, unknown>, c: Record<string, unknown>, o?: object): Promise<{ gradients: Record<string, Tensor> }> };
  await withCompiledModule<{ functions: Record<string, Fn> }, void>('tt.mat', TT + 'fn unit(x: vec[n]) -> vec[n] = normalize(x)\n', async (ns) => {
    const jit = compile(TT, { path: 'tt.mat' }).fn('tt_apply');
    const dims = { n1: 2, n2: 3, n3: 2, r: 3, s: 2 };
    const inputs = randomInputs(jit, dims, [], 9);
    const a = await ns.functions.tt_apply!.forward(inputs, { dims: { r: 3, s: 2 } });
    const b = await jit.forward(inputs, { dims: { r: 3, s: 2 } });
    assert.deepEqual(Array.from(a.outputs.out!.data), Array.from(b.outputs.out!.data));
    const g = await ns.functions.tt_apply!.vjp(inputs, { out: [1, -1] }, { dims: { r: 3, s: 2 } });
    assert.deepEqual([...g.gradients.E!.shape], [0, 6]);
    await assert.rejects(ns.functions.unit!.forward({ x: new Tensor([0], []) }), MATR('MATR170', /normalize\(x\) is not defined on an empty operand/));
  });
});
