// Random well-typed matrix expressions for the property tests (differentiation, simplification,
// parse∘print). fast-check draws an untyped "gene" tree; `Gen` reads it top-down, choosing a
// production that yields the requested shape at every node, so every gene gives a program that
// checks. Shrinking works on the gene (a subtree shrinks to a leaf, a choice towards 0, which is
// always a variable), so counterexamples shrink to short sources.
//
// Shapes use the symbolic dimensions m, n, p (bound to 2..4 at run time) and the constants 1 and
// 2 (edge cases; constant slices and block literals produce them). Constant indices stay below 2,
// so they are in range for every dimension. Productions whose derivative is singular somewhere
// are guarded so the singularity cannot be reached: denominators are 1 + x.*x, logs and square
// roots and fractional or variable powers take 1 + x.*x, norms see a vector with an appended 1,
// linear solves get tanh(M) + 5·I (diagonally dominant for n ≤ 4).

import fc from 'fast-check';
import type * as A from '../../grammar/ast.js';
import { expr as printExpr } from '../../grammar/print-ast.js';
import { sourceFile, type Span } from '../../compiler/source.js';

// ---- AST constructors ------------------------------------------------------------------------------

export const SPAN: Span = { file: sourceFile('<generated>', ''), start: 0, end: 0 };
const id = (name: string): A.Ident => ({ name, span: SPAN });

export const ast = {
  num: (v: number): A.Expr => ({ kind: 'num', value: v, text: String(v), span: SPAN }),
  name: (name: string): A.Expr => ({ kind: 'name', name, span: SPAN }),
  call: (callee: string, ...args: A.Expr[]): A.Expr => ({ kind: 'call', callee: id(callee), args: args.map((value) => ({ name: null, value })), span: SPAN }),
  bin: (op: A.BinaryOp, left: A.Expr, right: A.Expr): A.Expr => ({ kind: 'binary', op, left, right, opSpan: SPAN, span: SPAN }),
  neg: (operand: A.Expr): A.Expr => ({ kind: 'unary', op: '-', operand, span: SPAN }),
  tr: (operand: A.Expr): A.Expr => ({ kind: 'transpose', operand, span: SPAN }),
  at: (index: A.Expr): A.IndexAst => ({ kind: 'at', index, span: SPAN }),
  all: (): A.IndexAst => ({ kind: 'all', span: SPAN }),
  range: (lo: number, hi: number): A.IndexAst => ({ kind: 'range', lo: ast.num(lo), hi: ast.num(hi), span: SPAN }),
  index: (target: A.Expr, ...indices: A.IndexAst[]): A.Expr => ({ kind: 'index', target, indices, span: SPAN }),
  matrix: (rows: A.Expr[][]): A.Expr => ({ kind: 'matrix', rows, span: SPAN }),
  let: (names: string[], value: A.Expr, body: A.Expr): A.Expr => ({
    kind: 'let',
    bindings: [{ names: names.map(id), tuple: names.length > 1, value, span: SPAN }],
    body,
    span: SPAN,
  }),
  if: (cond: A.Expr, then: A.Expr, els: A.Expr): A.Expr => ({ kind: 'if', cond, then, else: els, span: SPAN }),
  tuple: (elems: A.Expr[]): A.Expr => ({ kind: 'tuple', elems, span: SPAN }),
  iterate: (carry: string, init: A.Expr, index: string, trips: number, reverse: boolean, body: A.Expr): A.Expr => ({
    kind: 'iterate',
    carries: [{ name: id(carry), type: null, init, span: SPAN }],
    index: id(index),
    reverse,
    lo: ast.num(0),
    hi: ast.num(trips),
    body,
    until: null,
    span: SPAN,
  }),
  id,
};

// ---- shapes -----------------------------------------------------------------------------------------

/** A dimension: a name bound at run time, a constant, or a sum (only inside block literals). */
export type D = string;
export type Shape = { rank: 0 } | { rank: 1; n: D } | { rank: 2; r: D; c: D };

export const NAMED_DIMS = ['m', 'n', 'p'] as const;
/** Named dimensions are bound to at least this much. */
export const MIN_NAMED = 2;
const POOL: D[] = ['m', 'n', 'p', 'n', 'm', '2', '1'];

