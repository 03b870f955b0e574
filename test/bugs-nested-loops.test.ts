// Issue 10, bug 1: forward mode through three nested `iterate` loops dropped the innermost body.
// Root cause (compiler/ir/node.ts `substitute`): when the JVP loop rule instantiates a loop body
// with fresh carries, a loop nested two levels deep inside it was rebuilt (its operand, the
// middle loop's carry, was renamed) but kept its own region parameters, because "dirty" only
// followed operands and region results, never "a parameter of a region whose owner is rebuilt".
// Two loop nodes then shared one region; scopes() placed the body under one of them, and the
// other printed `yield %8` with %8 defined later ("%8 is used before it is defined"). Also: `matc
// ir --stage` now verifies what it prints (it printed the broken IR and exited 0).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compile, type CompiledFn } from '../api/module.js';
import { compileProgram } from '../compiler/compile.js';
import { InternalError } from '../core/errors.js';
import { Graph, inlineRegion, substitute, type Node } from '../compiler/ir/node.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { Tensor } from '../runtime/tensor.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { repoRoot } from './gen/paths.js';

after(releaseSharedGpu);

// the reproducer, verbatim
const THREE =
  'fn three(A: mat[n, n]) -> mat[n, n] = iterate (X = A) for s in 0..2 => let Y = iterate (Y = X) for p in 0..n => let Z = iterate (Z = Y) for q in 0..n => 0.5 * Z * Z in Z in Y\n';

// better conditioned, with captured values used at every depth (their tangents enter each
// nested JVP loop as constants of its iteration), and four levels
const NESTED = `
fn nest3(A: mat[n, n], B: mat[n, n], c: vec[n]) -> vec[n] =
  iterate (x = c) for s in 0..2 =>
    let y = iterate (y = x) for p in 0..n =>
      let z = iterate (z = y) for q in 0..2 => tanh(A * z + B[:, q] * (0.5 * y[p]))
      in 0.5 * z + 0.25 * x
    in y + 0.1 * (B' * y)

fn nest4(A: mat[n, n], c: vec[n]) -> vec[n] =
  iterate (w = c) for a in 0..2 =>
    let x = iterate (x = w) for s in 0..2 =>
      let y = iterate (y = x) for p in 0..2 =>
        let z = iterate (z = y) for q in 0..2 => sin(A * z) + 0.3 * w
        in z
      in y
    in 0.5 * x
`;

function rnd(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function tensor(shape: number[], r: () => number, scale = 1, base?: (i: number) => number): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return new Tensor(shape, Array.from({ length: size }, (_, i) => (base ? base(i) : 0) + scale * r()));
}

/** Central differences of the f64 forward along the tangents, against the JVP's tangents. */
async function checkJvp(fn: CompiledFn, inputs: Record<string, Tensor>, tangents: Record<string, Tensor>, tol: number, opts: { backend?: CpuBackend | WebGpuBackend } = {}): Promise<void> {
  const h = 1e-6;
  const shift = (sgn: number) => Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, new Tensor([...v.shape], Array.from(v.data, (x, i) => x + sgn * h * (tangents[k]?.data[i] ?? 0)))]));
  const fp = (await fn.forward(shift(1))).outputs.out!;
  const fm = (await fn.forward(shift(-1))).outputs.out!;
  const fd = Array.from(fp.data, (x, i) => (x - fm.data[i]!) / (2 * h));
  const r = await fn.jvp(inputs, tangents, opts);
  const jt = r.tangents.out!;
  assert.ok(r.status.ok, 'the JVP reports ok');
  assert.deepEqual([...jt.shape], [...fp.shape]);
  const scale = Math.max(1e-3, ...fd.map(Math.abs));
  fd.forEach((d, i) => assert.ok(Math.abs(jt.data[i]! - d) <= tol * scale, `tangent ${i}: JVP ${jt.data[i]} vs finite differences ${d}`));
  // and the primal of the JVP is the forward's value
  const f0 = (await fn.forward(inputs)).outputs.out!;
  r.outputs.out!.data.forEach((v, i) => assert.ok(Math.abs(v - f0.data[i]!) <= tol * Math.max(1, Math.abs(f0.data[i]!)), `output ${i}`));
}

test('the reproducer: the JVP of three nested iterates verifies, compiles and matches finite differences', async () => {
  const m = compile(THREE, { path: 'three.mat', verify: true });
  const fn = m.fn('three');
  // verify: true runs the IR verifier after every pass (it failed: a region parameter bound twice)
  m.program.jvp('three');
  assert.doesNotThrow(() => m.program.stage('three', 'jvp'));
  const r = rnd(7);
  // near the fixed point 2I of Z ← Z²/2, where 8 squarings neither vanish nor overflow
  const A = tensor([2, 2], r, 1e-3, (i) => (i % 3 === 0 ? 2 : 0));
  const dA = tensor([2, 2], r);
  for (const backend of [new CpuBackend({ reference: true, threads: 1 }), new CpuBackend({ threads: 1 }), new CpuBackend({ threads: 1, engine: 'js' })]) {
    await checkJvp(fn, { A }, { A: dA }, 1e-6, { backend });
  }
});

