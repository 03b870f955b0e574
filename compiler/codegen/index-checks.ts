// The integer operands of index operations that a code generator must range-check (issue 12: an
// index the checker could not prove in range is MATR107 on every backend, never a neighbouring
// value read with ok: true). Both generators (wgsl/instance.ts, cpu/lower.ts) enumerate them here
// and emit their own check.

import type { Dim } from '../../core/dims.js';
import type { Node } from '../ir/node.js';
import type { TensorType } from '../ir/types.js';

const shapeOf = (n: Node): readonly Dim[] => (n.type as TensorType).shape;

/** A check that needs no code: a constant index inside a constant bound. */
export function provablyInRange(i: Node, size: Dim): boolean {
  const c = size.constValue();
  if (i.op !== 'iconst' || c === undefined) return false;
  const v = i.attrs.value as number;
  return v >= 0 && v < c;
}

/** Calls `check(what, index, bound)` for every integer operand of n that indexes a dimension. */
export function forEachIndexCheck(n: Node, check: (what: string, i: Node, size: Dim) => void): void {
  const a = n.args;
  switch (n.op) {
    case 'index':
    case 'setindex': {
      const ints = n.op === 'index' ? a.slice(1) : a.slice(1, -1);
      ints.forEach((x, k) => check(n.op === 'index' ? 'an index' : 'set', x, shapeOf(a[0]!)[k]!));
      break;
    }
    case 'getcol':
    case 'setcol':
      check(n.op === 'getcol' ? 'a column index' : 'setcol', a[1]!, shapeOf(a[0]!)[1]!);
      break;
    case 'getrow':
    case 'setrow':
      check(n.op === 'getrow' ? 'a row index' : 'setrow', a[1]!, shapeOf(a[0]!)[0]!);
      break;
    default:
  }
}
