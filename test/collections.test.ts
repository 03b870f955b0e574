// Compile-time collections (issue 10, item 4): static int parameters, collection parameters and
// results flattened at the boundary, dimension families, comprehensions and unrolled loops whose
// carry changes shape. The "done when" of the issue: a 4-core and a 5-core tensor-train
// contraction from ONE spec, with gradients, and one Kronecker factor per tensor mode for any
// number of modes from one spec. Oracles: test/fixtures/collections.json (NumPy, independent
// code: test/oracles/gen_collections.py) and central finite differences in f64.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { compile, type CompiledFn } from '../api/module.js';
import { CompileError } from '../compiler/compile.js';
import { MatcRuntimeError } from '../core/errors.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { Tensor } from '../runtime/tensor.js';
import { Rng } from '../runtime/random.js';
import { printFunc } from '../compiler/ir/printer.js';
import { parseFunc } from '../compiler/ir/parser.js';
import { Graph } from '../compiler/ir/node.js';
import { fixturePath, type FixtureTensor } from './oracles/fixtures.js';
import { assertClose, relErr } from './util/approx.js';
import { ingdSpec, kronSpec, ttSpec } from './util/collections-specs.js';

interface TtCase {
  name: string;
  K: number;
  ranks: number[];
  modes: number[];
  inputs: Record<string, FixtureTensor>;
  outputs: Record<string, FixtureTensor>;
  cotangents: Record<string, FixtureTensor>;
  gradients: Record<string, Record<string, FixtureTensor>>;
}
interface KronCase {
  name: string;
  N: number;
  optimizer: 'kron_factors' | 'ingd';
  inputs: Record<string, FixtureTensor>;
  outputs: Record<string, FixtureTensor>;
}
const fixture = JSON.parse(readFileSync(fixturePath('collections.json'), 'utf8')) as { cases: (TtCase | KronCase)[] };
const ttCases = fixture.cases.filter((c): c is TtCase => 'K' in c);
const kronCases = fixture.cases.filter((c): c is KronCase => 'N' in c && c.optimizer === 'kron_factors');
const ingdCases = fixture.cases.filter((c): c is KronCase => 'N' in c && c.optimizer === 'ingd');
const T = (f: FixtureTensor): Tensor => new Tensor(f.shape, Float64Array.from(f.data));
const cores = (c: TtCase): Tensor[] => Array.from({ length: c.K }, (_, k) => T(c.inputs[`cores[${k}]`]!));

const tt = compile(ttSpec, { verify: true });
const kron = compile(kronSpec, { verify: true });
const ingd = compile(ingdSpec, { verify: true });

const backends: [string, CpuBackend | undefined][] = [
  ['interpreter', new CpuBackend({ reference: true })],
  ['compiled wasm f64', new CpuBackend({ threads: 1 })],
  ['compiled js f64', new CpuBackend({ threads: 1, engine: 'js' })],
];

test('the fixture cases are what the tests claim: 4 and 5 cores, 2 and 3 modes', () => {
  assert.deepEqual(ttCases.map((c) => c.K), [4, 5]);
  assert.deepEqual(kronCases.map((c) => c.N), [2, 3]);
  assert.deepEqual(ingdCases.map((c) => c.N), [2, 3]);
});

