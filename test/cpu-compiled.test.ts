// The compiled CPU path (compiler/codegen/cpu → runtime/cpu/program.ts) against its oracle, the
// reference interpreter (runtime/cpu/interp.ts): every stdlib function and every parity spec,
// forward, VJP and JVP, batched and unbatched inputs, outputs to rounding and statuses equal; and a
// fast-check property over random well-typed programs (test/gen/expr.ts). Plus what the compiled
// path must do that the interpreter does not show: no per-instance state leaks between instances
// (a batch equals its instances run alone), out-of-range indices raise MATR107, f32 storage stays
// within f32 rounding of f64.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { compile, type Module } from '../api/module.js';
import { compileProgram } from '../compiler/compile.js';
import { genCpuProgram } from '../compiler/codegen/cpu/program.js';
import { bindInputs } from '../runtime/bind.js';
import { runCpu, runExecutableCpu } from '../runtime/cpu/backend.js';
import { engineFor, runProgram } from '../runtime/cpu/program.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import type { Executable } from '../runtime/executable.js';
import { signatureOf } from '../runtime/signature.js';
import { Rng, randomInstance } from '../runtime/random.js';
import { Tensor } from '../runtime/tensor.js';
import { MatcRuntimeError } from '../core/errors.js';
import type { Mode } from '../core/executable.js';
import { paritySpecs, qrParitySpecs } from './parity-specs.js';
import { specArb, type Spec } from './gen/expr.js';
import { allFinite, funcInputs, maxAbs, specInputs } from './gen/numeric.js';
import { assertProperty } from './gen/property.js';
import { repoRoot } from './gen/paths.js';

const TOL = 1e-10;

function inputsFor(exe: Executable, dims: Record<string, number>, batch: number, rng: Rng, shared: Set<string> = new Set()): Record<string, Tensor> {
  const d = new Map(Object.entries(dims));
  const out: Record<string, Tensor> = {};
  for (const p of exe.signature.params) {
    const shape = p.shape.map((x) => x.eval(d));
    const one = shape.reduce((a, b) => a * b, 1);
    const n = shared.has(p.name) || batch === 0 ? 1 : batch;
    const data = new Float64Array(one * n);
    // int parameters (step counters) stay 0, their init value: the factor updates of stdlib/spd.mat run
    if (!p.int) for (let b = 0; b < n; b++) data.set(randomInstance(rng, shape, p.struct as never), b * one);
    out[p.name] = new Tensor(shared.has(p.name) || batch === 0 ? shape : [batch, ...shape], data);
  }
  return out;
}

/** Runs both paths; outputs to TOL of each output's magnitude, statuses identical. */
function agree(what: string, exe: Executable, inputs: Record<string, Tensor>, dims: Record<string, number> = {}): void {
  const bind = bindInputs(exe.signature, inputs, { dims, noValidate: true });
  const ref = runExecutableCpu(exe, bind, { reference: true });
  const got = runExecutableCpu(exe, bind, { engine: 'wasm' });
  assert.ok(exe.cpu(), `${what}: has a CPU program (${exe.cpuError()})`);
  for (const [k, a] of Object.entries(ref.outputs)) {
    const b = got.outputs[k]!;
    assert.deepEqual(b.shape, a.shape, `${what}: shape of ${k}`);
    const scale = Math.max(1, maxAbs(Float64Array.from(a.data)));
    for (let i = 0; i < a.data.length; i++) {
      const x = a.data[i]!;
      const y = b.data[i]!;
      if (Number.isNaN(x) && Number.isNaN(y)) continue;
      if (!(Math.abs(x - y) <= TOL * scale)) assert.fail(`${what}: output ${k}[${i}] is ${y} compiled, ${x} interpreted`);
    }
  }
  assert.deepEqual(
    got.nodes.map((n) => [n.name, n.kind, n.iterations, n.converged]),
    ref.nodes.map((n) => [n.name, n.kind, n.iterations, n.converged]),
    `${what}: statuses`,
  );
  ref.nodes.forEach((n, i) => {
    const r = got.nodes[i]!.residual;
    n.residual?.forEach((x, b) => assert.ok(Math.abs(x - r![b]!) <= TOL * Math.max(1, Math.abs(x)) || (Number.isNaN(x) && Number.isNaN(r![b]!)), `${what}: residual of ${n.name}`));
  });
}

