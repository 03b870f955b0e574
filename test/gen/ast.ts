// Random ASTs of the whole surface syntax, for parse∘print = id. Unlike test/gen/expr.ts these
// need not type-check: every expression kind, operator, clause and item form appears, nested in
// every position (operands of every precedence level, clause bodies, loop bodies, comma lists).
// Names are drawn from a pool that includes keyword prefixes (`init_x`, `iff`) to exercise the
// lexer's longer_alt.

import fc from 'fast-check';
import type * as A from '../../grammar/ast.js';
import { SPAN, ast } from './expr.js';

const names = ['a', 'b', 'x', 'y', 'A', 'W', 'f', 'g', 'sum', 'norm', 'x_1', 'init_x', 'iff', 'ofx', 'letter', 'by2', 'in_', 'solver'];
const identArb: fc.Arbitrary<A.Ident> = fc.constantFrom(...names).map(ast.id);

const numArb: fc.Arbitrary<A.Expr> = fc
  .oneof(fc.nat(100), fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true }), fc.constantFrom(1e-7, 2.5e-10, 1e21, 0.5))
  .map((v) => ast.num(Object.is(v, -0) ? 0 : v));

const binaryOps: A.BinaryOp[] = ['+', '-', '*', '/', '.*', './', '^', '.^', '==', '!=', '<', '<=', '>', '>=', '&&', '||'];

// ---- dimensions and types ----------------------------------------------------------------------

const dimArb: fc.Arbitrary<A.DimAst> = fc.letrec<{ dim: A.DimAst }>((tie) => ({
  dim: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.nat(64).map((value): A.DimAst => ({ kind: 'num', value, span: SPAN })),
    fc.constantFrom('m', 'n', 'k', 'r').map((name): A.DimAst => ({ kind: 'name', name, span: SPAN })),
    fc.record({ op: fc.constantFrom('+', '-', '*', '/' as const), left: tie('dim'), right: tie('dim') }).map(({ op, left, right }): A.DimAst => ({ kind: 'bin', op, left, right, span: SPAN })),
    fc.record({ fn: fc.constantFrom('min', 'max' as const), args: fc.array(tie('dim'), { minLength: 2, maxLength: 2 }) }).map(({ fn, args }): A.DimAst => ({ kind: 'call', fn, args, span: SPAN })),
  ),
})).dim;

const typeArb: fc.Arbitrary<A.TypeAst> = fc
  .record({
    name: fc.constantFrom('real', 'int', 'vec', 'mat', 'tensor', 'sym', 'spd', 'sphere', 'stiefel', 'triu').map(ast.id),
    dims: fc.option(
      fc.array(fc.oneof({ arbitrary: dimArb, weight: 4 }, { arbitrary: fc.constant<A.DimAst>({ kind: 'ellipsis', span: SPAN }), weight: 1 }), { minLength: 1, maxLength: 3 }),
      { nil: null },
    ),
  })
  .map(({ name, dims }) => ({ name, dims, span: SPAN }));

// ---- expressions -----------------------------------------------------------------------------------

function clausesArb(expr: fc.Arbitrary<A.Expr>, withConstraints: boolean): fc.Arbitrary<A.DeclClauses> {
  const by = fc
    .record({ name: identArb, args: fc.array(fc.record({ name: fc.option(identArb, { nil: null }), value: expr }), { maxLength: 2 }), bare: fc.boolean() })
    .map(({ name, args, bare }): A.SolverSpec => {
      const call: A.Expr = bare ? ast.name(name.name) : { kind: 'call', callee: name, args, span: SPAN };
      return { name, args: bare ? [] : args, call, span: SPAN };
    });
  const grad = fc
    .record({ cotangents: fc.array(identArb, { minLength: 1, maxLength: 2 }), targets: fc.array(fc.record({ target: identArb, value: expr }), { minLength: 1, maxLength: 2 }) })
    .map((g): A.GradRule => ({ ...g, span: SPAN }));
  return fc.record({
    constraints: withConstraints ? fc.array(expr, { maxLength: 2 }) : fc.constant([]),
    init: fc.option(expr, { nil: null }),
    by: fc.option(by, { nil: null }),
    grad: fc.option(grad, { nil: null }),
    orient: fc.option(expr, { nil: null }),
  });
}

