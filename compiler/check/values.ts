// What an expression elaborates to: an IR node plus the checker's extra facts (vector
// orientation, structure, static dimension value of an integer), a tuple, a string, a numeric
// literal whose int/real nature is decided by its use, or poison after an error (which
// silences follow-on diagnostics).

import type { Dim } from '../../core/dims.js';
import type { Node } from '../ir/node.js';
import type { Struct } from '../ir/types.js';
import type { Span } from '../source.js';
import { shapeOf } from '../ir/builder.js';
import { shapeToString } from '../../core/dims.js';

export type Val =
  | { k: 'arr'; node: Node; struct: Struct; row: boolean }
  /** a complex value (compiler/check/complex.ts): its real and imaginary parts as real IR nodes
   *  of one shape. Structure names read in the complex sense: sym = Hermitian, spd = Hermitian
   *  positive definite, orth = unitary, stiefel = orthonormal columns; a value whose imaginary part
   *  is known to be zero is never a 'cx' (it is the real 'arr') */
  | { k: 'cx'; re: Node; im: Node; struct: Struct; row: boolean }
  | { k: 'int'; node: Node; dim?: Dim }
  | { k: 'lit'; value: number; isInt: boolean; span: Span }
  | { k: 'tuple'; elems: Val[] }
  /** a compile-time collection (collections.ts): elements of their own shapes */
  | { k: 'list'; elems: Val[] }
  | { k: 'string'; value: string }
  | { k: 'error' };

export const poison: Val = { k: 'error' };

export function arr(node: Node, struct: Struct = 'general', row = false): Val {
  return { k: 'arr', node, struct, row };
}

export function describeVal(v: Val): string {
  switch (v.k) {
    case 'arr': {
      const s = shapeOf(v.node);
      if (s.length === 0) return 'real';
      if (s.length === 1) return `${v.row ? 'row vector' : 'vec'}${shapeToString(s)}`;
      if (s.length === 2) return `${v.struct !== 'general' ? v.struct : 'mat'}${shapeToString(s)}`;
      return `tensor${shapeToString(s)}`;
    }
    case 'cx': {
      const s = shapeOf(v.re);
      if (s.length === 0) return 'complex';
      if (s.length === 1) return `${v.row ? 'complex row vector' : 'cvec'}${shapeToString(s)}`;
      if (s.length === 2) return `${v.struct !== 'general' ? complexStructName(v.struct) : 'cmat'}${shapeToString(s)}`;
      return `ctensor${shapeToString(s)}`;
    }
    case 'int':
      return 'int';
    case 'lit':
      return v.isInt ? 'int literal' : 'real literal';
    case 'tuple':
      return `(${v.elems.map(describeVal).join(', ')})`;
    case 'list':
      return v.elems.length <= 4 ? `a collection [${v.elems.map(describeVal).join(', ')}]` : `a collection of ${v.elems.length} elements`;
    case 'string':
      return 'string';
    case 'error':
      return '<error>';
  }
}

/** Short form for labels: "[m, n]" for arrays, the kind otherwise. */
export function shapeLabel(v: Val): string {
  if (v.k === 'arr') {
    const s = shapeOf(v.node);
    return s.length === 0 ? 'a scalar' : shapeToString(s);
  }
  if (v.k === 'cx') {
    const s = shapeOf(v.re);
    return s.length === 0 ? 'a complex scalar' : `complex ${shapeToString(s)}`;
  }
  return describeVal(v);
}

/** The complex reading of a structure tag: sym → herm, spd → hpd, orth → unitary. */
export function complexStructName(s: Struct): string {
  return s === 'sym' ? 'herm' : s === 'spd' ? 'hpd' : s === 'orth' ? 'unitary' : s === 'stiefel' ? 'cstiefel' : s === 'sphere' ? 'csphere' : s;
}