for (const c of ttCases) {
  test(`${c.name}: one spec contracts ${c.K} cores into the frame NumPy computes, on every CPU path`, async () => {
    const f = tt.fn('tt_frame');
    assert.equal(f.generic, true);
    for (const [what, backend] of backends) {
      const r = await f.forward({ cores: cores(c) }, backend ? { backend } : {});
      assert.deepEqual([...r.outputs.frame!.shape], c.outputs.frame!.shape, what);
      assertClose(r.outputs.frame!.data, c.outputs.frame!.data, 1e-13, `${c.name} frame (${what})`);
    }
    // f32 storage: within f32 rounding
    const r32 = await f.forward({ cores: cores(c) }, { backend: new CpuBackend({ threads: 1, precision: 'f32' }) });
    assertClose(r32.outputs.frame!.data, c.outputs.frame!.data, 1e-5, `${c.name} frame (compiled f32)`);
    // the specialisation is named by its static value and was compiled once for it
    assert.ok(tt.program.names.includes(`tt_frame[K=${c.K}]`), tt.program.names.join(', '));
    assert.deepEqual(tt.functions, ['tt_frame', 'tt_apply']);
  });

  test(`${c.name}: the VJP gives NumPy's gradient for every core (as an array), on every CPU path`, async () => {
    const f = tt.fn('tt_frame');
    for (const [what, backend] of backends) {
      const g = await f.vjp({ cores: cores(c) }, { frame: T(c.cotangents.frame!) }, backend ? { backend } : {});
      assert.equal(g.gradientLists.cores!.length, c.K);
      for (let k = 0; k < c.K; k++) {
        const want = c.gradients.frame![`cores[${k}]`]!;
        assert.deepEqual([...g.gradientLists.cores![k]!.shape], want.shape);
        assertClose(g.gradientLists.cores![k]!.data, want.data, 1e-12, `${c.name} ∂cores[${k}] (${what})`);
        assert.equal(g.gradients[`cores[${k}]`], g.gradientLists.cores![k]);
      }
    }
  });

  test(`${c.name}: the VJP matches central finite differences of the forward for every core (f64)`, async () => {
    const f = tt.fn('tt_frame');
    const backend = new CpuBackend({ reference: true });
    const base = cores(c);
    const C = T(c.cotangents.frame!);
    const loss = async (cs: Tensor[]): Promise<number> => {
      const r = await f.forward({ cores: cs }, { backend });
      let s = 0;
      for (let i = 0; i < C.size; i++) s += C.data[i]! * r.outputs.frame!.data[i]!;
      return s;
    };
    const g = await f.vjp({ cores: base }, { frame: C }, { backend });
    for (let k = 0; k < c.K; k++) {
      // every entry of this core: ∂⟨C, U⟩/∂U_k[e] by central differences
      const fd = new Float64Array(base[k]!.size);
      const h = 1e-6;
      for (let e = 0; e < fd.length; e++) {
        const plus = base.map((t, j) => (j === k ? new Tensor(t.shape, Float64Array.from(t.data, (v, i) => (i === e ? v + h : v))) : t));
        const minus = base.map((t, j) => (j === k ? new Tensor(t.shape, Float64Array.from(t.data, (v, i) => (i === e ? v - h : v))) : t));
        fd[e] = ((await loss(plus)) - (await loss(minus))) / (2 * h);
      }
      const err = relErr(g.gradientLists.cores![k]!.data, fd);
      assert.ok(err < 1e-7, `${c.name} core ${k}: VJP vs central differences ${err.toExponential(2)}`);
    }
  });

  test(`${c.name}: tt_apply (Uᵀx, no frame formed) and its gradients for every core and x`, async () => {
    const f = tt.fn('tt_apply');
    const x = T(c.inputs.x!);
    for (const [what, backend] of backends) {
      const r = await f.forward({ cores: cores(c), x }, backend ? { backend } : {});
      assertClose(r.outputs.y!.data, c.outputs.y!.data, 1e-13, `${c.name} y (${what})`);
      const g = await f.vjp({ cores: cores(c), x }, { y: T(c.cotangents.y!) }, backend ? { backend } : {});
      for (let k = 0; k < c.K; k++) assertClose(g.gradientLists.cores![k]!.data, c.gradients.y![`cores[${k}]`]!.data, 1e-12, `${c.name} y ∂cores[${k}] (${what})`);
      assertClose(g.gradients.x!.data, c.gradients.y!.x!.data, 1e-12, `${c.name} y ∂x (${what})`);
    }
  });
}

test('tt_frame: the JVP matches the VJP (⟨ȳ, J ẋ⟩ = ⟨Jᵀȳ, ẋ⟩) at K = 4 and 5', async () => {
  const f = tt.fn('tt_frame');
  const rng = new Rng(11);
  for (const c of ttCases) {
    const cs = cores(c);
    const tans = cs.map((t) => new Tensor(t.shape, rng.normals(t.size)));
    const C = T(c.cotangents.frame!);
    const j = await f.jvp({ cores: cs }, { cores: tans });
    const g = await f.vjp({ cores: cs }, { frame: C });
    let lhs = 0;
    for (let i = 0; i < C.size; i++) lhs += C.data[i]! * j.tangents.frame!.data[i]!;
    let rhs = 0;
    for (let k = 0; k < c.K; k++) for (let i = 0; i < tans[k]!.size; i++) rhs += g.gradientLists.cores![k]!.data[i]! * tans[k]!.data[i]!;
    assert.ok(Math.abs(lhs - rhs) <= 1e-12 * Math.max(1, Math.abs(rhs)), `K = ${c.K}: ${lhs} vs ${rhs}`);
  }
});

