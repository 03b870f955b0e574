// The einsum contraction-path optimiser (issue 14; compiler/opt/einsum-path.ts, einsum.ts):
//   - the path's cost equals the optimum over all pairwise trees found by brute force (≤ 5
//     operands), and is never worse than left to right (up to 14 operands, dp and greedy);
//   - values are unchanged by the pass: random einsum specs (traces, diagonals, repeated output
//     indices, indices of size 1, scalars, indices summed in one operand) evaluated by the f64
//     interpreter before (the checked IR) and after (the optimized IR), and against a direct
//     index-loop reference written here;
//   - VJP and JVP of the optimized einsums against central finite differences in f64;
//   - the compiled CPU program (WebAssembly and JavaScript) agrees with the interpreter;
//   - the pass is idempotent and a 12-operand einsum compiles within the stage budget.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileProgram } from '../compiler/compile.js';
import { contractionPath, leftToRight, treeCost, DP_LIMIT, type Network, type PathTree } from '../compiler/opt/einsum-path.js';
import { optimizeEinsums } from '../compiler/opt/einsum.js';
import type { Func } from '../compiler/ir/node.js';
import { reachable } from '../compiler/ir/node.js';
import { printFunc } from '../compiler/ir/printer.js';
import { shapeOf } from '../compiler/ir/builder.js';
import { bindInputs } from '../runtime/bind.js';
import { runCpu } from '../runtime/cpu/backend.js';
import { Rng } from '../runtime/random.js';
import { Tensor } from '../runtime/tensor.js';
import { compile } from '../api/module.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { assertProperty } from './gen/property.js';

const RUNS = Number(process.env.MATC_PROPERTY_RUNS ?? 150);
const SEED = Number(process.env.MATC_PROPERTY_SEED ?? 20261214);

// ---- paths ---------------------------------------------------------------------------------------

/** Every pairwise tree over the operands `set` (unordered splits). */
function allTrees(set: number[]): PathTree[] {
  if (set.length === 1) return [{ k: 'leaf', i: set[0]! }];
  const out: PathTree[] = [];
  const [first, ...rest] = set;
  // the part holding `first`, over every proper subset of the rest
  for (let m = 0; m < 1 << rest.length; m++) {
    const left = [first!, ...rest.filter((_, i) => m & (1 << i))];
    const right = rest.filter((_, i) => !(m & (1 << i)));
    if (right.length === 0) continue;
    for (const l of allTrees(left)) for (const r of allTrees(right)) out.push({ k: 'pair', l, r });
  }
  return out;
}

const networkArb = (maxOps: number, maxIds: number): fc.Arbitrary<Network> =>
  fc
    .record({
      nIds: fc.integer({ min: 1, max: maxIds }),
      nOps: fc.integer({ min: 2, max: maxOps }),
      seed: fc.integer({ min: 0, max: 2 ** 30 }),
    })
    .map(({ nIds, nOps, seed }) => {
      const rng = new Rng(seed);
      const pick = (k: number): number => Math.floor(rng.next() * k);
      const sizes = Array.from({ length: nIds }, () => [1, 2, 3, 5, 8, 16, 64][pick(7)]!);
      const inputs: number[][] = [];
      for (let i = 0; i < nOps; i++) {
        const rank = pick(4);
        const ids = new Set<number>();
        for (let q = 0; q < rank; q++) ids.add(pick(nIds));
        inputs.push([...ids]);
      }
      const used = [...new Set(inputs.flat())];
      const output = used.filter(() => rng.next() < 0.35);
      return { inputs, output, sizes };
    });

test('the path is the optimum over all pairwise trees (brute force, ≤ 5 operands)', async () => {
  await assertProperty(
    fc.property(networkArb(5, 7), (net) => {
      const path = contractionPath(net);
      const trees = allTrees(net.inputs.map((_, i) => i));
      const best = Math.min(...trees.map((t) => treeCost(net, t).flops));
      assert.equal(treeCost(net, path.tree).flops, path.flops, 'reported flops are the tree\'s');
      assert.equal(path.flops, best, `path ${JSON.stringify(path.tree)} costs ${path.flops}, the best tree ${best}`);
    }),
    { numRuns: 300, seed: SEED },
  );
});

