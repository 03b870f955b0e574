// Complex numbers (issue 13 item 1; compiler/check/complex.ts). Forward values and gradients
// against PyTorch's complex128 autograd (test/fixtures/complex.json, written by
// test/oracles/gen_complex_fixtures.py: torch's z.grad for real losses, the conjugate Wirtinger
// convention), VJPs against central finite differences on the real and imaginary parts of every
// input (f64), JVPs against finite differences, the compiled CPU program (WASM and JS) against the
// reference interpreter, WebGPU (f32 pairs) on an adapter when there is one, and the language
// forms: `'` and `.'`, imaginary literals, complex Tensor inputs, generic functions called with
// complex arguments, complex loop carries and branches, Hermitian parameters.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { compile, type CompiledFn } from '../api/module.js';
import { CompileError } from '../compiler/compile.js';
import { Tensor } from '../runtime/tensor.js';
import { fixturePath, type FixtureTensor } from './oracles/fixtures.js';
import { relErr } from './util/approx.js';
import { assertAgree, runAll } from './util/backends.js';
import { layerGpuOrSkip } from './util/gpu-layers.js';

interface CxCase {
  name: string;
  inputs: Record<string, FixtureTensor>;
  outputs: Record<string, FixtureTensor>;
  cotangents: Record<string, FixtureTensor>;
  gradients: Record<string, FixtureTensor>;
}

const fixture = JSON.parse(readFileSync(fixturePath('complex.json'), 'utf8')) as { cases: CxCase[] };

// The same functions as the generator's, in matc (complex parameters and results are packed
// (re, im) on a trailing axis, the fixture's layout).
const SRC = `
fn products_(A: cmat[n, n], z: cvec[n], w: cvec[n]) -> (r: real, B: cmat[n, n]) =
  (sumsq(A * z) + real(dot(z, A' * w)) + sum(imag(outer(z, w))),
   A' * A + conj(A) .* A - A.' * outer(z, w))

fn elementwise_(z: cvec[n], w: cvec[n]) -> (r: real, y: cvec[n]) =
  (sum(real(exp(w) .* log(z))) + sum(imag(sqrt(z))) + sum(abs(sin(w) ./ z))
     + sum(real(cos(w) + tanh(w))) + sum(angle(z + w)) + sum(imag(z .^ 3))
     + sum(real(z .^ 0.7)) + sum(imag(phase(w))),
   exp(w) .* log(z) + sqrt(z) * 2i - conj(w) ./ z)

fn solve_(A: cmat[n, n], b: cvec[n], B: cmat[n, k]) -> (r: real, X: cmat[n, k], Ainv: cmat[n, n]) =
  (sumsq(solve(A, b)) + real(trace(inv(A))) + sum(imag(solve(A, B))), solve(A, B), inv(A))

fn expm_(A: cmat[n, n]) -> (r: real, E: cmat[n, n]) =
  (real(trace(expm(A) * conj(A))) + sum(abs(A ^ 3)), expm(A))

fn eigh_(A: cmat[n, n]) -> (r: real, values: vec[n], absV: mat[n, n]) =
  let (l, V) = eigh(A) in
  (sum(l .^ 3) + sum(abs(V[:, 0]) .* l) + sum(real(V[:, 2:3] * V[:, 2:3]')), l, abs(V))
`;
const mod = compile(SRC, { path: 'complex.mat', verify: true });

const tensor = (t: FixtureTensor): Tensor => new Tensor(t.shape, Float64Array.from(t.data));
const inputsOf = (c: CxCase): Record<string, Tensor> => Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, tensor(v)]));
const cotangentsOf = (c: CxCase): Record<string, Tensor> => Object.fromEntries(Object.entries(c.cotangents).map(([k, v]) => [k, tensor(v)]));

/** L = Σ ⟨cotangent, output⟩ over the real numbers (packed parts: Re ḡ Re o + Im ḡ Im o). */
function lossOf(outputs: Record<string, Tensor>, cts: Record<string, Tensor>): number {
  let s = 0;
  for (const [k, g] of Object.entries(cts)) {
    const o = outputs[k]!.data;
    for (let i = 0; i < o.length; i++) s += g.data[i]! * o[i]!;
  }
  return s;
}

