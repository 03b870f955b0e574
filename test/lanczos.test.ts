// The `lanczos` solver (compiler/solvers/lanczos.ts) and `ied_lanczos` (stdlib/ied.mat): restarted
// Lanczos with full reorthogonalization, Rayleigh–Ritz and thick restarts for objectives quadratic
// on the sphere. Oracles are independent of matc: the test-side Jacobi eigensolver
// (util/ied-ref.ts topEigen), the closed-form IED gradient sym((λI − X)⁺ v uᵀ) at its eigenvector,
// the fixture's torch.linalg.eigh autograd and NumPy closed form, and f64 finite differences.
//
//  1. Wigner matrices (a semicircle spectrum: eigenvalues of both signs, a small top gap, where
//     power iteration stalls) of order 12 … 150: one cycle where m ≤ 16 (the Krylov space's
//     default size), thick restarts beyond.
//  2. The argmin sense (the bottom eigenvector) and spectra whose most negative eigenvalue
//     dominates in magnitude.
//  3. Breakdowns: an invariant Krylov space of dimension 2 (X = I + c·wwᵀ), filled by generic
//     vectors, in one cycle (m = 12) and with restarts (m = 40).
//  4. Gradients by finite differences; the fixture's Wigner batches.
//  5. A non-quadratic objective is MAT0409; WebGPU (f32) against the CPU.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { gradCheck } from '../api/gradcheck.js';
import { compile } from '../api/module.js';
import { CompileError } from '../compiler/compile.js';
import { MatcRuntimeError } from '../core/errors.js';
import { Tensor } from '../runtime/tensor.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { f64, loadFixture } from './oracles/fixtures.js';
import { releaseSharedGpu } from './gpu-available.js';
import { layerGpuOrSkip } from './util/gpu-layers.js';
import { Rng, maxAbsDiff, norm, relErr, sym } from './util/dense.js';
import { iedClosedFormVjp, iedFixtureErrors, topEigen } from './util/ied-ref.js';
import { fmt, instance, stack, stdlibFn } from './util/layers.js';

after(releaseSharedGpu);

const lanczosFn = () => stdlibFn('ied', 'ied_lanczos');

/** The status entry of the argmax (or argmin) node. */
function nodeStatus(r: { status: { nodes: { name: string; converged: boolean[]; iterations: number[] }[] } }) {
  return r.status.nodes.find((n) => /argm(ax|in)/.test(n.name))!;
}

test('ied_lanczos on Wigner matrices of order 12 … 150: the top eigenvector and the closed-form gradient, every instance converged (one cycle where m ≤ 16, thick restarts beyond)', async (t) => {
  const fn = lanczosFn();
  for (const [m, B, seed] of [[12, 30, 1201], [32, 12, 1202], [60, 6, 1203], [150, 3, 1204]] as const) {
    const rng = new Rng(seed);
    const Xs = Array.from({ length: B }, () => sym(rng.normals(m * m), m));
    const X = stack(Xs, [m, m]);
    const v = new Tensor([B, m], rng.normals(B * m));
    const r = await fn.vjp({ X }, { u: v });
    const st = nodeStatus(r);
    assert.ok(r.status.ok && st.converged.every(Boolean), `m = ${m}: ${JSON.stringify(r.status.warnings)}`);
    if (m <= 16) assert.ok(st.iterations.every((k) => k === 1), `m = ${m}: one cycle (of up to 16 vectors) is exact, got ${st.iterations}`);
    let worstU = 0;
    let worstG = 0;
    Xs.forEach((Xk, k) => {
      const ref = topEigen(Xk, m);
      // the residual tolerance eps^(3/4) bounds the eigenvector's error by about it / gap
      const du = maxAbsDiff(instance(r.outputs.u!, k, m), ref.u) * ref.gap;
      worstU = Math.max(worstU, du);
      assert.ok(du < 1e-10 * norm(Xk), `m = ${m} [${k}]: u off the top eigenvector by ${du / ref.gap} (gap ${ref.gap})`);
      const g = relErr(instance(r.gradients.X!, k, m * m), iedClosedFormVjp(Xk, m, ref.u, instance(v, k, m)));
      worstG = Math.max(worstG, g);
      assert.ok(g < 1e-7 / Math.min(1, ref.gap), `m = ${m} [${k}]: grad_X rel err ${g} against the closed form (gap ${ref.gap})`);
    });
    t.diagnostic(`m = ${m}, ${B} Wigner matrices: |Δu|·gap ≤ ${fmt(worstU)}, grad rel err ≤ ${fmt(worstG)}, cycles ${Math.min(...st.iterations)}–${Math.max(...st.iterations)}`);
  }
});

