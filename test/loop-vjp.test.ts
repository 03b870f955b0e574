// Reverse mode through `iterate` loops (issue 10, item 1; compiler/diff/loop-vjp.ts): VJPs
// against central finite differences in f64 for every kind of loop (vector and matrix carries,
// `until`, `reverse`, nested two and three deep, a carry only overwritten, a trip count known
// only at run time), the dot-product test against forward mode, the shape of the derived IR (the
// forward loop runs once; carries the backward does not read are not stored), the compiled CPU
// program against the reference interpreter, WebGPU (lavapipe, f32) against the CPU f64, the
// Householder QR written with loops against the closed-form QR rule, a loop inside an argmin's
// objective, and an RNN of 100 time steps trained through its VJP.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { gradCheck } from '../api/gradcheck.js';
import { Tensor } from '../runtime/tensor.js';
import { Rng } from '../runtime/random.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { relErr } from './util/approx.js';

after(releaseSharedGpu);

const src = `
fn pw(X: mat[n, n], u0: vec[n]) -> vec[n] =
  iterate (u = u0) for i in 0..5 => normalize(X * u)

fn square3(A: mat[n, n]) -> mat[n, n] = iterate (X = A) for s in 0..3 => 0.5 * X * X + A

fn until_loop(A: mat[n, n], u0: vec[n]) -> vec[n] =
  iterate (u = u0) for i in 0..50 => let v = normalize(A * u + u) in v until norm(v - u) < 1e-3

fn nested2(A: mat[n, n]) -> mat[n, n] =
  iterate (X = A) for s in 0..2 =>
    let Y = iterate (Y = X) for p in 0..n => 0.5 * Y * A + 0.1 * Y in Y

fn nested3(A: mat[n, n], x: vec[n]) -> vec[n] =
  iterate (u = x) for s in 0..2 =>
    let v = iterate (v = u) for p in 0..2 =>
      let w = iterate (w = v) for q in 0..n => tanh(A * w + float(q) * v) in w + 0.5 * v
    in v .* u

fn backwards(A: mat[n, n], x: vec[n]) -> vec[n] =
  iterate (y = x) for j in reverse 0..n => tanh(A * y) * (float(j) + 1.0)

fn columns(A: mat[m, n]) -> mat[m, n] =
  iterate (V = zeros(m, n)) for j in 0..n => setcol(V, j, A[:, j] * norm(A[:, j]))

fn two_carries(A: mat[n, n], x: vec[n]) -> (y: vec[n], s: real) =
  iterate (y = x, s = 0) for i in 0..4 => (tanh(A * y), s + dot(y, y))

fn run_time_trips(A: mat[n, n], x: vec[n], w: vec[n]) -> vec[n] =
  iterate (y = x) for i in 0..maxloc(w) + 2 => sin(A * y) + y

fn loop_in_branch(A: mat[n, n], x: vec[n], s: real) -> vec[n] =
  if s > 0 then iterate (u = x) for i in 0..3 => tanh(A * u) else iterate (u = x) for i in 0..n => 0.5 * sin(A * u) + u

fn branch_in_loop(A: mat[n, n], x: vec[n]) -> vec[n] =
  iterate (u = x) for i in 0..4 => if mod(i, 2) == 0 then tanh(A * u) else (A' * u) .* u

fn argmin_of_loop(b: vec[n]) -> vec[n] =
  argmin x: vec[n] of sumsq(iterate (y = x) for i in 0..3 => 0.5 * y + b)
`;

const mod = compile(src, { path: 'loops.mat' });
const n = 4;