function forms(m: Module, name: string): [Mode, Executable][] {
  const out: [Mode, Executable][] = [];
  // every form of every function compiles (loops are reverse-differentiable since issue 10)
  for (const mode of ['forward', 'vjp', 'jvp'] as const) out.push([mode, m.executable(name, mode)]);
  return out;
}

const STDLIB: { file: string; fns: { fn: string; dims: Record<string, number>; statics?: Record<string, number> }[] }[] = [
  {
    file: 'spd.mat',
    fns: [
      { fn: 'ingd', dims: { d: 3, p: 4, n: 5, m: 5 } },
      { fn: 'kfac', dims: { d: 3, p: 4, n: 5, m: 5 } },
      { fn: 'singd_dense', dims: { d: 3, p: 4, n: 5, m: 5 } },
      { fn: 'singd_diag', dims: { d: 3, p: 4, n: 5, m: 5 } },
      { fn: 'singd_triltoeplitz', dims: { d: 3, p: 4, n: 5, m: 5 } },
      { fn: 'singd_block30', dims: { d: 3, p: 4, n: 5, m: 5 } },
      { fn: 'singd_tril_bottomright_diag', dims: { d: 3, p: 4, n: 5, m: 5 } },
      { fn: 'if_shampoo', dims: { d1: 4, d2: 3 } },
      { fn: 'hierarchical15_15.project', dims: { n: 33 } },
      { fn: 'block30diagonal.to_dense', dims: { n: 33 } },
    ],
  },
  { file: 'less.mat', fns: [{ fn: 'less', dims: { m: 7, n: 4 } }, { fn: 'less_bls', dims: { m: 6, n: 3 } }, { fn: 'start', dims: { m: 5, n: 5 } }] },
  { file: 'ied.mat', fns: [{ fn: 'ied', dims: { m: 6 } }, { fn: 'ied_topk', dims: { m: 7, k: 2 } }] },
  {
    file: 'qr.mat',
    fns: [
      { fn: 'qr', dims: { m: 6, n: 6 } },
      { fn: 'qr', dims: { m: 8, n: 3 } },
      { fn: 'qr', dims: { m: 3, n: 7 } },
      { fn: 'lq', dims: { m: 4, n: 7 } },
      { fn: 'qr_pivoted', dims: { m: 6, n: 5 } },
      { fn: 'qr_implicit', dims: { m: 5, n: 4 } },
      { fn: 'householder', dims: { m: 5, n: 5 } },
    ],
  },
  {
    file: 'sttp.mat',
    fns: [
      { fn: 'stiefel_full', dims: { d: 5, r: 3 } },
      { fn: 'stiefel_reduced', dims: { p: 3, r: 2 } },
      { fn: 'svdp_apply', dims: { m: 4, n: 3, r: 2, c: 2 } },
      { fn: 'd_optimal', dims: { r: 3 } },
      // a specialisation (modes 2·2 × 3, ranks 1 2 2 1)
      { fn: 'sttp_apply', statics: { Kout: 2, K: 3 }, dims: { 'n[0]': 2, 'n[1]': 2, 'n[2]': 3, 'R[0]': 1, 'R[1]': 2, 'R[2]': 2, 'R[3]': 1, c: 2 } },
    ],
  },
];

for (const { file, fns } of STDLIB) {
  test(`compiled CPU = reference interpreter: stdlib/${file} forward, VJP and JVP, batched and shared inputs`, () => {
    const path = join(repoRoot, 'stdlib', file);
    const m = compile(readFileSync(path, 'utf8'), { path });
    const rng = new Rng(11);
    for (const { fn: base, dims, statics } of fns) {
      const fn = statics ? m.fn(base).specialize(statics).name : base;
      for (const [mode, exe] of forms(m, fn)) {
        const what = `${fn} ${JSON.stringify(dims)} (${mode})`;
        agree(`${what} batch 3`, exe, inputsFor(exe, dims, 3, rng), dims);
        agree(`${what} one instance`, exe, inputsFor(exe, dims, 0, rng), dims);
        // the first input shared by the batch (broadcast), the rest batched
        const first = exe.signature.params[0]!.name;
        agree(`${what} ${first} shared`, exe, inputsFor(exe, dims, 2, rng, new Set([first])), dims);
      }
    }
  });
}

