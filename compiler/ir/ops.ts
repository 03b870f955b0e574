// The IR op table: every op's kind, operand count and type rule. The other per-op tables (VJP,
// JVP, CPU evaluation, WGSL) are `Record<OpKind, ...>`, so adding an op here does not compile
// until each of them has its entry.

import { Dim, shapeEquals, shapeToString } from '../../core/dims.js';
import { type IrType, type TensorType, type Struct, tensorT, tupleT, scalarT, intT, typeKey, typeEquals } from './types.js';
import type { Attrs, Region } from './node.js';

export const elementwiseUnary = ['neg', 'exp', 'log', 'sqrt', 'abs', 'sign', 'sin', 'cos', 'tanh', 'sigmoid', 'not', 'half', 'bfloat'] as const;
export const elementwiseBinary = [
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'atan2', 'hypot', 'lt', 'le', 'gt', 'ge', 'eq', 'ne', 'and', 'or',
] as const;
export const intBinary = ['iadd', 'isub', 'imul', 'imin', 'imax', 'idiv', 'imod'] as const;

export const spectralOps = ['eigh', 'svd', 'expm', 'symfun', 'polar', 'heigh', 'householder'] as const;
export type SpectralKind = (typeof spectralOps)[number];
export function isSpectral(op: string): op is SpectralKind {
  return (spectralOps as readonly string[]).includes(op);
}

export type UnaryKind = (typeof elementwiseUnary)[number];
export type BinaryKind = (typeof elementwiseBinary)[number];
export type IntBinaryKind = (typeof intBinary)[number];

export type OpKind =
  // leaves
  | 'param' | 'const' | 'eps' | 'iconst' | 'fill' | 'eye' | 'iota' | 'dim'
  // integer scalars (loop indices, dimension arithmetic)
  | IntBinaryKind | 'itof' | 'ftoi'
  // elementwise (scalars broadcast)
  | UnaryKind | BinaryKind | 'select'
  // linear algebra
  | 'matmul' | 'matvec' | 'dot' | 'outer' | 'transpose' | 'einsum'
  // reductions
  | 'sum' | 'rmax' | 'rmin' | 'maxloc' | 'minloc'
  // structure
  | 'diag' | 'diagvec' | 'tril' | 'triu'
  // shape and indexing
  | 'reshape' | 'slice' | 'pad' | 'concat' | 'index' | 'setindex' | 'getcol' | 'setcol' | 'getrow' | 'setrow'
  // solves
  | 'solve' | 'trisolve'
  // spectral primitives (differentiated by their own rules, lowered to loops by the expand stage:
  // compiler/diff/spectral-rules.ts, compiler/solvers/spectral.ts)
  | SpectralKind
  // control and declarative nodes
  | 'loop' | 'opt' | 'root' | 'custom' | 'proj' | 'nograd'
  // seeded random numbers, real branches (issue 10)
  | 'rand' | 'cond';

export interface OpSpec {
  /** Number of operands, or 'var'. */
  arity: number | 'var';
  /** Number of regions. */
  regions: number | 'var';
  type(args: readonly IrType[], attrs: Attrs, regions: readonly Region[]): IrType;
}

export class IrTypeError extends Error {}

function tens(t: IrType, what: string): TensorType {
  if (t.kind !== 'tensor') throw new IrTypeError(`${what}: expected a tensor, got a tuple`);
  return t;
}

function f(t: IrType, what: string): TensorType {
  const x = tens(t, what);
  if (x.dtype !== 'f') throw new IrTypeError(`${what}: expected a real tensor`);
  return x;
}

function i32(t: IrType, what: string): TensorType {
  const x = tens(t, what);
  if (x.dtype !== 'i' || x.shape.length !== 0) throw new IrTypeError(`${what}: expected an int scalar`);
  return x;
}

function rankOf(t: TensorType, r: number, what: string): readonly Dim[] {
  if (t.shape.length !== r) throw new IrTypeError(`${what}: expected rank ${r}, got ${shapeToString(t.shape)}`);
  return t.shape;
}

