// The JavaScript rule table of the CPU code generator: for every IR op, how compiler/codegen/js/
// program.ts treats it, and the JS expression of elementwise ops. A new op does not compile until
// it has an entry here (as in every other per-op table).

import type { OpKind } from '../../ir/ops.js';

export type JsClass =
  /** element expression, fused into its consumers (materialized only when shared or heavy) */
  | 'view'
  /** pure index remapping of one operand: addressable (strided) when its operand is */
  | 'remap'
  /** written into a buffer by a routine or a loop nest (products, axis reductions, einsum) */
  | 'contraction'
  /** a whole-tensor reduction to a scalar */
  | 'reduction'
  /** integer scalar arithmetic */
  | 'int'
  /** its own emitter (loops, solves, concat, tuples, leaves) */
  | 'special';

export const jsClass: Record<OpKind, JsClass> = {
  param: 'special', const: 'view', iconst: 'int', fill: 'remap', eye: 'remap', iota: 'remap', dim: 'int',
  iadd: 'int', isub: 'int', imul: 'int', imin: 'int', imax: 'int', idiv: 'int', imod: 'int',
  itof: 'view',
  neg: 'view', exp: 'view', log: 'view', sqrt: 'view', abs: 'view', sign: 'view', sin: 'view', cos: 'view',
  tanh: 'view', sigmoid: 'view', not: 'view',
  add: 'view', sub: 'view', mul: 'view', div: 'view', pow: 'view', maximum: 'view', minimum: 'view',
  lt: 'view', le: 'view', gt: 'view', ge: 'view', eq: 'view', ne: 'view', and: 'view', or: 'view',
  select: 'view',
  matmul: 'contraction', matvec: 'contraction', dot: 'reduction', outer: 'view', transpose: 'remap',
  einsum: 'contraction',
  sum: 'reduction', rmax: 'reduction', rmin: 'reduction', maxloc: 'int', minloc: 'int',
  diag: 'remap', diagvec: 'remap', tril: 'remap', triu: 'remap',
  reshape: 'remap', slice: 'remap', pad: 'remap', concat: 'special',
  index: 'view', setindex: 'view', getcol: 'remap', setcol: 'view', getrow: 'remap', setrow: 'view',
  solve: 'special', trisolve: 'special',
  loop: 'special', opt: 'special', root: 'special', proj: 'special', nograd: 'remap',
};

/** A JS number literal (every double, ±∞ and NaN included). */
export function jsNum(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '(-Infinity)';
  if (Object.is(v, -0)) return '(-0)';
  const s = String(v);
  return v < 0 ? `(${s})` : s;
}

/** The JS of an elementwise op on formatted operands, with the reference's semantics
 *  (runtime/cpu/kernels.ts): comparisons give 0/1, `sign` of NaN is 0, `and`/`or` test ≠ 0. */
export function jsElementwise(op: OpKind, a: string[]): string {
  const [x, y, z] = a;
  switch (op) {
    case 'neg': return `(-${x})`;
    case 'exp': return `Math.exp(${x})`;
    case 'log': return `Math.log(${x})`;
    case 'sqrt': return `Math.sqrt(${x})`;
    case 'abs': return `Math.abs(${x})`;
    case 'sign': return `sgn(${x})`;
    case 'sin': return `Math.sin(${x})`;
    case 'cos': return `Math.cos(${x})`;
    case 'tanh': return `Math.tanh(${x})`;
    case 'sigmoid': return `sigm(${x})`;
    case 'not': return `(${x} === 0 ? 1 : 0)`;
    case 'add': return `(${x} + ${y})`;
    case 'sub': return `(${x} - ${y})`;
    case 'mul': return `(${x} * ${y})`;
    case 'div': return `(${x} / ${y})`;
    case 'pow': return `Math.pow(${x}, ${y})`;
    case 'maximum': return `Math.max(${x}, ${y})`;
    case 'minimum': return `Math.min(${x}, ${y})`;
    case 'lt': return `(${x} < ${y} ? 1 : 0)`;
    case 'le': return `(${x} <= ${y} ? 1 : 0)`;
    case 'gt': return `(${x} > ${y} ? 1 : 0)`;
    case 'ge': return `(${x} >= ${y} ? 1 : 0)`;
    case 'eq': return `(${x} === ${y} ? 1 : 0)`;
    case 'ne': return `(${x} !== ${y} ? 1 : 0)`;
    case 'and': return `(${x} !== 0 && ${y} !== 0 ? 1 : 0)`;
    case 'or': return `(${x} !== 0 || ${y} !== 0 ? 1 : 0)`;
    case 'select': return `(${x} !== 0 ? ${y} : ${z})`;
    default: throw new Error(`not an elementwise op: ${op}`);
  }
}

/** The JS of an integer op (floor division and a non-negative remainder, as the reference). */
export function jsIntOp(op: OpKind, x: string, y: string): string {
  switch (op) {
    case 'iadd': return `(${x} + ${y})`;
    case 'isub': return `(${x} - ${y})`;
    case 'imul': return `(${x} * ${y})`;
    case 'imin': return `Math.min(${x}, ${y})`;
    case 'imax': return `Math.max(${x}, ${y})`;
    case 'idiv': return `Math.floor(${x} / ${y})`;
    case 'imod': return `(((${x} % ${y}) + ${y}) % ${y})`;
    default: throw new Error(`not an int op: ${op}`);
  }
}