test('the path is never worse than left to right (dp and greedy, up to 14 operands)', async () => {
  await assertProperty(
    fc.property(networkArb(14, 12), (net) => {
      const path = contractionPath(net);
      const l2r = treeCost(net, leftToRight(net.inputs.length)).flops;
      assert.ok(path.flops <= l2r, `${path.method} path costs ${path.flops}, left to right ${l2r}`);
      assert.equal(path.method === 'dp', net.inputs.length <= DP_LIMIT);
    }),
    { numRuns: 200, seed: SEED + 1 },
  );
});

test('a chain of matrices gets the matrix-chain optimum; a tensor train contracts x core by core', () => {
  // A[10,100] B[100,5] C[5,50]: (AB)C costs 5000 + 2500 = 7500, A(BC) 25000 + 50000
  const net: Network = { inputs: [[0, 1], [1, 2], [2, 3]], output: [0, 3], sizes: [10, 100, 5, 50] };
  const p = contractionPath(net);
  assert.equal(p.flops, 7500);
  // x[i1 i2 i3 b] with cores G1[i1 r1] G2[r1 i2 r2] G3[r2 i3 r3]: never the product of cores alone
  // when the cores are large and b small is it cheaper; here b = 256 and ranks 8
  const tt: Network = { inputs: [[0, 1, 2, 3], [0, 4], [4, 1, 5], [5, 2, 6]], output: [3, 6], sizes: [16, 16, 16, 256, 8, 8, 8] };
  const q = contractionPath(tt);
  const dense = treeCost(tt, { k: 'pair', l: { k: 'leaf', i: 0 }, r: { k: 'pair', l: { k: 'pair', l: { k: 'leaf', i: 1 }, r: { k: 'leaf', i: 2 } }, r: { k: 'leaf', i: 3 } } });
  assert.ok(q.flops <= dense.flops);
  assert.ok(q.maxSize <= 16 * 16 * 16 * 256, `largest intermediate ${q.maxSize}`);
});

// ---- values -----------------------------------------------------------------------------------

interface EinsumCase {
  spec: string;
  /** per index letter: a constant size or a dimension name */
  dims: Map<string, number | string>;
  sizes: Record<string, number>;
  source: string;
  operands: string[];
}

const letters = 'abcdefgh';

const caseArb: fc.Arbitrary<EinsumCase> = fc
  .record({
    nIds: fc.integer({ min: 1, max: 6 }),
    nOps: fc.integer({ min: 1, max: 6 }),
    seed: fc.integer({ min: 0, max: 2 ** 30 }),
  })
  .map(({ nIds, nOps, seed }) => {
    const rng = new Rng(seed);
    const pick = (k: number): number => Math.floor(rng.next() * k);
    const dims = new Map<string, number | string>();
    const sizes: Record<string, number> = {};
    for (let i = 0; i < nIds; i++) {
      const c = letters[i]!;
      const r = rng.next();
      if (r < 0.15) dims.set(c, 1);
      else if (r < 0.25) dims.set(c, 2);
      else {
        dims.set(c, `n${c}`);
        sizes[`n${c}`] = 1 + pick(4);
      }
    }
    const ins: string[] = [];
    for (let i = 0; i < nOps; i++) {
      const rank = pick(4);
      let s = '';
      for (let q = 0; q < rank; q++) s += letters[pick(nIds)]!;
      ins.push(s);
    }
    if (ins.every((s) => s.length === 0)) ins[0] = 'a';
    const used = [...new Set(ins.join(''))];
    let out = used.filter(() => rng.next() < 0.45).join('');
    // sometimes an output index twice (a diagonal embedding)
    if (out.length > 0 && rng.next() < 0.1) out += out[0];
    const spec = `${ins.join(',')}->${out}`;
    for (const k of Object.keys(sizes)) if (!used.includes(k.slice(1))) delete sizes[k];
    const ty = (s: string): string => (s.length === 0 ? 'real' : `tensor[${[...s].map((c) => dims.get(c)).join(', ')}]`);
    const operands = ins.map((_, i) => `T${i}`);
    const source = `fn f(${ins.map((s, i) => `T${i}: ${ty(s)}`).join(', ')}) -> y: ${ty(out)} =\n  einsum("${spec}", ${operands.join(', ')})`;
    return { spec, dims, sizes, source, operands };
  });

