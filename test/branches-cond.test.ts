// Real branches (issue 10 item 7): `if` whose sides do work becomes a `cond` node that runs only
// the taken side, on every backend (reference interpreter, compiled CPU program as WebAssembly and
// JavaScript, WGSL instance kernels). Tests: only one side runs (a 10⁹-iteration loop, an index
// that would raise MATR107, an `until` loop's observable iteration count), derivatives (VJP and
// JVP) against central finite differences in f64 on both sides of the condition within one
// batch, CPU = interpreter = WebGPU parity (values, gradients, statuses), nested branches,
// branches in loop bodies, int and tuple results, the printed IR round trip and the verifier.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { compile, type CompiledFn } from '../api/module.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { Tensor } from '../runtime/tensor.js';
import type { Backend } from '../runtime/backend.js';
import { MatcRuntimeError } from '../core/errors.js';
import { printFunc } from '../compiler/ir/printer.js';
import { parseFunc } from '../compiler/ir/parser.js';
import { Graph, reachable, type Func } from '../compiler/ir/node.js';
import { verifyFunc } from '../compiler/ir/verifier.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { assertAgree, runAll } from './util/backends.js';

after(releaseSharedGpu);

const src = `
// the else side would run 10⁹ iterations
fn big(x: vec[n], s: real) -> vec[n] =
  if s > 0 then 2 * x else iterate (y = x) for i in 0..1000000000 => y + 1

// a guard: x[k] is out of range (MATR107) exactly where the guard is false
fn guard(x: vec[n], k: int = 0) -> real = if k < n then x[k] else -1

// an observable count: the until loop's status reports 0 iterations where the other side ran
fn counted(X: sym[n], s: real) -> vec[n] =
  if s > 0 then
    iterate (u = ones(n) / sqrt(n)) for i in 0..500 =>
      let v = normalize((X + 10 * eye(n)) * u) in v until norm(v - u) < 1e-10
  else zeros(n)

// smooth on each side; s is both the condition and a value of the else side; the else side's
// solve reports its conditioning from inside the branch
fn smooth(A: mat[n, n], x: vec[n], s: real) -> (y: vec[n], r: real) =
  if s > 0 then (A * (A * x) + sin(x), sum(A * x) * s)
  else (solve(A' * A + eye(n), x) * s, dot(x, x) * s * s)

// the same without the solve (WebGPU: lavapipe compiles kernels with LU factorizations slowly)
fn smooth2(A: mat[n, n], x: vec[n], s: real) -> (y: vec[n], r: real) =
  if s > 0 then (A * (A * x) + sin(x), sum(A * x) * s)
  else (A' * x * s + x .* x, dot(x, x) * s * s)

fn nested(A: mat[n, n], x: vec[n], s: real, t: real) -> vec[n] =
  if s > 0 then (if t > 0 then A * x else A' * (x .* x)) else A * (A * x) - x

fn looped(A: mat[n, n], x0: vec[n]) -> vec[n] =
  iterate (x = x0) for i in 0..5 => if mod(i, 2) == 0 then normalize(A * x + x0) else x + 0.1 * sin(A' * x)

fn ints(A: mat[n, n], x: vec[n], t: int = 0) -> (k: real, y: vec[n]) =
  let (k, y) = if mod(t, 3) == 0 then (t + 1, A * x) else (div(t, 3), x) in (float(k), float(k) * y)
`;

const m = compile(src, { path: 'branches.mat' });

function rnd(seed: number, n: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  });
}

