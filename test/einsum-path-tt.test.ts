// Tensor-train operators through the einsum pass (issue 14 item 2; seeds-math §3.3): x reshaped
// to its modes and contracted with the cores of an STTP weight in ONE einsum of 7, 11 and 19
// operands (dynamic program, greedy) — the optimized forward and VJP never produce a tensor of
// the dense d_out × d_in weight's size and cost a fraction of the dense product; the values equal
// W x with W formed by a loop over the cores here; gradients match f64 finite differences; the
// compiled CPU program and the WebGPU kernel agree with the interpreter.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileProgram } from '../compiler/compile.js';
import { compile } from '../api/module.js';
import { shapeOf } from '../compiler/ir/builder.js';
import type { Func } from '../compiler/ir/node.js';
import { bindInputs } from '../runtime/bind.js';
import { runCpu } from '../runtime/cpu/backend.js';
import { Rng } from '../runtime/random.js';
import { Tensor } from '../runtime/tensor.js';
import { irCost } from './util/ir-cost.js';
import { ttRanks, ttSpec, type TtShape } from './util/tt-spec.js';
import { assertAgree, runAll } from './util/backends.js';
import { releaseSharedGpu } from './gpu-available.js';

after(releaseSharedGpu);

function inputsOf(f: Func, dims: Record<string, number>, rng: Rng, scale = 1): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const p of f.params) {
    const shape = shapeOf(p.node).map((d) => d.eval(dims));
    out[p.name] = new Tensor(shape, rng.normals(shape.reduce((a, x) => a * x, 1)).map((v) => v * scale));
  }
  return out;
}

function dot(a: Tensor, b: Tensor): number {
  assert.equal(a.size, b.size);
  let s = 0;
  for (let i = 0; i < a.size; i++) s += a.data[i]! * b.data[i]!;
  return s;
}

/** W[o, i] = Σ U1[1, o1, a1] ⋯ UP[a, oP, s] V1[s, n1, c1] ⋯ VQ[c, nQ, 1] by an explicit loop over
 *  the rank indices, o and i row-major over their modes. */
function denseWeight(shape: TtShape, cores: Tensor[]): Float64Array {
  const modes = [...shape.out, ...shape.in];
  const dOut = shape.out.reduce((a, x) => a * x, 1);
  const dIn = shape.in.reduce((a, x) => a * x, 1);
  const W = new Float64Array(dOut * dIn);
  const P = shape.out.length;
  const idx = new Array<number>(modes.length).fill(0);
  for (let flat = 0; flat < dOut * dIn; flat++) {
    let rem = flat;
    for (let k = modes.length - 1; k >= 0; k--) {
      idx[k] = rem % modes[k]!;
      rem = Math.floor(rem / modes[k]!);
    }
    // row vector through the train: v ← v · core[:, idx_k, :]
    let v = [1];
    for (let k = 0; k < modes.length; k++) {
      const c = cores[k]!;
      const [r0, n, r1] = c.shape as [number, number, number];
      const next = new Array<number>(r1).fill(0);
      for (let a = 0; a < r0; a++) for (let b = 0; b < r1; b++) next[b]! += v[a]! * c.data[(a * n + idx[k]!) * r1 + b]!;
      v = next;
    }
    // flat = (o, i) with o over the first P modes
    let o = 0;
    for (let k = 0; k < P; k++) o = o * modes[k]! + idx[k]!;
    let i = 0;
    for (let k = P; k < modes.length; k++) i = i * modes[k]! + idx[k]!;
    W[o * dIn + i] = v[0]!;
  }
  return W;
}

const shapes: { what: string; shape: TtShape; operands: number }[] = [
  { what: '6 cores (dynamic program)', shape: { out: [8, 16], in: [4, 4, 4, 9], r: 16, b: 32 }, operands: 7 },
  { what: '10 cores (greedy)', shape: { out: [4, 4, 4, 8], in: [4, 4, 4, 4, 2, 9], r: 32, b: 64 }, operands: 11 },
  // c_in = 256, c_out = 512, k = 3 with prime-factor modes (seeds-math §3.5): 18 cores
  { what: 'STTP 512 × 256·3·3, r = 32 (18 cores)', shape: { out: Array(9).fill(2), in: [...Array(8).fill(2), 9], r: 32, b: 256 }, operands: 19 },
];

