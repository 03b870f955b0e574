// Einsum networks merged through reshapes (issue 14 item 2): a chain of einsums written step by
// step, with reshapes that split or merge indices in between (a tensor train swept core by core
// over a compile-time collection), is optimised as ONE network whose contraction order the
// compiler chooses, instead of the order the spec wrote. Checked here:
//   - values of small chains (an index split, an id split across a merge, a transpose, a
//     reshape that is not a regrouping and must not merge) against plain loops in f64, on the
//     optimized forward, and the VJP against central finite differences;
//   - the merge pays: a product written to form a large intermediate is contracted without it;
//   - stdlib tt_apply over a collection of 19 cores (STTP 512 × 2304, r = 32) costs less than the
//     sweep its spec writes, by the sweep's own cost formula (stdlib/sttp.mat), at c = 256 and
//     at c = 1, its VJP (differentiated through the merged network) at most 3.5× its forward,
//     and never forms a tensor of the dense weight's size (forward and VJP).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { compileProgram } from '../compiler/compile.js';
import { shapeOf } from '../compiler/ir/builder.js';
import type { Func } from '../compiler/ir/node.js';
import { bindInputs } from '../runtime/bind.js';
import { runCpu } from '../runtime/cpu/backend.js';
import { Rng } from '../runtime/random.js';
import { Tensor } from '../runtime/tensor.js';
import { sttpShape } from '../api/sttp.js';
import { irCost } from './util/ir-cost.js';
import { repoRoot } from './gen/paths.js';

function inputsOf(f: Func, dims: Record<string, number>, rng: Rng): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const p of f.params) {
    const shape = shapeOf(p.node).map((d) => d.eval(dims));
    out[p.name] = new Tensor(shape, rng.normals(shape.reduce((a, x) => a * x, 1)));
  }
  return out;
}

const run = (f: Func, x: Record<string, Tensor>, dims: Record<string, number>): Record<string, Tensor> => runCpu(f, bindInputs(f, x, { dims })).outputs;

interface Case {
  name: string;
  src: string;
  dims: Record<string, number>;
  /** y by plain loops over row-major data */
  ref: (x: Record<string, Tensor>, d: Record<string, number>) => number[];
}

const at = (t: Tensor, ...ix: number[]): number => {
  let k = 0;
  ix.forEach((v, q) => (k = k * t.shape[q]! + v));
  return t.data[k]!;
};

