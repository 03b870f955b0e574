// Derivative rules on functions (issue 10, item 2; compiler/check/custom.ts, compiler/diff/
// custom.ts): reverse mode uses the rule, forward mode the body; every rule here is held against
// matc's own derivation of the body (`gradRules: false`) and against finite differences in f64;
// a loop's VJP given as a rule (the torch-householder recurrence of a Householder frame, which
// stores nothing) equals reverse mode through the loop; statuses of the body are reported; the
// rule is used inside an argmin's objective; the IR and the AST print and parse back; WebGPU runs
// calls with rules.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { gradCheck } from '../api/gradcheck.js';
import { Tensor } from '../runtime/tensor.js';
import { Rng } from '../runtime/random.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { Graph } from '../compiler/ir/node.js';
import { parseFunc } from '../compiler/ir/parser.js';
import { printFunc } from '../compiler/ir/printer.js';
import { parseFile } from '../grammar/build-ast.js';
import { printProgram } from '../grammar/print-ast.js';
import { DiagnosticBag } from '../compiler/diagnostics.js';
import { sourceFile } from '../compiler/source.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { relErr } from './util/approx.js';

after(releaseSharedGpu);

const src = `
// softplus(A x) with its closed-form VJP
fn softplus_ax(x: vec[n], A: mat[n, n]) -> y: vec[n] = log(1 + exp(A * x))
  grad (dy) => x: A' * (dy .* sigmoid(A * x)), A: (dy .* sigmoid(A * x)) * x'

// a straight-through rule: deliberately not the derivative of the body
fn straight(x: vec[n]) -> y: vec[n] = x .* x
  grad (dy) => x: dy

fn uses_both(x: vec[n], A: mat[n, n]) -> real = sum(softplus_ax(x, A) .* softplus_ax(2 * x, A)) + sum(straight(x))

// Q = H_0 H_1 ⋯ H_{r−1} I_{d×r}, H_j = I − 2 u_j u_jᵀ, u_j = h_j/‖h_j‖ (LAPACK orgqr); the rule is
// the torch-householder backward (seeds-math §3.3): from M_0 = Q, G_0 = Q̄, for j = 0 … r−1
//   ū_j = −2(M_j G_jᵀ u_j − G_j M_jᵀ u_j) + 4 u_j (u_jᵀ M_j G_jᵀ u_j),  M_{j+1} = H_j M_j,
//   G_{j+1} = H_j G_j (the reflections are involutions: recomputed, never stored), and
//   h̄_j = (ū_j − u_j u_jᵀ ū_j)/‖h_j‖ through the normalisation.
fn frame(Hh: mat[d, r]) -> Q: mat[d, r] =
  iterate (M = eye(d, r)) for j in reverse 0..r =>
    let u = normalize(Hh[:, j]) in M - 2 * u * (u' * M)
  grad (dQ) => Hh: frame_backward(Hh, Q, dQ)

fn frame_backward(Hh: mat[d, r], Q: mat[d, r], dQ: mat[d, r]) -> mat[d, r] =
  let (M, G, D) = iterate (M = Q, G = dQ, D = zeros(d, r)) for j in 0..r =>
    let h = Hh[:, j], u = normalize(h),
        a = M * (G' * u), c = G * (M' * u),
        gu = -2 * (a - c) + 4 * u * (u' * a),
        gh = (gu - u * (u' * gu)) / norm(h)
    in (M - 2 * u * (u' * M), G - 2 * u * (u' * G), setcol(D, j, gh))
  in D

fn frame_loss(Hh: mat[d, r], W: mat[d, r]) -> real = sum(frame(Hh) .* W)

// a body with an until loop: its status is the call's
fn settle(x: vec[n]) -> y: vec[n] =
  iterate (u = x) for i in 0..40 => let v = 0.3 * tanh(u) + 0.1 in v until norm(v - u) < 1e-12
  grad (dy) => x: dy

fn fit(b: vec[n], A: mat[n, n]) -> vec[n] =
  argmin x: vec[n] of sumsq(softplus_ax(x, A) - b) + 0.1 * sumsq(x)
`;

const n = 4;
const vec = (rng: Rng) => new Tensor([n], rng.normals(n));
const mat = (rng: Rng, s = 0.5) => new Tensor([n, n], rng.normals(n * n).map((x) => s * x));

test('reverse mode uses the rule, forward mode the body', async () => {
  const mod = compile(src, { path: 'rules.mat' });
  const rng = new Rng(202);
  const x = vec(rng);
  const w = vec(rng);
  const v = await mod.fn('straight').vjp({ x }, { y: w });
  assert.deepEqual(Array.from(v.gradients.x!.data), Array.from(w.data), 'the straight-through rule');
  const j = await mod.fn('straight').jvp({ x }, { x: w });
  assert.ok(relErr(j.tangents.y!.data, x.data.map((xi, i) => 2 * xi * w.data[i]!)) < 1e-15, 'JVP of the body: 2x ⊙ ẋ');
  // without rules, the VJP is the body's own derivative
  const plain = compile(src, { path: 'rules.mat', gradRules: false });
  const p = await plain.fn('straight').vjp({ x }, { y: w });
  assert.ok(relErr(p.gradients.x!.data, x.data.map((xi, i) => 2 * xi * w.data[i]!)) < 1e-15);
});

