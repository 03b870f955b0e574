// Int state in optimizers (issue 10 item 7) and the two optimizer-state bugs of the issue.
//   - `state t: int = 0` updated `t <- t + 1` stays an int: through the IR (an i[] parameter and
//     result), the signature (int flags), the binding (MATR150 for a non-integer), every backend
//     (the reference interpreter, WebAssembly, JavaScript in f64 and f32 storage, WebGPU: i32 bits
//     through the f32 buffers, so 2³¹ − 1 is exact), the CLI and AOT modules; usable in a branch
//     condition (`if mod(t, T) == 0`: INGD's amortised factor update), checked against a
//     JavaScript transcription of the step.
//   - bug (a): `matc run --random` of an optimizer takes the state from NAME.init (a random second
//     moment made sqrt(V) NaN);
//   - bug (b): a structured state updated to a value without the structure is MAT0610 at compile
//     time (it ran, and the next step failed with MATR105).

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compile, type CompiledFn } from '../api/module.js';
import { CompileError } from '../compiler/compile.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { Tensor } from '../runtime/tensor.js';
import type { Backend } from '../runtime/backend.js';
import { MatcRuntimeError } from '../core/errors.js';
import { compileToDir } from '../cli/aot.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { repoRoot } from './gen/paths.js';
import { luSolve } from './util/dense.js';

after(releaseSharedGpu);

const src = `
// INGD-style: the factor K is refreshed every T steps only (a solve skipped on T − 1 of T steps)
optimizer ingd(W: mat[m, p], G: mat[m, p]; lr: real = 0.1, T: int = 3) =
  state K: tril[p] = eye(p), t: int = 0
  let t2 = t + 1,
      K2 = if mod(t2, T) == 0 then tril(solve(eye(p) + 0.1 * G' * G, K)) else K in
  K <- K2, t <- t2, W <- W - lr * G * K2

optimizer count(w: vec[n], g: vec[n]) =
  state t: int = 0
  t <- t + 1, w <- w - 0.01 * float(t) * g

// Adam: the second moment starts at zero; a random (negative) one gives sqrt of a negative: NaN
optimizer adam(W: mat[m, n], G: mat[m, n]; lr: real = 0.001) =
  state M: mat[m, n] = zeros(m, n), V: mat[m, n] = zeros(m, n)
  let M2 = 0.9 * M + 0.1 * G, V2 = 0.999 * V + 0.001 * G .* G in
  M <- M2, V <- V2, W <- W - lr * M2 ./ (sqrt(V2) + 1e-8)
`;

const m = compile(src, { path: 'state.mat' });
const [M, P] = [4, 3];

function rnd(seed: number, n: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  });
}

/** One step of ingd in JavaScript (the oracle): K2 = tril((I + 0.1 GᵀG)⁻¹ K) on refresh steps. */
function ingdRef(W: number[], G: number[], K: number[], t: number, lr: number, T: number): { W: number[]; K: number[]; t: number } {
  const t2 = t + 1;
  let K2 = K;
  if (t2 % T === 0) {
    const A = Array.from({ length: P * P }, (_, k) => {
      const [i, j] = [Math.floor(k / P), k % P];
      let s = 0;
      for (let r = 0; r < M; r++) s += G[r * P + i]! * G[r * P + j]!;
      return (i === j ? 1 : 0) + 0.1 * s;
    });
    const X = new Array<number>(P * P).fill(0);
    for (let j = 0; j < P; j++) {
      const col = luSolve(A, P, Array.from({ length: P }, (_, i) => K[i * P + j]!));
      for (let i = 0; i < P; i++) X[i * P + j] = i >= j ? col[i]! : 0;
    }
    K2 = X;
  }
  const W2 = W.map((w, k) => {
    const [i, j] = [Math.floor(k / P), k % P];
    let s = 0;
    for (let r = 0; r < P; r++) s += G[i * P + r]! * K2[r * P + j]!;
    return w - lr * s;
  });
  return { W: W2, K: K2, t: t2 };
}

