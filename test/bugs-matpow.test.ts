// Issue 10, bug 4: `A ^ 1024` was refused with a message that did not state the real limit (64),
// and `A ^ k` was expanded as k − 1 products. Now: binary exponentiation (⌊log₂ k⌋ squarings and
// popcount(k) − 1 further products) for every integer 0 ≤ k ≤ 2³¹ − 1 known when the function is
// checked; anything else is MAT0250, which states the range. Values are checked against a direct
// product of k − 1 matrix multiplications in f64 (written here, not by matc).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { checkSource, compileProgram } from '../compiler/compile.js';
import { reachable } from '../compiler/ir/node.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { Tensor } from '../runtime/tensor.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';

after(releaseSharedGpu);

const KS = [0, 1, 2, 3, 5, 7, 8, 63, 64, 65, 100, 1023, 1024];
const SRC = KS.map((k) => `fn p${k}(A: mat[n, n]) -> mat[n, n] = A ^ ${k}\n`).join('') + 'fn psym(S: sym[n]) -> sym[n] = S ^ 6\n';

function matmul(a: number[], b: number[], n: number): number[] {
  const c = new Array<number>(n * n).fill(0);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) c[i * n + j]! += a[i * n + k]! * b[k * n + j]!;
  return c;
}

function directPower(a: number[], n: number, k: number): number[] {
  let p: number[] = Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0));
  for (let i = 0; i < k; i++) p = matmul(p, a, n);
  return p;
}

/** A rotation-like matrix (a product of two Householder reflections, times 1 + small noise):
 *  its powers stay O(1) up to k = 1024, so the comparison is meaningful. */
function testMatrix(n: number, seed: number): number[] {
  let s = seed;
  const r = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0), s / 2 ** 32 - 0.5);
  const refl = () => {
    const v = Array.from({ length: n }, r);
    const vv = v.reduce((t, x) => t + x * x, 0);
    return Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0) - (2 * v[Math.floor(i / n)]! * v[i % n]!) / vv);
  };
  return matmul(refl(), refl(), n).map((x) => x * (1 + 1e-5 * r()));
}

const n = 4;
const A = testMatrix(n, 3);

test('A ^ k equals the direct product of k factors, on every CPU path', async () => {
  const m = compile(SRC, { path: 'pow.mat' });
  for (const backend of [new CpuBackend({ reference: true, threads: 1 }), new CpuBackend({ threads: 1 }), new CpuBackend({ threads: 1, engine: 'js' })]) {
    for (const k of KS) {
      const r = await m.fn(`p${k}`).forward({ A: new Tensor([n, n], A) }, { backend });
      const want = directPower(A, n, k);
      r.outputs.out!.data.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) <= 1e-11 * Math.max(1, Math.abs(want[i]!)), `A^${k}[${i}]: ${v} vs ${want[i]}`));
    }
  }
});

test('A ^ k costs ⌊log₂ k⌋ squarings plus popcount(k) − 1 products', () => {
  const p = compileProgram(SRC + 'fn pmax(A: mat[n, n]) -> mat[n, n] = A ^ 2147483647\n', { path: 'pow.mat' });
  const products = (name: string) => {
    const f = p.forward(name);
    return reachable(f.results.map((r) => r.node)).filter((x) => x.op === 'matmul').length;
  };
  for (const k of [...KS.filter((k) => k > 0), 2147483647]) {
    const name = k === 2147483647 ? 'pmax' : `p${k}`;
    const want = Math.floor(Math.log2(k)) + k.toString(2).split('').filter((c) => c === '1').length - 1;
    assert.equal(products(name), want, `A^${k}`);
  }
  assert.equal(products('p1024'), 10);
  assert.equal(products('p0'), 0);
  // the VJP stays O(log k) too (A^64's had 545 products with the chain of 63): forward, the
  // transposed powers and two products per squaring
  const vjpProducts = (name: string) => reachable(p.vjp(name).results.map((r) => r.node)).filter((x) => x.op === 'matmul').length;
  assert.ok(vjpProducts('p1024') <= 60, `${vjpProducts('p1024')}`);
  assert.ok(vjpProducts('p64') <= 36, `${vjpProducts('p64')}`);
});