test('forward mode through three and four nested loops with captures at every depth (every CPU path)', async () => {
  const m = compile(NESTED, { path: 'nested.mat', verify: true });
  const r = rnd(11);
  const n = 3;
  const A = tensor([n, n], r, 0.8);
  const B = tensor([n, n], r, 0.8);
  const c = tensor([n], r, 1);
  for (const backend of [new CpuBackend({ reference: true, threads: 1 }), new CpuBackend({ threads: 1 }), new CpuBackend({ threads: 1, engine: 'js' })]) {
    await checkJvp(m.fn('nest3'), { A, B, c }, { A: tensor([n, n], r), B: tensor([n, n], r), c: tensor([n], r) }, 1e-6, { backend });
    await checkJvp(m.fn('nest4'), { A, c }, { A: tensor([n, n], r), c: tensor([n], r) }, 1e-6, { backend });
  }
});

test('WebGPU: the nested JVPs agree with the f64 CPU', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const m = compile(THREE + NESTED, { path: 'nested.mat' });
  const r = rnd(5);
  const cases: [string, Record<string, Tensor>, Record<string, Tensor>][] = [
    ['three', { A: tensor([2, 2], r, 1e-3, (i) => (i % 3 === 0 ? 2 : 0)) }, { A: tensor([2, 2], r) }],
    ['nest3', { A: tensor([3, 3], r, 0.8), B: tensor([3, 3], r, 0.8), c: tensor([3], r) }, { A: tensor([3, 3], r), B: tensor([3, 3], r), c: tensor([3], r) }],
    ['nest4', { A: tensor([3, 3], r, 0.8), c: tensor([3], r) }, { A: tensor([3, 3], r), c: tensor([3], r) }],
  ];
  for (const [name, x, dx] of cases) {
    const cpu = await m.fn(name).jvp(x, dx);
    const gpu = await m.fn(name).jvp(x, dx, { backend });
    const a = cpu.tangents.out!.data;
    const g = gpu.tangents.out!.data;
    const scale = Math.max(1, ...Array.from(a, Math.abs));
    a.forEach((v, i) => assert.ok(Math.abs(v - g[i]!) <= 2e-3 * scale, `${name} tangent ${i}: cpu ${v} gpu ${g[i]}`));
  }
});

test('substitute renames the parameters of every loop nested inside a rebuilt loop', () => {
  // the mechanism directly: instantiate the outer body of the lowered reproducer with fresh
  // parameters; no loop of the copy may share a region (or a region parameter) with the original
  const p = compileProgram(THREE, { path: 'three.mat' });
  const f = p.lowered('three');
  const g = p.b.g;
  const outer = f.results[0]!.node.args[0]!; // proj of the outer loop
  assert.equal(outer.op, 'loop');
  const region = outer.regions[0]!;
  const fresh = region.params.map((q) => g.regionParam(String(q.attrs.name), q.type));
  const copy = inlineRegion(g, region, fresh);
  const loopsOf = (roots: readonly Node[]) => {
    const out = new Set<Node>();
    const stack = [...roots];
    const seen = new Set<Node>();
    while (stack.length) {
      const x = stack.pop()!;
      if (seen.has(x)) continue;
      seen.add(x);
      if (x.op === 'loop') out.add(x);
      stack.push(...x.args);
      for (const rr of x.regions) stack.push(...rr.results);
    }
    return out;
  };
  const before = loopsOf(region.results);
  const after_ = loopsOf(copy);
  assert.equal(before.size, 2, 'the middle and the innermost loop');
  assert.equal(after_.size, 2);
  const oldParams = new Set([...before].flatMap((l) => l.regions[0]!.params));
  for (const l of after_) {
    assert.ok(!before.has(l), 'each nested loop is a new node');
    for (const q of l.regions[0]!.params) assert.ok(!oldParams.has(q), `the copy's loop binds the original's parameter ${String(q.attrs.name)}`);
  }
  // substituting nothing rebuilds nothing
  const same = substitute(g, region.results, new Map());
  for (const x of region.results) assert.equal(same.get(x), x);
  void Graph;
});

test('matc ir --stage jvp of the reproducer exits 0 with IR that verifies; a stage whose IR fails the verifier is an internal error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'matc-nested-'));
  try {
    const file = join(dir, 'three.mat');
    writeFileSync(file, THREE);
    const cli = join(repoRoot, 'dist', 'cli', 'matc.js');
    const ir = spawnSync(process.execPath, [cli, 'ir', file, '--fn', 'three', '--stage', 'jvp'], { encoding: 'utf8' });
    assert.equal(ir.status, 0, ir.stderr);
    assert.match(ir.stdout, /jvp three\.jvp/);
    const out = join(dir, 'out');
    const c = spawnSync(process.execPath, [cli, 'compile', file, '-o', out], { encoding: 'utf8' });
    assert.equal(c.status, 0, c.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // the mechanism: a function whose result reads a region parameter outside its region
  const p = compileProgram('fn f(x: vec[n]) -> vec[n] = iterate (y = x) for i in 0..3 => 2 * y\n', { path: 'f.mat' });
  const f = p.lowered('f');
  const loop = f.results[0]!.node.args[0]!;
  const leaked = { ...f, results: [{ name: 'out', node: loop.regions[0]!.params[1]! }] };
  p.out.funcs.set('f', leaked);
  assert.throws(() => p.stage('f', 'lower'), (e: unknown) => e instanceof InternalError && /IR verification failed/.test(e.message));
});
