// The linear solve of the implicit backward and tangent (compiler/diff/implicit.ts, option
// `backward`): dense LU of the assembled KKT matrix, matrix-free MINRES on Hessian–vector products
// (compiler/solvers/krylov.ts), and `auto` (MINRES from 256 unknowns with the dense solve as a
// fallback). Every gradient is checked against an oracle that does not go through matc's backward:
// the IED closed form sym((λI − X)⁺ v uᵀ) with a Jacobi eigensolver, or central finite differences
// of the forward in f64. Degenerate systems must be flagged, never reported solved.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { gradCheck } from '../api/gradcheck.js';
import { CompileError } from '../compiler/compile.js';
import { Tensor } from '../runtime/tensor.js';
import { Rng, allFinite, dot, pmafSym, randomOrthogonal, relErr, symFromEigen } from './util/dense.js';
import { iedClosedFormVjp } from './util/ied-ref.js';
import type { CallStatus } from '../api/module.js';
import { printFunc } from '../compiler/ir/printer.js';

const ied = (backward: string, extra = '') => `layer ied(X: sym[m]) -> u: sphere[m] =
  argmax u: sphere[m] of u' * X * u
    by power_iteration(max_iter: 400, refine: 3, backward: ${backward}${extra})
    orient sum(u) >= 0
`;

const less = (backward: string) => `layer less(A: mat[m, n], b: vec[m]) -> x: sphere[n] =
  argmin x: sphere[n] of 0.5 * sumsq(A * x - b)
    init normalize(A' * b)
    by riemannian_descent(backward: ${backward})
`;

type Node = CallStatus['nodes'][number];

function backwardNode(status: CallStatus): Node {
  const n = status.nodes.find((s) => /\/backward$/.test(s.name) || /\/tangent$/.test(s.name));
  assert.ok(n, `no backward status in ${JSON.stringify(status.nodes.map((s) => s.name))}`);
  return n;
}

async function iedCase(spec: string, m: number, seed: number) {
  const rng = new Rng(seed);
  const X = pmafSym(rng, m);
  const v = rng.normals(m);
  const f = compile(spec, { path: 'backward.mat' }).fn('ied');
  const fw = await f.forward({ X: new Tensor([m, m], X) });
  const out = await f.vjp({ X: new Tensor([m, m], X) }, { u: new Tensor([m], v) });
  const ref = iedClosedFormVjp(X, m, fw.outputs.u!.data, v);
  return { out, err: relErr(out.gradients.X!.data, ref) };
}

test('backward: minres (IED, m = 12): the gradient equals the closed form; the status is MINRES iterations and a true residual', async () => {
  const { out, err } = await iedCase(ied('minres'), 12, 3);
  assert.ok(err < 1e-9, `rel err vs closed form ${err}`);
  const n = backwardNode(out.status);
  assert.equal(n.kind, 'iterative');
  assert.ok(n.converged[0] && out.status.ok, JSON.stringify(n));
  assert.ok(n.iterations[0]! >= 2 && n.iterations[0]! <= 13 + 20, `iterations ${n.iterations}`);
  assert.ok(n.residual![0]! <= 10 * 2 ** (-52 * 0.75), `residual ${n.residual}`);
});

test('backward: dense and auto give the closed form on the same instance; auto below 256 unknowns is the dense solve alone', async () => {
  for (const mode of ['dense', 'auto']) {
    const { out, err } = await iedCase(ied(mode), 12, 3);
    assert.ok(err < 1e-9, `${mode}: rel err ${err}`);
    const n = backwardNode(out.status);
    if (mode === 'auto') {
      // N = 13 < 256: MINRES takes no step, the dense fallback solves
      assert.equal(n.kind, 'iterative');
      assert.deepEqual(n.iterations, [0], JSON.stringify(n));
      assert.ok(n.converged[0]);
    } else assert.equal(n.kind, 'implicit');
  }
});

test('backward: auto at m = 260 (261 unknowns) solves matrix-free, and the gradient is the closed form', async () => {
  const { out, err } = await iedCase(ied('auto'), 260, 5);
  assert.ok(err < 1e-8, `rel err vs closed form ${err}`);
  const n = backwardNode(out.status);
  assert.equal(n.kind, 'iterative');
  // fewer iterations than the cap means MINRES itself reached its tolerance (no dense fallback)
  assert.ok(n.converged[0] && n.iterations[0]! > 0 && n.iterations[0]! < Math.floor(261 / 4) + 20, JSON.stringify(n));
});