test('the IR: a cond node for sides that do work, select for cheap ones; verified; the printed IR parses back', () => {
  for (const name of ['big', 'guard', 'counted', 'smooth', 'smooth2', 'nested', 'looped', 'ints']) {
    const fn = m.fn(name);
    const forms: Func[] = [m.program.forward(name), m.program.jvp(name), m.program.vjp(name)];
    for (const f of forms) {
      verifyFunc(f);
      const text = printFunc(f);
      assert.equal(printFunc(parseFunc(text, new Graph())), text, `${name}: print∘parse∘print`);
    }
    const nodes = reachable(fn.func.results.map((r) => r.node));
    const conds = nodes.filter((n) => n.op === 'cond');
    assert.ok(conds.length > 0, `${name} has a cond node`);
    // no select on a branch's condition (selects inside the sides, such as the scale a `norm`
    // takes, are not branches)
    const predicates = new Set(conds.map((c) => c.args[0]!));
    assert.ok(!nodes.some((n) => n.op === 'select' && predicates.has(n.args[0]!)), `${name}: no select on a branch condition`);
  }
  const cheap = compile('fn f(x: vec[n], s: real) -> vec[n] = if s > 0 then 2 * x else x - sum(x)', { path: 'cheap.mat' }).fn('f');
  const ops = new Set(reachable(cheap.func.results.map((r) => r.node)).map((n) => n.op));
  assert.ok(ops.has('select') && !ops.has('cond'), 'elementwise sides stay a select');
});

test('only the taken side runs: a 10⁹-iteration loop on the other side costs nothing, on every backend', async (t) => {
  const x = new Tensor([3, 4], rnd(1, 12));
  const t0 = Date.now();
  const runs = await runAll(m.fn('big'), { x, s: new Tensor([3], [1, 2, 0.5]) }, { t });
  assert.ok(Date.now() - t0 < 60_000, 'a run of the 10⁹ loop would take minutes');
  for (const [name, r] of Object.entries(runs)) r.outputs.out!.data.forEach((v, i) => assert.equal(v, 2 * (name === 'webgpu' ? Math.fround(x.data[i]!) : x.data[i]!), `${name}[${i}]`));
  // and the other side is really there: a small trip count runs it
  const small = compile('fn big(x: vec[n], s: real, k: int = 3) -> vec[n] = if s > 0 then 2 * x else iterate (y = x) for i in 0..k => y + 1', { path: 'small.mat' }).fn('big');
  const r2 = await runAll(small, { x, s: new Tensor([3], [1, -1, 1]) }, { t, dims: { k: 3 } });
  assertAgree(r2, 1e-15, 1e-6);
  const d = r2.reference!.outputs.out!.data;
  for (let i = 0; i < 4; i++) {
    assert.equal(d[i], 2 * x.data[i]!);
    assert.equal(d[4 + i], x.data[4 + i]! + 3);
  }
});

