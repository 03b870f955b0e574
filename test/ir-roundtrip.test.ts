// The IR text is a complete view of the IR: for every function of every stdlib spec and of the
// hand-written specs below, at stages lower, diff (the VJP before solver expansion), jvp and opt
// (expanded and simplified forward and VJP):
//   1. print(parse(print(f))) === print(f);
//   2. the verifier accepts the parsed function;
//   3. the CPU evaluator gives the same outputs and statuses on random inputs for the parsed
//      function and the original (declarative nodes are expanded into solver loops in both
//      first, since the evaluator runs loops, not argmin/solve nodes).
// The same for random programs from the expression generator (compound and constant dimensions,
// every builtin it writes).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileProgram, type Program } from '../compiler/compile.js';
import { Builder } from '../compiler/ir/builder.js';
import { Graph, reachable, type Func } from '../compiler/ir/node.js';
import { isSpectral } from '../compiler/ir/ops.js';
import { parseFunc } from '../compiler/ir/parser.js';
import { printFunc } from '../compiler/ir/printer.js';
import { verifyFunc } from '../compiler/ir/verifier.js';
import { simplifyFunc } from '../compiler/opt/simplify.js';
import { expandFunc } from '../compiler/solvers/expand.js';
import { bindInputs } from '../runtime/bind.js';
import { runCpu, type RawResult } from '../runtime/cpu/backend.js';
import { Rng } from '../runtime/random.js';
import { specArb } from './gen/expr.js';
import { funcInputs } from './gen/numeric.js';
import { assertProperty } from './gen/property.js';
import { repoRoot, stdlibFiles } from './gen/paths.js';
import { SHAPED_AND_SGD } from './util/specs.js';

/** Hand-written specs for what the stdlib does not (yet) reach: loops, declarative nodes of
 *  every kind, tuples, slices, blocks, einsum, triangular solves, optimizers. */
const handWritten: Record<string, string> = {
  'loops.mat': `
// power-like iteration with an until, a reverse loop and tuple carries (forward mode only)
fn powit(X: sym[n], v: vec[n]) -> u: vec[n] =
  iterate (u = normalize(v)) for i in 0..50 =>
    let w = X * u + 3 * u in normalize(w) until norm(w - u) < 1e-9

fn twocarry(A: mat[m, n], x: vec[n]) -> (s: real, y: vec[n]) =
  iterate (s = 0, y = x) for k in reverse 0..4 =>
    let z = A' * (A * y) / (1 + sumsq(y)) in (s + sum(z), y - 0.1 * z)
`,
  'shapes.mat': `
fn slices(A: mat[m, n], x: vec[n]) -> real =
  let B = A[0:2, :], c = A[:, 1], r = A[1, :], e = A[0, 1], y = x[1:3] in
    sumsq(B) + dot(c, c) + r * x + e + sum(y)

fn blocks(A: mat[m, n], b: vec[m]) -> mat[m + 1, n + 1] =
  [A, b; b' * A, 1]

fn contract(A: mat[m, n], B: mat[n, k], T: tensor[m, n, k]) -> real =
  einsum("ij,jk,ijk->", A, B, T) + sum(einsum("ijk->ik", T))

fn tri(L: tril[n], b: vec[n], C: mat[n, n]) -> vec[n] =
  tril_solve(L + 3 * eye(n), b) + triu_solve(triu(C) + 4 * eye(n), b) + inv(C * C' + eye(n)) * b + lstsq(C + 3 * eye(n), b)
    + solve(C * C' + 2 * eye(n), b) + tril(C, -1) * b

fn pick(x: vec[n], c: real) -> vec[n] =
  if c > 0 then sin(x) .* cos(x) else tanh(x) + sigmoid(x)

fn infs(x: vec[n]) -> real =
  min(sum(x), inf) + max(-inf, sum(x))
${SHAPED_AND_SGD}`,
  'declarative.mat': `
fn eqc(A: mat[m, n], b: vec[m]) -> x: vec[n] =
  argmin x: vec[n] of 0.5 * sumsq(A * x - b) + 0.5 * sumsq(x) subject to sum(x) == 1 by newton(tol: 1e-12)

fn rootf(A: spd[n], b: vec[n]) -> y: vec[n] =
  solve y: vec[n] such that A * y + 0.1 * y .^ 3 == b init zeros(n) by newton(tol: 1e-12, max_iter: 50)

fn pair(A: spd[n], b: vec[n], c: vec[n]) -> (y: vec[n], z: vec[n]) =
  solve y: vec[n], z: vec[n] such that A * y - z == b, z + 0.1 * y .^ 3 == c
    init (zeros(n), zeros(n)) by newton(tol: 1e-12)

fn eigtop(X: sym[m]) -> u: sphere[m] =
  argmax u: sphere[m] of u' * X * u
    by power_iteration(max_iter: 200, tol: 1e-10)
    orient sum(u) >= 0

fn ridge(A: mat[m, n], b: vec[m], lam: real = 0.5) -> x: vec[n] =
  argmin x: vec[n] of 0.5 * sumsq(A * x - b) + 0.5 * lam * sumsq(x)
    by gradient_descent(tol: 1e-10, max_iter: 200)
    grad (dx) => b: A * solve_ridge(A, lam, dx)

fn solve_ridge(A: mat[m, n], lam: real, r: vec[n]) -> vec[n] =
  inv(A' * A + lam * eye(n)) * r
`,
};

