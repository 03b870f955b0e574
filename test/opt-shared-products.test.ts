// A transpose of a matrix product that is used elsewhere stays a transpose (compiler/opt/simplify.ts):
// rewriting (XY)ᵀ into YᵀXᵀ computed the product twice. Found by the SPD benchmark (issue 15):
// stdlib INGD's step did 18p³ + 6np² multiply–adds (sym(A₂A₂ᵀ), A₂ᵀ read products used elsewhere)
// where its math needs 8p³ + 4np² — what PyTorch's transcription does.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileProgram } from '../compiler/compile.js';
import { reachable } from '../compiler/ir/node.js';
import { irCost } from './util/ir-cost.js';

test('X + Xᵀ of a product X computes the product once', () => {
  const p = compileProgram("fn k(A: mat[n, n], m: mat[n, n]) -> mat[n, n] = let X = A * m in X + X'\n", { path: 'k.mat' });
  const f = p.forward('k');
  const products = [...reachable(f.results.map((r) => r.node))].filter((n) => n.op === 'matmul');
  assert.equal(products.length, 1);
  // a single-use product still moves its transpose inside: (AB)ᵀ C = BᵀAᵀ C, one product each
  const q = compileProgram("fn g(A: mat[n, n], B: mat[n, n], C: mat[n, n]) -> mat[n, n] = (A * B)' * C\n", { path: 'g.mat' }).forward('g');
  assert.equal([...reachable(q.results.map((r) => r.node))].filter((n) => n.op === 'matmul').length, 2);
});

test('stdlib INGD step: 8p³ + 4np² multiply–adds (the math), not 18p³ + 6np²', () => {
  const prog = compileProgram('import "spd.mat"', { path: 'c.mat' });
  const [p, n] = [1024, 128];
  for (const name of ['ingd', 'ingd_f16']) {
    const c = irCost(prog.forward(name), { p, d: p, n, m: n, T: 1 }).flops;
    const ideal = 8 * p ** 3 + 4 * n * p * p;
    assert.ok(c <= 1.01 * ideal, `${name}: ${c.toExponential(3)} multiply–adds, ${(c / ideal).toFixed(3)}× 8p³ + 4np²`);
  }
});