async function backends(t: Parameters<typeof gpuOrSkip>[0]): Promise<[string, Backend, number][]> {
  const out: [string, Backend, number][] = [
    ['reference', new CpuBackend({ reference: true }), 1e-12],
    ['wasm', new CpuBackend({ engine: 'wasm', threads: 1 }), 1e-12],
    ['js', new CpuBackend({ engine: 'js', threads: 1 }), 1e-12],
    ['js f32', new CpuBackend({ engine: 'js', precision: 'f32', threads: 1 }), 1e-4],
  ];
  const ctx = await gpuOrSkip(t);
  if (ctx) out.push(['webgpu', new WebGpuBackend(ctx), 1e-4]);
  return out;
}

test('int state: the IR has an int parameter and result; the signature says int', () => {
  const f = m.fn('ingd');
  const tp = f.func.params.find((p) => p.name === 't')!;
  assert.equal(tp.node.type.kind === 'tensor' && tp.node.type.dtype, 'i');
  assert.equal(f.params.find((p) => p.name === 't')!.type, 'int');
  const sig = f.executable('forward').signature;
  assert.equal(sig.params.find((p) => p.name === 't')!.int, true);
  assert.equal(sig.results.find((r) => r.name === 't')!.int, true);
  // the init function gives it as an int too
  const init = m.fn('ingd.init').func;
  assert.equal((init.results.find((r) => r.name === 't')!.node.type as { dtype: string }).dtype, 'i');
});

test('int state drives an amortised update (if mod(t, T) == 0) over 7 steps: every backend vs the JavaScript oracle', async (t) => {
  const f = m.fn('ingd');
  const init = m.fn('ingd.init');
  const W0 = rnd(1, M * P);
  const Gs = Array.from({ length: 7 }, (_, k) => rnd(100 + k, M * P));
  // the oracle, from the state NAME.init gives (K = I, t = 0)
  let ref: { W: number[]; K: number[]; t: number } = { W: W0, K: Array.from({ length: P * P }, (_, k) => (Math.floor(k / P) === k % P ? 1 : 0)), t: 0 };
  const refs: (typeof ref)[] = [];
  for (const G of Gs) refs.push((ref = ingdRef(ref.W, G, ref.K, ref.t, 0.1, 3)));
  for (const [name, backend, tol] of await backends(t)) {
    const st = await init.forward({ W: new Tensor([M, P], W0), G: new Tensor([M, P], Gs[0]!) }, { backend });
    let W = new Tensor([M, P], W0);
    let K = st.outputs.K!;
    let tt = st.outputs.t!;
    assert.equal(tt.data[0], 0);
    for (let k = 0; k < Gs.length; k++) {
      const r = await f.forward({ W, G: new Tensor([M, P], Gs[k]!), K, t: tt }, { backend, dims: { T: 3 } });
      const want = refs[k]!;
      assert.equal(r.outputs.t!.data[0], k + 1, `${name}: t after step ${k + 1}`);
      assert.equal(r.outputs.t!.data[0], want.t);
      if ((k + 1) % 3 !== 0) assert.deepEqual([...r.outputs.K!.data], [...K.data], `${name}: K kept on step ${k + 1}`);
      for (const [key, got] of [['K', r.outputs.K!], ['W', r.outputs.W!]] as const) {
        (want[key] as number[]).forEach((v, i) => assert.ok(Math.abs(got.data[i]! - v) <= tol * Math.max(1, Math.abs(v)), `${name}: ${key}[${i}] after step ${k + 1}: ${got.data[i]} vs ${v}`));
      }
      // the solve ran only on refresh steps: its status reports its conditioning there, 1 elsewhere
      const lin = r.status.nodes.find((s) => s.kind === 'linear')!;
      if ((k + 1) % 3 !== 0) assert.equal(lin.residual![0], 1, `${name}: no solve on step ${k + 1}`);
      else assert.ok(lin.residual![0]! < 1, `${name}: the solve ran on step ${k + 1}`);
      W = r.outputs.W!;
      K = r.outputs.K!;
      tt = r.outputs.t!;
    }
  }
});

