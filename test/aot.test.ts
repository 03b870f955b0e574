// AOT modules (`matc compile`): stdlib/less.mat and stdlib/ied.mat (and a spec with int
// parameters, defaults, derived dimensions, run-time assertions, an optimizer and a function
// without a VJP) compiled into a temporary directory, imported, and checked against the JIT API:
//   1. on the CPU, forward / vjp / jvp give exactly the JIT's f64 numbers and statuses, and the
//      same errors;
//   2. on WebGPU (when there is an adapter; MATC_REQUIRE_GPU=1 makes a missing one a failure),
//      the embedded kernels are the JIT's and give exactly the JIT WebGPU path's numbers, both on
//      the JIT's device and on a device the module opens itself through load({ gpu });
//   3. the module loads without the compiler: a walk of its static imports finds no grammar/,
//      compiler/check|diff|solvers|opt, compile.js or module.js, and a child process that refuses
//      those modules at resolution imports it and runs it;
//   4. the .d.ts type-checks a consumer (tsc's API), and rejects wrong calls (@ts-expect-error).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import { compileToDir } from '../cli/aot.js';
import { randomInputs, randomLike } from '../cli/inputs.js';
import { compile, summarize as jitSummarize, type CompiledFn, type Module } from '../api/module.js';
import { compileProgram } from '../compiler/compile.js';
import { genInstanceKernel } from '../compiler/codegen/wgsl/instance.js';
import { Graph } from '../compiler/ir/node.js';
import { parseFunc } from '../compiler/ir/parser.js';
import { printFunc } from '../compiler/ir/printer.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { ALL_VARIANTS } from '../compiler/executable.js';
import { getNodeGPU } from '../runtime/webgpu/device.js';
import { summarize as aotSummarize } from '../runtime/aot/index.js';
import type { AotModuleData, ExecutableData, LoadedModule, MatcFunction } from '../runtime/aot/index.js';
import { variantKey } from '../core/executable.js';
import { gridVariant } from '../compiler/schedule/grid.js';
import { verifySchedule } from '../core/schedule.js';
import { SHAPED_AND_SGD } from './util/specs.js';
import type { NodeStatus } from '../runtime/cpu/backend.js';
import { Tensor } from '../runtime/tensor.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { repoRoot } from './gen/paths.js';

after(releaseSharedGpu);

/** Exercises what less/ied do not: int parameters with defaults, derived dimensions, slice
 *  assertions, scalar defaults, an optimizer and its .init, a function with no VJP, and names
 *  like the derived ones (a parameter dx beside x, results dy and grad_y). */
const EXTRA = `${SHAPED_AND_SGD}
fn halve(x: vec[n]) -> vec[n] =
  iterate (u = x) for i in 0..3 => 0.5 * u

fn clash(x: vec[n], dx: vec[n]) -> (y: vec[n], dy: vec[n], grad_y: vec[n]) =
  (x .* dx, 3 * x, dx)
`;

type AnyFn = MatcFunction<Record<string, Tensor | number | readonly number[]>, Record<string, Tensor>, string>;
interface Generated {
  path: string;
  ns: Record<string, unknown> & { functions: Record<string, AnyFn>; load(o?: object): Promise<LoadedModule<Record<string, AnyFn>>>; createModule(o?: object): Promise<LoadedModule<Record<string, AnyFn>>> };
  jit: Module;
}

let dir = '';
let files: Record<string, string> = {};
const gen: Record<string, Generated> = {};
let compileMs = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'matc-aot-'));
  // a consumer project: ES modules
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  writeFileSync(join(dir, 'extra.mat'), EXTRA);
  files = { less: join(repoRoot, 'stdlib', 'less.mat'), ied: join(repoRoot, 'stdlib', 'ied.mat'), extra: join(dir, 'extra.mat') };
  for (const [name, file] of Object.entries(files)) {
    const t0 = performance.now();
    const r = compileToDir(file, dir, { runtime: join(repoRoot, 'dist') });
    compileMs += performance.now() - t0;
    const ns = (await import(pathToFileURL(r.js).href)) as Generated['ns'];
    const jit = compile(readFileSync(file, 'utf8'), { path: file });
    // Kernel text (and so f32 rounding) follows node creation order in the shared graph, so the
    // JIT reference derives its functions in the order matc compile does (forward, vjp, jvp per
    // function); then its kernels are the embedded ones and WebGPU parity can be bit-exact.
    for (const fn of jit.program.names) {
      jit.program.forward(fn);
      for (const mode of ['vjp', 'jvp'] as const) {
        try {
          jit.program[mode](fn);
        } catch {
          /* a function without this derivative: the module records the error */
        }
      }
    }
    gen[name] = { path: r.js, ns, jit };
  }
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---- helpers -------------------------------------------------------------------------------------

