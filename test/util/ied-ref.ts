// References for IED, u* = argmax_{‖u‖=1} uᵀXu oriented so that 1ᵀu ≥ 0 (seeds-math §1.4–1.6),
// computed in float64 independently of matc (Jacobi eigen-decomposition from the oracle):
//   - the top eigenpair with PMaF's 'positive' sign rule;
//   - the classic closed-form VJP  dL/dX = sym((λI − X)⁺ v uᵀ)  (the symmetric representer, the
//     convention of test/fixtures/ied.json's gradients_closed_form);
//   - the eigen residual ‖Xu − λu‖.

import { dot, matvec, maxAbsDiff, norm, outer, pinvSymApply, relErr, sym, symEig, type Vec } from './dense.js';
import { Tensor } from '../../runtime/tensor.js';
import { f64, type IedCase } from '../oracles/fixtures.js';

export function topEigen(X: ArrayLike<number>, m: number): { lambda: number; u: Vec; gap: number; values: Vec } {
  const { values, vectorsT } = symEig(X, m);
  const u = Float64Array.from(vectorsT.subarray((m - 1) * m, m * m));
  let s = 0;
  for (const v of u) s += v;
  if (s < 0) for (let i = 0; i < m; i++) u[i] = -u[i]!;
  return { lambda: values[m - 1]!, u, gap: m > 1 ? values[m - 1]! - values[m - 2]! : Infinity, values };
}

/** sym((λI − X)⁺ v uᵀ) with λ = uᵀXu. */
export function iedClosedFormVjp(X: ArrayLike<number>, m: number, u: ArrayLike<number>, v: ArrayLike<number>): Vec {
  const lambda = dot(u, matvec(X, m, m, u));
  const L = new Float64Array(m * m);
  for (let i = 0; i < m * m; i++) L[i] = -X[i]!;
  for (let i = 0; i < m; i++) L[i * m + i]! += lambda;
  const y = pinvSymApply(L, m, v, 1e-10);
  return sym(outer(y, u), m);
}

/** ‖Xu − (uᵀXu)u‖. */
export function eigenResidual(X: ArrayLike<number>, m: number, u: ArrayLike<number>): number {
  const Xu = matvec(X, m, m, u);
  const lambda = dot(u, Xu);
  return norm(Xu.map((v, i) => v - lambda * u[i]!));
}

/** One top-1 case of the ied fixture (torch eigh autograd and the NumPy closed form) through an
 *  IED layer's VJP: its input and the errors of u and of the gradient against both references. */
export async function iedFixtureErrors(
  fn: { vjp(i: { X: Tensor }, c: { u: Tensor }): Promise<{ outputs: Record<string, Tensor>; gradients: Record<string, Tensor>; status: { ok: boolean; warnings: string[] } }> },
  c: IedCase,
): Promise<{ X: Tensor; B: number; m: number; ok: boolean; warnings: string[]; eu: number; eg: number; ec: number }> {
  const [B, m] = c.inputs.X!.shape as [number, number, number];
  const X = new Tensor([B, m, m], f64(c.inputs.X!));
  const out = await fn.vjp({ X }, { u: new Tensor([B, m], f64(c.cotangents.u!)) });
  return {
    X, B, m, ok: out.status.ok, warnings: out.status.warnings,
    eu: maxAbsDiff(out.outputs.u!.data, c.outputs.u!.data),
    eg: relErr(out.gradients.X!.data, c.gradients.X!.data),
    ec: relErr(out.gradients.X!.data, c.gradients_closed_form.X!.data),
  };
}