test('forward values and gradients against PyTorch complex128 autograd (reference interpreter and compiled CPU)', async (t) => {
  let worstOut = 0;
  let worstGrad = 0;
  for (const c of fixture.cases) {
    const fn = mod.fn(`${c.name}_`);
    const inputs = inputsOf(c);
    const cts = cotangentsOf(c);
    // forward on every CPU backend, against torch
    const runs = await runAll(fn, inputs);
    for (const [backend, run] of Object.entries(runs)) {
      for (const [k, want] of Object.entries(c.outputs)) {
        const e = relErr(run!.outputs[k]!.data, want.data);
        assert.ok(e < 1e-11, `${c.name} ${backend}: output ${k} relative error ${e.toExponential(2)}`);
        worstOut = Math.max(worstOut, e);
      }
    }
    // gradients (interpreter and compiled), against torch's z.grad
    const r = await fn.vjp(inputs, cts);
    for (const [k, want] of Object.entries(c.gradients)) {
      const e = relErr(r.gradients[k]!.data, want.data);
      assert.ok(e < 1e-9, `${c.name}: gradient of ${k} relative error ${e.toExponential(2)} against torch`);
      worstGrad = Math.max(worstGrad, e);
    }
    const vr = await runAll(fn, { ...inputs, ...Object.fromEntries(Object.entries(cts).map(([k, v]) => [`ct.${k}`, v])) }, { mode: 'vjp' });
    assertAgree(vr, 1e-10, 1e-4, `${c.name} vjp: `);
  }
  t.diagnostic(`worst relative error against torch: outputs ${worstOut.toExponential(2)}, gradients ${worstGrad.toExponential(2)}`);
});

test('VJPs against central finite differences on the real and imaginary parts of every input (f64)', async (t) => {
  let worst = 0;
  for (const c of fixture.cases) {
    const fn = mod.fn(`${c.name}_`);
    const inputs = inputsOf(c);
    const cts = cotangentsOf(c);
    const g = (await fn.vjp(inputs, cts)).gradients;
    const h = 1e-6;
    for (const [k, x] of Object.entries(inputs)) {
      const fd = new Float64Array(x.data.length);
      for (let i = 0; i < x.data.length; i++) {
        const at = (d: number) => {
          const y = Float64Array.from(x.data);
          y[i] += d;
          return { ...inputs, [k]: new Tensor(x.shape, y) };
        };
        const fp = lossOf((await fn.forward(at(h))).outputs, cts);
        const fm = lossOf((await fn.forward(at(-h))).outputs, cts);
        fd[i] = (fp - fm) / (2 * h);
      }
      const e = relErr(g[k]!.data, fd);
      assert.ok(e < 1e-6, `${c.name}: d/d${k} relative error ${e.toExponential(2)} against finite differences`);
      worst = Math.max(worst, e);
    }
  }
  t.diagnostic(`worst relative error against finite differences: ${worst.toExponential(2)}`);
});

test('JVPs against finite differences along a random complex direction, and ⟨ḡ, J t⟩ = ⟨Jᵀ ḡ, t⟩', async () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;
  for (const c of fixture.cases) {
    const fn = mod.fn(`${c.name}_`);
    const inputs = inputsOf(c);
    const tangents = Object.fromEntries(Object.entries(inputs).map(([k, x]) => [k, new Tensor(x.shape, Float64Array.from(x.data, rnd))]));
    const j = await fn.jvp(inputs, tangents);
    const h = 1e-6;
    const shifted = (s: number) => Object.fromEntries(Object.entries(inputs).map(([k, x]) => [k, new Tensor(x.shape, Float64Array.from(x.data, (v, i) => v + s * tangents[k]!.data[i]!))]));
    const fp = (await fn.forward(shifted(h))).outputs;
    const fm = (await fn.forward(shifted(-h))).outputs;
    for (const k of Object.keys(c.outputs)) {
      const fd = Float64Array.from(fp[k]!.data, (v, i) => (v - fm[k]!.data[i]!) / (2 * h));
      const e = relErr(j.tangents[k]!.data, fd);
      assert.ok(e < 1e-6, `${c.name}: tangent of ${k} relative error ${e.toExponential(2)} against finite differences`);
    }
    // duality with the VJP
    const cts = cotangentsOf(c);
    const g = (await fn.vjp(inputs, cts)).gradients;
    let lhs = 0;
    let rhs = 0;
    for (const [k, ct] of Object.entries(cts)) for (let i = 0; i < ct.data.length; i++) lhs += ct.data[i]! * j.tangents[k]!.data[i]!;
    for (const [k, t] of Object.entries(tangents)) for (let i = 0; i < t.data.length; i++) rhs += g[k]!.data[i]! * t.data[i]!;
    assert.ok(Math.abs(lhs - rhs) <= 1e-10 * Math.max(1, Math.abs(lhs)), `${c.name}: ⟨ḡ, J t⟩ = ${lhs}, ⟨Jᵀ ḡ, t⟩ = ${rhs}`);
  }
});

