// A function's signature as the runtime binds it: the executable's signature data
// (core/executable.ts) with its dimension texts read once into dimensions. An executable carries
// one; `signatureOf` makes one from an IR function (for the CPU reference run on IR directly:
// tests, gradient checks).

import { Dim, parseDim } from '../core/dims.js';
import type { FunctionKind, SignatureData, StatusKind } from '../core/executable.js';
import type { Func } from '../compiler/ir/node.js';
import type { TensorType } from '../compiler/ir/types.js';

export interface BoundParam {
  name: string;
  shape: readonly Dim[];
  struct?: string;
  default?: number;
  differentiable: boolean;
  /** an int value (an optimizer's int state): integers in, integers out */
  int?: boolean;
  /** a complex parameter (packed (…, 2)) and its structure in the complex sense ('orth' is
   *  unitary, 'sym' Hermitian, …): runtime/bind.ts checks it */
  complex?: string;
}

export interface Signature {
  readonly name: string;
  readonly kind: FunctionKind;
  readonly params: readonly BoundParam[];
  readonly results: readonly { name: string; shape: readonly Dim[]; int?: boolean }[];
  readonly intParams: readonly { name: string; default?: number }[];
  readonly derivedDims: readonly { name: string; value: Dim }[];
  readonly assertions: readonly { dim: Dim; message: string; code?: string }[];
  readonly status: readonly { name: string; kind: StatusKind; residual: boolean; estimate?: boolean }[];
}

export function parseSignature(d: SignatureData): Signature {
  const dims = (xs: readonly string[]) => xs.map((x) => parseDim(x));
  return {
    name: d.name,
    kind: d.kind,
    params: d.params.map((p) => ({ ...p, shape: dims(p.shape) })),
    results: d.results.map((r) => ({ name: r.name, shape: dims(r.shape), ...(r.int ? { int: true } : {}) })),
    intParams: d.intParams.map((p) => ({ ...p })),
    derivedDims: d.derivedDims.map((x) => ({ name: x.name, value: parseDim(x.value) })),
    assertions: d.assertions.map((a) => ({ dim: parseDim(a.dim), message: a.message, ...(a.code ? { code: a.code } : {}) })),
    status: d.status.map((s) => ({ ...s })),
  };
}

const cache = new WeakMap<Func, Signature>();

/** The signature of an IR function (its own dimensions, no text round trip). */
export function signatureOf(f: Func): Signature {
  let s = cache.get(f);
  if (!s) {
    s = {
      name: f.name,
      kind: f.kind,
      params: f.params.map((p) => {
        const t = p.node.type as TensorType;
        return { name: p.name, shape: t.shape, ...(t.struct ? { struct: t.struct } : {}), ...(p.default !== undefined ? { default: p.default } : {}), differentiable: p.differentiable, ...(t.dtype === 'i' ? { int: true } : {}), ...(p.complex ? { complex: p.complex } : {}) };
      }),
      results: f.results.map((r) => ({ name: r.name, shape: (r.node.type as TensorType).shape, ...((r.node.type as TensorType).dtype === 'i' ? { int: true } : {}) })),
      intParams: f.intParams,
      derivedDims: f.derivedDims,
      assertions: f.assertions ?? [],
      status: f.status.map((s) => ({ name: s.name, kind: s.kind, residual: s.residual !== undefined, ...(s.estimate ? { estimate: true } : {}) })),
    };
    cache.set(f, s);
  }
  return s;
}

/** The declared type as text: "mat[m, n]", "sym[m]", "real". */
export function paramTypeText(p: { shape: readonly Dim[]; struct?: string }): string {
  const r = p.shape.length;
  const kind = p.struct ?? (r === 0 ? 'real' : r === 1 ? 'vec' : r === 2 ? 'mat' : 'tensor');
  return r === 0 ? kind : `${kind}[${p.shape.map((d) => d.toString()).join(', ')}]`;
}