test('a guard keeps an out-of-range index from running (MATR107 only where the guard is false is not raised)', async (t) => {
  const fn = m.fn('guard');
  const x = new Tensor([3], [5, 6, 7]);
  for (const k of [0, 2, 3, 10]) {
    const runs = await runAll(fn, { x }, { t, dims: { k } });
    for (const [name, r] of Object.entries(runs)) assert.equal(r.outputs.out!.data[0], k < 3 ? x.data[k] : -1, `${name} k=${k}`);
  }
  // without the guard the same read is MATR107 on every backend
  const bare = compile('fn f(x: vec[n], k: int = 0) -> real = x[k]', { path: 'bare.mat' }).fn('f');
  const backends: Backend[] = [new CpuBackend({ reference: true }), new CpuBackend({ engine: 'wasm', threads: 1 }), new CpuBackend({ engine: 'js', threads: 1 })];
  const ctx = await gpuOrSkip(t);
  if (ctx) backends.push(new WebGpuBackend(ctx));
  for (const backend of backends) {
    await assert.rejects(bare.forward({ x }, { dims: { k: 3 }, backend }), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR107', backend.describe());
  }
});

test('an until loop inside a branch: its status counts iterations where its side ran, 0 where it did not', async (t) => {
  const fn = m.fn('counted');
  const n = 4;
  const X = new Tensor([n, n], Array.from({ length: n * n }, (_, k) => (Math.floor(k / n) === k % n ? 1 + k / n : 0.1)));
  const runs = await runAll(fn, { X, s: new Tensor([3], [1, -1, 2]) }, { t });
  assertAgree(runs, 1e-12, 1e-4);
  for (const [name, r] of Object.entries(runs)) {
    const st = Object.entries(r.status).find(([k]) => k.includes('iterate'));
    assert.ok(st, `${name}: the loop's status is reported (${Object.keys(r.status)})`);
    const [it0, it1, it2] = st[1].iterations;
    assert.ok(it0! > 3 && it2! > 3, `${name}: the loop ran (${st[1].iterations})`);
    assert.equal(it1, 0, `${name}: the loop did not run where s ≤ 0`);
    assert.deepEqual(st[1].converged, [true, true, true]);
    r.outputs.out!.data.slice(n, 2 * n).forEach((v) => assert.equal(v, 0));
  }
});

/** ⟨cot, f(inputs)⟩ on the reference interpreter. */
async function pairing(fn: CompiledFn, inputs: Record<string, Tensor>, cot: Record<string, Tensor>): Promise<number> {
  const r = await fn.forward(inputs, { backend: new CpuBackend({ reference: true }) });
  let s = 0;
  for (const [k, c] of Object.entries(cot)) c.data.forEach((v, i) => (s += v * r.outputs[k]!.data[i]!));
  return s;
}

/** Central finite differences of ⟨cot, f⟩ along every element of every real input. */
async function fdGradients(fn: CompiledFn, inputs: Record<string, Tensor>, cot: Record<string, Tensor>, h = 1e-6): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(inputs)) {
    out[k] = [];
    for (let i = 0; i < v.data.length; i++) {
      const bump = (d: number) => {
        const data = Float64Array.from(v.data);
        data[i] = data[i]! + d;
        return { ...inputs, [k]: new Tensor(v.shape, data) };
      };
      out[k]!.push(((await pairing(fn, bump(h), cot)) - (await pairing(fn, bump(-h), cot))) / (2 * h));
    }
  }
  return out;
}

for (const [name, gpu] of [['smooth', false], ['smooth2', true]] as const)
test(`derivatives of a branch (${name}): VJP and JVP against f64 finite differences, both sides in one batch, every ${gpu ? '' : 'CPU '}backend`, async (t) => {
  const fn = m.fn(name);
  const n = 3;
  const B = 4;
  const inputs = {
    A: new Tensor([B, n, n], rnd(7, B * n * n).map((v, i) => v + (i % (n + 1) === 0 ? 1 : 0))),
    x: new Tensor([B, n], rnd(8, B * n)),
    s: new Tensor([B], [0.7, -0.9, 1.3, -0.4]),
  };
  const cot = { y: new Tensor([B, n], rnd(9, B * n)), r: new Tensor([B], rnd(10, B)) };
  const fd = await fdGradients(fn, inputs, cot);
  const ctx = gpu ? await gpuOrSkip(t) : null;
  const backends: [string, Backend, number][] = [
    ['reference', new CpuBackend({ reference: true }), 1e-7],
    ['wasm', new CpuBackend({ engine: 'wasm', threads: 1 }), 1e-7],
    ['js', new CpuBackend({ engine: 'js', threads: 1 }), 1e-7],
  ];
  if (ctx) backends.push(['webgpu', new WebGpuBackend(ctx), 2e-3]);
  for (const [name, backend, tol] of backends) {
    const v = await fn.vjp(inputs, cot, { backend });
    for (const [k, g] of Object.entries(fd)) {
      g.forEach((want, i) => {
        const got = v.gradients[k]!.data[i]!;
        assert.ok(Math.abs(got - want) <= tol * Math.max(1, Math.abs(want)), `${name}: ∂/∂${k}[${i}] = ${got}, finite differences ${want}`);
      });
    }
    // JVP along a random direction = ⟨∇, direction⟩ of each output (the pairing with cot)
    const dir = { A: new Tensor(inputs.A.shape, rnd(11, B * n * n)), x: new Tensor(inputs.x.shape, rnd(12, B * n)), s: new Tensor([B], rnd(13, B)) };
    const j = await fn.jvp(inputs, dir, { backend });
    let lhs = 0;
    for (const [k, c] of Object.entries(cot)) c.data.forEach((cv, i) => (lhs += cv * j.tangents[k]!.data[i]!));
    let rhs = 0;
    for (const [k, g] of Object.entries(fd)) g.forEach((gv, i) => (rhs += gv * dir[k as keyof typeof dir].data[i]!));
    assert.ok(Math.abs(lhs - rhs) <= tol * 10 * Math.max(1, Math.abs(rhs)), `${name}: JVP pairing ${lhs}, finite differences ${rhs}`);
    if (name !== 'smooth') continue;
    // the solve inside the else side reports per instance: conditioning where it ran, ok where not
    const lin = v.status.nodes.find((s) => s.kind === 'linear');
    assert.ok(lin, `${name}: the branch's solve status (${v.status.nodes.map((s) => s.name)})`);
    assert.deepEqual(lin.converged, [true, true, true, true]);
    assert.equal(lin.residual![0], 1, `${name}: not run → rcond 1`);
    assert.ok(lin.residual![1]! > 0 && lin.residual![1]! < 1, `${name}: run → its rcond`);
  }
});

