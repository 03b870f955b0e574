// Property: the simplifier (with solver expansion, the whole path from `lowered` to `forward`)
// preserves meaning. For random well-typed programs (test/gen/expr.ts), the CPU evaluator gives
// the same values on program.lowered(name) and on program.forward(name), to a relative 1e-10 of
// each output's magnitude, for `f` (reduced to a real) and `g` (the expression unreduced); and
// the same on vjpRaw/vjp and jvpRaw/jvp (random cotangents and tangents). A
// second property draws matrix chains of 3–5 factors of random shapes (which the simplifier
// re-associates by cost) and rank-1 patterns ((a bᵀ) c, (a bᵀ) C, C (a bᵀ)) at the top.
// Counterexamples print as source; MATC_PROPERTY_SEED / _RUNS / _TIME_MS as in property-diff.

import { test } from 'node:test';
import fc from 'fast-check';
import { compileProgram } from '../compiler/compile.js';
import type { Func } from '../compiler/ir/node.js';
import { printFunc } from '../compiler/ir/printer.js';
import { bindInputs } from '../runtime/bind.js';
import { runCpu } from '../runtime/cpu/backend.js';
import { Rng } from '../runtime/random.js';
import type { Tensor } from '../runtime/tensor.js';
import { specArb, type Spec } from './gen/expr.js';
import { allFinite, funcInputs, maxAbs, specInputs } from './gen/numeric.js';
import { assertProperty } from './gen/property.js';

const RUNS = Number(process.env.MATC_PROPERTY_RUNS ?? 300);
const SEED = Number(process.env.MATC_PROPERTY_SEED ?? 20240612);
const TIME_MS = Number(process.env.MATC_PROPERTY_TIME_MS ?? 5_000);
const TOL = 1e-10;

/** Every output of `f` before and after, to TOL of each output's magnitude. */
function compare(spec: Spec, what: string, before: Func, after: Func, inputs: Record<string, Tensor>): void {
  const a = runAll(before, inputs);
  for (const va of Object.values(a)) fc.pre(allFinite(va) && maxAbs(va) < 1e8);
  const b = runAll(after, inputs);
  for (const [k, va] of Object.entries(a)) {
    const vb = b[k]!;
    const scale = Math.max(1, maxAbs(va));
    for (let i = 0; i < va.length; i++) {
      if (!(Math.abs(va[i]! - vb[i]!) <= TOL * scale)) {
        throw new Error(
          `${what}: output ${k} differs at flat index ${i}: ${va[i]} before simplification, ${vb[i]} after\n` +
            `--- source (dims ${JSON.stringify(spec.dims)}):\n${spec.source}\n--- before:\n${printFunc(before)}\n--- after:\n${printFunc(after)}`,
        );
      }
    }
  }
}

function runAll(f: Func, inputs: Record<string, Tensor>): Record<string, Float64Array> {
  const out = runCpu(f, bindInputs(f, inputs)).outputs;
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, Float64Array.from(t.data)]));
}

function checkSpec(spec: Spec): void {
  const p = compileProgram(spec.source, { path: 'generated.mat', verify: true });
  const rng = new Rng(spec.seed);
  const x = specInputs(spec, rng);
  for (const name of p.names) {
    compare(spec, `${name} (forward)`, p.lowered(name), p.forward(name), x);
    // Derivative IR is larger and more varied (outer products, transposes, scatters): the
    // simplified VJP and JVP must agree with the raw ones, cotangents and tangents random.
    const vjpRaw = p.vjpRaw(name);
    compare(spec, `${name} (VJP)`, vjpRaw, p.vjp(name), { ...x, ...funcInputs(vjpRaw, spec.dims, rng, (q) => !(q in x)) });
    const jvpRaw = p.jvpRaw(name);
    compare(spec, `${name} (JVP)`, jvpRaw, p.jvp(name), { ...x, ...funcInputs(jvpRaw, spec.dims, rng, (q) => !(q in x)) });
  }
}

test('simplification preserves the values of random expressions', async () => {
  await assertProperty(fc.property(specArb(), checkSpec), { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: TIME_MS });
});

test('simplification preserves matrix chains and rank-1 products', async () => {
  await assertProperty(fc.property(specArb(undefined, 'product'), checkSpec), { numRuns: RUNS, seed: SEED + 1, interruptAfterTimeLimit: TIME_MS });
});

test('nested triangular parts fold: tril(triu(A), −1) = 0, triu(tril(A, 1), 2) = 0, tril(tril(A, 2), 0) = tril(A), triu(triu(A, −1), 1) = triu(A, 1)', async () => {
  const { compile } = await import('../api/module.js');
  const { Tensor } = await import('../runtime/tensor.js');
  const src = 'fn f(A: mat[n, n]) -> (Z1: mat[n, n], Z2: mat[n, n], L: mat[n, n], U: mat[n, n]) = (tril(triu(A), -1), triu(tril(A, 1), 2), tril(tril(A, 2), 0), triu(triu(A, -1), 1))\n';
  const opt = compileProgram(src, { path: 't.mat' }).stage('f', 'opt');
  const fwd = opt.slice(0, opt.indexOf('\nvjp'));
  if (/= (tril|triu) %\d+ \{"k":-?\d+\}\s*\n[^\n]*= (tril|triu) /.test(fwd)) throw new Error(`a nested triangular part is left:\n${fwd}`);
  if ((fwd.match(/= tril /g) ?? []).length !== 1 || (fwd.match(/= triu /g) ?? []).length !== 1) throw new Error(`expected one tril and one triu:\n${fwd}`);
  const n = 5;
  const data = Array.from({ length: n * n }, (_, i) => Math.cos(3.1 * i + 0.2));
  const out = (await compile(src, { path: 't.mat' }).fn('f').forward({ A: new Tensor([n, n], data) })).outputs;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const a = data[i * n + j]!;
      const want: Record<string, number> = { Z1: 0, Z2: 0, L: j <= i ? a : 0, U: j - i >= 1 ? a : 0 };
      for (const [k, v] of Object.entries(want)) if (out[k]!.data[i * n + j] !== v) throw new Error(`${k}[${i}, ${j}] = ${out[k]!.data[i * n + j]}, expected ${v}`);
    }
  }
});