test('compiled CPU = reference interpreter: every parity spec (every IR op), forward, VJP and JVP', () => {
  const rng = new Rng(5);
  for (const s of [...paritySpecs, ...qrParitySpecs]) {
    const m = compile(s.src, { path: join(repoRoot, 'test', `${s.name}.mat`) });
    for (const [mode, exe] of forms(m, s.fn)) {
      agree(`${s.name} (${mode}) batch 2`, exe, inputsFor(exe, s.dims, 2, rng), s.dims);
      agree(`${s.name} (${mode}) one instance`, exe, inputsFor(exe, s.dims, 0, rng), s.dims);
    }
  }
});

test('programs split into functions (MATC_CPU_CHUNK, as past 0.2 MB) = reference interpreter: every parity spec, forward, VJP and JVP', () => {
  const rng = new Rng(6);
  const saved = process.env.MATC_CPU_CHUNK;
  // functions of ~600 characters: every program is split, loops and branches across functions
  process.env.MATC_CPU_CHUNK = '600';
  let forms_ = 0;
  let split = 0;
  try {
    for (const s of [...paritySpecs, ...qrParitySpecs]) {
      const m = compile(s.src, { path: join(repoRoot, 'test', `${s.name}.split.mat`) });
      for (const [mode, exe] of forms(m, s.fn)) {
        assert.ok(exe.cpu() && exe.cpu()!.wasm === undefined, `${s.name} (${mode}): a JavaScript program`);
        forms_++;
        // (a body of a few statements stays whole)
        if (/^function part\$0\(\)/m.test(exe.cpu()!.js)) split++;
        agree(`${s.name} (${mode}) split, batch 2`, exe, inputsFor(exe, s.dims, 2, rng), s.dims);
      }
    }
    assert.ok(split >= 0.8 * forms_, `${split} of ${forms_} programs split`);
  } finally {
    if (saved === undefined) delete process.env.MATC_CPU_CHUNK;
    else process.env.MATC_CPU_CHUNK = saved;
  }
});

test('a batch equals its instances run alone (no state carried between instances)', () => {
  const path = join(repoRoot, 'stdlib', 'less.mat');
  const m = compile(readFileSync(path, 'utf8'), { path });
  const exe = m.executable('less', 'vjp');
  const inputs = inputsFor(exe, { m: 6, n: 3 }, 4, new Rng(3));
  const all = runExecutableCpu(exe, bindInputs(exe.signature, inputs, { noValidate: true }), { engine: 'wasm' });
  for (let b = 3; b >= 0; b--) {
    const one: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(inputs)) {
      const size = t.size / 4;
      one[k] = new Tensor(t.shape.slice(1), t.data.slice(b * size, (b + 1) * size));
    }
    const r = runExecutableCpu(exe, bindInputs(exe.signature, one, { noValidate: true }), { engine: 'wasm' });
    for (const [k, t] of Object.entries(r.outputs)) {
      const size = t.size;
      assert.deepEqual(Array.from(t.data), Array.from(all.outputs[k]!.data.slice(b * size, (b + 1) * size)), `instance ${b}, ${k}`);
    }
  }
});