test('backward: minres (LESS, 9×5): VJP against central finite differences in f64, and the JVP against the VJP', async () => {
  const rng = new Rng(21);
  const A = new Tensor([9, 5], rng.normals(45));
  const b = new Tensor([9], rng.normals(9));
  const f = compile(less('minres'), { path: 'less.mat' }).fn('less');
  const r = await gradCheck(f, { A, b }, { seed: 4, directions: 4 });
  assert.ok(r.ok && r.maxRelErr < 1e-6, `gradCheck ${r.maxRelErr} ${JSON.stringify(r.directions)}`);
  const ct = new Tensor([5], rng.normals(5));
  const v = await f.vjp({ A, b }, { x: ct });
  assert.equal(backwardNode(v.status).kind, 'iterative');
  assert.ok(v.status.ok, JSON.stringify(v.status.warnings));
  // ⟨x̄, J θ̇⟩ = ⟨Jᵀx̄, θ̇⟩ with the tangent solved by MINRES too
  const dA = new Tensor([9, 5], rng.normals(45));
  const db = new Tensor([9], rng.normals(9));
  const t = await f.jvp({ A, b }, { A: dA, b: db });
  assert.equal(backwardNode(t.status).kind, 'iterative');
  const lhs = dot(ct.data, t.tangents.x!.data);
  const rhs = dot(v.gradients.A!.data, dA.data) + dot(v.gradients.b!.data, db.data);
  assert.ok(Math.abs(lhs - rhs) <= 1e-10 * (Math.abs(lhs) + 1), `⟨x̄, Jθ̇⟩ = ${lhs}, ⟨Jᵀx̄, θ̇⟩ = ${rhs}`);
});

test('backward: minres on a repeated top eigenvalue does not report success (the system is singular)', async () => {
  const m = 6;
  const X = symFromEigen(randomOrthogonal(new Rng(9), m), [3, 3, 1, 0.5, 0.2, 0.1]);
  const v = new Rng(10).normals(m);
  for (const mode of ['minres', 'auto']) {
    const f = compile(ied(mode), { path: 'backward.mat' }).fn('ied');
    const out = await f.vjp({ X: new Tensor([m, m], X) }, { u: new Tensor([m], v) });
    assert.ok(allFinite(out.gradients.X!.data), `${mode}: gradients must stay finite`);
    const n = backwardNode(out.status);
    assert.ok(!n.converged[0] && !out.status.ok, `${mode}: ${JSON.stringify(n)}`);
    assert.ok(out.status.warnings.some((w) => /backward.*singular/.test(w)), `${mode}: ${JSON.stringify(out.status.warnings)}`);
  }
});

test('backward: minres on a solve node is MAT0409 (its Jacobian is not symmetric)', () => {
  const spec = `layer sqrtm(S: spd[n]) -> Y: mat[n, n] =
  solve Y: mat[n, n] such that Y * Y == S
    init S
    by newton(tol: 1e-12, backward: minres)
`;
  const p = compile(spec, { path: 'sqrtm.mat' }).program;
  assert.throws(
    () => p.vjp('sqrtm'),
    (e: unknown) => e instanceof CompileError && e.diagnostics.some((d) => d.code === 'MAT0409' && /backward: minres/.test(d.message)),
  );
});

test('auto: the CPU form gates MINRES at run time, the WebGPU form is the dense solve; forms without auto are shared', () => {
  const p = compile(ied('auto'), { path: 'backward.mat' }).program;
  const cpu = p.stage('ied', 'opt');
  assert.ok(/minres/.test(cpu), 'the CPU form has the MINRES loop');
  assert.ok(/backward\/dense/.test(cpu), 'and the dense fallback');
  const gpu = p.vjp('ied', 'gpu');
  assert.notEqual(gpu, p.vjp('ied'));
  const text = printFunc(gpu);
  assert.ok(!/minres/.test(text) && !/backward\/dense/.test(text), 'the WebGPU form has neither');
  const dense = compile(ied('dense'), { path: 'backward.mat' }).program;
  assert.equal(dense.vjp('ied', 'gpu'), dense.vjp('ied'), 'no target choice: one form');
  assert.equal(dense.jvp('ied', 'gpu'), dense.jvp('ied'));
});
