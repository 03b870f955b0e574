// Empty dimensions (issue 10): every dimension may be 0 at run time, so a value that is only
// defined for a non-empty operand is guarded by the operand's size, in the IR itself (the same
// numbers on every backend). `ifNonEmpty` folds when the size is a constant.

import { Dim } from '../../core/dims.js';
import { type Builder, shapeOf } from './builder.js';
import type { Node } from './node.js';

/** The number of entries of a tensor, as a dimension. */
export function entries(x: Node): Dim {
  return shapeOf(x).reduce((n, d) => n.mul(d), Dim.const(1));
}

/** `value` where the dimension `d` is positive, else `otherwise` (selected, not blended: a
 *  non-finite unselected side does not leak). */
export function ifNonEmpty(b: Builder, d: Dim, value: Node, otherwise: Node): Node {
  const c = d.constValue();
  if (c !== undefined) return c > 0 ? value : otherwise;
  return b.select(b.binary('gt', b.itof(b.dim(d)), b.const(0)), value, otherwise);
}