function same(a: Dim, b: Dim, what: string): void {
  if (!a.equals(b)) throw new IrTypeError(`${what}: dimension ${a} does not match ${b}`);
}

/** Elementwise result shape: equal shapes, or one side a scalar. */
function broadcast(a: TensorType, b: TensorType, what: string): readonly Dim[] {
  if (a.shape.length === 0) return b.shape;
  if (b.shape.length === 0) return a.shape;
  if (!shapeEquals(a.shape, b.shape)) throw new IrTypeError(`${what}: shapes ${shapeToString(a.shape)} and ${shapeToString(b.shape)} differ`);
  return a.shape;
}

function dimAttr(attrs: Attrs, k: string): Dim {
  const v = attrs[k];
  if (!(v instanceof Dim)) throw new IrTypeError(`attribute ${k} must be a dimension`);
  return v;
}

function dimsAttr(attrs: Attrs, k: string): readonly Dim[] {
  const v = attrs[k];
  if (!Array.isArray(v) || !v.every((d) => d instanceof Dim)) throw new IrTypeError(`attribute ${k} must be a shape`);
  return v as Dim[];
}

function numAttr(attrs: Attrs, k: string): number {
  const v = attrs[k];
  if (typeof v !== 'number') throw new IrTypeError(`attribute ${k} must be a number`);
  return v;
}

const unary = (what: string): OpSpec => ({
  arity: 1,
  regions: 0,
  type: ([a]) => tensorT(f(a!, what).shape),
});

const binary = (what: string): OpSpec => ({
  arity: 2,
  regions: 0,
  type: ([a, b]) => tensorT(broadcast(f(a!, what), f(b!, what), what)),
});

const intBin = (what: string): OpSpec => ({
  arity: 2,
  regions: 0,
  type: ([a, b]) => {
    i32(a!, what);
    i32(b!, what);
    return intT;
  },
});

function regionResultTypes(r: Region): IrType[] {
  return r.results.map((n) => n.type);
}

/** Parses an einsum spec such as "ij,jk->ik" (indices are letters a–z and A–Z). */
export function parseEinsum(spec: string): { inputs: string[]; output: string } {
  const m = /^([a-zA-Z,]+)->([a-zA-Z]*)$/.exec(spec.replace(/\s+/g, ''));
  if (!m) throw new IrTypeError(`bad einsum spec '${spec}'`);
  return { inputs: m[1]!.split(','), output: m[2]! };
}

