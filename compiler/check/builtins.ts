// Builtin functions of the language: their typing rules and their lowering to IR ops, one entry
// per name. Sugar (normalize, sym, skew, lstsq, ...) is written here as IR compositions, so the
// differentiation and backends only ever see the core ops of compiler/ir/ops.ts.

import type * as A from '../../grammar/ast.js';
import { Dim } from '../../core/dims.js';
import { shapeOf } from '../ir/builder.js';
import type { Node } from '../ir/node.js';
import { ifNonEmpty } from '../ir/empty.js';
import type { UnaryKind } from '../ir/ops.js';
import { parseEinsum } from '../ir/ops.js';
import type { Struct } from '../ir/types.js';
import { lineCol, spanText } from '../source.js';
import type { Scope } from './scope.js';
import { type Val, arr, poison, shapeLabel } from './values.js';
import type { Elab } from './elaborate.js';
import { collectionBuiltins, sumList } from './collections.js';
import { spectralBuiltins } from './spectral-builtins.js';
import { scaledNorm } from '../solvers/scale.js';

type Call = Extract<A.Expr, { kind: 'call' }>;

export interface Builtin {
  /** one-line signature for docs and --help */
  sig: string;
  elaborate(el: Elab, e: Call, env: Scope): Val;
}

/** Evaluates positional arguments, reporting named ones and arity errors. */
export function args(el: Elab, e: Call, env: Scope, min: number, max = min): Val[] | null {
  for (const a of e.args) {
    if (a.name) {
      el.diag.error('MAT0307', `${e.callee.name} takes no named arguments`, a.name.span);
      return null;
    }
  }
  const vals = e.args.map((a) => el.expr(a.value, env));
  if (vals.length < min || vals.length > max) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    el.diag.error('MAT0303', `${e.callee.name} takes ${want} argument${max === 1 ? '' : 's'}, got ${vals.length}`, e.span, {
      suggestion: `${e.callee.name}: ${builtins[e.callee.name]?.sig ?? ''}`,
    });
    return null;
  }
  if (vals.some((v) => v.k === 'error')) return null;
  return vals;
}

export function arrArg(el: Elab, e: Call, v: Val, i: number, ranks?: number[]): (Val & { k: 'arr' }) | null {
  const a = el.toArr(v, e.args[i]!.value.span, `argument ${i + 1} of ${e.callee.name}`);
  if (a.k !== 'arr') return null;
  const r = shapeOf(a.node).length;
  if (ranks && !ranks.includes(r)) {
    const want = ranks.map((k) => ['a scalar', 'a vector', 'a matrix'][k] ?? `a rank-${k} tensor`).join(' or ');
    el.diag.error('MAT0208', `argument ${i + 1} of ${e.callee.name} must be ${want}, but it is ${shapeLabel(a)}`, e.args[i]!.value.span);
    return null;
  }
  return a;
}

export function square(el: Elab, e: Call, a: Val & { k: 'arr' }, i: number): boolean {
  const [m, n] = shapeOf(a.node);
  if (!m!.equals(n!)) {
    el.diag.error('MAT0208', `argument ${i + 1} of ${e.callee.name} must be a square matrix, but it is ${shapeLabel(a)}`, e.args[i]!.value.span);
    return false;
  }
  return true;
}

/** An elementwise builtin; `struct` says which structure of the argument the result keeps
 *  (none by default). */
const unaryMath = (op: UnaryKind, sig = `${op}(x) elementwise`, struct: (s: Struct) => Struct = () => 'general'): Builtin => ({
  sig,
  elaborate(el, e, env) {
    const v = args(el, e, env, 1);
    if (!v) return poison;
    const a = arrArg(el, e, v[0]!, 0);
    return a ? arr(el.b.unary(op, a.node), struct(a.struct), a.row) : poison;
  },
});

// Rounding is elementwise and keeps 0 and the symmetry of entries, so a symmetric, diagonal or
// triangular argument stays so (spd does not: rounding can move an eigenvalue across zero).
const rounding = (op: 'half' | 'bfloat'): Builtin =>
  unaryMath(op, `${op === 'half' ? 'f16' : 'bf16'}(x): x rounded to ${op === 'half' ? 'IEEE binary16' : 'bfloat16'} elementwise, kept in the working precision`, (s) =>
    s === 'sym' || s === 'diag' || s === 'tril' || s === 'triu' ? s : s === 'spd' ? 'sym' : 'general',
  );

function dimsArgs(el: Elab, e: Call, vals: Val[]): Dim[] | null {
  const out: Dim[] = [];
  for (let i = 0; i < vals.length; i++) {
    const d = el.toDim(vals[i]!, e.args[i]!.value.span, `dimension ${i + 1} of ${e.callee.name}`);
    if (!d) return null;
    out.push(d);
  }
  return out;
}

