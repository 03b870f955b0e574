// The surface syntax of compile-time collections: every new form parses, prints back to itself
// (parse∘print = id, spans aside), and misplaced forms are diagnosed instead of crashing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as A from '../grammar/ast.js';
import { parseFile } from '../grammar/build-ast.js';
import { printProgram } from '../grammar/print-ast.js';
import { DiagnosticBag } from '../compiler/diagnostics.js';
import { sourceFile } from '../compiler/source.js';
import { checkSource } from '../compiler/compile.js';
import { stripSpans } from './gen/ast.js';
import { kronSpec, ttSpec } from './util/collections-specs.js';

function parse(text: string): { p: A.Program; diags: DiagnosticBag } {
  const diags = new DiagnosticBag();
  return { p: parseFile(sourceFile('syntax.mat', text), diags), diags };
}

const snippets = [
  ttSpec,
  kronSpec,
  'fn f(xs: [vec[n[i]] for i in 1..K + 1], K: static int = 2) -> real = sum(sumsq(xs[i]) for i in 0..len(xs))',
  'fn g(T: tensor[d[i] for i in 0..3], A: mat[prod(d[i] for i in 0..3), sum(d[j] for j in 1..3)]) -> real = sum(A)',
  'fn h(x: vec[n]) -> [vec[n] for i in 0..3] = [x * float(i) for i in 0..3]',
  'fn u(x: vec[n]) -> vec[n] = let (a, b) = unroll (y = x, z: vec[n] = x) for i in reverse 0..4 => let w = y + z in (w, z) in a + b',
  'fn p(T: tensor[a, b, c], i: int) -> mat[a, c] = T[:, i, :] + T[:, 0, :]',
];

for (const [k, src] of snippets.entries()) {
  test(`parse∘print = id: collection snippet ${k + 1}`, () => {
    const { p, diags } = parse(src);
    assert.deepEqual(diags.items.map((d) => d.message), []);
    const text = printProgram(p);
    const q = parse(text);
    assert.deepEqual(q.diags.items.map((d) => d.message), [], text);
    assert.deepStrictEqual(stripSpans(q.p), stripSpans(p), `printed:\n${text}`);
    assert.equal(printProgram(q.p), text);
  });
}

test('every snippet checks cleanly', () => {
  for (const src of snippets) assert.deepEqual(checkSource(src).map((d) => `${d.code}: ${d.message}`), [], src);
});

test('misplaced collection syntax is a diagnostic with a code, never an exception', () => {
  const cases: [string, string][] = [
    ['fn f(x: vec[n]) -> mat[n, 2] = [x for i in 0..2, x]', 'MAT0102'],
    ['fn f(x: vec[n]) -> real = sum([x for i in 0..2; x])', 'MAT0102'],
    ['fn f(x: vec[n[i] for i in 0..2]) -> real = 1', 'MAT0202'],
    ['fn f(x: vec[n], y: vec[max(n, n[i] for i in 0..2)]) -> real = 1', 'MAT0102'],
    ['fn f(x: vec[max(n[0] for i in 0..2)]) -> real = 1', 'MAT0102'],
    ['fn f(x: vec[n]) -> real = let a = unroll (y = x) for i in 0..n => y in sum(a)', 'MAT0241'],
    ['fn f(x: vec[n], k: int) -> real = let xs = [x for i in 0..2] in sum(xs[k])', 'MAT0241'],
    ['fn f(x: vec[n]) -> real = let xs = (x, x) in sum(xs[-1])', 'MAT0243'],
    ['fn f(x: vec[n]) -> real = let xs = [x for i in 0..3] in sum(xs[1:5])', 'MAT0243'],
    ['fn f(x: vec[n]) -> real = sum([x for i in 3..1])', 'MAT0243'],
    ['fn f(x: vec[n]) -> real = sum(unroll (y = x) for i in 0..2000 => y)', 'MAT0244'],
    ['fn f(xs: [vec[n] for i in 0..K], K: static int = 2) -> real = sum(xs + 1)', 'MAT0208'],
    ['fn f(x: vec[n], K: static int = -1) -> real = 1', 'MAT0240'],
    ['fn f(x: vec[n]) -> static int = 1', 'MAT0240'],
    ['fn f(xs: [int for i in 0..2] = 1) -> real = 1', 'MAT0242'],
    ['fn f(xs: [[vec[n] for j in 0..2] for i in 0..2]) -> real = 1', 'MAT0242'],
    ['fn f(x: vec[n]) -> real = let a = (if 1 > 0 then [x for i in 0..2] else [x for i in 0..3]) in 1', 'MAT0246'],
    ['fn f(x: vec[n]) -> real = float(len(x))', 'MAT0208'],
    ['fn f(T: tensor[a, b]) -> real = sum(modeprod(T, eye(b), 2))', 'MAT0210'],
    ['fn f(T: tensor[a, b]) -> real = sum(modeprod(T, eye(a), 1))', 'MAT0203'],
    ['fn f(T: tensor[a, b]) -> real = float(size(T, 5))', 'MAT0210'],
    ['fn f(x: vec[n], k: int) -> real = sum(unfold(reshape(x, n, 1), k))', 'MAT0241'],
  ];
  for (const [src, code] of cases) {
    const ds = checkSource(src);
    assert.ok(ds.some((d) => d.code === code), `${src}\n  expected ${code}, got ${ds.map((d) => `${d.code}: ${d.message}`).join('; ') || 'nothing'}`);
    for (const d of ds) assert.ok(d.span, `${d.code} without a span`);
  }
});

test('a generic function without defaults is not checked on its own, and is at each call', () => {
  const generic = 'fn last(xs: [vec[n] for i in 0..K], K: static int) -> vec[n] =\n  xs[K]\n';
  assert.deepEqual(checkSource(generic), []);
  const called = generic + 'fn use(a: vec[n], b: vec[n]) -> vec[n] =\n  last((a, b))\n';
  const ds = checkSource(called);
  assert.equal(ds.length, 1);
  assert.equal(ds[0]!.code, 'MAT0308');
  assert.ok((ds[0]!.notes ?? []).some((n) => /index 2 is out of range/.test(n.message)), JSON.stringify(ds[0]!.notes));
  assert.ok((ds[0]!.notes ?? []).some((n) => /last\[K=2\]/.test(n.message)), JSON.stringify(ds[0]!.notes));
});