export const opSpecs: Record<OpKind, OpSpec> = {
  param: { arity: 0, regions: 0, type: (_a, attrs) => attrs.type as IrType },
  const: { arity: 0, regions: 0, type: () => scalarT },
  // the machine epsilon of the arithmetic the function runs in: 2⁻⁵² on the f64 CPU paths, 2⁻²³
  // in f32 (WebGPU, f32 storage, the interpreter's f32 rounding); solver tolerances scale with it
  eps: { arity: 0, regions: 0, type: () => scalarT },
  iconst: { arity: 0, regions: 0, type: () => intT },
  fill: { arity: 0, regions: 0, type: (_a, attrs) => tensorT(dimsAttr(attrs, 'shape')) },
  eye: { arity: 0, regions: 0, type: (_a, attrs) => tensorT(dimsAttr(attrs, 'shape')) },
  iota: { arity: 0, regions: 0, type: (_a, attrs) => tensorT([dimAttr(attrs, 'n')]) },
  dim: { arity: 0, regions: 0, type: () => intT },

  iadd: intBin('iadd'), isub: intBin('isub'), imul: intBin('imul'), imin: intBin('imin'), imax: intBin('imax'),
  idiv: intBin('idiv'), imod: intBin('imod'),
  itof: { arity: 1, regions: 0, type: ([a]) => (i32(a!, 'itof'), scalarT) },
  // floor of a real scalar as an int, saturated to the int range; NaN gives 0
  ftoi: {
    arity: 1,
    regions: 0,
    type: ([a]) => {
      const t = f(a!, 'ftoi');
      if (t.shape.length !== 0) throw new IrTypeError('ftoi: expected a real scalar');
      return intT;
    },
  },

  neg: unary('neg'), exp: unary('exp'), log: unary('log'), sqrt: unary('sqrt'), abs: unary('abs'),
  sign: unary('sign'), sin: unary('sin'), cos: unary('cos'), tanh: unary('tanh'), sigmoid: unary('sigmoid'),
  not: unary('not'),
  // rounding to IEEE binary16 / bfloat16 (round to nearest, ties to even; overflow to ±inf), the
  // value kept in the working precision: low-precision storage modelled exactly (compiler/ir/lowp.ts)
  half: unary('half'), bfloat: unary('bfloat'),
  add: binary('add'), sub: binary('sub'), mul: binary('mul'), div: binary('div'), pow: binary('pow'),
  maximum: binary('maximum'), minimum: binary('minimum'),
  // atan2(y, x) ∈ (−π, π], the angle of (x, y); hypot(a, b) = √(a² + b²) (complex abs and angle:
  // compiler/check/complex.ts)
  atan2: binary('atan2'), hypot: binary('hypot'),
  lt: binary('lt'), le: binary('le'), gt: binary('gt'), ge: binary('ge'), eq: binary('eq'), ne: binary('ne'),
  and: binary('and'), or: binary('or'),
  select: {
    arity: 3,
    regions: 0,
    type: ([c, a, b]) => {
      const s1 = broadcast(f(a!, 'select'), f(b!, 'select'), 'select');
      return tensorT(broadcast(f(c!, 'select'), tensorT(s1), 'select'));
    },
  },

  matmul: {
    arity: 2,
    regions: 0,
    type: ([a, b]) => {
      const [m, k] = rankOf(f(a!, 'matmul'), 2, 'matmul lhs');
      const [k2, n] = rankOf(f(b!, 'matmul'), 2, 'matmul rhs');
      same(k!, k2!, 'matmul inner');
      return tensorT([m!, n!]);
    },
  },
  matvec: {
    arity: 2,
    regions: 0,
    type: ([a, x]) => {
      const [m, n] = rankOf(f(a!, 'matvec'), 2, 'matvec lhs');
      const [n2] = rankOf(f(x!, 'matvec'), 1, 'matvec rhs');
      same(n!, n2!, 'matvec inner');
      return tensorT([m!]);
    },
  },
  dot: {
    arity: 2,
    regions: 0,
    type: ([x, y]) => {
      const [n] = rankOf(f(x!, 'dot'), 1, 'dot lhs');
      const [n2] = rankOf(f(y!, 'dot'), 1, 'dot rhs');
      same(n!, n2!, 'dot');
      return scalarT;
    },
  },
  outer: {
    arity: 2,
    regions: 0,
    type: ([x, y]) => tensorT([rankOf(f(x!, 'outer'), 1, 'outer')[0]!, rankOf(f(y!, 'outer'), 1, 'outer')[0]!]),
  },
  transpose: {
    arity: 1,
    regions: 0,
    type: ([a]) => {
      const t = f(a!, 'transpose');
      const [m, n] = rankOf(t, 2, 'transpose');
      const st: Struct | undefined = t.struct === 'sym' || t.struct === 'spd' || t.struct === 'diag' ? t.struct : undefined;
      return tensorT([n!, m!], 'f', st);
    },
  },
  einsum: {
    arity: 'var',
    regions: 0,
    type: (args, attrs) => {
      const { inputs, output } = parseEinsum(String(attrs.spec));
      if (inputs.length !== args.length) throw new IrTypeError(`einsum: ${inputs.length} operands in spec, ${args.length} given`);
      const sizes = new Map<string, Dim>();
      inputs.forEach((ix, i) => {
        const sh = rankOf(f(args[i]!, 'einsum'), ix.length, `einsum operand ${i + 1}`);
        [...ix].forEach((c, j) => {
          const prev = sizes.get(c);
          if (prev) same(prev, sh[j]!, `einsum index ${c}`);
          else sizes.set(c, sh[j]!);
        });
      });
      return tensorT([...output].map((c) => {
        const d = sizes.get(c);
        if (!d) throw new IrTypeError(`einsum: output index ${c} not in inputs`);
        return d;
      }));
    },
  },

  sum: {
    arity: 1,
    regions: 0,
    type: ([a], attrs) => {
      const t = f(a!, 'sum');
      const axis = numAttr(attrs, 'axis');
      if (axis < 0) return scalarT;
      if (axis >= t.shape.length) throw new IrTypeError(`sum: axis ${axis} out of range`);
      return tensorT(t.shape.filter((_, i) => i !== axis));
    },
  },
  rmax: { arity: 1, regions: 0, type: (a, attrs, r) => opSpecs.sum.type(a, attrs, r) },
  // index (0-based, an int) of the largest / smallest entry of a vector; ties: the first
  maxloc: { arity: 1, regions: 0, type: ([a]) => (rankOf(f(a!, 'maxloc'), 1, 'maxloc'), intT) },
  minloc: { arity: 1, regions: 0, type: ([a]) => (rankOf(f(a!, 'minloc'), 1, 'minloc'), intT) },
  rmin: { arity: 1, regions: 0, type: (a, attrs, r) => opSpecs.sum.type(a, attrs, r) },

  diag: {
    arity: 1,
    regions: 0,
    type: ([v]) => {
      const [n] = rankOf(f(v!, 'diag'), 1, 'diag');
      return tensorT([n!, n!], 'f', 'diag');
    },
  },
  diagvec: {
    arity: 1,
    regions: 0,
    type: ([a]) => {
      const [m, n] = rankOf(f(a!, 'diagvec'), 2, 'diagvec');
      return tensorT([Dim.min(m!, n!)]);
    },
  },
  tril: {
    arity: 1,
    regions: 0,
    type: ([a], attrs) => tensorT(rankOf(f(a!, 'tril'), 2, 'tril'), 'f', numAttr(attrs, 'k') <= 0 ? 'tril' : undefined),
  },
  triu: {
    arity: 1,
    regions: 0,
    type: ([a], attrs) => tensorT(rankOf(f(a!, 'triu'), 2, 'triu'), 'f', numAttr(attrs, 'k') >= 0 ? 'triu' : undefined),
  },

  reshape: {
    arity: 1,
    regions: 0,
    type: ([a], attrs) => {
      const t = f(a!, 'reshape');
      const to = dimsAttr(attrs, 'shape');
      const n1 = t.shape.reduce((x, d) => x.mul(d), Dim.const(1));
      const n2 = to.reduce((x, d) => x.mul(d), Dim.const(1));
      same(n1, n2, 'reshape size');
      return tensorT(to);
    },
  },
  slice: {
    arity: 1,
    regions: 0,
    type: ([a], attrs) => {
      const t = f(a!, 'slice');
      const start = dimsAttr(attrs, 'start');
      const size = dimsAttr(attrs, 'size');
      if (start.length !== t.shape.length || size.length !== t.shape.length) throw new IrTypeError('slice: rank mismatch');
      return tensorT(size);
    },
  },
  pad: {
    arity: 1,
    regions: 0,
    type: ([a], attrs) => {
      const t = f(a!, 'pad');
      const shape = dimsAttr(attrs, 'shape');
      const start = dimsAttr(attrs, 'start');
      if (start.length !== t.shape.length || shape.length !== t.shape.length) throw new IrTypeError('pad: rank mismatch');
      return tensorT(shape);
    },
  },
  concat: {
    arity: 'var',
    regions: 0,
    type: (args, attrs) => {
      const axis = numAttr(attrs, 'axis');
      const ts = args.map((a) => f(a, 'concat'));
      const r = ts[0]!.shape.length;
      let total = Dim.const(0);
      for (const t of ts) {
        rankOf(t, r, 'concat');
        t.shape.forEach((d, i) => {
          if (i !== axis) same(d, ts[0]!.shape[i]!, 'concat');
        });
        total = total.add(t.shape[axis]!);
      }
      return tensorT(ts[0]!.shape.map((d, i) => (i === axis ? total : d)));
    },
  },
  index: {
    arity: 'var',
    regions: 0,
    type: ([a, ...ix]) => {
      const t = f(a!, 'index');
      rankOf(t, ix.length, 'index');
      ix.forEach((i) => i32(i, 'index'));
      return scalarT;
    },
  },
  setindex: {
    arity: 'var',
    regions: 0,
    type: (args) => {
      const t = f(args[0]!, 'setindex');
      const ix = args.slice(1, -1);
      rankOf(t, ix.length, 'setindex');
      ix.forEach((i) => i32(i, 'setindex'));
      rankOf(f(args[args.length - 1]!, 'setindex value'), 0, 'setindex value');
      return tensorT(t.shape);
    },
  },
  getcol: {
    arity: 2,
    regions: 0,
    type: ([a, j]) => {
      const [m] = rankOf(f(a!, 'getcol'), 2, 'getcol');
      i32(j!, 'getcol');
      return tensorT([m!]);
    },
  },
  getrow: {
    arity: 2,
    regions: 0,
    type: ([a, i]) => {
      const [, n] = rankOf(f(a!, 'getrow'), 2, 'getrow');
      i32(i!, 'getrow');
      return tensorT([n!]);
    },
  },
  setcol: {
    arity: 3,
    regions: 0,
    type: ([a, j, v]) => {
      const [m, n] = rankOf(f(a!, 'setcol'), 2, 'setcol');
      i32(j!, 'setcol');
      same(rankOf(f(v!, 'setcol'), 1, 'setcol value')[0]!, m!, 'setcol');
      return tensorT([m!, n!]);
    },
  },
  setrow: {
    arity: 3,
    regions: 0,
    type: ([a, i, v]) => {
      const [m, n] = rankOf(f(a!, 'setrow'), 2, 'setrow');
      i32(i!, 'setrow');
      same(rankOf(f(v!, 'setrow'), 1, 'setrow value')[0]!, n!, 'setrow');
      return tensorT([m!, n!]);
    },
  },

  solve: {
    // X = A⁻¹ B by LU with partial pivoting; second output: reciprocal condition estimate
    // min|u_ii| / max|u_ii| (0 for an exactly singular A).
    arity: 2,
    regions: 0,
    type: ([a, b]) => {
      const [n, n2] = rankOf(f(a!, 'solve'), 2, 'solve matrix');
      same(n!, n2!, 'solve matrix must be square');
      const bt = f(b!, 'solve');
      if (bt.shape.length < 1 || bt.shape.length > 2) throw new IrTypeError('solve: rhs must be a vector or matrix');
      same(bt.shape[0]!, n!, 'solve rhs rows');
      return tupleT([tensorT(bt.shape), scalarT]);
    },
  },
  trisolve: {
    // Solves op(T) X = B (left) or X op(T) = B (right); T triangular (attrs lower, trans, unit).
    arity: 2,
    regions: 0,
    type: ([t, b], attrs) => {
      const [n, n2] = rankOf(f(t!, 'trisolve'), 2, 'trisolve matrix');
      same(n!, n2!, 'trisolve matrix must be square');
      const bt = f(b!, 'trisolve');
      if (attrs.left === false) {
        rankOf(bt, 2, 'trisolve rhs');
        same(bt.shape[1]!, n!, 'trisolve rhs columns');
      } else same(bt.shape[0]!, n!, 'trisolve rhs rows');
      return tensorT(bt.shape);
    },
  },

  // eigh(A): the eigendecomposition of the symmetric part (A + Aᵀ)/2 → (values ascending,
  // orthonormal vectors as columns, Jacobi sweeps, converged, relative off-diagonal residual)
  eigh: {
    arity: 1,
    regions: 0,
    type: ([a]) => {
      const [n, n2] = rankOf(f(a!, 'eigh'), 2, 'eigh');
      same(n!, n2!, 'eigh matrix must be square');
      return tupleT([tensorT([n!]), tensorT([n!, n!]), intT, scalarT, scalarT]);
    },
  },
  // heigh(Re A, Im A): the eigendecomposition of the Hermitian part (A + Aᴴ)/2 of a complex matrix
  // (compiler/check/complex.ts) → (values ascending, Re V, Im V, for each vector the index of its
  // entry of largest magnitude — made real and positive — as a real, Jacobi sweeps, converged,
  // relative off-diagonal residual)
  heigh: {
    arity: 2,
    regions: 0,
    type: ([re, im]) => {
      const [n, n2] = rankOf(f(re!, 'heigh'), 2, 'heigh');
      same(n!, n2!, 'heigh matrix must be square');
      const [m, m2] = rankOf(f(im!, 'heigh'), 2, 'heigh imaginary part');
      same(n!, m!, 'heigh parts');
      same(n!, m2!, 'heigh parts');
      return tupleT([tensorT([n!]), tensorT([n!, n!]), tensorT([n!, n!]), tensorT([n!]), intT, scalarT, scalarT]);
    },
  },
  // svd(A), thin, k = min(m, n) → (U: m×k, s: k descending, V: n×k, sweeps, converged, residual)
  svd: {
    arity: 1,
    regions: 0,
    type: ([a]) => {
      const [m, n] = rankOf(f(a!, 'svd'), 2, 'svd');
      const k = Dim.min(m!, n!);
      return tupleT([tensorT([m!, k]), tensorT([k]), tensorT([n!, k]), intT, scalarT, scalarT]);
    },
  },
  // householder(A): the reduced QR factorization A = Q R by Householder reflections, k = min(m, n)
  // → (Q: m×k with orthonormal columns, R: k×n upper triangular with diag(R) ≥ 0). Lowered by
  // the expand stage to the unblocked loops of compiler/solvers/spectral.ts (lowerHouseholder);
  // the grid model keeps it and runs blocked Householder QR (compact WY) instead.
  householder: {
    arity: 1,
    regions: 0,
    type: ([a]) => {
      const [m, n] = rankOf(f(a!, 'householder'), 2, 'householder');
      const k = Dim.min(m!, n!);
      return tupleT([tensorT([m!, k]), tensorT([k, n!], 'f', 'triu')]);
    },
  },
  // the matrix exponential of a square matrix (scaling and squaring, Padé 13)
  expm: {
    arity: 1,
    regions: 0,
    type: ([a]) => {
      const [n, n2] = rankOf(f(a!, 'expm'), 2, 'expm');
      same(n!, n2!, 'expm matrix must be square');
      return tensorT([n!, n!]);
    },
  },
  // f(S) = V f(Λ) Vᵀ of the symmetric part S of A (attrs.fn: 'sqrt' | 'invsqrt')
  symfun: {
    arity: 1,
    regions: 0,
    type: ([a], attrs) => {
      const [n, n2] = rankOf(f(a!, 'symfun'), 2, 'symfun');
      same(n!, n2!, 'symfun matrix must be square');
      if (attrs.fn !== 'sqrt' && attrs.fn !== 'invsqrt') throw new IrTypeError(`symfun: unknown function ${String(attrs.fn)}`);
      return tensorT([n!, n!]);
    },
  },
  // the orthogonal polar factor U Vᵀ of A = U Σ Vᵀ (m×n)
  polar: {
    arity: 1,
    regions: 0,
    type: ([a]) => tensorT(rankOf(f(a!, 'polar'), 2, 'polar')),
  },

  loop: {
    // args: lo, hi, carries...; region 0: (i, carries...) -> (carries'..., done?)
    // result: (carries..., iterations: int, converged: real)
    arity: 'var',
    regions: 1,
    type: (args) => {
      i32(args[0]!, 'loop lo');
      i32(args[1]!, 'loop hi');
      return tupleT([...args.slice(2), intT, scalarT]);
    },
  },
  opt: {
    // Declarative argmin/argmax. Types come from attrs.resultType (solution vars + status).
    arity: 'var',
    regions: 'var',
    type: (_a, attrs) => attrs.resultType as IrType,
  },
  root: {
    arity: 'var',
    regions: 'var',
    type: (_a, attrs) => attrs.resultType as IrType,
  },
  // A call of a function that has its own derivative rule (`fn … = body grad (dy) => x: …`).
  // args: the call's arguments; region 0: (params) → (results…, status values…), the body;
  // region 1: (params, results, cotangents) → one cotangent per target (attrs.targets: indices of
  // the params the rule differentiates). The body is inlined by the expand pass, after
  // differentiation has used the rule (compiler/diff/custom.ts).
  custom: {
    arity: 'var',
    regions: 2,
    type: (_a, attrs) => attrs.resultType as IrType,
  },
  proj: {
    arity: 1,
    regions: 0,
    type: ([t], attrs) => {
      if (t!.kind !== 'tuple') throw new IrTypeError('proj of a non-tuple');
      const e = t!.elems[numAttr(attrs, 'index')];
      if (!e) throw new IrTypeError('proj index out of range');
      return e;
    },
  },
  nograd: { arity: 1, regions: 0, type: ([a]) => a! },

  // Seeded random numbers (core/philox.ts): args key, stream (ints); attrs shape and dist
  // ('uniform': rand, [0, 1); 'normal': randn). Element e (row-major) is a function of Philox4x32-10
  // at counter (e, stream, kind, 0) and key (key, 0) only: no state, the same on every backend.
  rand: {
    arity: 2,
    regions: 0,
    type: ([k, s], attrs) => {
      i32(k!, 'rand key');
      i32(s!, 'rand stream');
      if (attrs.dist !== 'uniform' && attrs.dist !== 'normal') throw new IrTypeError(`rand: dist must be "uniform" or "normal", got ${String(attrs.dist)}`);
      return tensorT(dimsAttr(attrs, 'shape'));
    },
  },

  // A real branch (compiler/check/branches.ts): args c, captures…; region 0 (taken where c ≠ 0,
  // NaN included, as `select`) and region 1 (where c = 0) both take (captures…) as parameters and
  // give results of equal types; only the taken region is evaluated. The first attrs.nres results
  // are values; the rest carry status entries of solvers and loops inside the branches (the
  // other branch gives "did not run": 0 iterations, converged). Result: the tuple of the results.
  cond: {
    arity: 'var',
    regions: 2,
    type: (args, attrs, regions) => {
      const c = f(args[0]!, 'cond condition');
      if (c.shape.length !== 0) throw new IrTypeError('cond: the condition must be a real scalar');
      const caps = args.slice(1);
      const [r0, r1] = regions as [Region, Region];
      for (const r of [r0, r1]) {
        if (r.params.length !== caps.length) throw new IrTypeError(`cond: a region takes ${r.params.length} parameters for ${caps.length} captures`);
        r.params.forEach((p, i) => {
          // dtype and shape (structure tags may differ after a pass rebuilds a capture)
          if (!typeEquals(p.type, caps[i]!)) throw new IrTypeError(`cond: region parameter ${i} is ${typeKey(p.type)}, its capture ${typeKey(caps[i]!)}`);
        });
      }
      if (r0.results.length !== r1.results.length) throw new IrTypeError(`cond: the branches give ${r0.results.length} and ${r1.results.length} results`);
      const nres = numAttr(attrs, 'nres');
      if (nres < 0 || nres > r0.results.length) throw new IrTypeError('cond: nres out of range');
      return tupleT(
        r0.results.map((x, i) => {
          const a = tens(x.type, 'cond result');
          const b = tens(r1.results[i]!.type, 'cond result');
          if (a.dtype !== b.dtype || !shapeEquals(a.shape, b.shape)) throw new IrTypeError(`cond: result ${i} is ${a.dtype}${shapeToString(a.shape)} in one branch and ${b.dtype}${shapeToString(b.shape)} in the other`);
          return tensorT(a.shape, a.dtype, a.struct === b.struct ? a.struct : undefined);
        }),
      );
    },
  },
};

export { regionResultTypes };