async function gpuAgree(t: TestContext, names: string[]): Promise<void> {
  for (const c of fixture.cases.filter((x) => names.includes(x.name))) {
    const t0 = Date.now();
    const runs = await runAll(mod.fn(`${c.name}_`), inputsOf(c), { t });
    if (!runs.webgpu) return; // no adapter: gpuOrSkip has marked the test skipped
    t.diagnostic(`${c.name}: ${Date.now() - t0} ms`);
    assertAgree(runs, 1e-11, 2e-4, `${c.name}: `);
  }
}

test('WebGPU (f32 pairs) agrees with the reference interpreter: products, elementwise functions, solves', async (t) => {
  await gpuAgree(t, ['products', 'elementwise', 'solve']);
});

// the VJP kernels took 105 s and 212 s to compile cold on lavapipe (loaded 2-core machine): gated
test('WebGPU (f32 pairs): VJPs of complex products and elementwise functions agree with the reference interpreter (MATC_GPU_LAYERS=1 on software adapters)', async (t) => {
  if (!(await layerGpuOrSkip(t))) return;
  for (const c of fixture.cases.filter((x) => x.name === 'products' || x.name === 'elementwise')) {
    const t0 = Date.now();
    const cts = Object.fromEntries(Object.entries(cotangentsOf(c)).map(([k, v]) => [`ct.${k}`, v]));
    const runs = await runAll(mod.fn(`${c.name}_`), { ...inputsOf(c), ...cts }, { t, mode: 'vjp' });
    if (!runs.webgpu) return;
    t.diagnostic(`${c.name} vjp: ${Date.now() - t0} ms`);
    assertAgree(runs, 1e-10, 5e-4, `${c.name} vjp: `);
  }
});

// expm and the complex Jacobi eigh take 50–80 s each to compile cold on lavapipe: gated as the
// layer kernels (MATC_GPU_LAYERS=1 on a software adapter; always on hardware)
test('WebGPU (f32 pairs) agrees with the reference interpreter: expm, Hermitian eigh (MATC_GPU_LAYERS=1 on software adapters)', async (t) => {
  if (!(await layerGpuOrSkip(t))) return;
  await gpuAgree(t, ['expm', 'eigh']);
});

// ---- language forms -------------------------------------------------------------------------------

const LANG = `
fn transposes(A: cmat[m, n]) -> (H: cmat[n, m], T: cmat[n, m]) = (A', A.')
fn literals(x: real) -> (a: complex, b: complex, c: complex) = (x + 2.5i, im * im, (1 + 1i) ^ 2)
// a function written for real values, called with complex arguments: its body is checked with them
fn rayleigh(A: mat[n, n], v: vec[n]) -> real = real(v' * A * v) / real(v' * v)
fn generic(A: herm[n], v: cvec[n]) -> r: real = rayleigh(A, v)
// a real carry that the body makes complex (rotation by i each step), and complex branches
fn spin(x: vec[n], k: int) -> y: cvec[n] =
  iterate (y = x) for i in 0..k => y * 1i
fn branch(z: complex, t: real) -> w: complex = if t > 0 then z * z else conj(z)
fn hermgrad(A: herm[n], v: cvec[n]) -> r: real = real(v' * A * v) + sumsq(A)
`;
const lang = compile(LANG, { path: 'complex-lang.mat', verify: true });