const varsArb = fc.array(fc.record({ name: identArb, type: typeArb }).map((v): A.VarDecl => ({ ...v, span: SPAN })), { minLength: 1, maxLength: 2 });

function bindingArb(expr: fc.Arbitrary<A.Expr>): fc.Arbitrary<A.LetBinding> {
  return fc
    .record({ names: fc.array(identArb, { minLength: 1, maxLength: 3 }), tuple: fc.boolean(), value: expr })
    .map(({ names: ns, tuple, value }) => ({ names: ns, tuple: tuple || ns.length > 1, value, span: SPAN }));
}

const indexArb = (expr: fc.Arbitrary<A.Expr>): fc.Arbitrary<A.IndexAst> =>
  fc.oneof(
    fc.constant<A.IndexAst>({ kind: 'all', span: SPAN }),
    expr.map((index): A.IndexAst => ({ kind: 'at', index, span: SPAN })),
    fc.record({ lo: expr, hi: expr }).map(({ lo, hi }): A.IndexAst => ({ kind: 'range', lo, hi, span: SPAN })),
  );

export const exprArb: fc.Arbitrary<A.Expr> = fc.letrec<{ expr: A.Expr }>((tie) => {
  const e = tie('expr');
  return {
    expr: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      // leaves
      numArb,
      identArb.map((i) => ast.name(i.name)),
      fc.boolean().map((value): A.Expr => ({ kind: 'bool', value, span: SPAN })),
      fc.stringMatching(/^[a-z,>. -]{0,6}$/).map((value): A.Expr => ({ kind: 'string', value, span: SPAN })),
      // operators
      fc.record({ op: fc.constantFrom(...binaryOps), left: e, right: e }).map(({ op, left, right }) => ast.bin(op, left, right)),
      fc.record({ op: fc.constantFrom('-', '+', '!' as const), operand: e }).map(({ op, operand }): A.Expr => ({ kind: 'unary', op, operand, span: SPAN })),
      e.map(ast.tr),
      fc.record({ target: e, indices: fc.array(indexArb(e), { minLength: 1, maxLength: 3 }) }).map(({ target, indices }) => ast.index(target, ...indices)),
      // calls, tuples, matrices
      fc
        .record({ callee: fc.oneof(identArb, fc.constant(ast.id('solve'))), args: fc.array(fc.record({ name: fc.option(identArb, { nil: null }), value: e }), { maxLength: 3 }) })
        .map(({ callee, args }): A.Expr => ({ kind: 'call', callee, args, span: SPAN })),
      fc.array(e, { minLength: 2, maxLength: 3 }).map(ast.tuple),
      fc.array(fc.array(e, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }).map(ast.matrix),
      // binding and control forms
      fc.record({ bindings: fc.array(bindingArb(e), { minLength: 1, maxLength: 3 }), body: e }).map(({ bindings, body }): A.Expr => ({ kind: 'let', bindings, body, span: SPAN })),
      fc.record({ cond: e, then: e, else: e }).map((x) => ast.if(x.cond, x.then, x.else)),
      fc
        .record({ sense: fc.constantFrom('min', 'max' as const), vars: varsArb, objective: e, clauses: clausesArb(e, true) })
        .map((x): A.Expr => ({ kind: 'argopt', ...x, span: SPAN })),
      fc
        .record({ vars: varsArb, equations: fc.array(e, { minLength: 1, maxLength: 2 }), clauses: clausesArb(e, false) })
        .map((x): A.Expr => ({ kind: 'solve', ...x, span: SPAN })),
      fc
        .record({
          carries: fc.array(
            fc.record({ name: identArb, type: fc.option(typeArb, { nil: null }), init: e }).map((c): A.CarryBinding => ({ ...c, span: SPAN })),
            { minLength: 1, maxLength: 2 },
          ),
          index: identArb,
          reverse: fc.boolean(),
          lo: e,
          hi: e,
          body: e,
          until: fc.option(e, { nil: null }),
        })
        .map((x): A.Expr => ({ kind: 'iterate', ...x, span: SPAN })),
    ),
  };
}).expr;

// ---- items -----------------------------------------------------------------------------------------

const paramArb = (expr: fc.Arbitrary<A.Expr>): fc.Arbitrary<A.Param> =>
  fc.record({ name: identArb, type: fc.option(typeArb, { nil: null }), default: fc.option(expr, { nil: null, freq: 3 }) }).map((p) => ({ ...p, span: SPAN }));