const cases: Case[] = [
  {
    // P = A B is [m, a·b]; reshaped to [m, a, b] and contracted with u, v: y = Σ P[m, (i, j)] u_i v_j
    name: 'index split (reshape [m, a·b] → [m, a, b])',
    src: 'fn f(A: mat[m, n], B: mat[n, a * b], u: vec[a], v: vec[b]) -> y: vec[m] = einsum("mij,i,j->m", reshape(einsum("mk,kl->ml", A, B), m, a, b), u, v)',
    dims: { m: 5, n: 4, a: 3, b: 2 },
    ref: (x, d) => {
      const y: number[] = [];
      for (let mm = 0; mm < d.m!; mm++) {
        let s = 0;
        for (let i = 0; i < d.a!; i++)
          for (let j = 0; j < d.b!; j++) {
            let p = 0;
            for (let k = 0; k < d.n!; k++) p += at(x.A!, mm, k) * at(x.B!, k, i * d.b! + j);
            s += p * at(x.u!, i) * at(x.v!, j);
          }
        y.push(s);
      }
      return y;
    },
  },
  {
    // a consumer index over a·b·k read from P: [a·b, k]: the id is split into (a·b, k)
    name: 'merged axes (reshape [a·b, k] → [a·b·k]) read by a vector',
    src: 'fn f(A: tensor[a, b, n], B: mat[n, k], w: vec[a * b * k]) -> y: real = einsum("x,x->", reshape(einsum("in,nk->ik", reshape(A, a * b, n), B), a * b * k), w)',
    dims: { a: 2, b: 3, n: 4, k: 3 },
    ref: (x, d) => {
      let s = 0;
      const rows = d.a! * d.b!;
      for (let i = 0; i < rows; i++)
        for (let kk = 0; kk < d.k!; kk++) {
          let p = 0;
          for (let q = 0; q < d.n!; q++) p += x.A!.data[i * d.n! + q]! * at(x.B!, q, kk);
          s += p * at(x.w!, i * d.k! + kk);
        }
      return [s];
    },
  },
  {
    // a split and a merge in one reshape, then a transpose: [a·b, c] → [a, b·c] → ᵀ
    name: 'split and merge in one reshape, then a transpose',
    src: 'fn f(A: tensor[a, b, n], B: mat[n, c], C: mat[a, p]) -> y: mat[b * c, p] = einsum("xa,ap->xp", reshape(einsum("in,nc->ic", reshape(A, a * b, n), B), a, b * c)\', C)',
    dims: { a: 2, b: 3, n: 2, c: 2, p: 3 },
    ref: (x, d) => {
      const y: number[] = [];
      for (let r = 0; r < d.b! * d.c!; r++)
        for (let pp = 0; pp < d.p!; pp++) {
          let s = 0;
          for (let aa = 0; aa < d.a!; aa++) {
            // reshape(P, a, b·c)[aa, r] = P[flat / c, flat % c] with flat = aa·b·c + r
            const flat = aa * d.b! * d.c! + r;
            const i = Math.floor(flat / d.c!);
            const cc = flat % d.c!;
            let pv = 0;
            for (let q = 0; q < d.n!; q++) pv += x.A!.data[i * d.n! + q]! * at(x.B!, q, cc);
            s += pv * at(x.C!, aa, pp);
          }
          y.push(s);
        }
      return y;
    },
  },
  {
    // [6, 4] → [4, 6] is no regrouping: the reshape stays, the values must too
    name: 'a reshape that is not a regrouping ([6, 4] → [4, 6]) is not merged',
    src: 'fn f(A: mat[6, 3], B: mat[3, 4], C: mat[6, 2]) -> y: mat[4, 2] = einsum("ij,jk->ik", reshape(einsum("ij,jk->ik", A, B), 4, 6), C)',
    dims: {},
    ref: (x) => {
      const P: number[] = [];
      for (let i = 0; i < 6; i++)
        for (let k = 0; k < 4; k++) {
          let s = 0;
          for (let j = 0; j < 3; j++) s += at(x.A!, i, j) * at(x.B!, j, k);
          P.push(s);
        }
      const y: number[] = [];
      for (let i = 0; i < 4; i++)
        for (let k = 0; k < 2; k++) {
          let s = 0;
          for (let j = 0; j < 6; j++) s += P[i * 6 + j]! * at(x.C!, j, k);
          y.push(s);
        }
      return y;
    },
  },
];

for (const c of cases) {
  test(`einsum merged through reshapes: ${c.name} — values = plain loops, VJP = finite differences`, () => {
    const p = compileProgram(c.src, { path: 'merge.mat', verify: true });
    const fwd = p.forward('f');
    const rng = new Rng(7);
    const x = inputsOf(fwd, c.dims, rng);
    const want = c.ref(x, c.dims);
    const y = run(fwd, x, c.dims).y!;
    assert.equal(y.size, want.length);
    want.forEach((w, i) => assert.ok(Math.abs(y.data[i]! - w) <= 1e-12 * Math.max(1, Math.abs(w)), `y[${i}] = ${y.data[i]}, loops ${w}`));
    // VJP: ⟨ȳ, J u⟩ for a random direction u in every input, against central differences
    const vjp = p.vjp('f');
    const ct = new Tensor(y.shape, rng.normals(y.size));
    const g = run(vjp, { ...x, 'ct.y': ct }, c.dims);
    const u = Object.fromEntries(Object.entries(x).map(([k, t]) => [k, new Tensor(t.shape, rng.normals(t.size))]));
    const phi = (h: number): number => {
      const xs = Object.fromEntries(Object.entries(x).map(([k, t]) => [k, new Tensor(t.shape, t.data.map((v, i) => v + h * u[k]!.data[i]!))]));
      const yy = c.ref(xs, c.dims);
      return yy.reduce((s, v, i) => s + v * ct.data[i]!, 0);
    };
    const h = 1e-5;
    const fd = (phi(h) - phi(-h)) / (2 * h);
    let an = 0;
    for (const k of Object.keys(x)) {
      const gk = g[`grad.${k}`]!;
      for (let i = 0; i < gk.size; i++) an += gk.data[i]! * u[k]!.data[i]!;
    }
    assert.ok(Math.abs(an - fd) <= 1e-7 * Math.max(1, Math.abs(fd)), `VJP ${an}, finite differences ${fd}`);
  });
}