test('lanczos finds the algebraically extreme eigenvector, not the largest in magnitude: the argmin sense, and spectra whose most negative eigenvalue dominates', async () => {
  const mod = compile(
    [
      'layer low(X: sym[m]) -> u: sphere[m] =',
      "  argmin u: sphere[m] of u' * X * u",
      '    by lanczos()',
      '    orient sum(u) >= 0',
      'layer high(X: sym[m]) -> u: sphere[m] =',
      "  argmax u: sphere[m] of u' * X * u",
      '    by lanczos(krylov: 8, max_iter: 60)',
      '    orient sum(u) >= 0',
    ].join('\n') + '\n',
    { path: 'lanczos-senses.mat' },
  );
  const rng = new Rng(1301);
  for (const m of [9, 40]) {
    // X = −GᵀG/m + 0.3·I with G of 2m rows: a Marchenko–Pastur spectrum in about [−5.5, 0.13],
    // whose most negative eigenvalue is the largest in magnitude
    const G = rng.normals(2 * m * m);
    const X = new Float64Array(m * m);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < m; j++) {
        let s = 0;
        for (let k = 0; k < 2 * m; k++) s += G[k * m + i]! * G[k * m + j]!;
        X[i * m + j] = -s / m + (i === j ? 0.3 : 0);
      }
    const neg = X.map((x) => -x);
    const bottom = topEigen(neg, m); // the eigenvector of X's smallest eigenvalue
    const top = topEigen(X, m);
    assert.ok(Math.abs(bottom.lambda) > Math.abs(top.lambda), 'the test spectrum is dominated by its negative end');
    const lo = await mod.fn('low').forward({ X: new Tensor([m, m], X) });
    const hi = await mod.fn('high').forward({ X: new Tensor([m, m], X) });
    assert.ok(lo.status.ok && hi.status.ok, JSON.stringify([lo.status.warnings, hi.status.warnings]));
    assert.ok(maxAbsDiff(lo.outputs.u!.data, bottom.u) * bottom.gap < 1e-10 * norm(X), `m = ${m}: argmin off the bottom eigenvector`);
    assert.ok(maxAbsDiff(hi.outputs.u!.data, top.u) * top.gap < 1e-10 * norm(X), `m = ${m}: argmax off the top eigenvector (krylov: 8, restarts)`);
  }
});

test('lanczos through a breakdown: X = I + c·wwᵀ makes the Krylov space of the start invariant at dimension 2; generic vectors fill the basis and the answer is w/‖w‖ (m = 12: one cycle; m = 40: restarts)', async () => {
  const fn = lanczosFn();
  for (const m of [12, 40]) {
    const w = Float64Array.from({ length: m }, (_, i) => 1 + 0.5 * Math.cos(1.7 * i));
    const wn = norm(w);
    const X = new Float64Array(m * m);
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) X[i * m + j] = (i === j ? 1 : 0) + (3 * w[i]! * w[j]!) / (wn * wn);
    const r = await fn.forward({ X: new Tensor([m, m], X) });
    assert.ok(r.status.ok, `m = ${m}: ${JSON.stringify(r.status.warnings)}`);
    const u = r.outputs.u!.data;
    assert.ok(u.every(Number.isFinite), 'finite');
    assert.ok(maxAbsDiff(u, w.map((x) => x / wn)) < 1e-12, `m = ${m}: u off w/‖w‖ by ${maxAbsDiff(u, w.map((x) => x / wn))}`);
  }
});

test('ied_lanczos gradients against f64 finite differences (m = 10: one cycle; m = 40: thick restarts)', async () => {
  const fn = lanczosFn();
  for (const [m, seed] of [[10, 1401], [40, 1402]] as const) {
    const r = await gradCheck(fn, { X: new Tensor([m, m], sym(new Rng(seed).normals(m * m), m)) }, { seed, directions: 3 });
    assert.ok(r.ok && r.maxRelErr < 1e-6, `m = ${m}: gradCheck ${r.maxRelErr}`);
  }
});

test('ied_lanczos at default options against the fixtures (torch eigh autograd, NumPy closed form), PMaF and Wigner data', async (t) => {
  const fx = loadFixture('ied');
  const fn = lanczosFn();
  let n = 0;
  for (const c of fx.cases) {
    if (c.k !== 1) continue;
    const { ok, warnings, eu, eg, ec } = await iedFixtureErrors(fn, c);
    assert.ok(ok, `${c.name}: ${JSON.stringify(warnings)}`);
    assert.ok(eu < 1e-10, `${c.name}: u differs from torch's eigh by ${eu}`);
    assert.ok(eg < 1e-8 && ec < 1e-8, `${c.name}: grad_X rel err vs autograd ${eg}, vs closed form ${ec}`);
    t.diagnostic(`${c.name} (${c.data ?? 'pmaf'}): |Δu| ${fmt(eu)}, grad rel err vs autograd ${fmt(eg)}, vs closed form ${fmt(ec)}`);
    n++;
  }
  assert.ok(n >= 4, `${n} fixture cases`);
});

