// Gradient checking: the VJP against central finite differences in f64 along random directions
// that respect each input's structure (tangent directions for manifold-typed inputs). Solvers
// inside the function are run to tight tolerances for the check, because a finite difference of
// an iterative solver measures the solver's tolerance, not the derivative.

import { CompiledFn, Module } from './module.js';
import { MatcRuntimeError } from '../core/errors.js';
import { checkOptions, isPositive, isRecord, type OptionSpec } from '../core/option-check.js';
import { describeValue } from '../core/describe-value.js';
import { compileProgram } from '../compiler/compile.js';
import { Tensor } from '../runtime/tensor.js';
import { Rng, structuredDirection } from '../runtime/random.js';
import type { InputValue } from '../runtime/bind.js';
import type { Struct, TensorType } from '../compiler/ir/types.js';

export interface GradCheckResult {
  maxRelErr: number;
  ok: boolean;
  tolerance: number;
  directions: { analytic: number; numeric: number; relErr: number }[];
}

export interface GradCheckOptions {
  seed?: number;
  directions?: number;
  eps?: number;
  tolerance?: number;
  cotangents?: Record<string, Tensor>;
  dims?: Record<string, number>;
}

const GRADCHECK_OPTIONS: Record<string, OptionSpec> = {
  seed: { what: 'an integer', ok: (v) => Number.isInteger(v) },
  directions: { what: 'a whole number of directions, 1 or more', ok: (v) => Number.isInteger(v) && (v as number) >= 1 },
  eps: { what: 'a positive step', ok: isPositive },
  tolerance: { what: 'a positive tolerance', ok: isPositive },
  cotangents: { what: 'an object {output: Tensor}', ok: isRecord },
  dims: { what: 'an object {name: integer}', ok: isRecord },
};

function dotAll(a: Record<string, Tensor>, b: Record<string, Tensor>): number {
  let s = 0;
  for (const [k, t] of Object.entries(a)) {
    const u = b[k];
    if (!u) continue;
    for (let i = 0; i < t.data.length; i++) s += t.data[i]! * u.data[i]!;
  }
  return s;
}

/** A tightly-converging copy of the function's module for finite differences. */
export function tightModule(fn: CompiledFn): Module {
  const p = fn.module.program;
  return new Module(compileProgram(p.main.text, { ...p.options, path: p.main.path, solverOptions: { ...(p.options.solverOptions ?? {}), tol: 1e-13, max_iter: 5000, refine: 4 } }));
}

export async function gradCheck(fn: CompiledFn, inputs: Record<string, InputValue>, opts: GradCheckOptions = {}): Promise<GradCheckResult> {
  if (!(fn instanceof CompiledFn)) throw new MatcRuntimeError('MATR117', `gradCheck: the function must be a CompiledFn (module.fn(name)), got ${describeValue(fn)}`);
  checkOptions('MATR117', 'gradCheck', 'the options', opts, GRADCHECK_OPTIONS);
  const rng = new Rng((opts.seed ?? 1) + 7919);
  const eps = opts.eps ?? 1e-6;
  const tolerance = opts.tolerance ?? 1e-6;
  const tight = tightModule(fn).fn(fn.name);
  const dimOpt = opts.dims ? { dims: opts.dims } : {};
  const bind = tight.bind(inputs, dimOpt);
  const base = await tight.forward(inputs, dimOpt);
  const cot: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(base.outputs)) cot[k] = opts.cotangents?.[k] ?? new Tensor(t.shape, rng.normals(t.size));
  const v = await tight.vjp(inputs, cot, dimOpt);
  const directions: GradCheckResult['directions'] = [];
  // ‖g‖ restricted to the directions used (structured subspaces), for the error floor
  let gnorm = 0;
  for (const t of Object.values(v.gradients)) for (const x of t.data) gnorm += x * x;
  gnorm = Math.sqrt(gnorm);
  for (let d = 0; d < (opts.directions ?? 4); d++) {
    const plus: Record<string, InputValue> = {};
    const minus: Record<string, InputValue> = {};
    const dir: Record<string, Tensor> = {};
    let norm2 = 0;
    for (const inp of bind.inputs) {
      const t = inp.tensor;
      if (!inp.param.differentiable || !v.gradients[inp.param.name]) {
        plus[inp.param.name] = t;
        minus[inp.param.name] = t;
        continue;
      }
      const size = inp.shape.reduce((a, b) => a * b, 1);
      const raw = rng.normals(t.size);
      const st = inp.param.struct as Struct | undefined;
      const out = new Float64Array(t.size);
      for (let b = 0; b * size < t.size; b++) {
        const seg = structuredDirection(raw.subarray(b * size, (b + 1) * size), t.data.subarray(b * size, (b + 1) * size) as Float64Array, inp.shape, st);
        out.set(seg, b * size);
      }
      for (const x of out) norm2 += x * x;
      dir[inp.param.name] = new Tensor(t.shape, out);
    }
    const scale = 1 / Math.sqrt(norm2 || 1);
    for (const [k, t] of Object.entries(dir)) {
      const base = bind.inputs.find((i) => i.param.name === k)!.tensor;
      const p = new Float64Array(t.size);
      const m = new Float64Array(t.size);
      for (let i = 0; i < t.size; i++) {
        t.data[i]! *= scale;
        p[i] = base.data[i]! + eps * t.data[i]!;
        m[i] = base.data[i]! - eps * t.data[i]!;
      }
      plus[k] = new Tensor(t.shape, p);
      minus[k] = new Tensor(t.shape, m);
    }
    const fp = await tight.forward(plus, dimOpt);
    const fm = await tight.forward(minus, dimOpt);
    const numeric = (dotAll(fp.outputs, cot) - dotAll(fm.outputs, cot)) / (2 * eps);
    const analytic = dotAll(v.gradients, dir);
    // Relative to the directional derivative, floored at a tenth of the gradient's norm: a random
    // direction nearly orthogonal to the gradient would otherwise measure only rounding noise.
    const relErr = Math.abs(analytic - numeric) / Math.max(Math.abs(analytic), Math.abs(numeric), 0.1 * gnorm, 1e-12);
    directions.push({ analytic, numeric, relErr });
  }
  const maxRelErr = Math.max(...directions.map((x) => x.relErr));
  return { maxRelErr, ok: maxRelErr < tolerance, tolerance, directions };
}
