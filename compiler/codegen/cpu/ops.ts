// The rule table of the CPU code generator: for every IR op, how compiler/codegen/cpu/lower.ts
// treats it. A new op does not compile until it has an entry here (as in every other per-op
// table).

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
  param: 'special', const: 'view', eps: 'view', iconst: 'int', fill: 'remap', eye: 'remap', iota: 'remap', dim: 'int',
  iadd: 'int', isub: 'int', imul: 'int', imin: 'int', imax: 'int', idiv: 'int', imod: 'int',
  itof: 'view', ftoi: 'int',
  neg: 'view', exp: 'view', log: 'view', sqrt: 'view', abs: 'view', sign: 'view', sin: 'view', cos: 'view',
  tanh: 'view', sigmoid: 'view', not: 'view', half: 'view', bfloat: 'view',
  add: 'view', sub: 'view', mul: 'view', div: 'view', pow: 'view', maximum: 'view', minimum: 'view', atan2: 'view', hypot: 'view',
  lt: 'view', le: 'view', gt: 'view', ge: 'view', eq: 'view', ne: 'view', and: 'view', or: 'view',
  select: 'view',
  matmul: 'contraction', matvec: 'contraction', dot: 'reduction', outer: 'view', transpose: 'remap',
  einsum: 'contraction',
  sum: 'reduction', rmax: 'reduction', rmin: 'reduction', maxloc: 'int', minloc: 'int',
  diag: 'remap', diagvec: 'remap', tril: 'remap', triu: 'remap',
  reshape: 'remap', slice: 'remap', pad: 'remap', concat: 'special',
  index: 'view', setindex: 'view', getcol: 'remap', setcol: 'view', getrow: 'remap', setrow: 'view',
  solve: 'special', trisolve: 'special',
  // spectral ops are lowered to loops by the expand stage; the code generator refuses them
  eigh: 'special', svd: 'special', expm: 'special', symfun: 'special', polar: 'special', heigh: 'special', householder: 'special',
  loop: 'special', opt: 'special', root: 'special', custom: 'special', proj: 'special', nograd: 'remap',
  // an element expression of its flat index (Philox per element: heavy, so shared uses materialize)
  rand: 'view',
  // a real branch: an if/else over the two regions' statements
  cond: 'special',
};
