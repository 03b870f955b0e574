// Gradient conventions for structured parameters. A function of a symmetric matrix is only
// defined on symmetric inputs, so its gradient is reported as the representer in that subspace:
// sym(G) for sym/spd, the masked triangle for tril/triu, the diagonal for diag. Manifold-typed
// parameters (sphere, stiefel, orth) keep the Euclidean gradient, which the caller may project.

import { type Builder, tt } from '../ir/builder.js';
import type { Func } from '../ir/node.js';
import { gradientOf } from '../../core/derivative-names.js';

export function structuredGradients(b: Builder, f: Func): Func {
  const byName = new Map(f.params.map((p) => [p.name, p]));
  return {
    ...f,
    results: f.results.map((r) => {
      const of = gradientOf(r.name);
      if (of === null) return r;
      const p = byName.get(of);
      if (!p || p.node.type.kind !== 'tensor') return r;
      const st = tt(p.node).struct;
      let g = r.node;
      if (st === 'sym' || st === 'spd') g = b.scale(0.5, b.add(g, b.raw('transpose', [g])));
      else if (st === 'tril') g = b.tril(g);
      else if (st === 'triu') g = b.triu(g);
      else if (st === 'diag') g = b.diag(b.diagvec(g));
      return { name: r.name, node: g };
    }),
  };
}