const C = (shape: number[], re: number[], im: number[]) => Tensor.complex(shape, re, im);

test("' is the conjugate transpose and .' the transpose; imaginary literals and im", async () => {
  const A = C([2, 3], [1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]);
  const r = await lang.fn('transposes').forward({ A });
  // H[j, i] = conj(A[i, j]), packed (re, im)
  assert.deepEqual(Array.from(r.outputs.H!.data), [1, -7, 4, -10, 2, -8, 5, -11, 3, -9, 6, -12]);
  assert.deepEqual(Array.from(r.outputs.T!.data), [1, 7, 4, 10, 2, 8, 5, 11, 3, 9, 6, 12]);
  assert.deepEqual(r.outputs.H!.shape, [3, 2, 2]);
  const l = await lang.fn('literals').forward({ x: 0.5 });
  assert.deepEqual(Array.from(l.outputs.a!.data), [0.5, 2.5]);
  assert.deepEqual(Array.from(l.outputs.b!.data), [-1, 0]);
  assert.deepEqual(Array.from(l.outputs.c!.data), [0, 2]);
});

test('a complex Tensor input binds without a copy; a real function called with complex arguments is generic', async () => {
  const n = 3;
  const Are = [2, 0.5, -0.25, 0.5, 1, 0.75, -0.25, 0.75, 3];
  const Aim = [0, 0.3, -0.2, -0.3, 0, 0.1, 0.2, -0.1, 0];
  const vre = [1, -0.5, 0.25];
  const vim = [0.5, 0.75, -1];
  const r = await lang.fn('generic').forward({ A: C([n, n], Are, Aim), v: C([n], vre, vim) });
  // vᴴ A v / vᴴ v, by hand in complex arithmetic
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    den += vre[i]! ** 2 + vim[i]! ** 2;
    for (let j = 0; j < n; j++) {
      // conj(v_i) A_ij v_j
      const ar = Are[i * n + j]!;
      const ai = Aim[i * n + j]!;
      const avr = ar * vre[j]! - ai * vim[j]!;
      const avi = ar * vim[j]! + ai * vre[j]!;
      num += vre[i]! * avr + vim[i]! * avi;
    }
  }
  assert.ok(Math.abs(r.outputs.r!.data[0]! - num / den) < 1e-14);
});

test('a real loop carry that turns complex, and complex branches', async () => {
  const s = await lang.fn('spin').forward({ x: [1, 2] }, { dims: { k: 3 } });
  // i³ = −i
  assert.deepEqual(Array.from(s.outputs.y!.data), [0, -1, 0, -2]);
  const z = C([], [1], [2]);
  assert.deepEqual(Array.from((await lang.fn('branch').forward({ z, t: 1 })).outputs.w!.data), [-3, 4]);
  assert.deepEqual(Array.from((await lang.fn('branch').forward({ z, t: -1 })).outputs.w!.data), [1, -2]);
});

test('the gradient of a Hermitian parameter is Hermitian (herm(G)), and matches finite differences along Hermitian directions', async () => {
  const n = 2;
  const A = C([n, n], [2, 0.5, 0.5, 1], [0, 0.25, -0.25, 0]);
  const v = C([n], [1, -0.5], [0.5, 0.75]);
  const fn = lang.fn('hermgrad');
  const g = (await fn.vjp({ A, v }, { r: 1 })).gradients.A!.data;
  const at = (i: number, j: number, k: number) => g[(i * n + j) * 2 + k]!;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    assert.ok(Math.abs(at(i, j, 0) - at(j, i, 0)) < 1e-14 && Math.abs(at(i, j, 1) + at(j, i, 1)) < 1e-14, `G[${i}, ${j}] is not Hermitian`);
  }
  // a Hermitian direction D: dL = ⟨G, D⟩ over the real parts
  const D = [0.3, 0, 0.1, -0.2, 0.1, 0.2, -0.5, 0];
  const h = 1e-6;
  const shifted = (s: number) => new Tensor([n, n, 2], Float64Array.from(A.data, (x, i) => x + s * D[i]!));
  const fp = (await fn.forward({ A: shifted(h), v })).outputs.r!.data[0]!;
  const fm = (await fn.forward({ A: shifted(-h), v })).outputs.r!.data[0]!;
  const dot = D.reduce((s, d, i) => s + d * g[i]!, 0);
  assert.ok(Math.abs((fp - fm) / (2 * h) - dot) < 1e-8, `${(fp - fm) / (2 * h)} vs ${dot}`);
});