test('A ^ 0 is the identity and a power of a symmetric matrix is symmetric', async () => {
  const m = compile(SRC, { path: 'pow.mat' });
  const r = await m.fn('p0').forward({ A: new Tensor([n, n], A) });
  assert.deepEqual(Array.from(r.outputs.out!.data), directPower(A, n, 0));
  const S = Array.from({ length: n * n }, (_, i) => { const a = Math.floor(i / n), b = i % n; return 0.3 * Math.cos(a + b) + (a === b ? 0.5 : 0); });
  const s = await m.fn('psym').forward({ S: new Tensor([n, n], S) });
  const want = directPower(S, n, 6);
  s.outputs.out!.data.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-12, `S^6[${i}]`));
});

test('the VJP and JVP of A ^ k agree with central finite differences', async () => {
  const m = compile(SRC, { path: 'pow.mat' });
  const B = A.map((x) => 0.9 * x);
  const C = Array.from({ length: n * n }, (_, i) => Math.sin(i + 1));
  const D = Array.from({ length: n * n }, (_, i) => Math.cos(2 * i + 1));
  for (const k of [3, 7, 64]) {
    const fn = m.fn(`p${k}`);
    const f = (X: number[]) => directPower(X, n, k).reduce((t, v, i) => t + v * C[i]!, 0);
    const h = 1e-6;
    const fd = (f(B.map((x, i) => x + h * D[i]!)) - f(B.map((x, i) => x - h * D[i]!))) / (2 * h);
    const g = (await fn.vjp({ A: new Tensor([n, n], B) }, { out: new Tensor([n, n], C) })).gradients.A!.data;
    const viaVjp = D.reduce((t, d, i) => t + d * g[i]!, 0);
    const t = (await fn.jvp({ A: new Tensor([n, n], B) }, { A: new Tensor([n, n], D) })).tangents.out!.data;
    const viaJvp = C.reduce((s, c, i) => s + c * t[i]!, 0);
    const tol = 1e-6 * Math.max(1, Math.abs(fd));
    assert.ok(Math.abs(viaVjp - fd) < tol, `A^${k} VJP: ${viaVjp} vs ${fd}`);
    assert.ok(Math.abs(viaJvp - fd) < tol, `A^${k} JVP: ${viaJvp} vs ${fd}`);
  }
});

test('WebGPU: A ^ 1024 and A ^ 7 agree with the f64 direct product', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const m = compile(SRC, { path: 'pow.mat' });
  for (const k of [7, 1024]) {
    const r = await m.fn(`p${k}`).forward({ A: new Tensor([n, n], A) }, { backend });
    const want = directPower(A, n, k);
    // f32: a relative error of about k · 2⁻²⁴ per entry at worst for an orthogonal-like matrix
    r.outputs.out!.data.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) <= 5e-3, `A^${k}[${i}]: ${v} vs ${want[i]}`));
  }
});

test('exponents outside 0 … 2³¹ − 1 or unknown when checked are MAT0250, which states the range', () => {
  const bad: [string, RegExp][] = [
    ['A ^ 2147483648', /not 2147483648/],
    ['A ^ -1', /not -1/],
    ['A ^ 2.5', /not 2\.5/],
    ['A ^ n', /not an integer known only at run time/],
  ];
  for (const [expr, re] of bad) {
    const d = checkSource(`fn f(A: mat[n, n]) -> mat[n, n] = ${expr}\n`, { path: 'f.mat' });
    assert.equal(d.length, 1, expr);
    assert.equal(d[0]!.code, 'MAT0250', expr);
    assert.match(d[0]!.message, /must be an integer from 0 to 2147483647/);
    assert.match(d[0]!.message, re);
  }
  // a non-square operand stays a shape error
  assert.equal(checkSource('fn f(A: mat[m, n]) -> mat[m, n] = A ^ 2\n', { path: 'f.mat' })[0]!.code, 'MAT0204');
  // a constant dimension is a known exponent
  assert.deepEqual(checkSource('fn f(A: mat[n, n]) -> mat[n, n] where k = 3 = A ^ k\n', { path: 'f.mat' }), []);
});
