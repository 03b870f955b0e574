// The packed form of a complex value at a function boundary (compiler/check/complex.ts): one real
// tensor whose trailing axis of 2 holds (re, im) — numpy's complex128 / torch.view_as_real
// layout — and its parts as views.

import { Dim, shapeEquals } from '../../core/dims.js';
import { type Builder, shapeOf } from './builder.js';
import type { Node } from './node.js';
import { type TensorType, tensorT } from './types.js';

/** The IR type of a complex parameter or result with parts of type `t`: a trailing axis of 2. */
export function packedType(t: TensorType): TensorType {
  return tensorT([...t.shape, Dim.const(2)]);
}

/** Part k (0: re, 1: im) of a packed tensor (shape …, 2). */
export function unpackPart(b: Builder, z: Node, k: 0 | 1): Node {
  const sh = shapeOf(z);
  const s = sh.slice(0, -1);
  // pack ∘ unpack: the part itself
  if (z.op === 'concat' && z.args.length === 2 && z.attrs.axis === s.length) {
    const p = z.args[k]!;
    if (p.op === 'reshape' && shapeEquals(shapeOf(p.args[0]!), s)) return p.args[0]!;
  }
  const start = [...s.map(() => Dim.const(0)), Dim.const(k)];
  return b.reshape(b.slice(z, start, [...s, Dim.const(1)]), s);
}

/** The packed form (…, 2) of a value's parts. */
export function pack(b: Builder, re: Node, im: Node | null): Node {
  const s = shapeOf(re);
  const one = [...s, Dim.const(1)];
  return b.concat([b.reshape(re, one), b.reshape(im ?? b.zeros(s), one)], s.length);
}

