// Issue 10, bug 5: `iterate` could not be a loop body without a `let` around it (MAT0102). A loop
// body may now be a loop, an argmin/argmax or a solve node directly (they take no `until`: a
// trailing `until` belongs to the innermost loop's body). parse∘print still holds: the printer
// writes such a body bare when no `until` follows (and in parentheses when one does).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { checkSource } from '../compiler/compile.js';
import { DiagnosticBag } from '../compiler/diagnostics.js';
import { sourceFile } from '../compiler/source.js';
import { parseFile } from '../grammar/build-ast.js';
import { printProgram } from '../grammar/print-ast.js';
import { Tensor } from '../runtime/tensor.js';
import { stripSpans } from './gen/ast.js';

const DIRECT = `fn f(A: mat[n, n]) -> mat[n, n] =
  iterate (X = A) for s in 0..2 => iterate (Y = X) for p in 0..n => 0.5 * Y * Y

fn g(x: vec[n]) -> vec[n] =
  iterate (u = x) for s in 0..3 => let w = 2 * u in iterate (v = w) for p in 0..20 => 0.5 * v until norm(v) < 1

fn h(b: vec[n]) -> vec[n] =
  iterate (u = b) for s in 0..3 => argmin x: vec[n] of sumsq(x - u) + sumsq(x)

fn k(x: vec[n]) -> vec[n] =
  iterate (u = x) for s in 0..30 => (iterate (v = u) for p in 0..2 => 0.9 * v) until norm(u) < 1
`;

// the same functions written as before, with a let around each inner node
const WRAPPED = `fn f(A: mat[n, n]) -> mat[n, n] =
  iterate (X = A) for s in 0..2 => let Z = iterate (Y = X) for p in 0..n => 0.5 * Y * Y in Z

fn g(x: vec[n]) -> vec[n] =
  iterate (u = x) for s in 0..3 => let w = 2 * u, r = iterate (v = w) for p in 0..20 => 0.5 * v until norm(v) < 1 in r

fn h(b: vec[n]) -> vec[n] =
  iterate (u = b) for s in 0..3 => let y = argmin x: vec[n] of sumsq(x - u) + sumsq(x) in y

fn k(x: vec[n]) -> vec[n] =
  iterate (u = x) for s in 0..30 => let r = iterate (v = u) for p in 0..2 => 0.9 * v in r until norm(u) < 1
`;

const parse = (text: string) => {
  const diag = new DiagnosticBag();
  const p = parseFile(sourceFile('t.mat', text), diag);
  return { p, diag };
};

test('a loop, argmin or solve node is a loop body without a let', () => {
  assert.deepEqual(checkSource(DIRECT, { path: 't.mat' }), []);
  const solveBody = 'fn s(a: vec[n]) -> vec[n] =\n  iterate (u = a) for i in 0..2 => solve y: vec[n] such that y .* y .* y + y == u\n';
  assert.deepEqual(checkSource(solveBody, { path: 't.mat' }), []);
  // the solve(...) builtin stays an ordinary expression body (with an until)
  assert.deepEqual(checkSource('fn s(A: mat[n, n], b: vec[n]) -> vec[n] =\n  iterate (u = b) for i in 0..2 => solve(A, u) until norm(u) < 1\n', { path: 't.mat' }), []);
});

test('the until after an inner loop belongs to the inner loop', () => {
  const { p } = parse(DIRECT);
  const g = p.items[1]!;
  assert.ok(g.kind === 'fn');
  const outer = g.body;
  assert.ok(outer.kind === 'iterate');
  assert.equal(outer.until, null);
  assert.ok(outer.body.kind === 'let' && outer.body.body.kind === 'iterate');
  assert.ok(outer.body.body.until !== null, 'the inner loop has the until');
  // a parenthesized inner loop leaves the until to the outer one
  const k = p.items[3]!;
  assert.ok(k.kind === 'fn' && k.body.kind === 'iterate' && k.body.until !== null && k.body.body.kind === 'iterate' && k.body.body.until === null);
});

test('parse∘print: bodies print bare when no until follows, and read back as the same AST', () => {
  const { p, diag } = parse(DIRECT);
  assert.equal(diag.items.length, 0);
  const text = printProgram(p);
  assert.match(text, /=> iterate \(Y = X\) for p in 0\.\.n => 0\.5 \* Y \* Y/);
  assert.match(text, /=> argmin x: vec\[n\] of /);
  assert.match(text, /=> \(iterate \(v = u\) for p in 0\.\.2 => 0\.9 \* v\) until /);
  const again = parse(text);
  assert.equal(again.diag.items.length, 0, text);
  assert.deepStrictEqual(stripSpans(again.p), stripSpans(p));
});

test('the direct and the let-wrapped forms compute the same values', async () => {
  const a = compile(DIRECT, { path: 'd.mat' });
  const b = compile(WRAPPED, { path: 'w.mat' });
  const A = new Tensor([2, 2], [0.9, 0.1, -0.2, 0.7]);
  const x = new Tensor([3], [3, -4, 12]);
  for (const [name, inputs] of [
    ['f', { A }],
    ['g', { x }],
    ['h', { b: x }],
    ['k', { x }],
  ] as const) {
    const ra = await a.fn(name).forward(inputs);
    const rb = await b.fn(name).forward(inputs);
    assert.deepEqual(Array.from(ra.outputs.out!.data), Array.from(rb.outputs.out!.data), name);
  }
  // and the values are the ones the loops mean: h halves u three times (argmin of ‖x−u‖² + ‖x‖²)
  const h = await a.fn('h').forward({ b: x });
  assert.deepEqual(Array.from(h.outputs.out!.data).map((v) => Math.round(v * 1e9) / 1e9), [3 / 8, -4 / 8, 12 / 8]);
  // k: u ← 0.81 u, and the outer until (which reads the carry u the iteration started from)
  // stops after the first iteration that started below 1
  let u = 13;
  for (let s = 0; s < 30; s++) {
    const next = 0.81 * u;
    const stop = u < 1;
    u = next;
    if (stop) break;
  }
  const kk = await a.fn('k').forward({ x });
  const norm = Math.hypot(...Array.from(kk.outputs.out!.data));
  assert.ok(Math.abs(norm - u) < 1e-12, `‖k(x)‖ = ${norm}, expected ${u}`);
});