for (const { what, shape, operands } of shapes) {
  for (const constants of [false, true]) {
    test(`TT operator, ${what}, ${constants ? 'constant' : 'symbolic'} sizes: no dense weight, forward and VJP`, () => {
      const s = ttSpec(shape, { constants });
      const p = compileProgram(s.source, { path: 'tt.mat', verify: true });
      const dims = constants ? {} : s.dims;
      const dense = s.dOut * s.dIn;
      assert.ok(shape.b * s.dIn < dense, 'x is smaller than W (the check below would be void otherwise)');
      assert.equal(s.params.length, operands);
      for (const [form, f] of [
        ['forward', p.forward(s.name)],
        ['VJP', p.vjp(s.name)],
        ['JVP', p.jvp(s.name)],
      ] as const) {
        const c = irCost(f, dims);
        const big = c.nodes.filter((x) => x.size >= dense);
        assert.deepEqual(
          big.map((x) => `%${x.node.id} ${x.node.op} of ${x.size}`),
          [],
          `${form}: a tensor of the dense weight's size (${s.dOut} × ${s.dIn}) is formed`,
        );
        // the dense product alone costs d_out·d_in·b multiply–adds (and forming W more)
        const limit = form === 'forward' ? dense * shape.b : 3 * dense * shape.b;
        assert.ok(c.flops < limit / 3, `${form}: ${c.flops.toExponential(2)} multiply–adds, dense ${limit.toExponential(2)}`);
      }
      // the backward costs a small multiple of the forward (reverse mode through the tree)
      const fwd = irCost(p.forward(s.name), dims).flops;
      const vjp = irCost(p.vjp(s.name), dims).flops;
      assert.ok(vjp <= 4 * fwd, `VJP ${vjp.toExponential(2)} vs forward ${fwd.toExponential(2)}`);
    });
  }
}

test('TT operator values equal W x with W formed from the cores (interpreter, WebAssembly, JavaScript)', async () => {
  const shape: TtShape = { out: [2, 3], in: [2, 3, 2], r: 3, b: 5 };
  const s = ttSpec(shape);
  const p = compileProgram(s.source, { path: 'tt.mat', verify: true });
  const f = p.forward(s.name);
  const rng = new Rng(11);
  const x = inputsOf(f, s.dims, rng);
  const cores = s.params.slice(1).map((k) => x[k]!);
  assert.deepEqual(
    cores.map((c) => c.shape[0]),
    ttRanks([...shape.out, ...shape.in], shape.r).slice(0, -1),
  );
  const W = denseWeight(shape, cores);
  const X = x.x!;
  const want = new Float64Array(s.dOut * shape.b);
  for (let o = 0; o < s.dOut; o++) for (let j = 0; j < shape.b; j++) for (let i = 0; i < s.dIn; i++) want[o * shape.b + j]! += W[o * s.dIn + i]! * X.data[i * shape.b + j]!;
  const runs = await runAll(compile(s.source, { path: 'tt.mat' }).fn(s.name), x, { dims: s.dims });
  for (const [name, r] of Object.entries(runs)) {
    const y = r.outputs.y!.data;
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(y[i]! - want[i]!) <= 1e-12 * Math.max(1, Math.abs(want[i]!)), `${name}: y[${i}] = ${y[i]}, W x = ${want[i]}`);
  }
  // the lowered (unoptimized) function agrees too
  const before = runCpu(p.lowered(s.name), bindInputs(p.lowered(s.name), x, { dims: s.dims })).outputs.y!.data;
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(before[i]! - want[i]!) <= 1e-12 * Math.max(1, Math.abs(want[i]!)));
});