test('nested branches, branches in a loop body, int and tuple results: every backend agrees; derivatives vs finite differences', async (t) => {
  const n = 3;
  const A = new Tensor([n, n], rnd(21, n * n).map((v, i) => v + (i % (n + 1) === 0 ? 1.5 : 0)));
  const x = new Tensor([4, n], rnd(22, 4 * n));
  const nested = m.fn('nested');
  const inN = { A: new Tensor([4, n, n], [...A.data, ...A.data, ...A.data, ...A.data].map((v, i) => v + 0.01 * i)), x, s: new Tensor([4], [1, 1, -1, -1]), t: new Tensor([4], [1, -1, 1, -1]) };
  assertAgree(await runAll(nested, inN, { t }), 1e-12, 1e-5);
  const cotN = { out: new Tensor([4, n], rnd(23, 4 * n)) };
  const fdN = await fdGradients(nested, inN, cotN);
  const vN = await nested.vjp(inN, cotN, { backend: new CpuBackend({ engine: 'wasm', threads: 1 }) });
  for (const k of ['A', 'x']) fdN[k]!.forEach((want, i) => assert.ok(Math.abs(vN.gradients[k]!.data[i]! - want) < 1e-7 * Math.max(1, Math.abs(want)), `nested ∂${k}[${i}]`));
  // a solve (LU with barriers) inside a branch, forward on every backend
  const inS = { A: inN.A, x, s: new Tensor([4], [1, -1, 2, -3]) };
  assertAgree(await runAll(m.fn('smooth'), inS, { t }), 1e-12, 1e-4);
  const looped = m.fn('looped');
  const inL = { A, x0: new Tensor([n], rnd(24, n)) };
  assertAgree(await runAll(looped, inL, { t }), 1e-12, 1e-5);
  // forward mode through the loop and its branches, against finite differences
  const dirL = { A: new Tensor([n, n], rnd(25, n * n)), x0: new Tensor([n], rnd(26, n)) };
  const jL = await looped.jvp(inL, dirL, { backend: new CpuBackend({ engine: 'wasm', threads: 1 }) });
  const h = 1e-6;
  const at = async (sgn: number) => (await looped.forward({ A: new Tensor([n, n], A.data.map((v, i) => v + sgn * h * dirL.A.data[i]!)), x0: new Tensor([n], inL.x0.data.map((v, i) => v + sgn * h * dirL.x0.data[i]!)) })).outputs.out!.data;
  const [p, q] = [await at(1), await at(-1)];
  jL.tangents.out!.data.forEach((v, i) => assert.ok(Math.abs(v - (p[i]! - q[i]!) / (2 * h)) < 1e-7, `looped tangent[${i}]`));
  const ints = m.fn('ints');
  for (const tt of [0, 1, 3, 4, 7]) {
    const runs = await runAll(ints, { A, x: new Tensor([n], x.data.slice(0, n)) }, { t, dims: { t: tt } });
    assertAgree(runs, 1e-12, 1e-5, `t=${tt}: `);
    const k = tt % 3 === 0 ? tt + 1 : Math.floor(tt / 3);
    assert.equal(runs.reference!.outputs.k!.data[0], k);
  }
});

