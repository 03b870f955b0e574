// Gradient conventions for structured parameters. A function of a symmetric matrix is only
// defined on symmetric inputs, so its gradient is reported as the representer in that subspace:
// sym(G) for sym/spd, the masked triangle for tril/triu, the diagonal for diag. Manifold-typed
// parameters (sphere, stiefel, orth) keep the Euclidean gradient, which the caller may project.
// Complex parameters: herm(G) for Hermitian ones (herm, hpd); unitary ones keep the Euclidean
// gradient (∂L/∂Re + i ∂L/∂Im).

import { type Builder, tt } from '../ir/builder.js';
import type { Func } from '../ir/node.js';
import { gradientOf } from '../../core/derivative-names.js';
import { pack, unpackPart } from '../ir/complex-pack.js';

export function structuredGradients(b: Builder, f: Func): Func {
  const byName = new Map(f.params.map((p) => [p.name, p]));
  return {
    ...f,
    results: f.results.map((r) => {
      const of = gradientOf(r.name);
      if (of === null) return r;
      const p = byName.get(of);
      if (!p || p.node.type.kind !== 'tensor') return r;
      if (p.complex) {
        // a Hermitian parameter: herm(G) = sym(Re G) + i skew(Im G), the representer among
        // Hermitian matrices (complex.ts; G is packed)
        if (p.complex !== 'sym' && p.complex !== 'spd') return r;
        const gr = unpackPart(b, r.node, 0);
        const gi = unpackPart(b, r.node, 1);
        const sym = b.scale(0.5, b.add(gr, b.raw('transpose', [gr])));
        const skew = b.scale(0.5, b.sub(gi, b.raw('transpose', [gi])));
        return { ...r, node: pack(b, sym, skew) };
      }
      const st = tt(p.node).struct;
      let g = r.node;
      if (st === 'sym' || st === 'spd') g = b.scale(0.5, b.add(g, b.raw('transpose', [g])));
      else if (st === 'tril') g = b.tril(g);
      else if (st === 'triu') g = b.triu(g);
      else if (st === 'diag') g = b.diag(b.diagvec(g));
      return { ...r, node: g };
    }),
  };
}