test('einsum merged through reshapes: the large intermediate the spec wrote (A B, m × a·b) is not formed', () => {
  const p = compileProgram(cases[0]!.src, { path: 'merge.mat', verify: true });
  const dims = { m: 64, n: 64, a: 64, b: 64 };
  const c = irCost(p.forward('f'), dims);
  // as written: A B alone is m·n·a·b = 1.7e7 multiply–adds and an m·a·b tensor
  assert.ok(c.flops < (64 ** 4) / 8, `${c.flops.toExponential(2)} multiply–adds`);
  assert.ok(c.maxTensor < 64 ** 3, `largest contraction result ${c.maxTensor}`);
});

/** The cost of tt_apply's sweep as stdlib/sttp.mat writes it: right cores K−1 … Kout absorbed
 *  into X (step i: (n_Kout ⋯ n_i) R_i R_{i+1} c), then the left cores Kout−1 … 0 expand
 *  (step i: R_i n_i R_{i+1} (n_{i+1} ⋯ n_{Kout−1}) c). */
function sweepCost(n: number[], R: number[], Kout: number, K: number, c: number): number {
  let f = 0;
  for (let i = K - 1; i >= Kout; i--) f += n.slice(Kout, i + 1).reduce((a, x) => a * x, 1) * R[i]! * R[i + 1]! * c;
  for (let i = Kout - 1; i >= 0; i--) f += R[i]! * n[i]! * R[i + 1]! * n.slice(i + 1, Kout).reduce((a, x) => a * x, 1) * c;
  return f;
}

test('stdlib tt_apply over 19 cores (STTP 512 × 2304, r = 32): one network, cheaper than the written sweep at c = 256 and c = 1, no dense weight', () => {
  const path = join(repoRoot, 'stdlib', 'sttp.mat');
  const m = compile(readFileSync(path, 'utf8'), { path });
  const s = sttpShape(512, 2304, 32);
  const name = m.fn('tt_apply').specialize({ Kout: s.Kout, K: s.K }).name;
  const fwd = m.program.forward(name);
  const vjp = m.program.vjp(name);
  for (const c of [256, 1]) {
    const dims = { ...s.dims, c };
    const got = irCost(fwd, dims);
    const sweep = sweepCost(s.n, s.R, s.Kout, s.K, c);
    assert.ok(got.flops <= (c === 1 ? 1 : 0.75) * sweep, `c = ${c}: ${got.flops.toExponential(3)} multiply–adds, the written sweep ${sweep.toExponential(3)}`);
    // the VJP is differentiated through the merged network (compile.ts differentiable): reverse
    // mode through the chosen tree costs about 3× its forward; step by step through the written
    // sweep it cost 5.3× the merged forward (2.76e8 multiply–adds at c = 256)
    const back = irCost(vjp, dims).flops;
    assert.ok(back <= 3.5 * got.flops, `c = ${c}: VJP ${back.toExponential(3)} multiply–adds, forward ${got.flops.toExponential(3)}`);
    for (const [form, f] of [['forward', fwd], ['VJP', vjp]] as const) {
      const big = irCost(f, dims).nodes.filter((x) => x.size >= s.dOut * s.dIn);
      assert.deepEqual(big.map((x) => `%${x.node.id} ${x.node.op}`), [], `${form}, c = ${c}: a tensor of the dense weight's size is formed`);
    }
  }
});