/** Ops whose value is not defined on an empty tensor — normalize (no unit vector has no
 *  entries) and mean (0/0) — are refused when the call is bound, on every backend (MATR170), as
 *  soon as the dimensions make the operand empty (issue 10: empty dimensions are legal, and flow
 *  through every other op: an empty sum or product is 0, max/min of nothing are −∞/+∞). */
function needsEntries(el: Elab, e: Call, a: Node): void {
  const n = shapeOf(a).reduce((x, d) => x.mul(d), Dim.const(1));
  const c = n.constValue();
  if (c !== undefined && c > 0) return;
  el.assertions.push({ dim: n.sub(Dim.const(1)), message: `${spanText(e.span)} is not defined on an empty operand (it has ${n} entries)`, code: 'MATR170' });
}

function minmax(kind: 'max' | 'min'): Builtin {
  return {
    sig: `${kind}(x) reduces to a scalar; ${kind}(a, b) elementwise`,
    elaborate(el, e, env) {
      const v = args(el, e, env, 1, 2);
      if (!v) return poison;
      if (v.length === 1) {
        const a = arrArg(el, e, v[0]!, 0);
        return a ? arr(kind === 'max' ? el.b.rmax(a.node) : el.b.rmin(a.node)) : poison;
      }
      const isIntish = (x: Val) => x.k === 'int' || (x.k === 'lit' && x.isInt);
      if (isIntish(v[0]!) && isIntish(v[1]!)) {
        const a = el.toInt(v[0]!, e.args[0]!.value.span);
        const b = el.toInt(v[1]!, e.args[1]!.value.span);
        if (a.k !== 'int' || b.k !== 'int') return poison;
        const dim = a.dim && b.dim ? (kind === 'max' ? Dim.max(a.dim, b.dim) : Dim.min(a.dim, b.dim)) : undefined;
        return { k: 'int', node: el.b.ibin(kind === 'max' ? 'imax' : 'imin', a.node, b.node), ...(dim ? { dim } : {}) };
      }
      const a = arrArg(el, e, v[0]!, 0);
      const b = arrArg(el, e, v[1]!, 1);
      if (!a || !b) return poison;
      const sa = shapeOf(a.node);
      const sb = shapeOf(b.node);
      // a scalar on either side broadcasts; otherwise equal shapes (of equal rank: [m] against
      // [m, n] agreed entry by entry on the shorter one, and the IR refused it as an internal error)
      if (sa.length && sb.length && (sa.length !== sb.length || !sa.every((d, i) => d.equals(sb[i]!)))) {
        el.diag.error('MAT0204', `shape mismatch in ${kind}`, e.span, { label: `${shapeLabel(a)} and ${shapeLabel(b)}` });
        return poison;
      }
      return arr(el.b.binary(kind === 'max' ? 'maximum' : 'minimum', a.node, b.node), 'general', a.row);
    },
  };
}

/** setcol(A, j, v) / setrow(A, i, v): A with one column (row) replaced by v, whose length must be
 *  the matrix's column (row) length. */
function setLine(axis: 'col' | 'row'): Builtin {
  const name = axis === 'col' ? 'setcol' : 'setrow';
  const what = axis === 'col' ? 'column' : 'row';
  return {
    sig: `${name}(A, ${axis === 'col' ? 'j' : 'i'}, v): A with ${what} ${axis === 'col' ? 'j' : 'i'} replaced by v`,
    elaborate(el, e, env) {
      const v = args(el, e, env, 3);
      const a = v && arrArg(el, e, v[0]!, 0, [2]);
      const k = v && el.toInt(v[1]!, e.args[1]!.value.span);
      const x = v && arrArg(el, e, v[2]!, 2, [1]);
      if (!a || !k || k.k !== 'int' || !x) return poison;
      if (!shapeOf(x.node)[0]!.equals(shapeOf(a.node)[axis === 'col' ? 0 : 1]!)) {
        el.diag.error('MAT0203', `${name}: the ${what} has the wrong length`, e.args[2]!.value.span, {
          label: `${shapeLabel(x)}, the matrix is ${shapeLabel(a)}`,
        });
        return poison;
      }
      return arr(axis === 'col' ? el.b.setcol(a.node, k.node, x.node) : el.b.setrow(a.node, k.node, x.node));
    },
  };
}