/** A direct index loop over every index: the reference. */
function referenceEinsum(spec: string, ops: Tensor[]): Float64Array {
  const [lhs, out] = spec.split('->') as [string, string];
  const ins = lhs.split(',');
  const size = new Map<string, number>();
  ins.forEach((s, k) => [...s].forEach((c, q) => size.set(c, ops[k]!.shape[q]!)));
  const idx = [...size.keys()];
  const outShape = [...out].map((c) => size.get(c)!);
  const res = new Float64Array(outShape.reduce((a, x) => a * x, 1));
  const val = new Map<string, number>();
  const flat = (s: string, shape: readonly number[]): number => [...s].reduce((acc, c, q) => acc * shape[q]! + val.get(c)!, 0);
  const rec = (k: number): void => {
    if (k === idx.length) {
      let p = 1;
      ins.forEach((s, i) => (p *= ops[i]!.data[flat(s, ops[i]!.shape)]!));
      res[flat(out, outShape)]! += p;
      return;
    }
    for (let v = 0; v < size.get(idx[k]!)!; v++) {
      val.set(idx[k]!, v);
      rec(k + 1);
    }
  };
  rec(0);
  return res;
}

function inputsOf(f: Func, sizes: Record<string, number>, rng: Rng): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const p of f.params) {
    if (p.node.type.kind !== 'tensor') continue;
    const shape = p.node.type.shape.map((d) => d.eval(sizes));
    out[p.name] = new Tensor(shape, rng.normals(shape.reduce((a, x) => a * x, 1)));
  }
  return out;
}

function run(f: Func, inputs: Record<string, Tensor>, sizes: Record<string, number>): Record<string, Float64Array> {
  const r = runCpu(f, bindInputs(f, inputs, { dims: sizes }));
  return Object.fromEntries(Object.entries(r.outputs).map(([k, t]) => [k, Float64Array.from(t.data)]));
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  let scale = 1;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(a[i]!));
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i]! - b[i]!) <= tol * scale)) throw new Error(`${what}: index ${i}: ${a[i]} vs ${b[i]}`);
  }
}

function checkValues(c: EinsumCase): void {
  const p = compileProgram(c.source, { path: 'einsum.mat', verify: true });
  const before = p.lowered('f');
  const after = p.forward('f');
  const rng = new Rng(c.spec.length * 7919 + Object.keys(c.sizes).length);
  const x = inputsOf(before, c.sizes, rng);
  const ref = referenceEinsum(c.spec, c.operands.map((o) => x[o]!));
  const ctx = `${c.source}\nsizes ${JSON.stringify(c.sizes)}\n--- optimized:\n${printFunc(after)}`;
  close(ref, run(before, x, c.sizes).y!, 1e-12, `interpreter before the pass\n${ctx}`);
  close(ref, run(after, x, c.sizes).y!, 1e-12, `interpreter after the pass\n${ctx}`);
  // no einsum of three or more operands survives, and none repeats an output index
  for (const n of reachable(after.results.map((r) => r.node))) {
    if (n.op !== 'einsum') continue;
    const [lhs, out] = String(n.attrs.spec).split('->') as [string, string];
    assert.ok(lhs.split(',').length <= 2, `an einsum of ${lhs.split(',').length} operands remains\n${ctx}`);
    assert.equal(new Set(out).size, out.length, `a repeated output index remains\n${ctx}`);
  }
}

test('the pass preserves values of random einsums (interpreter before/after, index-loop reference)', async () => {
  await assertProperty(fc.property(caseArb, checkValues), { numRuns: RUNS, seed: SEED + 2 });
});