function tensorsEqual(a: Record<string, Tensor>, b: Record<string, Tensor>, what: string): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), `${what}: names`);
  for (const k of Object.keys(b)) {
    assert.deepEqual([...a[k]!.shape], [...b[k]!.shape], `${what} ${k}: shape`);
    // deepStrictEqual compares with Object.is: bit-for-bit, −0 and NaN included
    assert.deepEqual(Array.from(a[k]!.data), Array.from(b[k]!.data), `${what} ${k}: values`);
  }
}

interface Case {
  mod: string;
  fn: string;
  dims: Record<string, number>;
  batch: number[];
  call?: Record<string, number>;
}

const cases: Case[] = [
  { mod: 'less', fn: 'less', dims: { m: 6, n: 3 }, batch: [3] },
  { mod: 'less', fn: 'less_bls', dims: { m: 5, n: 4 }, batch: [] },
  { mod: 'ied', fn: 'ied', dims: { m: 5 }, batch: [2] },
  { mod: 'extra', fn: 'shaped', dims: { m: 3, n: 4, k: 2 }, batch: [2] },
  { mod: 'extra', fn: 'shaped', dims: { m: 3, n: 4, k: 3 }, batch: [], call: { k: 3 } },
  // a dimension ≥ 128: the 256-invocation kernel variant (defaultWorkgroupSize)
  { mod: 'extra', fn: 'shaped', dims: { m: 130, n: 2, k: 2 }, batch: [2] },
  { mod: 'extra', fn: 'sgd', dims: { m: 2, n: 3 }, batch: [2] },
  { mod: 'extra', fn: 'sgd.init', dims: { m: 2, n: 3 }, batch: [] },  { mod: 'extra', fn: 'clash', dims: { n: 3 }, batch: [2] },
];

function inputsFor(c: Case, jitFn: CompiledFn, seed = 7): Record<string, Tensor> {
  const inputs = randomInputs(jitFn, c.dims, c.batch, seed);
  // scalar parameters with defaults are left out, so the defaults are what runs
  for (const p of jitFn.params) if (p.default !== undefined) delete inputs[p.name];
  return inputs;
}

/** Runs forward, vjp and jvp through both APIs and checks they agree exactly. */
async function parity(c: Case, opts: { backend?: WebGpuBackend; aot?: AnyFn; f32?: boolean } = {}): Promise<void> {
  const g = gen[c.mod]!;
  const jitFn = g.jit.fn(c.fn);
  const aotFn = opts.aot ?? g.ns.functions[c.fn]!;
  const inputs = inputsFor(c, jitFn);
  const call = { ...(c.call ? { dims: c.call } : {}), ...(opts.backend ? { backend: opts.backend } : {}), ...(opts.f32 ? { f32: true } : {}) };
  const what = `${c.fn}${opts.backend ? ' (webgpu)' : ''}`;
  const jf = await jitFn.forward(inputs, call);
  const af = await aotFn.forward(inputs, call);
  tensorsEqual(af.outputs, jf.outputs, `${what} forward`);
  assert.deepEqual(af.status, jf.status, `${what} forward status`);

  const cot = randomLike(jf.outputs, 11);
  const jv = await jitFn.vjp(inputs, cot, call);
  const av = await aotFn.vjp(inputs, cot, call);
  tensorsEqual(av.outputs, jv.outputs, `${what} vjp outputs`);
  tensorsEqual(av.gradients, jv.gradients, `${what} vjp gradients`);
  assert.deepEqual(av.status, jv.status, `${what} vjp status`);

  // tangents for some inputs only: the others are zero in both
  const full = randomLike(inputs, 13);
  const tangents = Object.fromEntries(Object.entries(full).slice(0, Math.max(1, Object.keys(full).length - 1)));
  const jt = await jitFn.jvp(inputs, tangents, call);
  const at = await aotFn.jvp(inputs, tangents, call);
  tensorsEqual(at.outputs, jt.outputs, `${what} jvp outputs`);
  tensorsEqual(at.tangents, jt.tangents, `${what} jvp tangents`);
  assert.deepEqual(at.status, jt.status, `${what} jvp status`);
}