test('int state is exact up to 2³¹ − 1 and wraps past it, per instance, on every backend (i32 bits through f32 buffers)', async (t) => {
  const f = m.fn('count');
  const ts = [1, 2147483646, 2147483647, -7, 16777217];
  const w = new Tensor([ts.length, 2], rnd(5, 2 * ts.length));
  const g = new Tensor([ts.length, 2], rnd(6, 2 * ts.length));
  for (const [name, backend] of await backends(t)) {
    const r = await f.forward({ w, g, t: new Tensor([ts.length], ts) }, { backend });
    assert.deepEqual([...r.outputs.t!.data], [2, 2147483647, -2147483648, -6, 16777218], name);
  }
});

test('MATR150: an int state must be an integer of the int range', async () => {
  const f = m.fn('count');
  for (const bad of [1.5, 2 ** 31, -(2 ** 31) - 1, NaN]) {
    await assert.rejects(f.forward({ w: [1, 2], g: [3, 4], t: bad }), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR150' && /input 't' is an int/.test(e.message), String(bad));
  }
});

test('derivatives of a step with int state: no cotangent for t; gradients vs the closed form', async () => {
  const f = m.fn('count');
  const v = await f.vjp({ w: [1, 2], g: [3, 4], t: 4 }, { w: [1, -1] });
  // w' = w − 0.01·float(t)·g with the old t = 4 (updates read the old values): ∂/∂w = I, ∂/∂g = −0.04·I
  assert.deepEqual([...v.gradients.w!.data], [1, -1]);
  v.gradients.g!.data.forEach((x, i) => assert.ok(Math.abs(x - -0.04 * [1, -1][i]!) < 1e-15, `∂/∂g[${i}] = ${x}`));
  assert.equal(v.gradients.t, undefined);
  // a cotangent for the int output may be given (the .d.ts of a compiled module asks for one per output): it is ignored
  const v2 = await f.vjp({ w: [1, 2], g: [3, 4], t: 4 }, { w: [1, -1], t: 7 });
  assert.deepEqual([...v2.gradients.w!.data], [...v.gradients.w!.data]);
  const j = await f.jvp({ w: [1, 2], g: [3, 4], t: 4 }, { g: [1, 0] });
  assert.ok(Math.abs(j.tangents.w!.data[0]! + 0.04) < 1e-15);
});

test('bug (b): a tril state updated to a dense value is MAT0610 at compile time; tril(...) of it runs step after step', async () => {
  const bad = `optimizer kfac(W: mat[m, p], G: mat[m, p]; lr: real = 0.1) =
  state K: tril[p] = eye(p)
  K <- 0.9 * K + 0.1 * G' * G, W <- W - lr * G * K`;
  assert.throws(() => compile(bad, { path: 'kfac.mat' }), (e: unknown) => e instanceof CompileError && e.diagnostics.some((d) => d.code === 'MAT0610' && /tril/.test(d.suggestion ?? '')));
  const good = compile(bad.replace("0.1 * G' * G", "0.1 * tril(G' * G)"), { path: 'kfac.mat' });
  const f = good.fn('kfac');
  let K = (await good.fn('kfac.init').forward({ W: new Tensor([3, 2], rnd(1, 6)), G: new Tensor([3, 2], rnd(2, 6)) })).outputs.K!;
  let W = new Tensor([3, 2], rnd(1, 6));
  for (let k = 0; k < 3; k++) {
    const r = await f.forward({ W, G: new Tensor([3, 2], rnd(10 + k, 6)), K }); // MATR105 on step 2 before the fix
    K = r.outputs.K!;
    W = r.outputs.W!;
    assert.equal(K.data[1], 0, 'K stays lower triangular');
  }
  // the other structures: sym needs sym(...), a parameter too; sphere needs normalize
  for (const [spec, code] of [
    ['optimizer o(W: mat[n, n], G: mat[n, n]) = state S: sym[n] = eye(n)\n  S <- S + G, W <- W - G', 'MAT0610'],
    ['optimizer o(W: mat[n, n], G: mat[n, n]) = state S: sym[n] = eye(n)\n  S <- S + sym(G), W <- W - G', null],
    ['optimizer o(W: sym[n], G: mat[n, n]) = W <- W - G', 'MAT0610'],
    ['optimizer o(x: sphere[n], g: vec[n]) = x <- normalize(x - 0.1 * g)', null],
    ['optimizer o(x: sphere[n], g: vec[n]) = x <- x - 0.1 * g', 'MAT0610'],
    ['optimizer o(W: mat[n, n], G: mat[n, n]) = state D: diag[n] = zeros(n, n)\n  D <- D + diag(diag(G)), W <- W - G', null],
  ] as const) {
    if (code === null) compile(spec, { path: 'o.mat' });
    else assert.throws(() => compile(spec, { path: 'o.mat' }), (e: unknown) => e instanceof CompileError && e.diagnostics.some((d) => d.code === code), spec);
  }
});

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'matc-branches-state-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  writeFileSync(join(dir, 'state.mat'), src);
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('bug (a): matc run --random of an optimizer starts its state from NAME.init (finite, the init values)', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [join(repoRoot, 'dist', 'cli', 'matc.js'), 'run', join(dir, 'state.mat'), ...args, '--backend', 'cpu', '--json'], { encoding: 'utf8', cwd: repoRoot, timeout: 120_000 });
  for (const seed of ['1', '2', '3']) {
    const r = run(['--fn', 'adam', '--random', '--seed', seed, '--dims', 'm=3,n=4']);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { outputs: Record<string, { data: number[] }>; status: { ok: boolean } };
    assert.ok(out.status.ok, 'no NaN outputs');
    for (const k of ['W', 'M', 'V']) assert.ok(out.outputs[k]!.data.every(Number.isFinite), `${k} finite (seed ${seed})`);
    // from M = V = 0: V2 = 0.001 G², M2 = 0.1 G, so V2 = 0.1 M2²
    out.outputs.V!.data.forEach((v, i) => assert.ok(Math.abs(v - 0.1 * out.outputs.M!.data[i]! ** 2) < 1e-15, `V[${i}] from the init state`));
  }
  // an int state: from init (0), one step gives 1; --set overrides it
  const c = run(['--fn', 'count', '--random', '--dims', 'n=3']);
  assert.equal(c.status, 0, c.stderr);
  assert.equal((JSON.parse(c.stdout) as { outputs: { t: { data: number[] } } }).outputs.t.data[0], 1);
  const c5 = run(['--fn', 'count', '--random', '--dims', 'n=3', '--set', 't=5']);
  assert.equal((JSON.parse(c5.stdout) as { outputs: { t: { data: number[] } } }).outputs.t.data[0], 6);
});

