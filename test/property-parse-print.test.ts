// Property: parse∘print = id on ASTs (spans aside), for
//   1. every stdlib file: parse(print(parse(src))) = parse(src), and print is idempotent;
//   2. typed random expressions (test/gen/expr.ts) inside random let/if/iterate/argmin/solve
//      wrappers: the source parses without diagnostics back to the AST that was printed;
//   3. untyped random programs of the whole surface syntax (test/gen/ast.ts): every item form,
//      expression kind, operator and clause, nested in every position.
// Counterexamples print as source. MATC_PROPERTY_SEED / _RUNS / _TIME_MS as elsewhere.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type * as A from '../grammar/ast.js';
import { parseFile } from '../grammar/build-ast.js';
import { printProgram } from '../grammar/print-ast.js';
import { DiagnosticBag } from '../compiler/diagnostics.js';
import { sourceFile } from '../compiler/source.js';
import { SPAN, ast, geneArb, Gen, scalar, vec, type Shape } from './gen/expr.js';
import { exprArb, programArb, stripSpans } from './gen/ast.js';
import { repoRoot, stdlibFiles } from './gen/paths.js';
import { assertProperty } from './gen/property.js';

const RUNS = Number(process.env.MATC_PROPERTY_RUNS ?? 500);
const SEED = Number(process.env.MATC_PROPERTY_SEED ?? 20240613);
const TIME_MS = Number(process.env.MATC_PROPERTY_TIME_MS ?? 3_500);

function parse(text: string): A.Program {
  const diag = new DiagnosticBag();
  const prog = parseFile(sourceFile('roundtrip.mat', text), diag);
  if (diag.items.length) throw new Error(`the printed source does not parse: ${diag.items.map((d) => d.message).join('; ')}\n--- source:\n${text}`);
  return prog;
}

/** parse(print(p)) equals p, and printing that again gives the same text. */
function roundTrips(p: A.Program): void {
  const text = printProgram(p);
  const q = parse(text);
  assert.deepStrictEqual(stripSpans(q), stripSpans(p), `parse(print(ast)) differs from ast\n--- printed:\n${text}`);
  assert.equal(printProgram(q), text, 'printing is not idempotent');
}

const withSource = (p: A.Program): A.Program => Object.assign(p, { [fc.toStringMethod]: () => `\n${printProgram(p)}` });

for (const file of stdlibFiles()) {
  test(`parse∘print = id: stdlib/${file}`, () => {
    const src = readFileSync(join(repoRoot, 'stdlib', file), 'utf8');
    const diag = new DiagnosticBag();
    const p = parseFile(sourceFile(file, src), diag);
    assert.deepEqual(diag.items, []);
    roundTrips(p);
  });
}

// ---- typed expressions in wrappers ---------------------------------------------------------------------

type Wrapper = 'let' | 'tuple-let' | 'if' | 'iterate' | 'argmin' | 'solve';

function wrap(inner: A.Expr, other: A.Expr, w: Wrapper): A.Expr {
  const typ = (name: string, ...dims: string[]): A.TypeAst => ({ name: ast.id(name), dims: dims.length ? dims.map((d): A.DimAst => ({ kind: 'name', name: d, span: SPAN })) : null, span: SPAN });
  const clauses = (c: Partial<A.DeclClauses>): A.DeclClauses => ({ constraints: [], init: null, by: null, grad: null, orient: null, ...c });
  const newton: A.SolverSpec = (() => {
    const args = [{ name: ast.id('tol'), value: ast.num(1e-9) }];
    return { name: ast.id('newton'), args, call: { kind: 'call', callee: ast.id('newton'), args, span: SPAN }, span: SPAN };
  })();
  switch (w) {
    case 'let':
      return ast.let(['w'], other, ast.bin('+', inner, ast.name('w')));
    case 'tuple-let':
      return ast.let(['w1', 'w2'], ast.tuple([inner, other]), ast.bin('*', ast.name('w1'), ast.name('w2')));
    case 'if':
      return ast.if(ast.bin('>', ast.name('a'), ast.num(0)), inner, other);
    case 'iterate':
      return {
        kind: 'iterate',
        carries: [{ name: ast.id('s'), type: null, init: inner, span: SPAN }],
        index: ast.id('i'),
        reverse: false,
        lo: ast.num(0),
        hi: ast.name('n'),
        body: ast.bin('+', ast.name('s'), other),
        until: ast.bin('<', ast.call('norm', ast.name('s')), ast.num(0.001)),
        span: SPAN,
      };
    case 'argmin':
      return {
        kind: 'argopt',
        sense: 'min',
        vars: [{ name: ast.id('z'), type: typ('vec', 'n'), span: SPAN }],
        objective: ast.call('sumsq', ast.bin('-', ast.name('z'), inner)),
        clauses: clauses({ constraints: [ast.bin('==', ast.call('sum', ast.name('z')), ast.num(1))], init: other, by: newton }),
        span: SPAN,
      };
    case 'solve':
      return {
        kind: 'solve',
        vars: [{ name: ast.id('y'), type: typ('real'), span: SPAN }],
        equations: [ast.bin('==', ast.bin('*', ast.name('y'), ast.name('y')), inner)],
        clauses: clauses({ init: ast.num(1), by: newton }),
        span: SPAN,
      };
  }
}