test('TT operator gradients (x and every core) match f64 finite differences; VJP and JVP', () => {
  const shape: TtShape = { out: [3, 2], in: [2, 2, 3], r: 3, b: 4 };
  const s = ttSpec(shape);
  const p = compileProgram(s.source, { path: 'tt.mat', verify: true });
  const fwd = p.forward(s.name);
  const vjp = p.vjp(s.name);
  const jvp = p.jvp(s.name);
  const rng = new Rng(5);
  const x = inputsOf(fwd, s.dims, rng);
  const ct = new Tensor([s.dOut, shape.b], rng.normals(s.dOut * shape.b));
  const run = (f: Func, inputs: Record<string, Tensor>): Record<string, Tensor> => runCpu(f, bindInputs(f, inputs, { dims: s.dims })).outputs;
  const g = run(vjp, { ...x, 'ct.y': ct });
  const h = 1e-5;
  for (const name of s.params) {
    // a direction in this parameter only: the gradient of each input separately
    const u = new Tensor(x[name]!.shape, rng.normals(x[name]!.size));
    const at = (t: number): number => {
      const xt = { ...x, [name]: new Tensor(u.shape, x[name]!.data.map((v, i) => v + t * u.data[i]!)) };
      return dot(run(fwd, xt).y!, ct);
    };
    const fd = (at(h) - at(-h)) / (2 * h);
    const gv = dot(g[`grad.${name}`]!, u);
    const tangents = Object.fromEntries(s.params.map((k) => [`tg.${k}`, k === name ? u : new Tensor(x[k]!.shape, new Float64Array(x[k]!.size))]));
    const jv = dot(run(jvp, { ...x, ...tangents })['tg.y']!, ct);
    const scale = Math.max(1, Math.abs(fd));
    assert.ok(Math.abs(gv - fd) <= 1e-7 * scale, `grad.${name}: VJP ${gv}, finite differences ${fd}`);
    assert.ok(Math.abs(jv - fd) <= 1e-7 * scale, `tg along ${name}: JVP ${jv}, finite differences ${fd}`);
  }
});

// CPU = WebGPU on a few contractions (forward and VJP): a TT operator, a batched product kept as
// a pairwise einsum, a trace and diagonal, a chain with a permuted output
const parity: { name: string; src: string; dims: Record<string, number> }[] = [
  { name: 'tt', src: ttSpec({ out: [2, 3], in: [2, 2, 3], r: 3, b: 4 }, { name: 'f' }).source, dims: ttSpec({ out: [2, 3], in: [2, 2, 3], r: 3, b: 4 }).dims },
  { name: 'batched', src: 'fn f(A: tensor[b, m, k], B: tensor[b, k, n], C: tensor[b, n, p]) -> y: tensor[p, b, m] = einsum("bmk,bkn,bnp->pbm", A, B, C)', dims: { b: 3, m: 4, k: 5, n: 2, p: 3 } },
  { name: 'trace', src: 'fn f(A: mat[n, n], B: tensor[n, n, m], v: vec[m]) -> y: vec[n] = einsum("ii,jjk,k->i", A, B, v)', dims: { n: 4, m: 3 } },
  { name: 'chain', src: 'fn f(A: mat[m, k], B: mat[k, n], C: mat[n, p], d: vec[p]) -> y: tensor[p, m] = einsum("mk,kn,np,p->pm", A, B, C, d)', dims: { m: 5, k: 3, n: 4, p: 2 } },
];

for (const c of parity) {
  test(`CPU = WebGPU: ${c.name} (forward and VJP)`, async (t) => {
    const fn = compile(c.src, { path: `${c.name}.mat` }).fn('f');
    const p = compileProgram(c.src, { path: `${c.name}.mat` });
    const rng = new Rng(3);
    const x = inputsOf(p.forward('f'), c.dims, rng, 0.5);
    const fwd = await runAll(fn, x, { dims: c.dims, t });
    assertAgree(fwd, 1e-12, 1e-4, `${c.name} forward: `);
    const outShape = shapeOf(p.forward('f').results[0]!.node).map((d) => d.eval(c.dims));
    const ct = new Tensor(outShape, rng.normals(outShape.reduce((a, v) => a * v, 1)));
    const back = await runAll(fn, { ...x, 'ct.y': ct }, { dims: c.dims, t, mode: 'vjp' });
    assertAgree(back, 1e-12, 1e-4, `${c.name} VJP: `);
  });
}