test('complex values where reals are needed are diagnostics (MAT0290, MAT0291), never silent', () => {
  const codeOf = (src: string): string[] => {
    try {
      compile(src, { path: 'bad.mat' });
      return [];
    } catch (e) {
      assert.ok(e instanceof CompileError);
      return e.diagnostics.map((d) => d.code);
    }
  };
  assert.deepEqual(codeOf('fn f(z: complex) -> real = max(z, 1)'), ['MAT0290']);
  assert.deepEqual(codeOf('fn f(z: complex, w: complex) -> real = if z < w then 1 else 0'), ['MAT0290']);
  assert.deepEqual(codeOf('fn f(x: vec[n]) -> vec[n] = x * 1i'), ['MAT0291']);
  assert.deepEqual(codeOf('fn f(x: cvec[n]) -> real = x[0]'), ['MAT0291']);
  assert.deepEqual(codeOf('fn f(z: cvec[n]) -> real = floor(z[0])'), ['MAT0290']);
  // refused: complex unknowns of declarative nodes (the solvers are real; MAT0294)
  assert.deepEqual(codeOf('fn f(z: cvec[n]) -> cvec[n] = argmin x: cvec[n] of sumsq(x - z)'), ['MAT0294']);
  assert.deepEqual(codeOf('fn f(A: cmat[n, n]) -> cmat[n, n] = solve Q: cmat[n, n] such that Q * Q == A by A'), ['MAT0294']);
});

test('an optimizer with complex parameters and state: one step by hand; the signature names complex inputs', async () => {
  const m = compile(
    `optimizer csgd(W: cmat[m, n], G: cmat[m, n]; lr: real = 0.1, beta: real = 0.5) =
       state M: cmat[m, n] = zeros(m, n), S: mat[m, n] = zeros(m, n)
       let M2 = beta * M + G .* (1 + 1i) in
       M <- M2, S <- beta * S + abs(G) .^ 2, W <- W - lr * M2 ./ sqrt(S + 1)`,
    { path: 'csgd.mat', verify: true },
  );
  const W = C([1, 2], [1, 2], [3, 4]);
  const G = C([1, 2], [0.5, -1], [2, 0]);
  const init = (await m.fn('csgd.init').forward({ W, G })).outputs;
  assert.deepEqual(init.M!.shape, [1, 2, 2]);
  const state = { M: C([1, 2], [0.5, 0], [0, -1]), S: init.S! };
  const out = (await m.fn('csgd').forward({ W, G, ...state })).outputs;
  // M2 = 0.5 M + G (1 + i) = [0.25 + (0.5 − 2) + (0.5 + 2) i, (−1 − i) − 0.5 i]; S old = 0, so
  // W − 0.1 M2
  const close = (a: ArrayLike<number>, b: number[]) => b.forEach((x, i) => assert.ok(Math.abs(a[i]! - x) < 1e-14, `${Array.from(a)} vs ${b}`));
  close(out.M!.data, [-1.25, 2.5, -1, -1.5]);
  close(out.S!.data, [4.25, 1]);
  close(out.W!.data, [1.125, 2.75, 2.1, 4.15]);
  const ps = m.fn('csgd').params;
  assert.equal(ps.find((p) => p.name === 'W')!.complex, 'general');
  assert.equal(ps.find((p) => p.name === 'S')!.complex, undefined);
  assert.equal(m.fn('csgd').results.find((r) => r.name === 'M')!.complex, true);
});

export type { CompiledFn };