function solveLike(kind: 'tril' | 'triu'): Builtin {
  return {
    sig: `${kind}_solve(T, B): X with T X = B, T ${kind === 'tril' ? 'lower' : 'upper'} triangular (T may be a transpose)`,
    elaborate(el, e, env) {
      const v = args(el, e, env, 2);
      if (!v) return poison;
      const t = arrArg(el, e, v[0]!, 0, [2]);
      const b = arrArg(el, e, v[1]!, 1, [1, 2]);
      if (!t || !b || !square(el, e, t, 0)) return poison;
      if (!shapeOf(t.node)[0]!.equals(shapeOf(b.node)[0]!)) {
        el.diag.error('MAT0203', `shape mismatch in ${kind}_solve`, e.span, { label: `T is ${shapeLabel(t)} but B is ${shapeLabel(b)}` });
        return poison;
      }
      // A transposed operand flips the triangle: solve with the stored matrix and trans = true.
      let node = t.node;
      let lower = kind === 'tril';
      let trans = false;
      if (node.op === 'transpose') {
        node = node.args[0]!;
        lower = !lower;
        trans = true;
      }
      // conditioning of a triangular system: min |T_ii| / max |T_ii|; a 0×0 system has rcond 1
      // (as the LU of `solve` reports), where min/max of no entries are +∞/−∞
      const d = el.b.unary('abs', el.b.diagvec(node));
      const rc = ifNonEmpty(el.b, shapeOf(node)[0]!, el.b.div(el.b.rmin(d), el.b.rmax(d)), el.b.const(1));
      solved(el, e, [el.b.nograd(node), rc]);
      return arr(el.b.trisolve(node, b.node, { lower, trans }));
    },
  };
}

/** A linear solve in user code reports its conditioning in the call's status: a singular or
 *  numerically singular system is flagged (rcond ≤ max(1e-10, eps): 1e-10 in f64, 2⁻²³ in f32),
 *  never silently returned. */
export function solved(el: Elab, e: Call, pair: [Node, Node]): Node {
  const { line, col } = lineCol(e.span.file, e.span.start);
  el.statuses.push({
    name: `${el.statusPrefix}${e.callee.name}@${line}:${col}`,
    kind: 'linear',
    iterations: el.b.iconst(0),
    // by the working precision: in f32 (WebGPU, the CPU's f32 mode) a pivot left by rounding
    // where an exact one would be 0 gives rcond ~1e-8, which 1e-10 alone would pass
    converged: el.b.binary('gt', pair[1], el.b.binary('maximum', el.b.const(1e-10), el.b.eps())),
    residual: pair[1],
    span: e.span,
  });
  return pair[0];
}