test('each correct rule equals matc\'s own derivation of the body, and finite differences', async () => {
  const withRules = compile(src, { path: 'rules.mat' });
  const derived = compile(src, { path: 'rules.mat', gradRules: false });
  const rng = new Rng(203);
  const cases: [string, Record<string, Tensor>][] = [
    ['softplus_ax', { x: vec(rng), A: mat(rng) }],
    ['frame', { Hh: new Tensor([6, 3], rng.normals(18)) }],
    ['frame', { Hh: new Tensor([5, 5], rng.normals(25)) }],
  ];
  for (const [name, x] of cases) {
    const f = await withRules.fn(name).forward(x);
    const cot: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(f.outputs)) cot[k] = new Tensor(t.shape, rng.normals(t.size));
    const a = await withRules.fn(name).vjp(x, cot);
    const b = await derived.fn(name).vjp(x, cot);
    for (const k of Object.keys(x)) assert.ok(relErr(a.gradients[k]!.data, b.gradients[k]!.data) < 1e-10, `${name} ∂${k}: rule vs derived ${relErr(a.gradients[k]!.data, b.gradients[k]!.data)}`);
    const r = await gradCheck(withRules.fn(name), x, { directions: 4 });
    assert.ok(r.ok && r.maxRelErr < 1e-6, `${name}: ${r.maxRelErr}`);
  }
  // rules compose with the rest of a function (two calls with different arguments)
  const r = await gradCheck(withRules.fn('frame_loss'), { Hh: new Tensor([6, 2], rng.normals(12)), W: new Tensor([6, 2], rng.normals(12)) });
  assert.ok(r.ok, `frame_loss: ${r.maxRelErr}`);
});

test('the frame rule keeps no tape: its backward stores nothing, the derived one stores the carries', () => {
  const withRules = compile(src, { path: 'rules.mat' });
  const derived = compile(src, { path: 'rules.mat', gradRules: false });
  const text = (m: ReturnType<typeof compile>) => m.program.stage('frame', 'opt').split(/\n\n(?=vjp )/)[1]!;
  assert.doesNotMatch(text(withRules), /tape\./);
  assert.match(text(derived), /tape\.M/);
});

test('statuses of a body with a rule are reported by the call', async () => {
  const mod = compile(src, { path: 'rules.mat' });
  const r = await mod.fn('settle').forward({ x: new Tensor([n], [3, -2, 1, 0.5]) });
  const entry = r.status.nodes.find((s) => s.name.includes('iterate'));
  assert.ok(entry, JSON.stringify(r.status.nodes.map((s) => s.name)));
  assert.equal(entry.converged[0], true, "the until loop stopped early");
  assert.ok(entry.iterations[0]! > 1 && entry.iterations[0]! < 40, `iterations ${entry.iterations[0]}`);
});

test('a rule is used inside an argmin objective (its solver and its implicit backward)', async () => {
  const withRules = compile(src, { path: 'rules.mat' });
  const derived = compile(src, { path: 'rules.mat', gradRules: false });
  const rng = new Rng(204);
  const x = { b: new Tensor([n], [0.8, 1.1, 0.6, 1.4]), A: mat(rng, 0.4) };
  const a = await withRules.fn('fit').vjp(x, { out: new Tensor([n], [1, -1, 0.5, 2]) });
  const b = await derived.fn('fit').vjp(x, { out: new Tensor([n], [1, -1, 0.5, 2]) });
  assert.ok(a.status.ok && b.status.ok, a.status.warnings.join('; '));
  assert.ok(relErr(a.outputs.out!.data, b.outputs.out!.data) < 1e-9);
  for (const k of ['b', 'A']) assert.ok(relErr(a.gradients[k]!.data, b.gradients[k]!.data) < 1e-8, `∂${k}`);
  const r = await gradCheck(withRules.fn('fit'), x, { directions: 3 });
  assert.ok(r.ok, `fit: ${r.maxRelErr}`);
});

test('functions with rules print and parse back: the AST and the IR', () => {
  const diag = new DiagnosticBag();
  const prog = parseFile(sourceFile('rules.mat', src), diag);
  assert.equal(diag.hasErrors, false);
  const text = printProgram(prog);
  assert.match(text, /grad \(dQ\) => Hh: frame_backward\(Hh, Q, dQ\)/);
  const again = parseFile(sourceFile('rules2.mat', text), diag);
  assert.equal(printProgram(again), text);
  const mod = compile(src, { path: 'rules.mat' });
  for (const name of ['uses_both', 'frame', 'settle']) {
    const printed = printFunc(mod.program.lowered(name));
    assert.match(printed, / = custom /);
    assert.equal(printFunc(parseFunc(printed, new Graph())), printed, name);
  }
});

test('WebGPU (f32) runs calls with rules: forward and VJP agree with the CPU f64', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const mod = compile(src, { path: 'rules.mat' });
  const rng = new Rng(205);
  for (const [name, x] of [
    ['uses_both', { x: vec(rng), A: mat(rng) }],
    ['frame_loss', { Hh: new Tensor([6, 3], rng.normals(18)), W: new Tensor([6, 3], rng.normals(18)) }],
  ] as [string, Record<string, Tensor>][]) {
    const c = await mod.fn(name).vjp(x, { out: new Tensor([], [1]) });
    const g = await mod.fn(name).vjp(x, { out: new Tensor([], [1]) }, { backend });
    assert.ok(relErr(g.outputs.out!.data, c.outputs.out!.data) < 1e-4, `${name} value`);
    for (const k of Object.keys(x)) assert.ok(relErr(g.gradients[k]!.data, c.gradients[k]!.data) < 1e-3, `${name} ∂${k}`);
  }
});