function inputsFor(name: string, rng: Rng): Record<string, Tensor> {
  const mat = (s = 0.3, r = n, c = n) => new Tensor([r, c], rng.normals(r * c).map((x) => s * x));
  const vec = () => new Tensor([n], rng.normals(n));
  const sym = () => {
    const a = rng.normals(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) a[i * n + j] = a[j * n + i]!;
    return new Tensor([n, n], a);
  };
  switch (name) {
    case 'pw':
      return { X: sym(), u0: vec() };
    case 'until_loop':
      return { A: sym(), u0: vec() };
    case 'columns':
      return { A: mat(1, 3, n) };
    case 'nested3':
    case 'backwards':
    case 'two_carries':
      return { A: mat(), x: vec() };
    case 'run_time_trips':
      return { A: mat(), x: vec(), w: new Tensor([n], [0.1, 0.2, 0.9, 0.3]) };
    case 'argmin_of_loop':
      return { b: vec() };
    case 'loop_in_branch':
      return { A: mat(), x: vec(), s: new Tensor([2], [1, -1]) };
    case 'branch_in_loop':
      return { A: mat(), x: vec() };
    default:
      return { A: mat() };
  }
}

const names = ['pw', 'square3', 'until_loop', 'nested2', 'nested3', 'backwards', 'columns', 'two_carries', 'run_time_trips', 'loop_in_branch', 'branch_in_loop', 'argmin_of_loop'];

test('the VJP through every kind of loop matches central finite differences in f64', async () => {
  const rng = new Rng(101);
  for (const name of names) {
    const r = await gradCheck(mod.fn(name), inputsFor(name, rng), { directions: 4, seed: 5 });
    assert.ok(r.ok && r.maxRelErr < 1e-6, `${name}: relative error ${r.maxRelErr}`);
  }
});

test('the VJP agrees with forward mode: ⟨JVP(u), w⟩ = ⟨u, VJP(w)⟩', async () => {
  const rng = new Rng(102);
  for (const name of ['pw', 'square3', 'until_loop', 'nested2', 'backwards', 'columns', 'two_carries', 'run_time_trips']) {
    const x = inputsFor(name, rng);
    const fn = mod.fn(name);
    const f = await fn.forward(x);
    const u: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(x)) u[k] = new Tensor(t.shape, rng.normals(t.size));
    const w: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(f.outputs)) w[k] = new Tensor(t.shape, rng.normals(t.size));
    const j = await fn.jvp(x, u);
    const v = await fn.vjp(x, w);
    let lhs = 0;
    for (const [k, t] of Object.entries(j.tangents)) for (let i = 0; i < t.size; i++) lhs += t.data[i]! * w[k]!.data[i]!;
    let rhs = 0;
    for (const [k, t] of Object.entries(v.gradients)) for (let i = 0; i < t.size; i++) rhs += t.data[i]! * u[k]!.data[i]!;
    assert.ok(Math.abs(lhs - rhs) <= 1e-10 * Math.max(1, Math.abs(lhs)), `${name}: ${lhs} vs ${rhs}`);
  }
});

/** Ops of the optimized VJP's top level and of all its regions. */
function vjpText(name: string): string {
  return mod.program.stage(name, 'opt').split(/\n\n(?=vjp )/)[1]!;
}

test('the derived backward runs the forward loop once and stores only the carries it reads', () => {
  // pw: one forward loop (with a tape of u) and one backward loop
  const pw = vjpText('pw');
  assert.equal(pw.match(/= loop /g)?.length, 2, pw);
  assert.match(pw, /"names":\["u","tape\.u"\]/);
  // columns: V is only overwritten, so nothing is stored
  const cols = vjpText('columns');
  assert.doesNotMatch(cols, /tape\./, cols);
  assert.equal(cols.match(/= loop /g)?.length, 2, cols);
  // a trip count known only at run time: the backward step reruns the forward (a nested loop)
  const rt = vjpText('run_time_trips');
  assert.doesNotMatch(rt, /tape\./);
  assert.match(rt, /recomputing a loop for its reverse mode/);
});