export const builtins: Record<string, Builtin> = {
  exp: unaryMath('exp'),
  log: unaryMath('log'),
  sqrt: unaryMath('sqrt'),
  abs: unaryMath('abs'),
  sign: unaryMath('sign'),
  sin: unaryMath('sin'),
  cos: unaryMath('cos'),
  tanh: unaryMath('tanh'),
  sigmoid: unaryMath('sigmoid'),
  // x rounded to IEEE binary16 / bfloat16, kept in the working precision (core/lowp.ts)
  f16: rounding('half'),
  bf16: rounding('bfloat'),
  relu: {
    sig: 'relu(x) = max(x, 0) elementwise',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      const a = v && arrArg(el, e, v[0]!, 0);
      return a ? arr(el.b.binary('maximum', a.node, el.b.const(0)), 'general', a.row) : poison;
    },
  },
  max: minmax('max'),
  min: minmax('min'),

  sum: {
    sig: 'sum(x) of all entries; sum(T, axis) over one axis (0-based); sum(xs) of a collection',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1, 2);
      if (!v) return poison;
      // sum(xs) of a compile-time collection, sum(x[i] for i in 0..K): its elements added
      if (v.length === 1 && (v[0]!.k === 'list' || v[0]!.k === 'tuple')) return sumList(el, v[0]!, e.args[0]!.value.span, 'sum');
      const a = arrArg(el, e, v[0]!, 0);
      if (!a) return poison;
      if (v.length === 1) return arr(el.b.sum(a.node));
      const ax = el.toDim(v[1]!, e.args[1]!.value.span, 'the axis');
      const k = ax?.constValue();
      if (k === undefined || k < 0 || k >= shapeOf(a.node).length) {
        el.diag.error('MAT0210', `axis must be a constant between 0 and ${shapeOf(a.node).length - 1}`, e.args[1]!.value.span);
        return poison;
      }
      return arr(el.b.sum(a.node, k), 'general', shapeOf(a.node).length === 2 && k === 0);
    },
  },
  colsum: {
    sig: 'colsum(A): the sum of each column, a row vector',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      const a = v && arrArg(el, e, v[0]!, 0, [2]);
      return a ? arr(el.b.sum(a.node, 0), 'general', true) : poison;
    },
  },
  rowsum: {
    sig: 'rowsum(A): the sum of each row, a column vector',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      const a = v && arrArg(el, e, v[0]!, 0, [2]);
      return a ? arr(el.b.sum(a.node, 1)) : poison;
    },
  },
  mean: {
    sig: 'mean(x): the mean of all entries',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      const a = v && arrArg(el, e, v[0]!, 0);
      if (!a) return poison;
      const n = shapeOf(a.node).reduce((x, d) => x.mul(d), Dim.const(1));
      needsEntries(el, e, a.node);
      return arr(el.b.div(el.b.sum(a.node), el.b.itof(el.b.dim(n))));
    },
  },
  sumsq: {
    sig: 'sumsq(x): the sum of squared entries',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      const a = v && arrArg(el, e, v[0]!, 0);
      return a ? arr(el.b.sumsq(a.node)) : poison;
    },
  },
  norm: {
    sig: 'norm(x): the 2-norm of a vector, the Frobenius norm of a matrix',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      const a = v && arrArg(el, e, v[0]!, 0);
      return a ? arr(scaledNorm(el.b, [a.node])) : poison;
    },
  },
  normalize: {
    sig: 'normalize(x) = x / norm(x)',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      const a = v && arrArg(el, e, v[0]!, 0, [1, 2]);
      if (a) needsEntries(el, e, a.node);
      return a ? arr(el.b.div(a.node, scaledNorm(el.b, [a.node])), shapeOf(a.node).length === 1 ? 'sphere' : 'general', a.row) : poison;
    },
  },
  trace: {
    sig: 'trace(A): the sum of the diagonal',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      const a = v && arrArg(el, e, v[0]!, 0, [2]);
      return a ? arr(el.b.sum(el.b.diagvec(a.node))) : poison;
    },
  },
  dot: {
    sig: "dot(x, y) = x' * y",
    elaborate(el, e, env) {
      const v = args(el, e, env, 2);
      const a = v && arrArg(el, e, v[0]!, 0, [1]);
      const b = v && arrArg(el, e, v[1]!, 1, [1]);
      if (!a || !b) return poison;
      if (!shapeOf(a.node)[0]!.equals(shapeOf(b.node)[0]!)) {
        el.diag.error('MAT0203', 'shape mismatch in dot', e.span, { label: `${shapeLabel(a)} and ${shapeLabel(b)}` });
        return poison;
      }
      return arr(el.b.dot(a.node, b.node));
    },
  },
  outer: {
    sig: "outer(x, y) = x * y'",
    elaborate(el, e, env) {
      const v = args(el, e, env, 2);
      const a = v && arrArg(el, e, v[0]!, 0, [1]);
      const b = v && arrArg(el, e, v[1]!, 1, [1]);
      return a && b ? arr(el.b.outer(a.node, b.node)) : poison;
    },
  },

  eye: {
    sig: 'eye(n) or eye(m, n): the identity (rectangular: ones on the main diagonal)',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1, 2);
      const d = v && dimsArgs(el, e, v);
      if (!d) return poison;
      return arr(el.b.eye(d[0]!, d[1] ?? d[0]!), d.length === 1 ? 'diag' : 'general');
    },
  },
  zeros: {
    sig: 'zeros(n), zeros(m, n), zeros(a, b, c, ...)',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1, 8);
      const d = v && dimsArgs(el, e, v);
      return d ? arr(el.b.zeros(d)) : poison;
    },
  },
  ones: {
    sig: 'ones(n), ones(m, n), ...',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1, 8);
      const d = v && dimsArgs(el, e, v);
      return d ? arr(el.b.fill(d, 1)) : poison;
    },
  },
  iota: {
    sig: 'iota(n) = [0, 1, ..., n-1] as reals',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      const d = v && dimsArgs(el, e, v);
      return d ? arr(el.b.iota(d[0]!)) : poison;
    },
  },
  unit: {
    sig: 'unit(n, j): the j-th standard basis vector of length n (0-based)',
    elaborate(el, e, env) {
      const v = args(el, e, env, 2);
      if (!v) return poison;
      const d = el.toDim(v[0]!, e.args[0]!.value.span, 'the length');
      const j = el.toInt(v[1]!, e.args[1]!.value.span);
      if (!d || j.k !== 'int') return poison;
      return arr(el.b.binary('eq', el.b.iota(d), el.b.itof(j.node)));
    },
  },

  diag: {
    sig: 'diag(v): diagonal matrix from a vector; diag(A): the diagonal of a matrix',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      const a = v && arrArg(el, e, v[0]!, 0, [1, 2]);
      if (!a) return poison;
      return shapeOf(a.node).length === 1 ? arr(el.b.diag(a.node), 'diag') : arr(el.b.diagvec(a.node));
    },
  },
  tril: {
    sig: 'tril(A), tril(A, k): lower triangle (k = -1 strictly below the diagonal)',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1, 2);
      const a = v && arrArg(el, e, v[0]!, 0, [2]);
      if (!a || !v) return poison;
      const k = v.length > 1 ? el.toDim(v[1]!, e.args[1]!.value.span, 'the diagonal offset')?.constValue() : 0;
      if (k === undefined) return poison;
      return arr(el.b.tril(a.node, k), k <= 0 ? 'tril' : 'general');
    },
  },
  triu: {
    sig: 'triu(A), triu(A, k): upper triangle (k = 1 strictly above the diagonal)',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1, 2);
      const a = v && arrArg(el, e, v[0]!, 0, [2]);
      if (!a || !v) return poison;
      const k = v.length > 1 ? el.toDim(v[1]!, e.args[1]!.value.span, 'the diagonal offset')?.constValue() : 0;
      if (k === undefined) return poison;
      return arr(el.b.triu(a.node, k), k >= 0 ? 'triu' : 'general');
    },
  },
  sym: {
    sig: "sym(A) = (A + A')/2",
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      const a = v && arrArg(el, e, v[0]!, 0, [2]);
      if (!a || !square(el, e, a, 0)) return poison;
      return arr(el.b.scale(0.5, el.b.add(a.node, el.b.transpose(a.node))), 'sym');
    },
  },
  skew: {
    sig: "skew(A) = (A - A')/2",
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      const a = v && arrArg(el, e, v[0]!, 0, [2]);
      if (!a || !square(el, e, a, 0)) return poison;
      return arr(el.b.scale(0.5, el.b.sub(a.node, el.b.transpose(a.node))));
    },
  },

  col: {
    sig: 'col(A, j): column j (0-based)',
    elaborate(el, e, env) {
      const v = args(el, e, env, 2);
      const a = v && arrArg(el, e, v[0]!, 0, [2]);
      const j = v && el.toInt(v[1]!, e.args[1]!.value.span);
      return a && j && j.k === 'int' ? arr(el.b.getcol(a.node, j.node)) : poison;
    },
  },
  row: {
    sig: 'row(A, i): row i (0-based), a row vector',
    elaborate(el, e, env) {
      const v = args(el, e, env, 2);
      const a = v && arrArg(el, e, v[0]!, 0, [2]);
      const i = v && el.toInt(v[1]!, e.args[1]!.value.span);
      return a && i && i.k === 'int' ? arr(el.b.getrow(a.node, i.node), 'general', true) : poison;
    },
  },
  setcol: setLine('col'),
  setrow: setLine('row'),
  set: {
    sig: 'set(x, i, v) or set(A, i, j, v): a copy with one entry replaced',
    elaborate(el, e, env) {
      const v = args(el, e, env, 3, 4);
      if (!v) return poison;
      const a = arrArg(el, e, v[0]!, 0, [v.length - 2]);
      const ix = v.slice(1, -1).map((x, i) => el.toInt(x, e.args[i + 1]!.value.span));
      const val = el.toScalar(v[v.length - 1]!, e.args[v.length - 1]!.value.span, 'the new value');
      if (!a || ix.some((x) => x.k !== 'int') || !val) return poison;
      return arr(el.b.setindex(a.node, ix.map((x) => (x as { node: Node }).node), val), 'general', a.row);
    },
  },

  solve: {
    sig: 'solve(A, B) = A⁻¹B (LU with partial pivoting)',
    elaborate(el, e, env) {
      const v = args(el, e, env, 2);
      const a = v && arrArg(el, e, v[0]!, 0, [2]);
      const b = v && arrArg(el, e, v[1]!, 1, [1, 2]);
      if (!a || !b || !square(el, e, a, 0)) return poison;
      if (!shapeOf(a.node)[0]!.equals(shapeOf(b.node)[0]!)) {
        el.diag.error('MAT0203', 'shape mismatch in solve', e.span, { label: `A is ${shapeLabel(a)} but B is ${shapeLabel(b)}` });
        return poison;
      }
      return arr(solved(el, e, el.b.solve(a.node, b.node)));
    },
  },
  inv: {
    sig: 'inv(A): the inverse (prefer solve(A, B))',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      const a = v && arrArg(el, e, v[0]!, 0, [2]);
      if (!a || !square(el, e, a, 0)) return poison;
      const n = shapeOf(a.node)[0]!;
      return arr(solved(el, e, el.b.solve(a.node, el.b.eye(n))));
    },
  },
  lstsq: {
    sig: "lstsq(A, b): argmin ‖A x − b‖ (normal equations; minimum-norm when A is statically wide)",
    elaborate(el, e, env) {
      const v = args(el, e, env, 2);
      const a = v && arrArg(el, e, v[0]!, 0, [2]);
      const b = v && arrArg(el, e, v[1]!, 1, [1, 2]);
      if (!a || !b) return poison;
      const [m, n] = shapeOf(a.node);
      if (!m!.equals(shapeOf(b.node)[0]!)) {
        el.diag.error('MAT0203', 'shape mismatch in lstsq', e.span, { label: `A is ${shapeLabel(a)} but b is ${shapeLabel(b)}` });
        return poison;
      }
      const at = el.b.transpose(a.node);
      const mul = (x: Node, y: Node) => (shapeOf(y).length === 1 ? el.b.matvec(x, y) : el.b.matmul(x, y));
      const c = m!.sub(n!).constValue();
      // tall or square: x = (AᵀA)⁻¹ Aᵀ b;  wide: the minimum-norm x = Aᵀ (A Aᵀ)⁻¹ b
      const tall = () => el.b.solve(el.b.matmul(at, a.node), mul(at, b.node));
      const wide = () => {
        const [y, rc] = el.b.solve(el.b.matmul(a.node, at), b.node);
        return [mul(at, y), rc] as [Node, Node];
      };
      // Orientation known only at run time: the normal equations of the tall case. Computing both
      // and selecting would allocate an m×m Gram matrix in every tall call (LESS at m = 1024 would
      // carry 1M scratch elements per instance); a wide A then has a singular AᵀA, which the
      // solve's conditioning status reports. Spell the sizes (or call lstsq on A' for wide
      // problems) to get the minimum-norm solution.
      return arr(solved(el, e, c !== undefined && c < 0 ? wide() : tall()));
    },
  },
  tril_solve: solveLike('tril'),
  triu_solve: solveLike('triu'),

  einsum: {
    sig: 'einsum("ij,jk->ik", A, B): a tensor contraction',
    elaborate(el, e, env) {
      // up to 64 operands; their contraction order is chosen by cost (compiler/opt/einsum.ts)
      const v = args(el, e, env, 2, 65);
      if (!v) return poison;
      if (v[0]!.k !== 'string') {
        el.diag.error('MAT0208', 'the first argument of einsum is a spec string such as "ij,jk->ik"', e.args[0]!.value.span);
        return poison;
      }
      const spec = v[0]!.value;
      let parsed;
      try {
        parsed = parseEinsum(spec);
      } catch {
        el.diag.error('MAT0210', `bad einsum spec "${spec}"`, e.args[0]!.value.span, { suggestion: 'write letters as indices, like "ij,jk->ik" (a–z and A–Z)' });
        return poison;
      }
      const ops = v.slice(1).map((x, i) => arrArg(el, e, x, i + 1));
      if (ops.some((x) => !x)) return poison;
      if (parsed.inputs.length !== ops.length) {
        el.diag.error('MAT0303', `einsum spec has ${parsed.inputs.length} operands but ${ops.length} were given`, e.span);
        return poison;
      }
      const sizes = new Map<string, Dim>();
      for (let i = 0; i < ops.length; i++) {
        const sh = shapeOf(ops[i]!.node);
        const ix = parsed.inputs[i]!;
        if (ix.length !== sh.length) {
          el.diag.error('MAT0210', `einsum operand ${i + 1} has rank ${sh.length} but the spec gives it ${ix.length} indices`, e.args[i + 1]!.value.span);
          return poison;
        }
        for (let j = 0; j < ix.length; j++) {
          const prev = sizes.get(ix[j]!);
          if (prev && !prev.equals(sh[j]!)) {
            el.diag.error('MAT0203', `einsum index '${ix[j]}' has size ${prev} and ${sh[j]}`, e.args[i + 1]!.value.span);
            return poison;
          }
          sizes.set(ix[j]!, sh[j]!);
        }
      }
      for (const c of parsed.output) {
        if (!sizes.has(c)) {
          el.diag.error('MAT0210', `einsum output index '${c}' does not appear in any operand`, e.args[0]!.value.span);
          return poison;
        }
      }
      return arr(el.b.einsum(spec.replace(/\s+/g, ''), ops.map((o) => o!.node)));
    },
  },
  reshape: {
    sig: 'reshape(x, d1, d2, ...): same entries in row-major order, new shape',
    elaborate(el, e, env) {
      // up to 64 dimensions (a tensor reshaped to its modes for a long einsum)
      const v = args(el, e, env, 2, 65);
      if (!v) return poison;
      const a = arrArg(el, e, v[0]!, 0);
      const d = dimsArgs(el, { ...e, args: e.args.slice(1) }, v.slice(1));
      if (!a || !d) return poison;
      const n1 = shapeOf(a.node).reduce((x, y) => x.mul(y), Dim.const(1));
      const n2 = d.reduce((x, y) => x.mul(y), Dim.const(1));
      if (!n1.equals(n2)) {
        el.diag.error('MAT0204', `reshape from ${shapeLabel(a)} (${n1} entries) to ${d.length ? `[${d.join(', ')}]` : 'a scalar'} (${n2} entries)`, e.span);
        return poison;
      }
      return arr(el.b.reshape(a.node, d));
    },
  },
  vec: {
    sig: 'vec(A): the entries of A in row-major order as a vector',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      const a = v && arrArg(el, e, v[0]!, 0);
      if (!a) return poison;
      return arr(el.b.reshape(a.node, [shapeOf(a.node).reduce((x, y) => x.mul(y), Dim.const(1))]));
    },
  },
  maxloc: {
    sig: 'maxloc(x): the index (0-based int) of the largest entry of a vector; ties give the first',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      const a = v && arrArg(el, e, v[0]!, 0, [1]);
      return a ? { k: 'int', node: el.b.maxloc(a.node) } : poison;
    },
  },
  minloc: {
    sig: 'minloc(x): the index (0-based int) of the smallest entry of a vector; ties give the first',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      const a = v && arrArg(el, e, v[0]!, 0, [1]);
      return a ? { k: 'int', node: el.b.minloc(a.node) } : poison;
    },
  },
  float: {
    sig: 'float(i): an int (index, dimension) as a real',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      if (!v) return poison;
      const i = el.toInt(v[0]!, e.args[0]!.value.span);
      return i.k === 'int' ? arr(el.b.itof(i.node)) : poison;
    },
  },
  monitor: {
    sig: 'monitor("name", value, ok): value, also reported in the call\'s status (ok = 0 flags it)',
    elaborate(el, e, env) {
      const v = args(el, e, env, 3);
      if (!v) return poison;
      if (v[0]!.k !== 'string') {
        el.diag.error('MAT0208', 'the first argument of monitor is its name in double quotes', e.args[0]!.value.span);
        return poison;
      }
      const x = el.toScalar(v[1]!, e.args[1]!.value.span, 'the monitored value');
      const ok = el.toScalar(v[2]!, e.args[2]!.value.span, 'the condition');
      if (!x || !ok) return poison;
      el.statuses.push({ name: `${el.statusPrefix}${v[0]!.value}`, kind: 'monitor', iterations: el.b.iconst(0), converged: el.b.binary('ne', ok, el.b.const(0)), residual: x, span: e.span });
      return arr(x);
    },
  },
  // ---- integer arithmetic (core/intops.ts: floor division, the floored remainder, div(a, 0) = 0,
  // mod(a, 0) = a, wrapping i32; the same on every backend) ----
  floor: {
    sig: 'floor(x): the largest int ≤ x (a real scalar), saturated to the int range; NaN gives 0',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      if (!v) return poison;
      const x = v[0]!;
      if (x.k === 'int') return x;
      if (x.k === 'lit') return el.toInt({ ...x, value: Math.floor(x.value), isInt: true }, e.args[0]!.value.span, 'floor(x)');
      const s = el.toScalar(x, e.args[0]!.value.span, 'the argument of floor');
      return s ? { k: 'int', node: el.b.ftoi(s) } : poison;
    },
  },
  div: intDivision('div'),
  mod: intDivision('mod'),
  // ---- seeded random numbers (core/philox.ts) ----
  rand: randomBuiltin('uniform'),
  randn: randomBuiltin('normal'),
  stop_gradient: {
    sig: 'stop_gradient(x): x, treated as a constant by differentiation',
    elaborate(el, e, env) {
      const v = args(el, e, env, 1);
      const a = v && arrArg(el, e, v[0]!, 0);
      return a ? { ...a, node: el.b.nograd(a.node) } : poison;
    },
  },
  // compile-time collections: len, prod, size, modeprod, unfold (collections.ts)
  ...collectionBuiltins,
  // eigh, svd, expm, sqrtm, invsqrtm, polar (compiler/check/spectral-builtins.ts)
  ...spectralBuiltins,
};

