// Numeric helpers shared by the property and round-trip tests: seeded inputs for generated specs
// and for arbitrary IR functions, inner products, and central finite differences.

import type { Func } from '../../compiler/ir/node.js';
import type { TensorType } from '../../compiler/ir/types.js';
import { Rng, randomComplexInstance, randomInstance } from '../../runtime/random.js';
import { Tensor } from '../../runtime/tensor.js';
import { evalDim, shapeDims, type Spec } from './expr.js';

/** Inputs scaled down so that exp, powers and products of a few factors stay moderate. */
export const INPUT_SCALE = 0.6;

export function specInputs(spec: Spec, rng: Rng): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const p of spec.params) {
    const shape = shapeDims(p.shape).map((d) => evalDim(d, spec.dims));
    out[p.name] = new Tensor(shape, rng.normals(shape.reduce((a, b) => a * b, 1)).map((x) => INPUT_SCALE * x));
  }
  return out;
}

/** A random direction over all inputs, of unit norm in total. */
export function direction(inputs: Record<string, Tensor>, rng: Rng): Record<string, Tensor> {
  const raw = Object.entries(inputs).map(([k, t]) => [k, rng.normals(t.size)] as const);
  const norm = Math.sqrt(raw.reduce((s, [, d]) => s + d.reduce((a, x) => a + x * x, 0), 0)) || 1;
  return Object.fromEntries(raw.map(([k, d]) => [k, new Tensor(inputs[k]!.shape, d.map((x) => x / norm))]));
}

export function axpy(x: Record<string, Tensor>, t: number, u: Record<string, Tensor>): Record<string, Tensor> {
  // inputs without a direction (int parameters, which are not differentiable) stay as they are
  return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, u[k] ? new Tensor(v.shape, v.data.map((xi, i) => xi + t * u[k]!.data[i]!)) : v]));
}

export function dotAll(a: Record<string, Tensor>, b: Record<string, Tensor>): number {
  let s = 0;
  for (const [k, t] of Object.entries(a)) {
    const u = b[k];
    if (!u) continue;
    for (let i = 0; i < t.data.length; i++) s += t.data[i]! * u.data[i]!;
  }
  return s;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

export const allFinite = (a: ArrayLike<number>): boolean => Array.prototype.every.call(a, (x: number) => Number.isFinite(x));

/**
 * Directional derivatives of `f` along the unit direction `u` by the five-point stencil
 * (−f(2h) + 8f(h) − 8f(−h) + f(−2h)) / 12h, for several steps: truncation error falls and
 * rounding error grows as h shrinks, so a correct derivative matches at least one of them to
 * high accuracy while a wrong one matches none.
 */
export async function fdEstimates(f: (t: number) => Promise<Float64Array | number[]>, steps = [1e-2, 1e-3, 1e-4]): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  for (const h of steps) {
    const [p2, p1, m1, m2] = await Promise.all([f(2 * h), f(h), f(-h), f(-2 * h)]);
    const est = new Float64Array(p1.length);
    for (let i = 0; i < est.length; i++) est[i] = (-p2[i]! + 8 * p1[i]! - 8 * m1[i]! + m2[i]!) / (12 * h);
    out.push(est);
  }
  return out;
}

/** max |a − b| / max(‖a‖∞, ‖b‖∞, floor) */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>, floor: number): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  if (d === 0) return 0;
  return d / Math.max(maxAbs(a), maxAbs(b), floor);
}

/** Concrete shapes and seeded values for an IR function's parameters (structure respected);
 *  `given` binds the named dimensions, the function's where-clauses the derived ones. */
export function funcInputs(f: Func, given: Record<string, number>, rng: Rng, which: (name: string) => boolean = () => true): Record<string, Tensor> {
  const dims = { ...given };
  for (const d of f.derivedDims) dims[d.name] = d.value.eval(dims);
  const out: Record<string, Tensor> = {};
  for (const p of f.params) {
    if (!which(p.name)) continue;
    const t = p.node.type as TensorType;
    const shape = t.shape.map((d) => {
      const v = d.eval(dims);
      if (!Number.isInteger(v) || v < 0) throw new Error(`${f.name}: dimension ${d} of ${p.name} is not bound by ${JSON.stringify(dims)}`);
      return v;
    });
    // an int parameter (a step counter of optimizer state) gets 0, its init value, without drawing
    // from rng (so the other inputs' values do not depend on whether a function has ints)
    // a complex parameter (packed (…, 2)) is drawn with its structure in the complex sense (unitary W)
    out[p.name] =
      t.dtype === 'i'
        ? new Tensor(shape, new Float64Array(shape.reduce((a, b) => a * b, 1)))
        : new Tensor(shape, p.complex ? randomComplexInstance(rng, shape.slice(0, -1), p.complex) : randomInstance(rng, shape, t.struct));
  }
  return out;
}
