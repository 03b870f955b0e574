// The call status of an AOT call, with exactly the JIT API's wording and rules
// (compiler/module.ts `summarize`). It is a copy because compiler/module.ts imports the whole
// compiler; test/aot.test.ts feeds both the same statuses and fails when they drift apart.
// The right fix is to move `summarize` into the runtime and let compiler/module.ts import it.

import type { NodeStatus } from '../cpu/backend.js';
import type { Tensor } from '../tensor.js';

export interface CallStatus {
  /** false if a solver did not converge, a backward solve was singular or an output is not finite */
  ok: boolean;
  nodes: NodeStatus[];
  warnings: string[];
}

/** Summarizes statuses and checks outputs for non-finite values ("never a silent NaN"). */
export function summarize(nodes: NodeStatus[], outputs: Record<string, Tensor>, gradients: Record<string, Tensor> = {}): CallStatus {
  const warnings: string[] = [];
  for (const s of nodes) {
    const bad = s.converged.filter((c) => !c).length;
    if (bad > 0) {
      if (/(solve|inv|lstsq|tril_solve|triu_solve)@/.test(s.name)) {
        warnings.push(`${s.name}: the linear system is singular or nearly so (rcond ≤ 1e-10) in ${bad} of ${s.converged.length} instance(s); its result is unreliable`);
      } else if (s.name.endsWith('/curvature')) {
        warnings.push(`${s.name}: the solution is not a local minimum in ${bad} of ${s.converged.length} instance(s) (negative curvature along the constraint: the solver stopped at a saddle point or maximum)`);
      } else if (s.name.endsWith('/backward') || s.name.endsWith('/tangent')) {
        warnings.push(`${s.name}: the implicit backward system is singular or nearly so in ${bad} of ${s.converged.length} instance(s) (rcond ≤ 1e-13); gradients there are unreliable`);
      } else warnings.push(`${s.name}: did not converge in ${bad} of ${s.converged.length} instance(s) (iteration limit reached)`);
    }
  }
  for (const [what, group] of [['output', outputs], ['gradient', gradients]] as const) {
    for (const [name, t] of Object.entries(group)) {
      let n = 0;
      for (const v of t.data) if (!Number.isFinite(v)) n++;
      if (n > 0) warnings.push(`${what} ${name} has ${n} non-finite value(s)`);
    }
  }
  return { ok: warnings.length === 0, nodes, warnings };
}
