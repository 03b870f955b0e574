// Derivative checks of a function of one matrix A against central finite differences of its own
// forward in f64, along random directions, for both modes, and the duality ⟨ct, J v⟩ = ⟨Jᵀ ct, v⟩
// between them (test/spectral.test.ts, test/householder.test.ts).

import assert from 'node:assert/strict';
import type { CompiledFn } from '../../api/module.js';
import { Tensor } from '../../runtime/tensor.js';

/** ⟨ct, f(A)⟩ for the outputs with a cotangent. */
async function loss(fn: CompiledFn, A: Tensor, ct: Record<string, Tensor>): Promise<number> {
  const r = await fn.forward({ A });
  let s = 0;
  for (const [k, v] of Object.entries(ct)) for (let i = 0; i < v.size; i++) s += v.data[i]! * r.outputs[k]!.data[i]!;
  return s;
}

/** VJP and JVP against central differences (step h) along three random directions, with random
 *  cotangents (both drawn from `rnd`), and ⟨ct, J v⟩ against ⟨Jᵀ ct, v⟩. The VJP and JVP statuses
 *  must be ok. Returns the largest relative errors. */
export async function derivativeChecks(fn: CompiledFn, A: Tensor, rnd: () => number, h = 1e-6): Promise<{ vjp: number; jvp: number; dual: number }> {
  const base = await fn.forward({ A });
  const ct: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(base.outputs)) ct[k] = new Tensor(v.shape, Array.from({ length: v.size }, rnd));
  const g = await fn.vjp({ A }, ct);
  assert.ok(g.status.ok, `VJP status: ${g.status.warnings.join('; ')}`);
  let vjp = 0;
  let jvp = 0;
  let dual = 0;
  for (let d = 0; d < 3; d++) {
    const dir = new Tensor(A.shape, Array.from({ length: A.size }, rnd));
    const plus = new Tensor(A.shape, A.data.map((x, i) => x + h * dir.data[i]!));
    const minus = new Tensor(A.shape, A.data.map((x, i) => x - h * dir.data[i]!));
    const fd = ((await loss(fn, plus, ct)) - (await loss(fn, minus, ct))) / (2 * h);
    let an = 0;
    for (let i = 0; i < A.size; i++) an += g.gradients.A!.data[i]! * dir.data[i]!;
    const t = await fn.jvp({ A }, { A: dir });
    assert.ok(t.status.ok, `JVP status: ${t.status.warnings.join('; ')}`);
    let tj = 0;
    for (const [k, v] of Object.entries(ct)) for (let i = 0; i < v.size; i++) tj += v.data[i]! * t.tangents[k]!.data[i]!;
    const scale = Math.max(1, Math.abs(fd));
    vjp = Math.max(vjp, Math.abs(an - fd) / scale);
    jvp = Math.max(jvp, Math.abs(tj - fd) / scale);
    dual = Math.max(dual, Math.abs(tj - an) / Math.max(1, Math.abs(an)));
  }
  return { vjp, jvp, dual };
}