// ---- the generated module ------------------------------------------------------------------------

test('the generated module exports every function, load, createModule, functions and Tensor', () => {
  const less = gen.less!.ns;
  assert.equal(typeof less.load, 'function');
  assert.equal(typeof less.createModule, 'function');
  assert.deepEqual(Object.keys(less.functions), ['start', 'less', 'less_bls', 'less_pmaf']);
  assert.equal(less.less, less.functions.less);
  assert.equal(less.Tensor, Tensor, 'the module re-exports the runtime Tensor (the same class)');
  const extra = gen.extra!.ns;
  assert.equal(extra.sgd_init, extra.functions['sgd.init'], '"sgd.init" is exported as sgd_init');
  const sig = (less.less as AnyFn).signature;
  assert.deepEqual(
    sig.params.map((p) => [p.name, p.type, p.struct, p.differentiable]),
    [
      ['A', 'mat[m, n]', 'general', true],
      ['b', 'vec[m]', 'general', true],
    ],
  );
  assert.deepEqual(sig.results, [{ name: 'x', type: 'sphere[n]', shape: ['n'] }]);
  assert.deepEqual(sig.gradients, ['A', 'b']);
  const sgd = extra.functions.sgd!.signature;
  assert.deepEqual(
    sgd.params.map((p) => [p.name, p.default ?? null, p.differentiable]),
    [
      ['W', null, true],
      ['G', null, true],
      ['M', null, false],
      ['lr', 0.1, true],
      ['beta', 0.9, true],
    ],
  );
  assert.deepEqual(extra.functions.shaped!.signature.intParams, [{ name: 'k', default: 2 }]);
  assert.deepEqual(extra.functions.shaped!.signature.derivedDims, [{ name: 'd', value: 'm*n' }]);
});

for (const c of cases) {
  test(`CPU: ${c.fn}${c.call ? ` (${JSON.stringify(c.call)})` : ''} forward/vjp/jvp equal the JIT's f64 results exactly`, async () => {
    await parity(c);
  });
}

// The derived functions' own inputs and results (runtime/derivative-names.ts) never take a user's
// name: a parameter dx beside x, a result dy beside y or one called grad_y keep their values.
test('names like the derived ones (dx beside x, results dy and grad_y): the closed-form derivatives', async () => {
  const clash = gen.extra!.ns.functions.clash!;
  assert.deepEqual(clash.signature.gradients, ['x', 'dx']);
  assert.deepEqual(clash.signature.tangents, ['x', 'dx']);
  const [x, dx] = [[1, 2, -1], [10, 20, 4]];
  const j = await clash.jvp({ x, dx }, { x: [1, 0, 2], dx: [0.5, -1, 1] });
  assert.deepEqual(Object.keys(j.tangents), ['y', 'dy', 'grad_y']);
  assert.deepEqual(Array.from(j.outputs.y!.data), [10, 40, -4]);
  assert.deepEqual(Array.from(j.tangents.y!.data), [10.5, -2, 7]); // ẋ .* dx + x .* (dx)˙
  assert.deepEqual(Array.from(j.tangents.dy!.data), [3, 0, 6]);
  assert.deepEqual(Array.from(j.tangents.grad_y!.data), [0.5, -1, 1]);
  const v = await clash.vjp({ x, dx }, { y: [1, 1, 2], dy: [1, 0, 0], grad_y: [0, 1, 0] });
  assert.deepEqual(Object.keys(v.outputs), ['y', 'dy', 'grad_y']);
  assert.deepEqual(Object.keys(v.gradients).sort(), ['dx', 'x']);
  assert.deepEqual(Array.from(v.outputs.grad_y!.data), dx);
  assert.deepEqual(Array.from(v.gradients.x!.data), [13, 20, 8]); // c_y .* dx + 3 c_dy
  assert.deepEqual(Array.from(v.gradients.dx!.data), [1, 3, -2]); // c_y .* x + c_grad_y
});

test('CPU with f32 rounding equals the JIT too', async () => {
  await parity(cases[0]!, { f32: true });
});