/** ⟨ct, f(x + h u)⟩ by central differences against ⟨grad, u⟩ (VJP) and ⟨ct, JVP(u)⟩. */
function checkGradients(c: EinsumCase): void {
  const p = compileProgram(c.source, { path: 'einsum.mat', verify: true });
  const fwd = p.forward('f');
  const vjp = p.vjp('f');
  const jvp = p.jvp('f');
  const rng = new Rng(c.spec.length * 104729 + 3);
  const x = inputsOf(fwd, c.sizes, rng);
  const u = inputsOf(fwd, c.sizes, rng);
  const outShape = shapeOf(fwd.results[0]!.node).map((d) => d.eval(c.sizes));
  const ct = new Tensor(outShape, rng.normals(outShape.reduce((a, b) => a * b, 1)));
  const at = (t: number): number => {
    const xt = Object.fromEntries(Object.entries(x).map(([k, v]) => [k, new Tensor(v.shape, v.data.map((xi, i) => xi + t * u[k]!.data[i]!))]));
    const y = run(fwd, xt, c.sizes).y!;
    return y.reduce((s, yi, i) => s + yi * ct.data[i]!, 0);
  };
  const h = 1e-4;
  const fd = (at(h) - at(-h)) / (2 * h);
  const g = run(vjp, { ...x, 'ct.y': ct }, c.sizes);
  let viaVjp = 0;
  for (const [k, v] of Object.entries(u)) {
    const gk = g[`grad.${k}`]!;
    for (let i = 0; i < v.data.length; i++) viaVjp += gk[i]! * v.data[i]!;
  }
  const tg = run(jvp, { ...x, ...Object.fromEntries(Object.entries(u).map(([k, v]) => [`tg.${k}`, v])) }, c.sizes)['tg.y']!;
  const viaJvp = tg.reduce((s, t, i) => s + t * ct.data[i]!, 0);
  const scale = Math.max(1, Math.abs(fd));
  const ctx = `${c.source}\nsizes ${JSON.stringify(c.sizes)}`;
  assert.ok(Math.abs(viaVjp - fd) <= 1e-6 * scale, `VJP ${viaVjp} vs finite differences ${fd}\n${ctx}\n${printFunc(vjp)}`);
  assert.ok(Math.abs(viaJvp - fd) <= 1e-6 * scale, `JVP ${viaJvp} vs finite differences ${fd}\n${ctx}\n${printFunc(jvp)}`);
}

test('gradients through optimized einsums match f64 finite differences (VJP and JVP)', async () => {
  await assertProperty(fc.property(caseArb, checkGradients), { numRuns: Math.ceil(RUNS / 2), seed: SEED + 3 });
});

test('compiled CPU programs (WebAssembly, JavaScript) agree with the interpreter on optimized einsums', async () => {
  const cases = fc.sample(caseArb, { numRuns: 24, seed: SEED + 4 });
  const backends = [new CpuBackend({ reference: true }), new CpuBackend({ engine: 'wasm', threads: 1 }), new CpuBackend({ engine: 'js', threads: 1 })];
  for (const c of cases) {
    const fn = compile(c.source, { path: 'einsum.mat' }).fn('f');
    const rng = new Rng(17);
    const x = inputsOf(compileProgram(c.source, { path: 'einsum.mat' }).forward('f'), c.sizes, rng);
    const ref = referenceEinsum(c.spec, c.operands.map((o) => x[o]!));
    const ct = (fnOut: number[]): Tensor => new Tensor(fnOut, rng.normals(fnOut.reduce((a, b) => a * b, 1)));
    let grads: Record<string, Float64Array> | null = null;
    let cot: Tensor | null = null;
    for (const be of backends) {
      const r = await fn.forward(x, { backend: be, dims: c.sizes });
      close(ref, r.outputs.y!.data, 1e-12, `${c.source}: forward on backend ${backends.indexOf(be)}`);
      cot ??= ct([...r.outputs.y!.shape]);
      const v = await fn.vjp(x, { y: cot }, { backend: be, dims: c.sizes });
      const gs = Object.fromEntries(Object.entries(v.gradients).map(([k, t]) => [k, Float64Array.from(t.data)]));
      if (!grads) grads = gs;
      else for (const [k, gk] of Object.entries(grads)) close(gk, gs[k]!, 1e-12, `${c.source}: gradient of ${k} on backend ${backends.indexOf(be)}`);
    }
  }
});