test('an index past its bound raises MATR107 on the compiled path and on the interpreter (issue 12)', () => {
  const src = 'fn f(A: mat[m, n]) -> vec[m] = iterate (x = zeros(m)) for j in 0..n + 1 => A[:, j]';
  const p = compileProgram(src, { path: 'oob.mat' });
  const f = p.forward('f');
  const bind = bindInputs(f, { A: new Tensor([3, 2], [1, 2, 3, 4, 5, 6]) });
  const isOob = (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR107' && /index 2 is out of range for a dimension of size 2/.test(e.message);
  assert.throws(() => runProgram(genCpuProgram(f), signatureOf(f), bind), isOob);
  assert.throws(() => runCpu(f, bind), isOob);
  // the same loop within bounds runs
  const ok = compileProgram(src.replace('0..n + 1', '0..n'), { path: 'ok.mat' }).forward('f');
  const r = runProgram(genCpuProgram(ok), signatureOf(ok), bindInputs(ok, { A: new Tensor([3, 2], [1, 2, 3, 4, 5, 6]) }));
  assert.deepEqual(Array.from(r.outputs.out!.data), [2, 4, 6]);
});

test('f32 storage: the compiled program in Float32Array stays within f32 rounding of f64', () => {
  const path = join(repoRoot, 'stdlib', 'qr.mat');
  const m = compile(readFileSync(path, 'utf8'), { path });
  const exe = m.executable('qr', 'vjp');
  const inputs = inputsFor(exe, { m: 8, n: 5 }, 3, new Rng(9));
  const bind = bindInputs(exe.signature, inputs, { noValidate: true });
  const f64 = runProgram(exe.cpu()!, exe.signature, bind, 'f64');
  const f32 = runProgram(exe.cpu()!, exe.signature, bind, 'f32');
  for (const [k, a] of Object.entries(f64.outputs)) {
    const b = f32.outputs[k]!;
    assert.ok(b.data instanceof Float32Array, `${k} is f32`);
    const scale = Math.max(1, maxAbs(Float64Array.from(a.data)));
    for (let i = 0; i < a.data.length; i++) assert.ok(Math.abs(a.data[i]! - b.data[i]!) <= 1e-4 * scale, `${k}[${i}]: ${b.data[i]} (f32) vs ${a.data[i]} (f64)`);
  }
});

/** The f32 precision's WebAssembly module against its JavaScript form: both hold buffers in f32
 *  and compute in f64, so they agree to f32 rounding (reductions sum in another order). */
function agreeF32(what: string, exe: Executable, inputs: Record<string, Tensor>, dims: Record<string, number>): void {
  const p = exe.cpu()!;
  assert.ok(p.wasm32, `${what}: has an f32 module`);
  assert.equal(engineFor(p, 'f32'), 'wasm', `${what}: the f32 precision runs WebAssembly`);
  const bind = bindInputs(exe.signature, inputs, { dims, noValidate: true });
  const js = runProgram(p, exe.signature, bind, 'f32', 'js');
  const wasm = runProgram(p, exe.signature, bind, 'f32', 'wasm');
  for (const [k, a] of Object.entries(js.outputs)) {
    const b = wasm.outputs[k]!;
    assert.equal(b.data.constructor, a.data.constructor, `${what}: ${k}'s array type`);
    const scale = Math.max(1, maxAbs(Float64Array.from(a.data)));
    for (let i = 0; i < a.data.length; i++) {
      const x = a.data[i]!;
      const y = b.data[i]!;
      if (Number.isNaN(x) && Number.isNaN(y)) continue;
      if (!(Math.abs(x - y) <= 1e-4 * scale)) assert.fail(`${what}: output ${k}[${i}] is ${y} (f32 WebAssembly), ${x} (f32 JavaScript)`);
    }
  }
  assert.deepEqual(
    wasm.nodes.map((n) => [n.name, n.iterations, n.converged]),
    js.nodes.map((n) => [n.name, n.iterations, n.converged]),
    `${what}: statuses`,
  );
}

test('f32 WebAssembly = f32 JavaScript to f32 rounding: every parity spec and the stdlib (int state included), forward, VJP and JVP', () => {
  const rng = new Rng(8);
  for (const s of [...paritySpecs, ...qrParitySpecs]) {
    const m = compile(s.src, { path: join(repoRoot, 'test', `${s.name}.mat`) });
    for (const [mode, exe] of forms(m, s.fn)) agreeF32(`${s.name} (${mode})`, exe, inputsFor(exe, s.dims, 2, rng), s.dims);
  }
  for (const { file, fns } of STDLIB) {
    if (file === 'sttp.mat') continue; // static specialisations: covered by the parity specs' ops
    const path = join(repoRoot, 'stdlib', file);
    const m = compile(readFileSync(path, 'utf8'), { path });
    for (const { fn, dims } of fns) for (const [mode, exe] of forms(m, fn)) agreeF32(`${fn} (${mode})`, exe, inputsFor(exe, dims, 2, rng), dims);
  }
});

test('f32 WebAssembly: an int state beyond f32\'s 2²⁴ stays exact (its buffer holds f64); threads give the one-thread numbers', async () => {
  const m = compile(`
optimizer count(w: vec[n], g: vec[n]) =
  state t: int = 0
  t <- t + 1, w <- w - 0.5 * float(mod(t, 3)) * g
`, { path: 'count32.mat' });
  const exe = m.executable('count', 'forward');
  const big = 2 ** 25 + 1; // not an f32
  // enough instances that the pool splits the batch (over its 4 ms threshold)
  const B = 100000;
  const w = new Tensor([B, 16], Float64Array.from({ length: 16 * B }, (_, i) => Math.sin(i)));
  const g = new Tensor([B, 16], Float64Array.from({ length: 16 * B }, (_, i) => Math.cos(i)));
  const t = new Tensor([B], Float64Array.from({ length: B }, (_, b) => big + b));
  const bind = bindInputs(exe.signature, { w, g, t }, { noValidate: true });
  assert.equal(engineFor(exe.cpu()!, 'f32'), 'wasm');
  const r = runProgram(exe.cpu()!, exe.signature, bind, 'f32', 'wasm');
  assert.deepEqual(Array.from(r.outputs.t!.data.slice(0, 3)), [big + 1, big + 2, big + 3]);
  assert.equal(r.outputs.t!.data[B - 1], big + B);
  const js = runProgram(exe.cpu()!, exe.signature, bind, 'f32', 'js');
  assert.deepEqual(Array.from(r.outputs.w!.data), Array.from(js.outputs.w!.data), 'elementwise: the same stores');
  const two = await m.fn('count').forward({ w, g, t }, { backend: new CpuBackend({ precision: 'f32', threads: 2 }) });
  assert.deepEqual(Array.from(two.outputs.w!.data), Array.from(r.outputs.w!.data), 'two threads');
  assert.deepEqual(Array.from(two.outputs.t!.data), Array.from(r.outputs.t!.data));
});

// ---- random programs -------------------------------------------------------------------------------

const RUNS = Number(process.env.MATC_PROPERTY_RUNS ?? 200);
const SEED = Number(process.env.MATC_PROPERTY_SEED ?? 20261201);
const TIME_MS = Number(process.env.MATC_PROPERTY_TIME_MS ?? 5_000);

function checkSpec(spec: Spec): void {
  const m = compile(spec.source, { path: 'generated.mat' });
  const rng = new Rng(spec.seed);
  const x = specInputs(spec, rng);
  for (const name of m.functions) {
    for (const [mode, exe] of forms(m, name)) {
      const inputs = { ...x, ...funcInputs(exe.func(), spec.dims, rng, (q) => !(q in x)) };
      const ref = runCpu(exe.func(), bindInputs(exe.signature, inputs, { noValidate: true })).outputs;
      for (const v of Object.values(ref)) fc.pre(allFinite(Float64Array.from(v.data)) && maxAbs(Float64Array.from(v.data)) < 1e8);
      try {
        agree(`${name} (${mode})`, exe, inputs, spec.dims);
      } catch (e) {
        throw new Error(`${(e as Error).message}\n--- source (dims ${JSON.stringify(spec.dims)}):\n${spec.source}`);
      }
    }
  }
}

test('compiled CPU = reference interpreter on random programs (forward, VJP, JVP)', async () => {
  await assertProperty(fc.property(specArb(), checkSpec), { numRuns: RUNS, seed: SEED, interruptAfterTimeLimit: TIME_MS });
});

test('compiled CPU = reference interpreter on random matrix chains and rank-1 products', async () => {
  await assertProperty(fc.property(specArb(undefined, 'product'), checkSpec), { numRuns: RUNS, seed: SEED + 1, interruptAfterTimeLimit: TIME_MS });
});

test('cheap statuses: a solve’s costly residual is a probe estimate (said so), exact with check: 1', async () => {
  const path = join(repoRoot, 'stdlib', 'qr.mat');
  const src = readFileSync(path, 'utf8');
  const rng = new Rng(4);
  const A = new Tensor([2, 12, 9], rng.normals(2 * 12 * 9));
  const est = (await compile(src, { path }).fn('qr').forward({ A })).status.nodes.find((n) => n.kind === 'solver')!;
  const ex = (await compile(src, { path, solverOptions: { check: 1 } }).fn('qr').forward({ A })).status.nodes.find((n) => n.kind === 'solver')!;
  assert.equal(est.residualEstimate, true);
  assert.equal(ex.residualEstimate, undefined);
  // a correct factorization: both at rounding level, and the estimate of the same order
  for (let b = 0; b < 2; b++) {
    assert.ok(ex.residual![b]! < 1e-13 && est.residual![b]! < 1e-13, `residuals ${ex.residual} ${est.residual}`);
    assert.ok(est.residual![b]! > ex.residual![b]! / 20 && est.residual![b]! < ex.residual![b]! * 20, `estimate ${est.residual![b]} vs exact ${ex.residual![b]}`);
  }
  // a wrong "factorization" is caught by the estimate as by the exact norm
  const bad = `import { householder } from "qr.mat"
layer bad(A: mat[m, n]) -> (Q: stiefel[m, k], R: triu[k, n]) where k = min(m, n) =
  solve Q: stiefel[m, k], R: triu[k, n] such that Q * R == A by (let (Q, R) = householder(A) in (Q, 1.01 * R))`;
  const rb = (await compile(bad, { path: join(repoRoot, 'test', 'bad.mat') }).fn('bad').forward({ A })).status.nodes.find((n) => n.kind === 'solver')!;
  const rx = (await compile(bad, { path: join(repoRoot, 'test', 'bad.mat'), solverOptions: { check: 1 } }).fn('bad').forward({ A })).status.nodes.find((n) => n.kind === 'solver')!;
  for (let b = 0; b < 2; b++) {
    assert.ok(rx.residual![b]! > 1e-3, `exact residual of a 1% error: ${rx.residual![b]}`);
    assert.ok(rb.residual![b]! > rx.residual![b]! / 5 && rb.residual![b]! < rx.residual![b]! * 5, `estimate ${rb.residual![b]} vs exact ${rx.residual![b]}`);
  }
  // the optimized forward has no n³ product left for the status: matmuls only where the
  // factorization itself needs them (none: Householder is matrix–vector work)
  const f = compile(src, { path }).program.forward('qr');
  const { reachable } = await import('../compiler/ir/node.js');
  const mm = reachable([...f.results.map((r) => r.node), ...f.status.flatMap((s) => [s.iterations, s.converged, ...(s.residual ? [s.residual] : [])])]).filter((n) => n.op === 'matmul');
  assert.equal(mm.length, 0, 'no matrix–matrix product in the QR forward');
});

test('worker threads: a batch split over threads gives the single thread’s numbers bit for bit (WebAssembly and JS)', async () => {
  const path = join(repoRoot, 'stdlib', 'qr.mat');
  const m = compile(readFileSync(path, 'utf8'), { path });
  const exe = m.executable('qr', 'vjp');
  // large enough that splitting pays (the pool times one instance first)
  const inputs = inputsFor(exe, { m: 24, n: 24 }, 400, new Rng(2));
  const bind = bindInputs(exe.signature, inputs, { noValidate: true });
  const { ThreadPool } = await import('../runtime/cpu/threads.js');
  for (const engine of ['wasm', 'js'] as const) {
    const one = runProgram(exe.cpu()!, exe.signature, bind, 'f64', engine);
    const pool = new ThreadPool(2);
    try {
      const two = await pool.run(exe.cpu()!, exe.signature, bind, 'f64', engine);
      for (const [k, t] of Object.entries(one.outputs)) assert.deepEqual(Array.from(two.outputs[k]!.data), Array.from(t.data), `${engine}: ${k}`);
      assert.deepEqual(two.nodes, one.nodes, `${engine}: statuses`);
      assert.ok(pool.workerCount > 0, 'the batch was split over a worker');
    } finally {
      pool.dispose();
    }
  }
});

test('a large function (past 0.2 MB of JavaScript as one function) is compiled as JavaScript split into functions, without WebAssembly, and equals the closed form (issues 11, 12)', async () => {
  // 5,000 distinct terms: ~15,000 IR nodes, 0.36 MB of JavaScript as one function
  const terms = Array.from({ length: 5000 }, (_, i) => `sin(${(1 + i / 1000).toFixed(3)} * x)`).join(' + ');
  const m = compile(`fn f(x: vec[n]) -> vec[n] = ${terms}`, { path: 'long.mat' });
  const prog = genCpuProgram(m.program.forward('f'));
  assert.equal(prog.wasm, undefined, 'no WebAssembly for a program this large');
  const parts = prog.js.match(/^function part\$\d+\(\) \{$/gm)?.length ?? 0;
  assert.ok(parts >= 10, `${parts} functions`);
  assert.ok(m.fn('f').executable('forward').cpu(), m.fn('f').executable('forward').cpuError());
  const x = new Tensor([2, 3], [0.1, -0.2, 0.3, 1.5, -2.5, 0]);
  const r = await m.fn('f').forward({ x }, { backend: new CpuBackend({ threads: 1 }) });
  for (let i = 0; i < 6; i++) {
    let s = 0;
    for (let k = 0; k < 5000; k++) s += Math.sin((1 + k / 1000) * x.data[i]!);
    assert.ok(Math.abs(r.outputs.out!.data[i]! - s) <= 1e-9 * Math.max(1, Math.abs(s)), `entry ${i}`);
  }
});