const wrappedArb: fc.Arbitrary<A.Program> = fc
  .record({
    g1: geneArb(),
    g2: geneArb(),
    shape: fc.constantFrom<Shape>(scalar, vec('n')),
    wrappers: fc.array(fc.constantFrom<Wrapper>('let', 'tuple-let', 'if', 'iterate', 'argmin', 'solve'), { maxLength: 4 }),
  })
  .map(({ g1, g2, shape, wrappers }) => {
    const gen = new Gen();
    let body = gen.expr(shape, g1);
    const other = gen.expr(shape, g2);
    for (const w of wrappers) body = wrap(body, other, w);
    const params: A.Param[] = [...gen.params, ['a', scalar] as const].map(([name, s]) => ({
      name: ast.id(name),
      type: {
        name: ast.id(s.rank === 0 ? 'real' : s.rank === 1 ? 'vec' : 'mat'),
        dims: s.rank === 0 ? null : (s.rank === 1 ? [s.n] : [s.r, s.c]).map((d): A.DimAst => (/^\d+$/.test(d) ? { kind: 'num', value: Number(d), span: SPAN } : { kind: 'name', name: d, span: SPAN })),
        span: SPAN,
      },
      default: null,
      span: SPAN,
    }));
    const item: A.Item = {
      kind: 'fn',
      name: ast.id('f'),
      params: params.filter((p, i) => params.findIndex((q) => q.name.name === p.name.name) === i),
      results: [{ name: null, type: { name: ast.id('real'), dims: null, span: SPAN }, span: SPAN }],
      tupleResults: false,
      where: [],
      body,
      span: SPAN,
    };
    return withSource({ items: [item], span: SPAN });
  });

test('parse∘print = id: typed random expressions in let/if/iterate/argmin/solve wrappers', async () => {
  await assertProperty(fc.property(wrappedArb, roundTrips), { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: TIME_MS });
});

// ---- the whole surface syntax ------------------------------------------------------------------------------

test('parse∘print = id: random programs of the whole syntax', async () => {
  const arb = programArb().map(withSource);
  await assertProperty(fc.property(arb, roundTrips), { numRuns: RUNS, seed: SEED + 1, interruptAfterTimeLimit: TIME_MS });
});

test('parse∘print = id: random expressions of every kind', async () => {
  const arb = exprArb
    .map((body) => withSource({ items: [{ kind: 'fn', name: ast.id('f'), params: [], results: [{ name: null, type: { name: ast.id('real'), dims: null, span: SPAN }, span: SPAN }], tupleResults: false, where: [], body, span: SPAN }], span: SPAN }));
  await assertProperty(fc.property(arb, roundTrips), { numRuns: RUNS, seed: SEED + 2, interruptAfterTimeLimit: TIME_MS });
});

// Regression: a declarative node ending in a comma list, inside another comma list, used to print
// unparenthesized (its constraints swallowed the next element).
test('parse∘print = id: declarative nodes ending in a list inside comma lists', () => {
  roundTrips(parse('fn f(x: real) -> real =\n  (1, (argmin y: real of y * y subject to y == 1), 3)\n'));
  roundTrips(parse('fn f(x: real) -> real =\n  g((solve y: real such that y == x), 2)\n'));
});

// Regression: a let binding after such a node used to be swallowed (the grammar now stops the
// list at `, name =`).
test('parse∘print = id: declarative nodes ending in a list inside let bindings', () => {
  roundTrips(parse('fn f(x: real) -> real =\n  let a = (argmin y: real of y * y subject to y == 1), b = 2 in a + b\n'));
  roundTrips(parse('fn f(x: real) -> real =\n  let (a, c) = (solve y: real, z: real such that y == 1, z == 2 grad (dy, dz) => x: dy), b = 2 in a + b\n'));
});

// Regression: the inner loop took the outer loop's `until` (the if tail printed unparenthesized).
test('parse∘print = id: an until after a loop tail ending in another loop', () => {
  const src = 'fn f(x: real) -> real =\n  iterate (s = 0) for i in 0..3 => if x > 0 then s else (iterate (t = s) for j in 0..2 => t + 1) until s > 2\n';
  roundTrips(parse(src));
});