/** div(a, b) = ⌊a / b⌋ and mod(a, b) = a − b·div(a, b) on ints (core/intops.ts). A literal pair
 *  folds to a literal; otherwise the result is a computed int (it can index, bound a loop or key
 *  a random stream, but not size a tensor: div(n, 2) of a dimension is not a dimension). */
function intDivision(kind: 'div' | 'mod'): Builtin {
  return {
    sig: kind === 'div' ? 'div(a, b): floor division of ints (div(-7, 2) = -4; div(a, 0) = 0)' : 'mod(a, b): a - b * div(a, b), the sign of b (mod(-7, 2) = 1; mod(a, 0) = a)',
    elaborate(el, e, env) {
      const v = args(el, e, env, 2);
      if (!v) return poison;
      const ints: (Val & { k: 'int' })[] = [];
      for (let i = 0; i < 2; i++) {
        const x = v[i]!;
        if (x.k === 'arr' || (x.k === 'lit' && !x.isInt)) {
          el.diag.error('MAT0211', `${kind} takes ints, but argument ${i + 1} is ${x.k === 'lit' ? 'a real literal' : shapeLabel(x) === 'a scalar' ? 'a real' : shapeLabel(x)}`, e.args[i]!.value.span, {
            label: 'not an int',
            suggestion: 'convert a real scalar with floor(x)',
          });
          return poison;
        }
        const n = el.toInt(x, e.args[i]!.value.span, `argument ${i + 1} of ${kind}`);
        if (n.k !== 'int') return poison;
        ints.push(n);
      }
      const [a, b] = ints as [Val & { k: 'int' }, Val & { k: 'int' }];
      const node = el.b.ibin(kind === 'div' ? 'idiv' : 'imod', a.node, b.node);
      // the builder folds constants exactly as the backends compute (core/intops.ts)
      if (node.op === 'iconst') return { k: 'int', node, dim: Dim.const(node.attrs.value as number) };
      return { k: 'int', node };
    },
  };
}