export const scalar: Shape = { rank: 0 };
export const vec = (n: D): Shape => ({ rank: 1, n });
export const mat = (r: D, c: D): Shape => ({ rank: 2, r, c });

export function shapeDims(s: Shape): D[] {
  return s.rank === 0 ? [] : s.rank === 1 ? [s.n] : [s.r, s.c];
}

export function typeText(s: Shape): string {
  return s.rank === 0 ? 'real' : s.rank === 1 ? `vec[${s.n}]` : `mat[${s.r}, ${s.c}]`;
}

const str = (value: string): A.Expr => ({ kind: 'string', value, span: SPAN });

/** A dimension as an expression: `n` or `2`. */
const dimExpr = (d: D): A.Expr => (/^\d+$/.test(d) ? ast.num(Number(d)) : ast.name(d));

const sameShape = (a: Shape, b: Shape): boolean => typeText(a) === typeText(b);

/** The least value a dimension can take at run time. */
function minValue(d: D): number {
  if (/^\d+$/.test(d)) return Number(d);
  return d.split('+').reduce((s, t) => s + (/^\s*\d+\s*$/.test(t) ? Number(t) : MIN_NAMED), 0);
}

/** Concrete size of a dimension under a binding of the named ones. */
export function evalDim(d: D, dims: Record<string, number>): number {
  return d.split('+').reduce((s, t) => {
    const x = t.trim();
    return s + (/^\d+$/.test(x) ? Number(x) : dims[x]!);
  }, 0);
}

// ---- genes ------------------------------------------------------------------------------------------

export interface Gene {
  c: number;
  k: Gene[];
}

const LEAF: Gene = { c: 0, k: [] };

/** Untyped random trees; `Gen` gives them meaning. */
export function geneArb(maxKids = 3): fc.Arbitrary<Gene> {
  const { gene } = fc.letrec<{ gene: Gene }>((tie) => ({
    gene: fc.oneof(
      { depthSize: 'medium', withCrossShrink: true },
      { arbitrary: fc.record({ c: fc.nat(1 << 20), k: fc.constant([] as Gene[]) }), weight: 1 },
      { arbitrary: fc.record({ c: fc.nat(1 << 20), k: fc.array(tie('gene'), { minLength: 1, maxLength: maxKids }) }), weight: 3 },
    ),
  }));
  return gene;
}