test('the compiled CPU program equals the reference interpreter on loop VJPs', async () => {
  const rng = new Rng(103);
  const reference = new CpuBackend({ reference: true });
  for (const name of names) {
    const x = inputsFor(name, rng);
    const f = await mod.fn(name).forward(x);
    const cot: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(f.outputs)) cot[k] = new Tensor(t.shape, rng.normals(t.size));
    const a = await mod.fn(name).vjp(x, cot);
    const b = await mod.fn(name).vjp(x, cot, { backend: reference });
    for (const k of Object.keys(a.gradients)) assert.ok(relErr(a.gradients[k]!.data, b.gradients[k]!.data) < 1e-12, `${name} ∂${k}`);
  }
});

test('argmin of a loop: the solution and its implicit gradient are the closed form', async () => {
  // y₃ = x/8 + (1/4 + 1/2 + 1) b, so the minimizer is x = −14 b and ∂x/∂b = −14 I
  const b = new Tensor([n], [0.3, -1.2, 0.7, 2.0]);
  const f = mod.fn('argmin_of_loop');
  const r = await f.forward({ b });
  assert.ok(relErr(r.outputs.out!.data, b.data.map((v) => -14 * v)) < 1e-9, `x = ${Array.from(r.outputs.out!.data)}`);
  const w = new Tensor([n], [1, 2, -1, 0.5]);
  const g = await f.vjp({ b }, { out: w });
  assert.ok(relErr(g.gradients.b!.data, w.data.map((v) => -14 * v)) < 1e-8, `∂b = ${Array.from(g.gradients.b!.data)}`);
});

test('WebGPU (f32) loop VJPs agree with the CPU f64 reference', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const rng = new Rng(104);
  for (const name of ['pw', 'square3', 'until_loop', 'nested2', 'columns', 'two_carries', 'run_time_trips']) {
    const x = inputsFor(name, rng);
    const f = await mod.fn(name).forward(x);
    const cot: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(f.outputs)) cot[k] = new Tensor(v.shape, rng.normals(v.size));
    const c = await mod.fn(name).vjp(x, cot);
    const g = await mod.fn(name).vjp(x, cot, { backend });
    for (const k of Object.keys(c.gradients)) {
      const e = relErr(g.gradients[k]!.data, c.gradients[k]!.data);
      assert.ok(e < 2e-3, `${name} ∂${k}: ${e}`);
    }
  }
});

test('Householder QR written as loops, differentiated by reverse mode, equals the closed-form QR rule', async () => {
  const qr = compile(
    `import "qr.mat"
     fn qr_loops(A: mat[m, n]) -> (Q: mat[m, k], R: mat[k, n]) where k = min(m, n) = householder(A)`,
    { path: 'qr-loops.mat' },
  );
  const rng = new Rng(105);
  for (const [m, k] of [[5, 3], [4, 4], [3, 5]] as [number, number][]) {
    const A = new Tensor([m, k], rng.normals(m * k));
    const r = Math.min(m, k);
    const cot = { Q: new Tensor([m, r], rng.normals(m * r)), R: new Tensor([r, k], rng.normals(r * k)) };
    const loops = await qr.fn('qr_loops').vjp({ A }, cot);
    const rule = await qr.fn('qr').vjp({ A }, cot);
    const e = relErr(loops.gradients.A!.data, rule.gradients.A!.data);
    assert.ok(e < 1e-10, `${m}×${k}: ${e}`);
  }
});

// h_{t+1} = tanh(W h_t + U x_t + c) over T steps; the loss reads the last state.
const rnnSrc = `
fn rnn(W: mat[n, n], U: mat[n, d], c: vec[n], v: vec[n], X: mat[d, T], target: real) -> real =
  let h = iterate (h = zeros(n)) for t in 0..T => tanh(W * h + U * X[:, t] + c)
  in 0.5 * (dot(v, h) - target) ^ 2
`;