test('a declarative node (stdlib LESS) inside a branch: solver status per side, gradients against finite differences', async () => {
  const { gradCheck } = await import('../api/gradcheck.js');
  const { join } = await import('node:path');
  const { repoRoot } = await import('./gen/paths.js');
  const mod = compile(`import "less.mat"
fn f(A: mat[m, n], b: vec[m], s: real) -> vec[n] = if s > 0 then less(A, b) else normalize(A' * b)`, { path: join(repoRoot, 'branch-less.mat') });
  const f = mod.fn('f');
  const A = new Tensor([5, 3], [1, 0.2, 0.3, -0.4, 1, 0.1, 0.5, 0.2, 1, 0.3, -0.2, 0.4, 0.1, 0.6, -0.3]);
  const b = new Tensor([5], [1, -2, 0.5, 0.3, 1.2]);
  const r = await f.forward({ A, b, s: new Tensor([2], [1, -1]) }, { backend: new CpuBackend({ engine: 'wasm', threads: 1 }) });
  const solver = r.status.nodes.find((s) => s.kind === 'solver')!;
  assert.ok(solver.iterations[0]! > 0 && solver.converged[0], `the argmin ran where s > 0 (${solver.iterations})`);
  assert.equal(solver.iterations[1], 0, 'and not where s ≤ 0');
  for (const s of [1, -1]) {
    const gc = await gradCheck(f, { A, b, s });
    assert.ok(gc.ok && gc.maxRelErr < 1e-7, `s = ${s}: gradient check ${gc.maxRelErr}`);
  }
});

const edgeSrc = `
fn a(A: mat[n, n], x: vec[n], s: real) -> vec[n] = if s > 0 then A * x else 0
fn b(A: mat[n, n], x: vec[n], s: real) -> vec[n] = if s > 0 then 1 else A * x
fn c(x: vec[n], s: real) -> vec[n] = if s > 0 then rand(3, n) else randn(4, n) + x
fn d(A: mat[n, n], x: vec[n], s: real) -> (y: vec[n], z: real) = let y = if s > 0 then A * x else x, z = if s > 0 then sum(A * y) else 2 in (y, z)
fn e(A: mat[n, n], x: vec[n], s: real) -> vec[n] = iterate (y = x) for i in 0..3 => if s * float(i - 1) > 0 then A * y else y + 1
`;
test('edge cases: a scalar side of a tensor if (broadcast), a side that captures nothing, two ifs on one condition (merged), a branch on a loop index; forward and VJP on every backend', async (t) => {
  const m = compile(edgeSrc, { path: 'edge.mat' });
  const A = new Tensor([3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 10]);
  const x = new Tensor([2, 3], [1, -1, 2, 0.5, 0.25, 3]);
  const s = new Tensor([2], [1, -1]);
  for (const name of ['a', 'b', 'd', 'e']) assertAgree(await runAll(m.fn(name), { A, x, s }, { t }), 1e-12, 1e-5, `${name}: `);
  assertAgree(await runAll(m.fn('c'), { x, s }, { t }), 1e-12, 1e-5, 'c: ');
  for (const name of ['a', 'b']) assertAgree(await runAll(m.fn(name), { A, x, s, 'ct.out': x } as never, { t, mode: 'vjp' }), 1e-12, 1e-4, `${name} vjp: `);
  assertAgree(await runAll(m.fn('d'), { A, x, s, 'ct.y': x, 'ct.z': new Tensor([2], [1, 2]) } as never, { t, mode: 'vjp' }), 1e-12, 1e-4, 'd vjp: ');
});