test('lanczos on an objective that is not quadratic is MAT0409 at the node', () => {
  const src = "layer q(X: sym[m]) -> u: sphere[m] =\n  argmax u: sphere[m] of sum(u .* u .* u .* u) + u' * X * u\n    by lanczos()\n";
  assert.throws(
    () => compile(src, { path: 'quartic.mat' }).fn('q').executable('forward'),
    (e: unknown) => e instanceof CompileError && e.diagnostics.some((d) => d.code === 'MAT0409' && /lanczos needs an objective quadratic/.test(d.message) && !!d.span),
  );
});

test('WebGPU (f32): ied_lanczos forward + backward on Wigner matrices (m = 6: one cycle; m = 40: restarts) agree with the CPU f64 result', async (t) => {
  const ctx = await layerGpuOrSkip(t);
  if (ctx === null) return;
  const gpu = new WebGpuBackend(ctx);
  const fn = lanczosFn();
  for (const m of [6, 40]) {
    const rng = new Rng(1500 + m);
    const X = stack(Array.from({ length: 3 }, () => sym(rng.normals(m * m), m)), [m, m]);
    const v = new Tensor([3, m], rng.normals(3 * m));
    const cpu = await fn.vjp({ X }, { u: v });
    const dev = await fn.vjp({ X }, { u: v }, { backend: gpu });
    assert.ok(dev.status.ok, JSON.stringify(dev.status.warnings));
    const eu = maxAbsDiff(dev.outputs.u!.data, cpu.outputs.u!.data);
    const eg = relErr(dev.gradients.X!.data, cpu.gradients.X!.data);
    t.diagnostic(`m = ${m}, WebGPU vs CPU: |Δu| ${fmt(eu)}, grad_X rel ${fmt(eg)}`);
    assert.ok(eu < 1e-4 && eg < 1e-3, `m = ${m}: WebGPU vs CPU: u ${eu}, grad_X ${eg}`);
  }
});

test('counts among solver options are integers with a minimum: krylov at least 2 (a cycle keeps half its basis), polish and refine non-negative, max_iter positive; MAT0404 in the spec, MATR114 as an override', () => {
  const spec = (opts: string) => `layer top(X: sym[m]) -> u: sphere[m] =\n  argmax u: sphere[m] of u' * X * u\n    by ${opts}\n`;
  for (const [opts, key] of [
    ['lanczos(krylov: 1)', 'krylov'],
    ['lanczos(krylov: 2.5)', 'krylov'],
    ['power_iteration(polish: 1.5)', 'polish'],
    ['lanczos(refine: 0.5)', 'refine'],
    ['lanczos(max_iter: 0)', 'max_iter'],
  ] as const) {
    assert.throws(
      () => compile(spec(opts), { path: 'counts.mat' }),
      (e: unknown) => e instanceof CompileError && e.diagnostics.some((d) => d.code === 'MAT0404' && d.message.startsWith(`${key} of`) && !!d.span),
      opts,
    );
  }
  assert.doesNotThrow(() => compile(spec('lanczos(krylov: 2)'), { path: 'counts.mat' }).fn('top').executable('forward'));
  assert.throws(
    () => compile(spec('lanczos()'), { path: 'counts.mat', solverOptions: { krylov: 1 } }).fn('top').executable('forward'),
    (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR114' && /krylov.*at least 2/.test(e.message),
  );
});

test('ied_lanczos with entries past 1e154 (where a sum of squares overflows): the top eigenvector, converged, a finite residual (the operator is scaled by max |A x₀|)', async () => {
  const fn = lanczosFn();
  for (const [big, m] of [[1e200, 4], [1e300, 4], [1e250, 30]] as const) {
    const rng = new Rng(1600 + m);
    // a small symmetric matrix with one huge diagonal entry: its top eigenvector is ≈ e₂
    const X = Float64Array.from(sym(rng.normals(m * m), m));
    X[2 * m + 2] = big;
    const r = await fn.forward({ X: new Tensor([m, m], X) });
    const st = nodeStatus(r);
    const u = r.outputs.u!.data;
    assert.ok(st.converged[0], `big = ${big}, m = ${m}: ${JSON.stringify(r.status.warnings)}`);
    assert.ok(Math.abs(Math.abs(u[2]!) - 1) < 1e-12, `big = ${big}, m = ${m}: u = ${Array.from(u)}`);
    assert.ok(Number.isFinite((st as unknown as { residual: number[] }).residual[0]!), 'finite residual');
  }
});