test('the pass is idempotent', () => {
  for (const c of fc.sample(caseArb, { numRuns: 40, seed: SEED + 5 })) {
    const p = compileProgram(c.source, { path: 'einsum.mat' });
    const once = p.forward('f');
    const b = p.b;
    const twice = optimizeEinsums(b, once);
    assert.equal(printFunc(twice), printFunc(once), c.source);
  }
});

test('a 12-operand einsum (greedy) and a 10-operand one (dp) compile within the stage budget', () => {
  // a ring of 12 matrices traced, and a star of 10 vectors around a tensor
  const ring = Array.from({ length: 12 }, (_, i) => `M${i}: mat[n, n]`).join(', ');
  const spec12 = Array.from({ length: 12 }, (_, i) => `${'abcdefghijklmnopqrstuvwxyz'[i]}${'abcdefghijklmnopqrstuvwxyz'[(i + 1) % 12]}`).join(',');
  const src12 = `fn ring(${ring}) -> t: real = einsum("${spec12}->", ${Array.from({ length: 12 }, (_, i) => `M${i}`).join(', ')})`;
  const t0 = performance.now();
  const p = compileProgram(src12, { path: 'ring.mat', verify: true, budgetMs: 2000 });
  p.forward('ring');
  p.vjp('ring');
  const ms = performance.now() - t0;
  assert.ok(ms < 2000, `12-operand einsum took ${ms.toFixed(0)} ms`);
  const star = `fn star(T: tensor[n, n, n, n, n], ${Array.from({ length: 9 }, (_, i) => `v${i}: vec[n]`).join(', ')}) -> y: real =
  einsum("abcde,a,b,c,d,e,a,b,c,d->", T, ${Array.from({ length: 9 }, (_, i) => `v${i}`).join(', ')})`;
  const q = compileProgram(star, { path: 'star.mat', verify: true, budgetMs: 2000 });
  const fwd = q.forward('star');
  q.vjp('star');
  // the 5-tensor is contracted with vectors one axis at a time, never expanded
  assert.ok(reachable(fwd.results.map((r) => r.node)).every((n) => n.op !== 'einsum' || String(n.attrs.spec).split('->')[0]!.split(',').length <= 2));
});

test('a 64-operand einsum (greedy, restarts off, subtree reconfiguration) compiles within the stage budget', () => {
  // a train of matrices between two vectors, u M0 ⋯ M49 w, a scalar: the optimum multiplies
  // vectors into matrices (O(n²) each) and never two matrices (O(n³))
  const L = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  // 64 indices would be needed for 63 matrices; letters run out at 52, so the train is 50
  // matrices long and the last 12 operands are vectors on inner indices (each then in 3 operands)
  const mats = 50;
  const parts: string[] = ['a'];
  const decl: string[] = ['u: vec[n]'];
  const names: string[] = ['u'];
  for (let i = 0; i < mats; i++) {
    parts.push(L[i]! + L[i + 1]!);
    decl.push(`M${i}: mat[n, n]`);
    names.push(`M${i}`);
  }
  parts.push(L[mats]!);
  decl.push('w: vec[n]');
  names.push('w');
  for (let j = 0; j < 64 - mats - 2; j++) {
    parts.push(L[2 + 3 * j]!);
    decl.push(`v${j}: vec[n]`);
    names.push(`v${j}`);
  }
  assert.equal(names.length, 64);
  const src = `fn train(${decl.join(', ')}) -> t: real = einsum("${parts.join(',')}->", ${names.join(', ')})`;
  const t0 = performance.now();
  const p = compileProgram(src, { path: 'train.mat', verify: true });
  const fwd = p.forward('train');
  p.vjp('train');
  const ms = performance.now() - t0;
  // no matrix–matrix product: every pairwise step multiplies a vector into a matrix
  const nodes = reachable(fwd.results.map((r) => r.node));
  assert.deepEqual(nodes.filter((n) => n.op === 'matmul').map((n) => n.op), [], 'a matrix–matrix product in the path');
  console.log(`# 64-operand einsum: forward and VJP compiled in ${ms.toFixed(0)} ms`);
});