/** Dimension values for evaluation: large enough for the slices above (x[1:3], A[0:2, :]). */
const DIMS: Record<string, number> = { m: 4, n: 3, k: 2, p: 3, d: 12, d1: 3, d2: 2, r: 2, c: 2 };
/** Per-file overrides where a file's functions need more: projunn.mat reads M[0:p, p:2p]
 *  (projunn_corner), takes bases of N × 2k (2k ≤ N) and halves N (henaff_init). */
const FILE_DIMS: Record<string, Record<string, number>> = { 'projunn.mat': { m: 6, n: 4 } };

interface Stage {
  stage: string;
  make: (p: Program, name: string) => Func;
}

const stages: Stage[] = [
  { stage: 'lower', make: (p, n) => p.lowered(n) },
  { stage: 'diff', make: (p, n) => simplifyFunc(p.b, p.vjpRaw(n)) },
  { stage: 'jvp', make: (p, n) => simplifyFunc(p.b, p.jvpRaw(n)) },
  { stage: 'opt', make: (p, n) => p.forward(n) },
  { stage: 'opt-vjp', make: (p, n) => p.vjp(n) },
];

function hasDeclarative(f: Func): boolean {
  const roots = [...f.results.map((r) => r.node), ...f.status.flatMap((s) => [s.iterations, s.converged, ...(s.residual ? [s.residual] : [])])];
  // declarative nodes and spectral ops are lowered by the expand stage before they can run
  // (and so are calls of functions with a grad rule, `custom` nodes)
  return reachable(roots).some((n) => n.op === 'opt' || n.op === 'root' || n.op === 'custom' || isSpectral(n.op));
}

/** Runs f; int parameters take the defaults of `original` (the printed IR does not carry them, so
 *  the parsed copy is run with the original's values: `seed: int = 0` of stdlib/sttp.mat). */
function evaluate(b: Builder, f: Func, original: Func = f, file = ''): RawResult {
  const g = hasDeclarative(f) ? expandFunc(b, f, { overrides: {} }) : f;
  const base = { ...DIMS, ...FILE_DIMS[file] };
  const dims = Object.fromEntries(original.intParams.map((ip) => [ip.name, ip.default ?? base[ip.name] ?? 2]));
  // drawn from the original's parameters: printed IR does not carry a complex parameter's
  // structure (a unitary W is drawn unitary for both copies)
  const inputs = funcInputs(original, { ...base, ...dims }, new Rng(7));
  return runCpu(g, bindInputs(g, inputs, { dims }));
}

function sameValues(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    assert.ok(Math.abs(x - y) <= 1e-12 * Math.max(1, Math.abs(x)), `${what}[${i}]: ${x} (original) vs ${y} (parsed)`);
  }
}

function roundTrip(file: string, source: string): void {
  const p = compileProgram(source, { path: file, verify: true });
  for (const name of p.names) {
    for (const { stage, make } of stages) {
      const f: Func = make(p, name);
      const where = `${file} ${name} @${stage}`;
      const text = printFunc(f);
      const g = new Graph();
      const q = parseFunc(text, g);
      assert.equal(printFunc(q), text, `${where}: print(parse(print(f))) differs`);
      verifyFunc(q);
      const before = evaluate(p.b, f, f, file);
      const after = evaluate(new Builder(g), q, f, file);
      for (const r of f.results) sameValues(before.outputs[r.name]!.data, after.outputs[r.name]!.data, `${where} ${r.name}`);
      before.status.forEach((s, i) => {
        sameValues(s.iterations, after.status[i]!.iterations, `${where} status ${s.name} iterations`);
        assert.deepEqual(s.converged, after.status[i]!.converged, `${where} status ${s.name} converged`);
      });
    }
  }
}

for (const file of stdlibFiles()) {
  test(`IR round trip: stdlib/${file}`, () => roundTrip(file, readFileSync(join(repoRoot, 'stdlib', file), 'utf8')));
}

for (const [file, source] of Object.entries(handWritten)) {
  test(`IR round trip: ${file} (hand-written)`, () => roundTrip(file, source));
}

test('IR round trip: random programs (test/gen/expr.ts)', async () => {
  await assertProperty(
    fc.property(specArb(), (spec) => roundTrip('generated.mat', spec.source)),
    { numRuns: Number(process.env.MATC_PROPERTY_RUNS ?? 120), seed: Number(process.env.MATC_PROPERTY_SEED ?? 20240614), interruptAfterTimeLimit: Number(process.env.MATC_PROPERTY_TIME_MS ?? 3_000) },
  );
});