/** A second, independent choice from one gene number. */
function aux(g: Gene, salt: number, n: number): number {
  let h = Math.imul(g.c ^ Math.imul(salt + 1, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % n;
}

function pick<T>(g: Gene, salt: number, xs: readonly T[]): T {
  return xs[aux(g, salt, xs.length)]!;
}

// ---- the typed reading of a gene ---------------------------------------------------------------------

export interface GenOptions {
  /** productions below this depth may have children */
  maxDepth: number;
  /** matrix chains of 3–5 factors and rank-1 patterns, for the simplifier's rewrites */
  chains: boolean;
  /** let bindings */
  lets: boolean;
  /** `iterate` loops of 1–3 steps over a carry of the expression's shape (reverse mode through
   *  loops, issue 10) */
  loops?: boolean;
}

export const defaultGenOptions: GenOptions = { maxDepth: 4, chains: true, lets: true };

type Prod = (g: Gene, depth: number, env: Binding[]) => A.Expr;

interface Binding {
  name: string;
  shape: Shape;
}

const UNARY = ['exp', 'tanh', 'sin', 'cos', 'sigmoid'] as const;
const CONSTS = [0.5, 2, 1.5, 3, 0.25];

export class Gen {
  /** parameters used so far, by name (a name encodes its shape) */
  readonly params = new Map<string, Shape>();
  private lets = 0;

  constructor(readonly opts: GenOptions = defaultGenOptions) {}

  kid(g: Gene, i: number): Gene {
    return g.k[i] ?? LEAF;
  }

  /** An expression of the given shape. */
  expr(s: Shape, g: Gene, depth = 0, env: Binding[] = []): A.Expr {
    const leafOnly = g.k.length === 0 || depth >= this.opts.maxDepth;
    const prods = leafOnly ? this.leaves(s) : [...this.leaves(s).slice(0, 1), ...this.inner(s)];
    return prods[g.c % prods.length]!(g, depth, env);
  }

  param(s: Shape, which: number): A.Expr {
    const base = s.rank === 0 ? ['a', 'b'][which]! : s.rank === 1 ? `${['x', 'y'][which]}${s.n}` : `${['A', 'B'][which]}${s.r}${s.c}`;
    if (s.rank > 0 && shapeDims(s).some((d) => !/^\w+$/.test(d))) throw new Error(`no parameter of compound shape ${typeText(s)}`);
    this.params.set(base, s);
    return ast.name(base);
  }

  /** Variables first (a shrunk gene reads as a variable), then as many variables as constants. */
  private leaves(s: Shape): Prod[] {
    const variable: Prod = (g, _d, env) => {
      const mine = env.filter((b) => sameShape(b.shape, s));
      if (mine.length && aux(g, 1, 3) > 0) return ast.name(pick(g, 2, mine).name);
      return this.param(s, aux(g, 3, 2));
    };
    const consts: Prod[] = [];
    if (s.rank === 0) consts.push((g) => ast.num(pick(g, 4, CONSTS)), () => ast.name('pi'));
    if (s.rank === 1) {
      const n = dimExpr(s.n);
      consts.push(() => ast.call('ones', n), () => ast.call('zeros', n), () => ast.call('iota', n), (g) => ast.call('unit', n, ast.num(aux(g, 4, minValue(s.n)))));
    }
    if (s.rank === 2) {
      const [r, c] = [dimExpr(s.r), dimExpr(s.c)];
      consts.push(() => (s.r === s.c ? ast.call('eye', r) : ast.call('eye', r, c)), () => ast.call('zeros', r, c), () => ast.call('ones', r, c));
    }
    return [variable, ...consts.map(() => variable), ...consts];
  }

  /** A fresh shape for a sub-expression whose shape the parent does not constrain. */
  anyShape(g: Gene, salt: number): Shape {
    const r = aux(g, salt, 3);
    if (r === 0) return scalar;
    if (r === 1) return vec(pick(g, salt + 1, POOL));
    return mat(pick(g, salt + 1, POOL), pick(g, salt + 2, POOL));
  }

  private inner(s: Shape): Prod[] {
    const E = (g: Gene, i: number, d: number, env: Binding[], shape: Shape = s): A.Expr => this.expr(shape, this.kid(g, i), d + 1, env);
    const S = (g: Gene, i: number, d: number, env: Binding[]): A.Expr => this.expr(scalar, this.kid(g, i), d + 1, env);
    const isScalar = s.rank === 0;
    const mulOp: A.BinaryOp = isScalar ? '*' : '.*';
    const onePlusSq = (x: A.Expr): A.Expr => ast.bin('+', ast.num(1), ast.bin(mulOp, x, x));
    const prods: Prod[] = [
      (g, d, env) => ast.bin('+', E(g, 0, d, env), E(g, 1, d, env)),
      (g, d, env) => ast.bin('-', E(g, 0, d, env), E(g, 1, d, env)),
      (g, d, env) => ast.bin(mulOp, E(g, 0, d, env), E(g, 1, d, env)),
      (g, d, env) => ast.bin(isScalar ? '/' : './', E(g, 0, d, env), onePlusSq(E(g, 1, d, env))),
      (g, d, env) => ast.bin(isScalar && aux(g, 5, 2) ? '^' : '.^', E(g, 0, d, env), ast.num(pick(g, 6, [2, 3, 2, 1]))),
      (g, d, env) => ast.neg(E(g, 0, d, env)),
      (g, d, env) => ast.call(pick(g, 7, UNARY), E(g, 0, d, env)),
      (g, d, env) => ast.call('log', onePlusSq(E(g, 0, d, env))),
      (g, d, env) => ast.call('sqrt', onePlusSq(E(g, 0, d, env))),
      (g, d, env) =>
        ast.if(ast.bin(pick(g, 8, ['<', '>'] as const), ast.num(1), ast.num(2)), E(g, 0, d, env), E(g, 1, d, env)),
      // a data-dependent condition (issue 10): a real branch where a side does work, else a select
      (g, d, env) => ast.if(ast.bin(pick(g, 19, ['<', '>'] as const), S(g, 2, d, env), ast.num(0.25)), E(g, 0, d, env), E(g, 1, d, env)),
    ];
    // powers with a positive base: fractional and variable exponents, constant bases
    prods.push((g, d, env) => ast.bin('.^', onePlusSq(E(g, 0, d, env)), aux(g, 12, 2) ? ast.num(1.5) : E(g, 1, d, env, aux(g, 13, 2) ? scalar : s)));
    prods.push((g, d, env) => ast.bin('.^', ast.num(pick(g, 14, [2, 0.5])), E(g, 0, d, env)));
    if (!isScalar) {
      prods.push((g, d, env) => (aux(g, 9, 2) ? ast.bin('*', S(g, 0, d, env), E(g, 1, d, env)) : ast.bin('*', E(g, 1, d, env), S(g, 0, d, env))));
      prods.push((g, d, env) => ast.bin(pick(g, 10, ['+', '-'] as const), E(g, 0, d, env), S(g, 1, d, env)));
      prods.push((g, d, env) => ast.bin('/', E(g, 0, d, env), ast.bin('+', ast.num(1), ast.bin('*', S(g, 1, d, env), S(g, 1, d, env)))));
    }
    if (this.opts.lets) {
      prods.push((g, d, env) => {
        const name = `v${this.lets++}`;
        const vs = this.anyShape(g, 11);
        const value = this.expr(vs, this.kid(g, 0), d + 1, env);
        return ast.let([name], value, E(g, 1, d, [...env, { name, shape: vs }]));
      });
      prods.push((g, d, env) => {
        const names = [`v${this.lets++}`, `v${this.lets++}`];
        const shapes = [this.anyShape(g, 15), this.anyShape(g, 16)];
        const value = ast.tuple(shapes.map((vs, i) => this.expr(vs, this.kid(g, i), d + 1, env)));
        return ast.let(names, value, E(g, 2, d, [...env, ...names.map((name, i) => ({ name, shape: shapes[i]! }))]));
      });
    }
    if (this.opts.loops) {
      // c ← 0.5·body(c, i): damped so that a few steps stay in range
      const loop: Prod = (g, d, env) => {
        const name = `v${this.lets++}`;
        const idx = `i${this.lets++}`;
        const init = E(g, 0, d, env);
        const body = E(g, 1, d, [...env, { name, shape: s }]);
        const step = aux(g, 19, 2) ? ast.bin('*', ast.num(0.5), body) : ast.bin('+', ast.bin('*', ast.num(0.5), body), ast.bin('*', ast.call('float', ast.name(idx)), ast.name(name)));
        return ast.iterate(name, init, idx, 1 + aux(g, 20, 3), aux(g, 21, 2) === 1, step);
      };
      prods.push(loop, loop, loop, loop);
    }
    if (s.rank === 0) prods.push(...this.scalarProds());
    if (s.rank === 1) prods.push(...this.vectorProds(s.n));
    if (s.rank === 2) prods.push(...this.matrixProds(s.r, s.c));
    return prods;
  }

  private sub(g: Gene, i: number, d: number, env: Binding[], s: Shape): A.Expr {
    return this.expr(s, this.kid(g, i), d + 1, env);
  }

  /** Any-shaped operand for a reduction, sometimes a block literal of compound shape. */
  private free(g: Gene, i: number, d: number, env: Binding[]): A.Expr {
    const k = this.kid(g, i);
    const form = aux(k, 40, 6);
    if (form === 0 && k.k.length > 0) {
      const r = pick(k, 41, POOL);
      return ast.matrix([[this.sub(k, 0, d, env, mat(r, pick(k, 42, POOL))), this.sub(k, 1, d, env, mat(r, pick(k, 43, POOL)))]]);
    }
    if (form === 1 && k.k.length > 0) return ast.matrix([[this.sub(k, 0, d, env, vec(pick(k, 44, POOL)))], [this.sub(k, 1, d, env, vec(pick(k, 45, POOL)))]]);
    if (form === 2 && k.k.length > 0) {
      const r = pick(k, 46, POOL);
      const c = pick(k, 47, POOL);
      return ast.matrix([
        [this.sub(k, 0, d, env, mat(r, c)), this.sub(k, 1, d, env, vec(r))],
        [ast.tr(this.sub(k, 2, d, env, vec(c))), this.sub(k, 3, d, env, scalar)],
      ]);
    }
    return this.expr(this.anyShape(k, 48), k, d + 1, env);
  }

  private scalarProds(): Prod[] {
    const V = (g: Gene, i: number, d: number, env: Binding[], n: D) => this.sub(g, i, d, env, vec(n));
    const M = (g: Gene, i: number, d: number, env: Binding[], r: D, c: D) => this.sub(g, i, d, env, mat(r, c));
    return [
      (g, d, env) => {
        const r = pick(g, 27, POOL);
        if (aux(g, 28, 2)) return ast.call('einsum', str('i,i->'), V(g, 0, d, env, r), V(g, 1, d, env, r));
        const c = pick(g, 29, POOL);
        return ast.call('einsum', str('ij,ij->'), M(g, 0, d, env, r, c), M(g, 1, d, env, r, c));
      },
      (g, d, env) => ast.call('sum', this.free(g, 0, d, env)),
      (g, d, env) => ast.call('sumsq', this.free(g, 0, d, env)),
      (g, d, env) => ast.call('mean', this.free(g, 0, d, env)),
      (g, d, env) => {
        const n = pick(g, 12, POOL);
        return ast.call('trace', M(g, 0, d, env, n, n));
      },
      (g, d, env) => {
        const n = pick(g, 13, POOL);
        return aux(g, 14, 2) ? ast.call('dot', V(g, 0, d, env, n), V(g, 1, d, env, n)) : ast.bin('*', ast.tr(V(g, 0, d, env, n)), V(g, 1, d, env, n));
      },
      (g, d, env) => {
        const r = pick(g, 15, POOL);
        const c = pick(g, 16, POOL);
        return ast.bin('*', ast.bin('*', ast.tr(V(g, 0, d, env, r)), M(g, 1, d, env, r, c)), V(g, 2, d, env, c));
      },
      (g, d, env) => {
        // ‖[x; 1]‖ ≥ 1: the norm is smooth there
        if (aux(g, 17, 2)) return ast.call('norm', ast.matrix([[V(g, 0, d, env, pick(g, 18, POOL))], [ast.num(1)]]));
        const r = pick(g, 19, POOL);
        return ast.call('norm', ast.matrix([[M(g, 0, d, env, r, pick(g, 20, POOL)), ast.call('ones', dimExpr(r))]]));
      },
      (g, d, env) => {
        const n = pick(g, 21, POOL);
        return ast.index(V(g, 0, d, env, n), ast.at(ast.num(aux(g, 22, minValue(n)))));
      },
      (g, d, env) => {
        const r = pick(g, 23, POOL);
        const c = pick(g, 24, POOL);
        return ast.index(M(g, 0, d, env, r, c), ast.at(ast.num(aux(g, 25, minValue(r)))), ast.at(ast.num(aux(g, 26, minValue(c)))));
      },
    ];
  }

  private vectorProds(n: D): Prod[] {
    const V = (g: Gene, i: number, d: number, env: Binding[], k: D = n) => this.sub(g, i, d, env, vec(k));
    const M = (g: Gene, i: number, d: number, env: Binding[], r: D, c: D) => this.sub(g, i, d, env, mat(r, c));
    const prods: Prod[] = [
      (g, d, env) => {
        const k = pick(g, 30, POOL);
        return ast.bin('*', M(g, 0, d, env, n, k), V(g, 1, d, env, k));
      },
      (g, d, env) => {
        const k = pick(g, 31, POOL);
        const j = aux(g, 32, minValue(k));
        return aux(g, 33, 2) ? ast.call('col', M(g, 0, d, env, n, k), ast.num(j)) : ast.index(M(g, 0, d, env, n, k), ast.all(), ast.at(ast.num(j)));
      },
      (g, d, env) => {
        const k = pick(g, 34, POOL);
        const i = aux(g, 35, minValue(k));
        return ast.tr(aux(g, 36, 2) ? ast.call('row', M(g, 0, d, env, k, n), ast.num(i)) : ast.index(M(g, 0, d, env, k, n), ast.at(ast.num(i)), ast.all()));
      },
      (g, d, env) => {
        const k = pick(g, 37, POOL);
        return ast.tr(ast.bin('*', ast.tr(V(g, 0, d, env, k)), M(g, 1, d, env, k, n)));
      },
      (g, d, env) => ast.call('diag', M(g, 0, d, env, n, n)),
      (g, d, env) => {
        const k = pick(g, 53, POOL);
        switch (aux(g, 54, 5)) {
          case 0:
            return ast.call('rowsum', M(g, 0, d, env, n, k));
          case 1:
            return ast.tr(ast.call('colsum', M(g, 0, d, env, k, n)));
          case 2:
            return ast.call('sum', M(g, 0, d, env, n, k), ast.num(1));
          case 3:
            return ast.tr(ast.call('sum', M(g, 0, d, env, k, n), ast.num(0)));
          default:
            return ast.call('einsum', str('ij,j->i'), M(g, 0, d, env, n, k), V(g, 1, d, env, k));
        }
      },
      (g, d, env) => ast.call('set', V(g, 0, d, env), ast.num(aux(g, 55, minValue(n))), this.sub(g, 1, d, env, scalar)),
      (g, d, env) => {
        if (aux(g, 38, 2)) return ast.call('normalize', this.param(vec(n), aux(g, 39, 2)));
        const v = V(g, 0, d, env);
        return ast.call('normalize', ast.bin('+', ast.num(1), ast.bin('.*', v, v)));
      },
      (g, d, env) => this.linearSolve(g, d, env, n, V(g, 1, d, env)),
    ];
    if (/^\d+$/.test(n)) {
      const size = Number(n);
      prods.push((g, d, env) => {
        const src = pick(g, 50, POOL.filter((x) => minValue(x) >= size));
        const lo = aux(g, 51, minValue(src) - size + 1);
        return ast.index(V(g, 0, d, env, src), ast.range(lo, lo + size));
      });
      // [s; t]: a column of scalars
      prods.push((g, d, env) => ast.matrix(Array.from({ length: size }, (_, i) => [this.sub(g, i, d, env, scalar)])));
    }
    if (this.opts.chains) {
      prods.push((g, d, env) => this.chain(g, d, env, n, null));
      prods.push((g, d, env) => {
        // (a bᵀ) c → a (bᵀc)
        const k = pick(g, 52, POOL);
        return ast.bin('*', ast.bin('*', V(g, 0, d, env), ast.tr(V(g, 1, d, env, k))), V(g, 2, d, env, k));
      });
    }
    return prods;
  }

  private matrixProds(r: D, c: D): Prod[] {
    const V = (g: Gene, i: number, d: number, env: Binding[], k: D) => this.sub(g, i, d, env, vec(k));
    const M = (g: Gene, i: number, d: number, env: Binding[], rr: D = r, cc: D = c) => this.sub(g, i, d, env, mat(rr, cc));
    const square = r === c;
    const prods: Prod[] = [
      (g, d, env) => {
        const k = pick(g, 60, POOL);
        return ast.bin('*', M(g, 0, d, env, r, k), M(g, 1, d, env, k, c));
      },
      (g, d, env) => (aux(g, 61, 2) ? ast.bin('*', V(g, 0, d, env, r), ast.tr(V(g, 1, d, env, c))) : ast.call('outer', V(g, 0, d, env, r), V(g, 1, d, env, c))),
      (g, d, env) => ast.tr(M(g, 0, d, env, c, r)),
      (g, d, env) => ast.call(pick(g, 62, ['tril', 'triu']), M(g, 0, d, env)),
      (g, d, env) => {
        const k = aux(g, 78, 2) ? ast.neg(ast.num(1)) : ast.num(1);
        return ast.call(pick(g, 63, ['tril', 'triu']), M(g, 0, d, env), k);
      },
      (g, d, env) => {
        const m = M(g, 0, d, env);
        return ast.call('normalize', ast.bin('+', ast.num(1), ast.bin('.*', m, m)));
      },
    ];
    prods.push((g, d, env) => {
      switch (aux(g, 72, 3)) {
        case 0: {
          const k = pick(g, 73, POOL);
          return ast.call('einsum', str('ij,jk->ik'), M(g, 0, d, env, r, k), M(g, 1, d, env, k, c));
        }
        case 1:
          return ast.call('einsum', str('ji->ij'), M(g, 0, d, env, c, r));
        default:
          return ast.call('einsum', str('i,j->ij'), V(g, 0, d, env, r), V(g, 1, d, env, c));
      }
    });
    prods.push((g, d, env) =>
      aux(g, 74, 2)
        ? ast.call('setcol', M(g, 0, d, env), ast.num(aux(g, 75, minValue(c))), V(g, 1, d, env, r))
        : ast.call('setrow', M(g, 0, d, env), ast.num(aux(g, 76, minValue(r))), V(g, 1, d, env, c)),
    );
    if (square) {
      prods.push((g, d, env) => ast.call(pick(g, 77, ['sym', 'skew']), M(g, 0, d, env)));
      prods.push((g, d, env) => ast.call('diag', V(g, 0, d, env, r)));
      prods.push((g, d, env) => ast.bin('^', M(g, 0, d, env), ast.num(2)));
    }
    prods.push((g, d, env) => this.linearSolve(g, d, env, r, M(g, 1, d, env)));
    if (/^\d+$/.test(r)) {
      const size = Number(r);
      prods.push((g, d, env) => {
        const src = pick(g, 64, POOL.filter((x) => minValue(x) >= size));
        const lo = aux(g, 65, minValue(src) - size + 1);
        return ast.index(M(g, 0, d, env, src, c), ast.range(lo, lo + size), ast.all());
      });
      // [x'; y']: rows
      prods.push((g, d, env) => ast.matrix(Array.from({ length: size }, (_, i) => [ast.tr(V(g, i, d, env, c))])));
    }
    if (/^\d+$/.test(c)) {
      const size = Number(c);
      // [x] would be read as a vector: one column of vectors is not a matrix literal
      prods.push((g, d, env) => {
        const src = pick(g, 66, POOL.filter((x) => minValue(x) >= size));
        const lo = aux(g, 67, minValue(src) - size + 1);
        return ast.index(M(g, 0, d, env, r, src), ast.all(), ast.range(lo, lo + size));
      });
      // [x, y]: columns
      if (size > 1) prods.push((g, d, env) => ast.matrix([Array.from({ length: size }, (_, i) => V(g, i, d, env, r))]));
    }
    if (this.opts.chains) {
      prods.push((g, d, env) => this.chain(g, d, env, r, c));
      prods.push((g, d, env) => {
        // (a bᵀ) C and C (a bᵀ)
        const k = pick(g, 68, POOL);
        if (aux(g, 69, 2)) return ast.bin('*', ast.bin('*', V(g, 0, d, env, r), ast.tr(V(g, 1, d, env, k))), M(g, 2, d, env, k, c));
        return ast.bin('*', M(g, 2, d, env, r, k), ast.bin('*', V(g, 0, d, env, k), ast.tr(V(g, 1, d, env, c))));
      });
    }
    return prods;
  }

  /** A matrix chain or a rank-1 pattern of the given shape at the top (the simplifier's
   *  reassociating rewrites), its factors read from the gene's children. */
  product(s: Shape, g: Gene): A.Expr {
    if (s.rank === 0) return ast.bin('*', ast.tr(this.expr(vec(pick(g, 100, POOL)), this.kid(g, 0), 1)), this.chain(g, 0, [], pick(g, 100, POOL), null));
    const n = s.rank === 1 ? s.n : s.r;
    if (aux(g, 101, 3) === 0) {
      const k = pick(g, 102, POOL);
      const outer = ast.bin('*', this.sub(g, 0, 0, [], vec(n)), ast.tr(this.sub(g, 1, 0, [], vec(k))));
      return ast.bin('*', outer, this.sub(g, 2, 0, [], s.rank === 1 ? vec(k) : mat(k, s.c)));
    }
    return this.chain(g, 0, [], n, s.rank === 1 ? null : s.c);
  }

  /** (tanh(M) + 5 I)⁻¹ B, written with solve, inv, lstsq or a triangular solve. */
  private linearSolve(g: Gene, d: number, env: Binding[], n: D, rhs: A.Expr): A.Expr {
    const m = this.sub(g, 0, d, env, mat(n, n));
    const kind = aux(g, 70, 4);
    const dominant = (x: A.Expr) => ast.bin('+', ast.call('tanh', x), ast.bin('*', ast.num(5), ast.call('eye', dimExpr(n))));
    if (kind === 3) return ast.call('solve', dominant(m), rhs);
    if (kind === 0) return ast.bin('*', ast.call('inv', dominant(m)), rhs);
    if (kind === 1) return ast.call('lstsq', dominant(m), rhs);
    const tri = aux(g, 71, 2) ? 'tril' : 'triu';
    return ast.call(`${tri}_solve`, dominant(ast.call(tri, m)), rhs);
  }

  /** A product of 3–5 factors with a random association, ending in a vector when c is null. */
  private chain(g: Gene, d: number, env: Binding[], r: D, c: D | null): A.Expr {
    const k = 3 + aux(g, 80, 3);
    const dims: D[] = [r];
    for (let i = 1; i < k; i++) dims.push(pick(g, 80 + i, POOL));
    const factors: A.Expr[] = [];
    for (let i = 0; i < k; i++) {
      const last = i === k - 1;
      if (last && c === null) factors.push(this.sub(g, i, d, env, vec(dims[i]!)));
      else factors.push(this.sub(g, i, d, env, mat(dims[i]!, last ? c! : dims[i + 1]!)));
    }
    const assoc = (lo: number, hi: number, salt: number): A.Expr => {
      if (lo === hi) return factors[lo]!;
      const split = lo + aux(g, 90 + salt, hi - lo);
      return ast.bin('*', assoc(lo, split, salt * 2 + 1), assoc(split + 1, hi, salt * 2 + 2));
    };
    return assoc(0, k - 1, 0);
  }
}

// ---- specs --------------------------------------------------------------------------------------------

export interface Spec {
  /** `f` reduces to a real; `g` (when the expression is not a scalar) returns it as is */
  source: string;
  expr: A.Expr;
  shape: Shape;
  params: { name: string; shape: Shape }[];
  /** values of the named dimensions */
  dims: Record<string, number>;
  seed: number;
}

function paramList(params: { name: string; shape: Shape }[]): string {
  return params.map((p) => `${p.name}: ${typeText(p.shape)}`).join(', ');
}

/** Reads a gene as a spec: f(params) -> real = sumsq(e) (or e itself for a scalar). */
export function specOf(gene: Gene, dims: Record<string, number>, seed: number, opts: GenOptions = defaultGenOptions, top: 'any' | 'product' = 'any'): Spec {
  const gen = new Gen(opts);
  const shape = gen.anyShape(gene, 99);
  const e = top === 'product' ? gen.product(shape, gene) : gen.expr(shape, gene);
  // Every named dimension the types mention must be bound by a parameter's shape.
  const mentioned = new Set<string>();
  const visit = (x: unknown): void => {
    if (Array.isArray(x)) x.forEach(visit);
    else if (x && typeof x === 'object') {
      const o = x as Record<string, unknown>;
      if (o.kind === 'name' && NAMED_DIMS.includes(o.name as never)) mentioned.add(o.name as string);
      for (const [k, v] of Object.entries(o)) if (k !== 'span' && k !== 'opSpan') visit(v);
    }
  };
  visit(e);
  for (const d of shapeDims(shape)) if (NAMED_DIMS.includes(d as never)) mentioned.add(d);
  const bound = new Set([...gen.params.values()].flatMap(shapeDims));
  for (const d of [...mentioned].sort()) if (!bound.has(d)) gen.param(vec(d), 0);
  if (gen.params.size === 0) gen.param(scalar, 0);
  const params = [...gen.params].map(([name, s]) => ({ name, shape: s })).sort((a, b) => (a.name < b.name ? -1 : 1));
  const body = printExpr(e);
  const reduced = shape.rank === 0 ? body : `sumsq(${body})`;
  let source = `fn f(${paramList(params)}) -> real =\n  ${reduced}\n`;
  if (shape.rank > 0) source += `\nfn g(${paramList(params)}) -> ${typeText(shape)} =\n  ${body}\n`;
  return { source, expr: e, shape, params, dims, seed };
}

export const dimsArb: fc.Arbitrary<Record<string, number>> = fc.record({ m: fc.integer({ min: 2, max: 4 }), n: fc.integer({ min: 2, max: 4 }), p: fc.integer({ min: 2, max: 4 }) });

/** Specs that print as their source in counterexamples. */
export function specArb(opts: GenOptions = defaultGenOptions, top: 'any' | 'product' = 'any'): fc.Arbitrary<Spec> {
  return fc.tuple(geneArb(top === 'product' ? 5 : 3), dimsArb, fc.nat(1 << 30)).map(([g, dims, seed]) => {
    const s = specOf(g, dims, seed, opts, top);
    return Object.assign(s, {
      [fc.toStringMethod]: () => `\n--- dims ${JSON.stringify(dims)}, input seed ${seed}\n${s.source}---`,
    });
  });
}
