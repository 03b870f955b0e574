// The `householder_qr` builtin (the IR op `householder`, compiler/ir/ops.ts) on the CPU in f64: the
// expand stage's loops (compiler/solvers/spectral.ts lowerHouseholder) against the standard
// library's `householder` written in the language (the same algorithm) and against the defining
// properties (Q R = A, QᵀQ = I, R upper triangular with diag(R) ≥ 0); its VJP and JVP rules
// (compiler/diff/spectral-rules.ts: Roberts & Roberts' closed form and its forward-mode
// counterpart) against central finite differences of the forward, and against each other; the
// rank-deficient case flagged in the derivative's status; bad input as diagnostics.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { checkSource } from '../compiler/compile.js';
import { Tensor } from '../runtime/tensor.js';
import { derivativeChecks } from './util/derivative-checks.js';

const SRC = `import "qr.mat"
fn lang(A: mat[m, n]) -> (Q: mat[m, k], R: mat[k, n]) where k = min(m, n) = householder(A)
fn prim(A: mat[m, n]) -> (Q: mat[m, k], R: mat[k, n]) where k = min(m, n) = householder_qr(A)
`;

function rnd(seed: number, k: number): number[] {
  let x = seed >>> 0;
  return Array.from({ length: k }, () => ((x = (Math.imul(1664525, x) + 1013904223) >>> 0) >>> 8) / 16777216 - 0.5);
}

const shapes: [number, number][] = [[6, 4], [4, 6], [5, 5], [1, 3], [3, 1]];

test('householder_qr equals the language householder and satisfies A = Q R, QᵀQ = I, R triu with diag(R) ≥ 0 (f64)', async () => {
  const mod = compile(SRC, { path: 'householder.mat' });
  for (const [m, n] of shapes) {
    const data = rnd(m * 31 + n, m * n);
    // a zero column in the middle (nothing to eliminate there: v = 0) and an all-zero matrix
    for (const A of [new Tensor([m, n], data), new Tensor([m, n], data.map((x, i) => (i % n === Math.min(1, n - 1) ? 0 : x))), new Tensor([m, n], new Array(m * n).fill(0))]) {
      const a = await mod.fn('lang').forward({ A });
      const b = await mod.fn('prim').forward({ A });
      const k = Math.min(m, n);
      for (const o of ['Q', 'R'] as const) {
        const d = Math.max(...b.outputs[o]!.data.map((x, i) => Math.abs(x - a.outputs[o]!.data[i]!)));
        assert.ok(d <= 1e-14, `${m}×${n} ${o}: the primitive is off the language version by ${d}`);
      }
      const Q = b.outputs.Q!.data;
      const R = b.outputs.R!.data;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let l = 0; l < k; l++) s += Q[i * k + l]! * R[l * n + j]!;
          assert.ok(Math.abs(s - A.data[i * n + j]!) <= 1e-14, `${m}×${n}: (QR − A)[${i}, ${j}] = ${s - A.data[i * n + j]!}`);
        }
      }
      for (let i = 0; i < k; i++) {
        assert.ok(R[i * n + i]! >= 0, `${m}×${n}: diag(R)[${i}] = ${R[i * n + i]}`);
        for (let j = 0; j < i; j++) assert.equal(R[i * n + j], 0, `${m}×${n}: R[${i}, ${j}] below the diagonal`);
        for (let j = 0; j < k; j++) {
          let s = 0;
          for (let l = 0; l < m; l++) s += Q[l * k + i]! * Q[l * k + j]!;
          // columns for a zero pivot are still unit vectors (Q is a product of reflections)
          assert.ok(Math.abs(s - (i === j ? 1 : 0)) <= 1e-14, `${m}×${n}: (QᵀQ)[${i}, ${j}] = ${s}`);
        }
      }
    }
  }
});

test('householder_qr: VJP and JVP against central finite differences in f64, and JVP–VJP consistency (tall, wide, square)', async () => {
  const mod = compile(SRC, { path: 'householder-diff.mat' });
  for (const [m, n] of [[6, 4], [4, 6], [5, 5], [3, 1], [1, 3]] as const) {
    const A = new Tensor([m, n], rnd(m * 7 + n, m * n));
    const r0 = rnd(m + 13 * n, 1000);
    let at = 0;
    const r = await derivativeChecks(mod.fn('prim'), A, () => r0[at++ % r0.length]!);
    assert.ok(r.vjp <= 1e-6, `${m}×${n}: VJP vs finite differences ${r.vjp.toExponential(2)}`);
    assert.ok(r.jvp <= 1e-6, `${m}×${n}: JVP vs finite differences ${r.jvp.toExponential(2)}`);
    assert.ok(r.dual <= 1e-11, `${m}×${n}: ⟨ct, J v⟩ vs ⟨Jᵀct, v⟩ ${r.dual.toExponential(2)}`);
  }
});

test('householder_qr: a rank-deficient A (the derivative does not exist) is flagged in the VJP and JVP statuses', async () => {
  const mod = compile(SRC, { path: 'householder-rank.mat' });
  const m = 5;
  const n = 4;
  const data = rnd(9, m * n);
  // column 2 = column 0 + column 1: R[2, 2] = 0
  for (let i = 0; i < m; i++) data[i * n + 2] = data[i * n]! + data[i * n + 1]!;
  const A = new Tensor([m, n], data);
  const ct = { Q: new Tensor([m, n], rnd(1, m * n)), R: new Tensor([n, n], rnd(2, n * n)) };
  const g = await mod.fn('prim').vjp({ A }, ct);
  assert.equal(g.status.ok, false, 'the VJP status of a rank-deficient QR');
  assert.ok(g.status.nodes.some((s) => s.name.includes('householder_qr') && s.name.endsWith('/backward') && s.converged.some((c) => !c)), JSON.stringify(g.status.nodes.map((s) => s.name)));
  const t = await mod.fn('prim').jvp({ A }, { A: new Tensor([m, n], rnd(3, m * n)) });
  assert.equal(t.status.ok, false, 'the JVP status of a rank-deficient QR');
  // a full-rank A is not flagged
  const ok = await mod.fn('prim').vjp({ A: new Tensor([m, n], rnd(4, m * n)) }, ct);
  assert.ok(ok.status.ok, ok.status.warnings.join('; '));
});

test('householder_qr: bad input is a diagnostic (a vector, two arguments, an option, a complex matrix)', () => {
  const cases: [string, string][] = [
    ['fn f(x: vec[n]) -> real = sum(householder_qr(x)[0])', 'MAT0208'],
    ['fn f(A: mat[m, n]) -> mat[m, k] where k = min(m, n) = householder_qr(A, A)[0]', 'MAT0303'],
    ['fn f(A: mat[m, n]) -> mat[m, k] where k = min(m, n) = householder_qr(A, max_sweeps: 3)[0]', 'MAT0220'],
  ];
  for (const [src, code] of cases) {
    const ds = checkSource(src, { path: 'bad.mat' });
    assert.ok(ds.some((d) => d.code === code && d.span), `${src}: ${ds.map((d) => `${d.code} ${d.message}`).join('; ')}`);
  }
  const cplx = checkSource('fn f(A: cmat[m, n]) -> cmat[m, k] where k = min(m, n) = let (Q, R) = householder_qr(A) in Q', { path: 'bad.mat' });
  // (the standard library's `householder` and `cqr` take complex matrices)
  assert.ok(cplx.some((d) => d.code === 'MAT0290' && d.span), `a complex argument: ${cplx.map((d) => `${d.code} ${d.message}`).join('; ')}`);
});