test('errors are the JIT errors: bad input, failed assertion, unknown cotangent, missing VJP', async () => {
  const less = gen.less!;
  const A = new Tensor([4, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
  const same = async (f: () => Promise<unknown>, g: () => Promise<unknown>) => {
    const e1 = await f().then(() => null, (e: Error) => e);
    const e2 = await g().then(() => null, (e: Error) => e);
    assert.ok(e1 && e2, 'both throw');
    assert.equal(e2!.name, e1!.name);
    assert.equal(e2!.message, e1!.message);
    assert.equal((e2 as { code?: string }).code, (e1 as { code?: string }).code);
  };
  await same(() => less.jit.fn('less').forward({ A }), () => gen.less!.ns.functions.less!.forward({ A }));
  await same(() => less.jit.fn('less').forward({ A, b: [1, 2, 3] }), () => gen.less!.ns.functions.less!.forward({ A, b: [1, 2, 3] }));
  await same(() => less.jit.fn('less').vjp({ A, b: [1, 2, 3, 4] }, { y: [1, 2] }), () => gen.less!.ns.functions.less!.vjp({ A, b: [1, 2, 3, 4] }, { y: [1, 2] }));
  const sh = new Tensor([3, 4], new Float64Array(12).fill(1));
  await same(() => gen.extra!.jit.fn('shaped').forward({ A: sh }, { dims: { k: 5 } }), () => gen.extra!.ns.functions.shaped!.forward({ A: sh }, { dims: { k: 5 } }));
  await same(() => gen.extra!.jit.fn('halve').vjp({ x: [1, 2] }, { halve: [1, 1] }), () => gen.extra!.ns.functions.halve!.vjp({ x: [1, 2] }, { halve: [1, 1] }));
  // the function without a VJP still runs forward and JVP
  const halve = gen.extra!.ns.functions.halve!;
  const jh = gen.extra!.jit.fn('halve');
  const hf = await halve.forward({ x: [2, 4] });
  tensorsEqual(hf.outputs, (await jh.forward({ x: [2, 4] })).outputs, 'halve forward');
  assert.deepEqual(Array.from(Object.values(hf.outputs)[0]!.data), [0.25, 0.5]);
  tensorsEqual((await halve.jvp({ x: [2, 4] }, { x: [1, -1] })).tangents, (await jh.jvp({ x: [2, 4] }, { x: [1, -1] })).tangents, 'halve jvp');
});

test('status summaries: AOT modules use the JIT summarize (runtime/call.ts), with its wording', () => {
  const st = (name: string, kind: NodeStatus['kind'], conv: boolean[]): NodeStatus => ({ name, kind, iterations: conv.map(() => 3), converged: conv, residual: conv.map((_, i) => 0.25 * i) });
  const nodes = [
    st('f/solve@1:2', 'linear', [true, false]),
    st('f/inv@1:2', 'linear', [false]),
    st('f/lstsq@1:2', 'linear', [true]),
    st('f/tril_solve@3:4', 'linear', [false]),
    st('f/triu_solve@3:4', 'linear', [false, false]),
    st('f/argmin@2:3/backward', 'implicit', [false, true]),
    st('f/argmin@2:3/tangent', 'implicit', [false]),
    st('f/argmin@2:3/curvature', 'curvature', [true, false]),
    st('f/argmin@2:3', 'solver', [false]),
    st('f/iterate@5:1', 'loop', [true]),
    // the wording follows the kind, not the name (issue 12: a failed rcond monitor read "did not converge")
    st('qr/rcond(R)', 'monitor', [true, false, false]),
    st('f/solve_like@9:9', 'solver', [false]),
  ];
  const outputs = { x: new Tensor([3], [1, NaN, Infinity]) };
  const gradients = { A: new Tensor([2], [-Infinity, 0]) };
  assert.equal(aotSummarize, jitSummarize, 'one function, not a copy that can drift');
  const s = aotSummarize(nodes, outputs, gradients);
  assert.equal(s.ok, false);
  assert.deepEqual(
    s.warnings.map((w) => (w.includes('monitored') ? w : w.replace(/^(\S+): .*?(singular|not a local minimum|did not converge)\b.*$/, '$1: $2'))),
    [
      'f/solve@1:2: singular',
      'f/inv@1:2: singular',
      'f/tril_solve@3:4: singular',
      'f/triu_solve@3:4: singular',
      'f/argmin@2:3/backward: singular',
      'f/argmin@2:3/tangent: singular',
      'f/argmin@2:3/curvature: not a local minimum',
      'f/argmin@2:3: did not converge',
      'qr/rcond(R): the monitored condition failed (value 0.25 … 0.5) in 2 of 3 instance(s)',
      'f/solve_like@9:9: did not converge',
      'output x has 2 non-finite value(s)',
      'gradient A has 1 non-finite value(s)',
    ],
  );
  assert.match(s.warnings[0]!, /in 1 of 2 instance\(s\)/);
  const clean = aotSummarize(nodes.slice(2, 3), { x: new Tensor([1], [1]) });
  assert.deepEqual(clean, { ok: true, nodes: nodes.slice(2, 3), warnings: [] });
});

// ---- WebGPU --------------------------------------------------------------------------------------

test('WebGPU: the embedded kernels are the JIT kernels and the kernels of the embedded IR', () => {
  for (const [name, g] of Object.entries(gen)) {
    const data = (g.ns.default as { data: AotModuleData }).data;
    // Kernel text follows node creation order, which depends on what a program derived before;
    // a fresh JIT program that derives the functions in the order matc compile does is the
    // like-for-like reference.
    const p = compileProgram(readFileSync(files[name]!, 'utf8'), { path: files[name]! });
    for (const fn of p.names) {
      for (const mode of ['forward', 'vjp', 'jvp'] as const) {
        const e = data.functions[fn]![mode];
        let f;
        let gf;
        let sameForm = true;
        try {
          // compiler/aot/build.ts's order: the default form, the kernel's form, the grid's, the CPU's
          const dflt = mode === 'forward' ? p.forward(fn) : p[mode](fn);
          f = mode === 'forward' ? dflt : p[mode](fn, 'gpu');
          sameForm = f === dflt;
          // the grid model's form: the same function unless it keeps a routine (blocked QR)
          gf = p.gridForm(fn, mode);
          p.cpuForm(fn, mode);
        } catch {
          assert.ok('error' in e, `${fn} ${mode}: the JIT cannot derive it, the module says so`);
          continue;
        }
        assert.ok(!('error' in e), `${fn} ${mode} is embedded`);
        const ex = e as ExecutableData;
        assert.deepEqual(ex.variants.map((v) => variantKey(v.when)), ALL_VARIANTS.map(variantKey), `${name}: ${fn} ${mode}: every variant the runtime may pick is embedded`);
        for (const v of ex.variants) {
          const key = `${name}: ${fn} ${mode} (${variantKey(v.when)})`;
          assert.equal(v.schedule.model, v.when.model ?? 'instance', key);
          assert.deepEqual(verifySchedule(v.schedule, Object.keys(v.kernels)), [], `${key}: the schedule verifies`);
          if (v.when.model === 'grid') {
            // the grid program (issue 8): the JIT's, and the one of the embedded IR
            assert.deepEqual(v, gridVariant(gf!, v.when), `${key}: the grid variant is the JIT's`);
            if (sameForm && gf === f) assert.deepEqual(v, gridVariant(parseFunc(ex.ir, new Graph()), v.when), `${key}: the grid variant of the embedded IR`);
            else if (gf !== f) assert.ok(/= householder /.test(printFunc(gf!)) && !/= householder /.test(ex.ir), `${key}: the grid's form keeps blocked QR, the embedded IR has its loops`);
            continue;
          }
          assert.deepEqual(v.kernels.inst, genInstanceKernel(f, v.when), `${key}: the kernel spec is the JIT's`);
          // the CPU path (parsed IR) and the GPU path (kernel) of the module are the same function,
          // unless the derivation chose by target (`backward: auto`: MINRES on the CPU, dense in
          // the kernel; compiler/diff/options.ts)
          if (sameForm) assert.deepEqual(v.kernels.inst, genInstanceKernel(parseFunc(ex.ir, new Graph()), v.when), `${key}: the kernel of the embedded IR`);
          else assert.ok(/minres/.test(ex.ir) && !/minres/.test(printFunc(f)), `${key}: the target-dependent forms: MINRES in the embedded IR, not in the kernel's form`);
        }
      }
    }
  }
});

// less_bls's kernels take minutes to compile on lavapipe (its nested backtracking loops); its CPU
// path is checked above, and its kernels come from the same generator as less's
for (const c of cases.filter((x) => x.fn !== 'less_bls')) {
  test(`WebGPU: ${c.fn}${c.call ? ` (${JSON.stringify(c.call)})` : ''} forward/vjp/jvp equal the JIT WebGPU path exactly (same device)`, async (t) => {
    const ctx = await gpuOrSkip(t);
    if (!ctx) return;
    await parity(c, { backend: new WebGpuBackend(ctx) });
  });
}

test('WebGPU: load({ gpu }) opens its own device and gives the same numbers', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const gpu = await getNodeGPU();
  assert.ok(gpu);
  const loaded = await gen.less!.ns.createModule({ gpu });
  try {
    assert.equal(loaded.kind, 'webgpu');
    assert.match(loaded.backend, /^webgpu/);
    // per-call options take the JIT's backend; the loaded module carries its own
    const c = cases[0]!;
    const jitFn = gen.less!.jit.fn(c.fn);
    const inputs = inputsFor(c, jitFn);
    const j = await jitFn.forward(inputs, { backend: new WebGpuBackend(ctx) });
    const a = await loaded.functions.less!.forward(inputs);
    tensorsEqual(a.outputs, j.outputs, 'less on a second device');
    assert.deepEqual(a.status, j.status);
    const cot = randomLike(j.outputs, 3);
    const jv = await jitFn.vjp(inputs, cot, { backend: new WebGpuBackend(ctx) });
    const av = await loaded.fn('less').vjp(inputs, cot);
    tensorsEqual(av.gradients, jv.gradients, 'less vjp on a second device');
  } finally {
    loaded.dispose();
  }
});

test('load(): backend cpu, gpu: null and an unknown backend', async () => {
  const ns = gen.ied!.ns;
  const cpu = await ns.load({ backend: 'cpu' });
  assert.equal(cpu.kind, 'cpu');
  assert.match(cpu.backend, /^cpu \(compiled, f64(, \d+ threads)?\)$/);
  const ref = await ns.createModule({ backend: 'cpu', cpu: { reference: true } });
  assert.equal(ref.backend, 'cpu (f64 reference interpreter)');
  const f32 = await ns.createModule({ backend: 'cpu', cpu: { precision: 'f32', threads: 1 } });
  assert.equal(f32.backend, 'cpu (compiled, f32)');
  const none = await ns.load({ gpu: null });
  assert.equal(none.kind, 'cpu');
  assert.match(none.note ?? '', /gpu: null/);
  await assert.rejects(() => ns.load({ backend: 'webgpu', gpu: null }), /MATR120|webgpu/);
  await assert.rejects(() => ns.load({ backend: 'tpu' }), (e: Error & { code?: string }) => e.code === 'MATR112');
  none.dispose();
});

// ---- no compiler at load time ------------------------------------------------------------------------

// the runtime reads IR (compiler/ir: the CPU reference interprets it) and nothing else of the
// compiler: no front end, passes or code generators (runtime executables carry their kernels)
const FORBIDDEN = /(^|\/)(grammar\/|compiler\/(check|diff|solvers|opt|codegen|schedule|aot)\/|compiler\/(compile|executable|signature|diagnostics)\.js$|api\/)/;

/** Every module reachable from `entry` through static imports, re-exports and literal dynamic
 *  imports; bare specifiers are collected apart. */
function importGraph(entry: string): { files: string[]; bare: string[] } {
  const seen = new Set<string>();
  const bare = new Set<string>();
  const stack = [resolve(entry)];
  const re = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;
  while (stack.length) {
    const f = stack.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    const src = readFileSync(f, 'utf8');
    for (const m of src.matchAll(re)) {
      const s = (m[1] ?? m[2] ?? m[3])!;
      if (s.startsWith('.') || s.startsWith('/')) stack.push(resolve(dirname(f), s));
      else bare.add(s);
    }
  }
  return { files: [...seen], bare: [...bare] };
}

test('the generated modules import only the runtime (import graph walk)', () => {
  const dist = join(repoRoot, 'dist');
  for (const name of ['less', 'ied', 'extra']) {
    const g = importGraph(gen[name]!.path);
    const rel = g.files.filter((f) => f.startsWith(dist)).map((f) => relative(dist, f).split('\\').join('/'));
    assert.ok(rel.includes('runtime/aot/index.js'), `${name}: imports the AOT runtime`);
    assert.ok(rel.includes('compiler/ir/parser.js'), `${name}: reads its IR with the IR parser`);
    assert.deepEqual(rel.filter((f) => FORBIDDEN.test(f)), [], `${name}: compiler modules in the import graph`);
    assert.deepEqual(g.bare.filter((b) => b !== 'webgpu'), [], `${name}: bare imports besides webgpu`);
  }
});

test('a process that refuses the compiler modules loads and runs the generated module', () => {
  const hooks = join(dir, 'refuse-compiler-hooks.mjs');
  writeFileSync(
    hooks,
    `const bad = ${FORBIDDEN.toString()};
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (specifier === 'chevrotain' || (r.url.includes('/dist/') && bad.test(r.url.slice(r.url.indexOf('/dist/') + 6)))) throw new Error('refused: ' + r.url);
  return r;
}
`,
  );
  const register = join(dir, 'refuse-compiler.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  const script = `
const m = await import(${JSON.stringify(pathToFileURL(gen.less!.path).href)});
const A = new m.Tensor([3, 2], [1, 2, 3, 4, 5, 7]);
const r = await m.less.forward({ A, b: [1, 0, 2] });
const g = await m.less.vjp({ A, b: [1, 0, 2] }, { x: [1, 0] });
const t = await m.less.jvp({ A, b: [1, 0, 2] }, { b: [0, 1, 0] });
console.log(JSON.stringify({ x: Array.from(r.outputs.x.data), ok: r.status.ok, gA: g.gradients.A.shape, dx: t.tangents.x.shape }));
`;
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(register).href, '--input-type=module', '-e', script], { encoding: 'utf8', cwd: dir });
  assert.equal(r.status, 0, `child failed:\n${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { x: number[]; ok: boolean; gA: number[]; dx: number[] };
  assert.equal(out.x.length, 2);
  assert.ok(Math.abs(Math.hypot(...out.x) - 1) < 1e-9);
  assert.deepEqual(out.gA, [3, 2]);
  assert.deepEqual(out.dx, [2]);
  // and the hook does refuse: importing the compiler in the same setting fails
  const bad = spawnSync(process.execPath, ['--import', pathToFileURL(register).href, '--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(join(repoRoot, 'dist', 'compiler', 'compile.js')).href)})`], { encoding: 'utf8', cwd: dir });
  assert.notEqual(bad.status, 0, 'the refusing hook is active');
  assert.match(bad.stderr, /refused/);
});

// ---- types ---------------------------------------------------------------------------------------

const CONSUMER = `
import { less, less_bls, load, createModule, functions, Tensor } from './less.js';
import ied from './ied.js';
import { sgd, sgd_init } from './extra.js';

export async function run(): Promise<number> {
  const A = new Tensor([5, 3], new Float64Array(15).fill(1));
  const b = [1, 2, 3, 4, 5];
  const f = await less.forward({ A, b });
  const x: Tensor = f.outputs.x;
  const ok: boolean = f.status.ok;
  const iters: number[] = f.status.nodes[0]!.iterations;
  const v = await less.vjp({ A, b }, { x: [1, 0, 0] }, { backend: 'cpu' });
  const gA: Tensor = v.gradients.A;
  const gb: Tensor = v.gradients.b;
  const t = await less.jvp({ A, b }, { b: [1, 0, 0, 0, 0] });
  const dx: Tensor = t.tangents.x;
  const m = await load({ backend: 'cpu' });
  const y = await m.functions.less_bls.forward({ A, b }, { f32: true });
  const z = await m.fn('less').forward({ A, b }, { dims: {} });
  const kind: 'cpu' | 'webgpu' = m.kind;
  const name: string = m.backend;
  m.dispose();
  const other = await createModule({ gpu: null });
  other.dispose();
  // a GPU object's shape (navigator.gpu, Dawn's create()) fits the gpu option
  const someGpu: { requestAdapter(o?: { powerPreference?: 'low-power' | 'high-performance' }): Promise<{ features: Set<string> } | null>; wgslLanguageFeatures: Set<string> } = {
    requestAdapter: async () => null,
    wgslLanguageFeatures: new Set(),
  };
  (await createModule({ gpu: someGpu, backend: 'auto' })).dispose();
  const u: Tensor = (await ied.functions.ied.forward({ X: new Tensor([2, 2], [2, 1, 1, 2]) })).outputs.u;
  const st = await sgd.forward({ W: A, G: A, M: A });
  const W2: Tensor = st.outputs.W;
  const M0: Tensor = (await sgd_init.forward({ W: A, G: A, lr: 0.5 })).outputs.M;
  const g2 = await sgd.vjp({ W: A, G: A, M: A }, { W: A, M: A });
  const glr: Tensor = g2.gradients.lr;
  // @ts-expect-error b is required
  await less.forward({ A });
  // @ts-expect-error less has no output y
  await less.vjp({ A, b }, { y: [1] });
  // @ts-expect-error cotangents for every output
  await less.vjp({ A, b }, {});
  // @ts-expect-error less has no input C
  await less.jvp({ A, b }, { C: [1] });
  // @ts-expect-error the outputs are { x }
  f.outputs.y;
  // @ts-expect-error sgd has no gradient for its state M
  g2.gradients.M;
  // @ts-expect-error no such function
  m.fn('lesss');
  // @ts-expect-error inputs are tensors, numbers or number arrays
  await less_bls.forward({ A: 'A', b });
  void [x, ok, iters, gA, gb, dx, y, z, kind, name, u, W2, M0, glr, functions];
  return 0;
}
`;

test('the .d.ts type-checks a consumer and rejects wrong calls', async () => {
  // imported here: the device machines that run the GPU tests carry no TypeScript
  const ts = (await import('typescript')).default;
  const file = join(dir, 'consumer.ts');
  writeFileSync(file, CONSUMER);
  // Two consumers, every declaration checked (the generated ones and the runtime's): a browser
  // project (DOM lib) and a Node project (no DOM lib). In both, the @ts-expect-error lines would
  // fail as unused if the generated types were too loose (any).
  const configs: Record<string, import('typescript').CompilerOptions> = {
    browser: { lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'] },
    node: { lib: ['lib.es2022.d.ts'] },
  };
  let program: import('typescript').Program | undefined;
  for (const [label, extra] of Object.entries(configs)) {
    program = ts.createProgram({
      rootNames: [file],
      options: {
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        target: ts.ScriptTarget.ES2022,
        types: [],
        strict: true,
        noEmit: true,
        noUnusedLocals: true,
        skipLibCheck: false,
        ...extra,
      },
    });
    const diags = ts.getPreEmitDiagnostics(program);
    const text = diags.map((d) => {
      const where = d.file && d.start !== undefined ? `${relative(dir, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : '';
      return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
    });
    assert.deepEqual(text, [], `${label} consumer: type errors in the consumer or in the declarations it reads`);
  }
  // the declarations it read are the generated ones
  assert.ok(program!.getSourceFile(join(dir, 'less.d.ts')));
});

test('timing: compiling less.mat, ied.mat and the extra spec to modules', (t) => {
  assert.ok(compileMs > 0);
  t.diagnostic(`matc compile of 3 specs (forward + VJP + JVP, kernels, IR round-trip check): ${compileMs.toFixed(0)} ms`);
});

test('layering: compiler/ imports nothing from runtime/ or api/, runtime/ nothing of compiler/ but its IR', () => {
  const src = (dir: string): string[] => {
    const out: string[] = [];
    for (const name of readdirSync(join(repoRoot, dir))) {
      const p = join(dir, name);
      if (statSync(join(repoRoot, p)).isDirectory()) out.push(...src(p));
      else if (name.endsWith('.ts')) out.push(p);
    }
    return out;
  };
  const imports = (file: string): string[] =>
    [...readFileSync(join(repoRoot, file), 'utf8').matchAll(/(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm)]
      .map((m) => (m[1] ?? m[2])!)
      .filter((s) => s.startsWith('.'))
      .map((s) => relative(repoRoot, resolve(dirname(join(repoRoot, file)), s)).split('\\').join('/'));
  const bad: string[] = [];
  for (const f of src('compiler')) for (const i of imports(f)) if (/^(runtime|api|cli)\//.test(i)) bad.push(`${f} → ${i}`);
  for (const f of src('runtime')) for (const i of imports(f)) if (/^(grammar|api|cli)\//.test(i) || (/^compiler\//.test(i) && !/^compiler\/ir\//.test(i))) bad.push(`${f} → ${i}`);
  for (const f of src('core')) for (const i of imports(f)) if (!/^core\//.test(i)) bad.push(`${f} → ${i}`);
  assert.deepEqual(bad, []);
});