/** rand(key, d1, d2, …[, stream: s]) / randn(…): a tensor of the given dimensions (none: a
 *  scalar) of seeded uniform [0, 1) / standard normal numbers, element e (row-major) a function of
 *  (key, stream, e) only (core/philox.ts). key and stream are ints: literals, int parameters, int
 *  state, loop indices, div/mod/floor results. */
function randomBuiltin(dist: 'uniform' | 'normal'): Builtin {
  const name = dist === 'uniform' ? 'rand' : 'randn';
  return {
    sig: `${name}(key, d1, d2, ...[, stream: s]): seeded ${dist === 'uniform' ? 'uniform [0, 1)' : 'standard normal'} numbers of that shape (Philox4x32-10; key, s ints)`,
    elaborate(el, e, env) {
      const pos = e.args.filter((a) => !a.name);
      const named = e.args.filter((a) => a.name);
      let streamArg: A.Expr | null = null;
      for (const a of named) {
        if (a.name!.name !== 'stream' || streamArg) {
          el.diag.error('MAT0307', a.name!.name === 'stream' ? `${name}: stream is given twice` : `${name} takes one named argument, stream, not '${a.name!.name}'`, a.name!.span);
          return poison;
        }
        streamArg = a.value;
      }
      if (pos.length < 1 || pos.length > 9) {
        el.diag.error('MAT0303', `${name} takes a key and up to 8 dimensions, got ${pos.length} argument${pos.length === 1 ? '' : 's'}`, e.span, {
          suggestion: `${name}: ${builtins[name]?.sig ?? ''}`,
        });
        return poison;
      }
      const intOf = (x: A.Expr, what: string): Node | null => {
        const v = el.expr(x, env);
        if (v.k === 'error') return null;
        if (v.k === 'arr') {
          el.diag.error('MAT0211', `the ${what} of ${name} must be an int, but it is ${shapeLabel(v) === 'a scalar' ? 'a real' : shapeLabel(v)}`, x.span, {
            label: 'not an int',
            suggestion: 'use an int parameter, an int state, a loop index, or floor(x) of a real scalar',
          });
          return null;
        }
        const i = el.toInt(v, x.span, `the ${what} of ${name}`);
        return i.k === 'int' ? i.node : null;
      };
      const key = intOf(pos[0]!.value, 'key');
      const stream = streamArg ? intOf(streamArg, 'stream') : el.b.iconst(0);
      const dims: Dim[] = [];
      for (let i = 1; i < pos.length; i++) {
        const d = el.toDim(el.expr(pos[i]!.value, env), pos[i]!.value.span, `dimension ${i} of ${name}`);
        if (!d) return poison;
        dims.push(d);
      }
      if (!key || !stream) return poison;
      return arr(el.b.raw('rand', [key, stream], { shape: dims, dist }));
    },
  };
}

export function structOf(v: Val): Struct {
  return v.k === 'arr' ? v.struct : 'general';
}