test('AOT: a compiled module runs int state on the CPU and WebGPU, integers in and out, as the JIT', async (t) => {
  const r = compileToDir(join(dir, 'state.mat'), dir, { runtime: join(repoRoot, 'dist') });
  const ns = (await import(pathToFileURL(r.js).href)) as { load(o?: object): Promise<{ fn(name: string): { forward(i: object, o?: object): Promise<{ outputs: Record<string, Tensor> }>; signature: { params: { name: string; type: string; int?: boolean }[] } }; dispose(): void }> };
  const jit = m.fn('count') as CompiledFn;
  const inputs = { w: [0.5, -1, 2], g: [1, 2, 3], t: 2147483646 };
  const want = await jit.forward(inputs);
  const cpu = await ns.load({ backend: 'cpu' });
  const fn = cpu.fn('count');
  assert.deepEqual(fn.signature.params.find((p) => p.name === 't'), { name: 't', type: 'int', shape: [], struct: 'general', differentiable: false, int: true });
  const got = await fn.forward(inputs);
  assert.equal(got.outputs.t!.data[0], 2147483647);
  assert.deepEqual([...got.outputs.w!.data], [...want.outputs.w!.data]);
  cpu.dispose();
  const ctx = await gpuOrSkip(t);
  if (ctx) {
    const gpu = await ns.load({ gpu: ctx.gpu });
    const g = await gpu.fn('count').forward(inputs);
    assert.equal(g.outputs.t!.data[0], 2147483647);
    gpu.dispose();
  }
});