test('static values: inferred from the collection, given in dims, or named (tt_frame[K=5]); cached per value', async () => {
  const c = ttCases[0]!;
  const byArray = await tt.fn('tt_frame').forward({ cores: cores(c) });
  const byDims = await tt.fn('tt_frame').forward(Object.fromEntries(cores(c).map((t, k) => [`cores[${k}]`, t])), { dims: { K: c.K } });
  const byName = await tt.fn(`tt_frame[K=${c.K}]`).forward({ cores: cores(c) });
  assert.deepEqual(Array.from(byDims.outputs.frame!.data), Array.from(byArray.outputs.frame!.data));
  assert.deepEqual(Array.from(byName.outputs.frame!.data), Array.from(byArray.outputs.frame!.data));
  const e1 = tt.fn(`tt_frame[K=${c.K}]`).executable('forward');
  assert.equal(tt.fn('tt_frame').specialize({ K: c.K }).executable('forward'), e1, 'one executable per static value');
  // a collection of the wrong length for an explicit K, and a K that cannot be told
  await assert.rejects(tt.fn('tt_frame').forward({ cores: cores(c) }, { dims: { K: c.K + 1 } }), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR161');
  await assert.rejects(tt.fn('tt_frame').forward({}), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR160');
  assert.throws(() => tt.fn('tt_frame').specialize({ K: -1 }), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR160');
  // a core whose rank does not match its neighbour is a binding error naming the dimension
  const bad = cores(c);
  bad[1] = new Tensor([bad[1]!.shape[0]! + 1, bad[1]!.shape[1]!, bad[1]!.shape[2]!], new Float64Array((bad[1]!.shape[0]! + 1) * bad[1]!.shape[1]! * bad[1]!.shape[2]!));
  await assert.rejects(tt.fn('tt_frame').forward({ cores: bad }), (e: unknown) => e instanceof MatcRuntimeError && /r\[1\]/.test(e.message));
});

test('printed IR of a specialisation parses back as itself (element names, family dims, spec names)', () => {
  for (const K of [4, 5]) {
    const name = tt.program.specialize('tt_frame', { K });
    for (const f of [tt.program.forward(name), tt.program.vjp(name), tt.program.jvp(name)]) {
      const text = printFunc(f);
      assert.equal(printFunc(parseFunc(text, new Graph())), text);
    }
  }
});

for (const c of kronCases) {
  test(`${c.name}: one spec updates ${c.N} Kronecker factors (one per mode) as NumPy does, on every CPU path`, async () => {
    const f = kron.fn('kron_factors');
    const inputs: Record<string, Tensor | Tensor[]> = { W: T(c.inputs.W!), G: T(c.inputs.G!) };
    inputs.B = Array.from({ length: c.N }, (_, k) => T(c.inputs[`B[${k}]`]!));
    inputs.m = Array.from({ length: c.N }, (_, k) => T(c.inputs[`m[${k}]`]!));
    for (const h of ['lr', 'lr_cov', 'damping', 'beta2']) inputs[h] = T(c.inputs[h]!);
    for (const [what, backend] of backends) {
      const r = await f.forward(inputs as Record<string, Tensor>, backend ? { backend } : {});
      assert.ok(kron.program.names.includes(`kron_factors[N=${c.N}]`));
      assert.deepEqual(kron.functions, ['kron_factors', 'kron_factors.init']);
      for (const [k, want] of Object.entries(c.outputs)) assertClose(r.outputs[k]!.data, want.data, 1e-12, `${c.name} ${k} (${what})`);
      assert.equal(r.outputLists.B!.length, c.N);
      assert.equal(r.outputLists.m!.length, c.N);
    }
  });
}

for (const c of ingdCases) {
  test(`${c.name}: one INGD spec updates ${c.N} factors (one per mode, a statistic per mode) as NumPy does, on every CPU path`, async () => {
    const f = ingd.fn('ingd');
    const inputs: Record<string, Tensor | Tensor[]> = { W: T(c.inputs.W!), G: T(c.inputs.G!) };
    for (const g of ['S', 'K', 'mK']) inputs[g] = Array.from({ length: c.N }, (_, k) => T(c.inputs[`${g}[${k}]`]!));
    for (const h of ['lr', 'beta1', 'alpha1', 'damping']) inputs[h] = T(c.inputs[h]!);
    for (const [what, backend] of backends) {
      const r = await f.forward(inputs as Record<string, Tensor>, backend ? { backend } : {});
      for (const [k, want] of Object.entries(c.outputs)) assertClose(r.outputs[k]!.data, want.data, 1e-12, `${c.name} ${k} (${what})`);
    }
    // the statistics are declared sym: an asymmetric one is refused where the call binds
    const bad = { ...inputs, S: (inputs.S as Tensor[]).map((t, k) => (k === 0 ? new Tensor(t.shape, Float64Array.from(t.data, (v, i) => (i === 1 ? v + 1 : v))) : t)) };
    await assert.rejects(f.forward(bad as unknown as Record<string, Tensor>), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR105' && /S\[0\]/.test(e.message));
  });
}

test('kron_factors.init: identity factors and zero momenta for every mode (N from dims)', async () => {
  for (const N of [2, 3]) {
    const shape = [3, 4, 2].slice(0, N);
    const W = new Tensor(shape, new Float64Array(shape.reduce((a, b) => a * b, 1)));
    const r = await kron.fn('kron_factors.init').forward({ W, G: W }, { dims: { N } });
    assert.equal(r.outputLists.B!.length, N);
    for (let k = 0; k < N; k++) {
      const d = shape[k]!;
      assert.deepEqual(Array.from(r.outputLists.B![k]!.data), Array.from({ length: d * d }, (_, i) => (i % (d + 1) === 0 ? 1 : 0)));
      assert.deepEqual(Array.from(r.outputLists.m![k]!.data), new Array(d * d).fill(0));
    }
  }
});

test('a generic function called from another: static values from a collection argument or given; errors name the values', () => {
  const src = `${ttSpec}
fn frame4(a: tensor[1, p, 2], b: tensor[2, p, 2], c: tensor[2, p, 2], d: tensor[2, p, 3]) -> mat[p * p * p * p, 3] =
  tt_frame((a, b, c, d))
fn frame_prefix(a: tensor[1, p, 2], b: tensor[2, p, 2], c: tensor[2, p, 2]) -> mat[p * p, 2] =
  tt_frame((a, b, c)[0:2], 2)
`;
  const m = compile(src, { verify: true });
  assert.deepEqual(m.fn('frame4').func.results.map((r) => r.name), ['out']);
  assert.equal(m.fn('frame_prefix').func.params.length, 3);
  // the same call with a core of the wrong rank: MAT0245, naming the element and the static value
  const bad = `${ttSpec}
fn frame3(a: tensor[1, p, 2], b: tensor[3, p, 2], c: tensor[2, p, 2]) -> mat[p * p * p, 2] =
  let cs = (a, b, c) in tt_frame([cs[k] for k in 0..3])
`;
  assert.throws(() => compile(bad), (e: unknown) => e instanceof CompileError && e.diagnostics.some((d) => d.code === 'MAT0245' && /element 1/.test(d.message) && (d.notes ?? []).some((n) => /K = 3/.test(n.message))));
});

async function run(fn: CompiledFn, inputs: Record<string, Tensor | Tensor[]>): Promise<Record<string, Tensor>> {
  return (await fn.forward(inputs as Record<string, Tensor>, { backend: new CpuBackend({ reference: true }) })).outputs;
}

test('language pieces: comprehension, sum/prod/len of collections, parts, reverse unroll, if on collections, tuples of collections', async () => {
  const src = `
fn weighted(xs: [vec[n] for i in 0..K], K: static int = 3) -> (s: vec[n], ys: [vec[n] for i in 0..K]) =
  let w = [float(i + 1) * xs[i] for i in 0..K],
      s = sum(w) + sum(xs[i] for i in 0..len(xs)) - prod(w[0:1])
  in (s, if sum(s) > 0 then w else xs)
fn rev(xs: [vec[n] for i in 0..3]) -> vec[n] =
  unroll (acc = zeros(n)) for i in reverse 0..3 => 2 * acc + xs[i]
fn dims_of(A: tensor[a, b, c]) -> real = float(size(A, 0) * size(A, 2) + prod(size(A, j) for j in 0..3))
`;
  const m = compile(src, { verify: true });
  const rng = new Rng(3);
  const xs = [0, 1, 2].map(() => new Tensor([4], rng.normals(4)));
  const o = await run(m.fn('weighted'), { xs });
  const s = new Float64Array(4);
  for (let i = 0; i < 4; i++) s[i] = xs[0]!.data[i]! * 1 + xs[1]!.data[i]! * 2 + xs[2]!.data[i]! * 3 + (xs[0]!.data[i]! + xs[1]!.data[i]! + xs[2]!.data[i]!) - xs[0]!.data[i]!;
  assertClose(o.s!.data, s, 1e-15, 's');
  const pos = s.reduce((a, b) => a + b, 0) > 0;
  for (let k = 0; k < 3; k++) assertClose(o[`ys[${k}]`]!.data, Float64Array.from(xs[k]!.data, (v) => (pos ? (k + 1) * v : v)), 1e-15, `ys[${k}]`);
  const r = await run(m.fn('rev'), { xs });
  // reverse: i = 2, 1, 0 → acc = 4 x2 + 2 x1 + x0
  assertClose(r.out!.data, Float64Array.from(xs[0]!.data, (v, i) => 4 * xs[2]!.data[i]! + 2 * xs[1]!.data[i]! + v), 1e-15, 'rev');
  const d = await run(m.fn('dims_of'), { A: new Tensor([2, 3, 5], new Float64Array(30)) });
  assert.equal(d.out!.data[0], 2 * 5 + 30);
});

test('partial indexing of rank-3 tensors: T[i, :, :], T[:, j, :], T[:, :, k], T[i, :, k], static and dynamic indices', async () => {
  const src = `
fn parts(T: tensor[a, b, c], i: int, j: int, k: int) -> (P: mat[b, c], Q: mat[a, c], R: mat[a, b], s: vec[b], S: mat[a, c]) =
  (T[i, :, :], T[:, j, :], T[:, :, k], T[i, :, k], T[:, 1, :])
fn sweep(T: tensor[a, b, c]) -> mat[a, c] =
  iterate (S = zeros(a, c)) for j in 0..b => S + T[:, j, :]
`;
  const m = compile(src, { verify: true });
  const rng = new Rng(5);
  const [a, b, c] = [3, 4, 2];
  const Tt = new Tensor([a, b, c], rng.normals(a * b * c));
  const at = (x: number, y: number, z: number) => Tt.data[(x * b + y) * c + z]!;
  const [i, j, k] = [2, 3, 1];
  for (const [what, backend] of backends) {
    const o = (await m.fn('parts').forward({ T: Tt }, { dims: { i, j, k }, ...(backend ? { backend } : {}) })).outputs;
    assert.deepEqual(Array.from(o.P!.data), Array.from({ length: b * c }, (_, e) => at(i, Math.floor(e / c), e % c)), what);
    assert.deepEqual(Array.from(o.Q!.data), Array.from({ length: a * c }, (_, e) => at(Math.floor(e / c), j, e % c)), what);
    assert.deepEqual(Array.from(o.R!.data), Array.from({ length: a * b }, (_, e) => at(Math.floor(e / b), e % b, k)), what);
    assert.deepEqual(Array.from(o.s!.data), Array.from({ length: b }, (_, e) => at(i, e, k)), what);
    assert.deepEqual(Array.from(o.S!.data), Array.from({ length: a * c }, (_, e) => at(Math.floor(e / c), 1, e % c)), what);
    const w = (await m.fn('sweep').forward({ T: Tt }, backend ? { backend } : {})).outputs.out!;
    assertClose(w.data, Float64Array.from({ length: a * c }, (_, e) => [0, 1, 2, 3].reduce((acc, y) => acc + at(Math.floor(e / c), y, e % c), 0)), 1e-15, `sweep (${what})`);
  }
  // a dynamic index out of range is MATR107 where it runs, as every other index
  await assert.rejects(m.fn('parts').forward({ T: Tt }, { dims: { i: 0, j: 9, k: 0 }, backend: new CpuBackend({ reference: true }) }), (e: unknown) => e instanceof MatcRuntimeError && e.code === 'MATR107');
  // the gradient of a middle slice lands in that slice
  const g = await m.fn('parts').vjp({ T: Tt }, { P: new Tensor([b, c], new Float64Array(b * c)), Q: new Tensor([a, c], new Float64Array(a * c).fill(1)), R: new Tensor([a, b], new Float64Array(a * b)), s: new Tensor([b], new Float64Array(b)), S: new Tensor([a, c], new Float64Array(a * c)) }, { dims: { i, j, k } });
  assert.deepEqual(Array.from(g.gradients.T!.data), Array.from({ length: a * b * c }, (_, e) => (Math.floor(e / c) % b === j ? 1 : 0)));
});

test('optimizer parameters as collections: every element updated, and the JVP of a collection result as an array', async () => {
  const src = `
optimizer sgd_all(Ws: [mat[m[i], n[i]] for i in 0..K], Gs: [mat[m[i], n[i]] for i in 0..K]; lr: real = 0.5, K: static int = 2) =
  Ws <- [Ws[i] - lr * Gs[i] for i in 0..K]
fn powers(x: vec[n], K: static int = 3) -> ps: [vec[n] for i in 0..K] =
  unroll (acc = [x]) for i in 1..K => (acc, acc[i - 1] .* x)[0:1][0]
`;
  // the second function is a deliberately odd use of tuples and parts: it returns acc unchanged
  assert.throws(() => compile(src), (e: unknown) => e instanceof CompileError && e.diagnostics.some((d) => d.code === 'MAT0246'));
  const ok = `
optimizer sgd_all(Ws: [mat[m[i], n[i]] for i in 0..K], Gs: [mat[m[i], n[i]] for i in 0..K]; lr: real = 0.5, K: static int = 2) =
  Ws <- [Ws[i] - lr * Gs[i] for i in 0..K]
fn powers(x: vec[n], K: static int = 3) -> ps: [vec[n] for i in 0..K] =
  [x .^ float(i + 1) for i in 0..K]
`;
  const m = compile(ok, { verify: true });
  const rng = new Rng(21);
  const Ws = [new Tensor([2, 3], rng.normals(6)), new Tensor([4, 1], rng.normals(4)), new Tensor([1, 2], rng.normals(2))];
  const Gs = Ws.map((w) => new Tensor(w.shape, rng.normals(w.size)));
  const r = await m.fn('sgd_all').forward({ Ws, Gs } as unknown as Record<string, Tensor>);
  assert.equal(r.outputLists.Ws!.length, 3, 'K = 3 read off the collections');
  for (let k = 0; k < 3; k++) assertClose(r.outputLists.Ws![k]!.data, Float64Array.from(Ws[k]!.data, (v, i) => v - 0.5 * Gs[k]!.data[i]!), 1e-15, `Ws[${k}]`);
  const x = new Tensor([4], rng.normals(4));
  const dx = new Tensor([4], rng.normals(4));
  const j = await m.fn('powers').jvp({ x }, { x: dx });
  assert.equal(j.tangentLists.ps!.length, 3);
  for (let k = 0; k < 3; k++) {
    // d(x^(k+1)) = (k+1) x^k dx
    assertClose(j.tangentLists.ps![k]!.data, Float64Array.from(x.data, (v, i) => (k + 1) * v ** k * dx.data[i]!), 1e-14, `tangent of ps[${k}]`);
  }
  const g = await m.fn('powers').vjp({ x }, { ps: [dx, dx, dx] });
  assertClose(g.gradients.x!.data, Float64Array.from(x.data, (v, i) => (1 + 2 * v + 3 * v * v) * dx.data[i]!), 1e-14, 'VJP with collection cotangents');
});