const whereArb = fc.array(
  fc.record({ name: identArb, value: dimArb }).map((w): A.WhereDim => ({ ...w, span: SPAN })),
  { maxLength: 2 },
);

export function itemArb(expr: fc.Arbitrary<A.Expr> = exprArb): fc.Arbitrary<A.Item> {
  const fnItem = fc
    .record({
      kind: fc.constantFrom('fn', 'layer' as const),
      name: identArb,
      params: fc.array(paramArb(expr), { maxLength: 3 }),
      results: fc.array(fc.record({ name: fc.option(identArb, { nil: null }), type: typeArb }).map((r): A.Result => ({ ...r, span: SPAN })), { minLength: 1, maxLength: 2 }),
      parens: fc.boolean(),
      where: whereArb,
      body: expr,
      grad: fc.option(
        fc
          .record({ cotangents: fc.array(identArb, { minLength: 1, maxLength: 2 }), targets: fc.array(fc.record({ target: identArb, value: expr }), { minLength: 1, maxLength: 2 }) })
          .map((g): A.GradRule => ({ ...g, span: SPAN })),
        { nil: null, freq: 3 },
      ),
    })
    .map(({ parens, grad, ...x }): A.Item => ({ ...x, ...(grad ? { grad } : {}), tupleResults: parens || x.results.length > 1, span: SPAN }));
  const optimizer = fc
    .record({
      name: identArb,
      params: fc.array(paramArb(expr), { maxLength: 2 }),
      hyper: fc.array(paramArb(expr), { maxLength: 2 }),
      where: whereArb,
      state: fc.array(fc.record({ name: identArb, type: typeArb, init: expr }).map((s): A.StateDecl => ({ ...s, span: SPAN })), { maxLength: 2 }),
      lets: fc.array(bindingArb(expr), { maxLength: 2 }),
      updates: fc.array(fc.record({ target: identArb, value: expr }).map((u): A.UpdateAst => ({ ...u, span: SPAN })), { minLength: 1, maxLength: 2 }),
    })
    .map(({ state, lets, updates, ...x }): A.Item => ({ kind: 'optimizer', ...x, body: { state, lets, updates, span: SPAN }, span: SPAN }));
  const importItem = fc
    .record({ path: fc.stringMatching(/^[a-z/.]{1,8}$/), names: fc.option(fc.array(identArb, { minLength: 1, maxLength: 2 }), { nil: null }) })
    .map((x): A.Item => ({ kind: 'import', ...x, span: SPAN }));
  return fc.oneof({ arbitrary: fnItem, weight: 4 }, { arbitrary: optimizer, weight: 2 }, { arbitrary: importItem, weight: 1 });
}

export function programArb(expr: fc.Arbitrary<A.Expr> = exprArb): fc.Arbitrary<A.Program> {
  return fc.array(itemArb(expr), { minLength: 1, maxLength: 3 }).map((items) => ({ items, span: SPAN }));
}

// ---- known printer bugs ------------------------------------------------------------------------------

/**
 * Whether the printed form of `e` ends in a comma-separated list that a following `,` would
 * extend: `subject to c1, c2`, `grad (dx) => A: e1, B: e2`, `such that e1, e2`.
 */
function endsWithList(e: A.Expr): boolean {
  switch (e.kind) {
    case 'argopt':
    case 'solve': {
      const c = e.clauses;
      if (c.grad) return true;
      if (c.orient || c.by || c.init) return false;
      return e.kind === 'solve' || c.constraints.length > 0;
    }
    case 'let':
      return endsWithList(e.body);
    case 'if':
      return endsWithList(e.else);
    case 'iterate':
      return !e.until && iterTail(e.body).kind === 'if' && endsWithList(iterTail(e.body));
    default:
      return false;
  }
}

function iterTail(e: A.Expr): A.Expr {
  return e.kind === 'let' ? iterTail(e.body) : e;
}


/** The AST without source positions, for structural comparison. */
export function stripSpans(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(stripSpans);
  if (x && typeof x === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) if (k !== 'span' && k !== 'opSpan') out[k] = stripSpans(v);
    return out;
  }
  return x;
}
