// Types of IR values. IR programs describe ONE problem instance: batching over leading
// dimensions is done by the backends (a loop on the CPU, a grid dimension on the GPU), so shapes
// here never mention the batch. Structure tags (sym, triu, ...) are hints that passes may use.

import { Dim, shapeEquals, shapeToString } from '../../core/dims.js';

export type Struct = 'general' | 'sym' | 'spd' | 'diag' | 'tril' | 'triu' | 'orth' | 'stiefel' | 'sphere';

export type DType = 'f' | 'i';

export interface TensorType {
  readonly kind: 'tensor';
  readonly dtype: DType;
  readonly shape: readonly Dim[];
  readonly struct?: Struct;
}

export interface TupleType {
  readonly kind: 'tuple';
  readonly elems: readonly IrType[];
}

export type IrType = TensorType | TupleType;

export function tensorT(shape: readonly Dim[], dtype: DType = 'f', struct?: Struct): TensorType {
  return struct && struct !== 'general' ? { kind: 'tensor', dtype, shape, struct } : { kind: 'tensor', dtype, shape };
}

export const scalarT: TensorType = tensorT([]);
export const intT: TensorType = tensorT([], 'i');

export function tupleT(elems: readonly IrType[]): TupleType {
  return { kind: 'tuple', elems };
}

export function typeEquals(a: IrType, b: IrType): boolean {
  if (a.kind === 'tensor' && b.kind === 'tensor') return a.dtype === b.dtype && shapeEquals(a.shape, b.shape);
  if (a.kind === 'tuple' && b.kind === 'tuple') return a.elems.length === b.elems.length && a.elems.every((e, i) => typeEquals(e, b.elems[i]!));
  return false;
}

export function typeToString(t: IrType): string {
  if (t.kind === 'tuple') return `(${t.elems.map(typeToString).join(', ')})`;
  const base = `${t.dtype}${shapeToString(t.shape)}`;
  return t.struct ? `${base}{${t.struct}}` : base;
}

export function typeKey(t: IrType): string {
  if (t.kind === 'tuple') return `(${t.elems.map(typeKey).join(',')})`;
  return `${t.dtype}[${t.shape.map((d) => d.key).join(';')}]${t.struct ?? ''}`;
}

export function rank(t: IrType): number {
  if (t.kind !== 'tensor') throw new Error('rank of a tuple');
  return t.shape.length;
}

export function isScalar(t: IrType): boolean {
  return t.kind === 'tensor' && t.shape.length === 0;
}

/** Number of elements, symbolically. */
export function numel(t: TensorType): Dim {
  return t.shape.reduce((a, d) => a.mul(d), Dim.const(1));
}
