// The signature data of an IR function (core/executable.ts): parameters, results, dimensions,
// assertions and status entries as dimension texts, which executables carry and runtimes read
// back (runtime/signature.ts) without the IR.

import type { Dim } from '../core/dims.js';
import type { SignatureData } from '../core/executable.js';
import type { Func } from './ir/node.js';
import type { TensorType } from './ir/types.js';

/** The signature data of an IR function (dimension texts), as executables carry it. */
export function signatureData(f: Func): SignatureData {
  const texts = (xs: readonly Dim[]) => xs.map((x) => x.toString());
  return {
    name: f.name,
    kind: f.kind,
    params: f.params.map((p) => {
      const t = p.node.type as TensorType;
      return {
        name: p.name,
        shape: texts(t.shape),
        ...(t.struct ? { struct: t.struct } : {}),
        ...(p.default !== undefined ? { default: p.default } : {}),
        differentiable: p.differentiable,
        ...(t.dtype === 'i' ? { int: true } : {}),
        ...(p.complex ? { complex: p.complex } : {}),
      };
    }),
    results: f.results.map((r) => ({ name: r.name, shape: texts((r.node.type as TensorType).shape), ...((r.node.type as TensorType).dtype === 'i' ? { int: true } : {}) })),
    intParams: f.intParams.map((p) => ({ name: p.name, ...(p.default !== undefined ? { default: p.default } : {}) })),
    derivedDims: f.derivedDims.map((d) => ({ name: d.name, value: d.value.toString() })),
    assertions: (f.assertions ?? []).map((a) => ({ dim: a.dim.toString(), message: a.message, ...(a.code ? { code: a.code } : {}) })),
    status: f.status.map((s) => ({ name: s.name, kind: s.kind, residual: s.residual !== undefined, ...(s.estimate ? { estimate: true } : {}) })),
  };
}