test('an RNN of 100 time steps: its VJP matches finite differences, and training through it learns', async () => {
  const rnn = compile(rnnSrc, { path: 'rnn.mat' }).fn('rnn');
  const rng = new Rng(106);
  const nh = 8;
  const T = 100;
  const B = 32;
  const params: Record<string, Tensor> = {
    W: new Tensor([nh, nh], rng.normals(nh * nh).map((x) => 0.2 * x)),
    U: new Tensor([nh, 1], rng.normals(nh).map((x) => 0.5 * x)),
    c: new Tensor([nh], new Float64Array(nh)),
    v: new Tensor([nh], rng.normals(nh).map((x) => 0.3 * x)),
  };
  // the task: report half of the input 3 steps before the end (a short memory of a long sequence)
  const batch = () => {
    const X = new Tensor([B, 1, T], rng.normals(B * T));
    const target = new Tensor([B], Float64Array.from({ length: B }, (_, b) => 0.5 * X.data[b * T + T - 4]!));
    return { X, target };
  };

  // the gradient of one sequence against central differences in f64, along random directions
  const one = { X: new Tensor([1, T], rng.normals(T)), target: new Tensor([], [0.4]) };
  const loss = async (p: Record<string, Tensor>) => (await rnn.forward({ ...p, ...one })).outputs.out!.data[0]!;
  const g = await rnn.vjp({ ...params, ...one }, { out: new Tensor([], [1]) });
  for (let d = 0; d < 3; d++) {
    const dir: Record<string, Tensor> = {};
    let analytic = 0;
    for (const [k, t] of Object.entries(params)) {
      dir[k] = new Tensor(t.shape, rng.normals(t.size));
      for (let i = 0; i < t.size; i++) analytic += g.gradients[k]!.data[i]! * dir[k]!.data[i]!;
    }
    const h = 1e-5;
    const at = (s: number) => Object.fromEntries(Object.entries(params).map(([k, t]) => [k, new Tensor(t.shape, t.data.map((x, i) => x + s * h * dir[k]!.data[i]!))]));
    const numeric = (8 * ((await loss(at(1))) - (await loss(at(-1)))) - ((await loss(at(2))) - (await loss(at(-2))))) / (12 * h);
    assert.ok(Math.abs(analytic - numeric) <= 1e-7 * Math.max(1, Math.abs(numeric)), `direction ${d}: ${analytic} vs ${numeric}`);
  }

  // training with Adam on the summed batch gradient
  const m: Record<string, Float64Array> = {};
  const s: Record<string, Float64Array> = {};
  for (const [k, t] of Object.entries(params)) {
    m[k] = new Float64Array(t.size);
    s[k] = new Float64Array(t.size);
  }
  const meanLoss = async (data: { X: Tensor; target: Tensor }) => {
    const out = (await rnn.forward({ ...params, ...data })).outputs.out!.data;
    let total = 0;
    for (const x of out) total += x;
    return total / B;
  };
  const held = batch();
  const before = await meanLoss(held);
  const lr = 0.02;
  for (let step = 1; step <= 150; step++) {
    const data = batch();
    const r = await rnn.vjp({ ...params, ...data }, { out: new Tensor([B], new Float64Array(B).fill(1 / B)) });
    assert.ok(r.status.ok, r.status.warnings.join('; '));
    for (const [k, t] of Object.entries(params)) {
      // the weights are shared by the batch: their gradient is summed over it
      const gb = r.gradients[k]!;
      assert.deepEqual(gb.shape, t.shape);
      const out = new Float64Array(t.size);
      for (let i = 0; i < t.size; i++) {
        const gi = gb.data[i]!;
        m[k]![i] = 0.9 * m[k]![i]! + 0.1 * gi;
        s[k]![i] = 0.999 * s[k]![i]! + 0.001 * gi * gi;
        out[i] = t.data[i]! - (lr * m[k]![i]! / (1 - 0.9 ** step)) / (Math.sqrt(s[k]![i]! / (1 - 0.999 ** step)) + 1e-8);
      }
      params[k] = new Tensor(t.shape, out);
    }
  }
  const afterLoss = await meanLoss(held);
  console.log(`# rnn held-out loss ${before} → ${afterLoss}`);
  assert.ok(afterLoss < before / 10, `held-out loss ${before} → ${afterLoss}`);
});
