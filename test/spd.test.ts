// stdlib/spd.mat (issue 15): the properties of the inverse-free updates that need no external oracle
// beyond closed forms and finite differences.
//   - the reference network's hand-written backward (test/util/spd.ts) against matc's own VJP of its
//     loss and against central differences; the VJP of one INGD step against central differences;
//   - INGD's fixed point on constant statistics: A Aᵀ = (t_B U + λ c_B I)⁻¹ and B Bᵀ = (t_A G + λ c_A I)⁻¹
//     with c_B = tr(BᵀB)/d, t_B = tr(BᵀGB)/d (seeds-math §2.3), to 1e-9;
//   - the T-step branch: the factor update is a `cond` (a real branch) in the optimized IR; between
//     refresh steps the factors are returned bit for bit; the lr₁ schedule switches at t = 100 / 500
//     as local_cov's (checked against a JavaScript transcription of one step).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { gradCheck } from '../api/gradcheck.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { Tensor } from '../runtime/tensor.js';
import type { Node } from '../compiler/ir/node.js';
import { netSpec, rnd } from './util/spd.js';

const mod = compile(`import "spd.mat"\n${netSpec}`, { path: 'spd-unit.mat' });
const backend = new CpuBackend({ engine: 'wasm', threads: 1 });

// small row-major helpers for the oracles
type M = { r: number; c: number; d: Float64Array };
const mk = (r: number, c: number, d?: ArrayLike<number>): M => ({ r, c, d: d ? Float64Array.from(d) : new Float64Array(r * c) });
const eye = (n: number): M => {
  const m = mk(n, n);
  for (let i = 0; i < n; i++) m.d[i * n + i] = 1;
  return m;
};
const mul = (a: M, b: M): M => {
  const o = mk(a.r, b.c);
  for (let i = 0; i < a.r; i++) for (let k = 0; k < a.c; k++) for (let j = 0; j < b.c; j++) o.d[i * b.c + j] += a.d[i * a.c + k]! * b.d[k * b.c + j]!;
  return o;
};
const tr = (a: M): M => {
  const o = mk(a.c, a.r);
  for (let i = 0; i < a.r; i++) for (let j = 0; j < a.c; j++) o.d[j * a.r + i] = a.d[i * a.c + j]!;
  return o;
};
const lin = (x: number, a: M, y = 0, b?: M): M => mk(a.r, a.c, a.d.map((v, i) => x * v + (b ? y * b.d[i]! : 0)));
const trace = (a: M): number => {
  let s = 0;
  for (let i = 0; i < a.r; i++) s += a.d[i * a.c + i]!;
  return s;
};
const sumsq = (a: M): number => a.d.reduce((s, v) => s + v * v, 0);
function inv(a: M): M {
  const n = a.r;
  const A = Float64Array.from(a.d);
  const X = eye(n).d;
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(A[i * n + k]!) > Math.abs(A[p * n + k]!)) p = i;
    for (let j = 0; j < n; j++) {
      [A[k * n + j], A[p * n + j]] = [A[p * n + j]!, A[k * n + j]!];
      [X[k * n + j], X[p * n + j]] = [X[p * n + j]!, X[k * n + j]!];
    }
    const piv = A[k * n + k]!;
    for (let j = 0; j < n; j++) {
      A[k * n + j]! /= piv;
      X[k * n + j]! /= piv;
    }
    for (let i = 0; i < n; i++) {
      if (i === k) continue;
      const f = A[i * n + k]!;
      for (let j = 0; j < n; j++) {
        A[i * n + j]! -= f * A[k * n + j]!;
        X[i * n + j]! -= f * X[k * n + j]!;
      }
    }
  }
  return mk(n, n, X);
}
const maxRel = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    m = Math.max(m, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return m / s;
};

// ---- derivatives ---------------------------------------------------------------------------------------

const [B, L, K, F, H, C] = [3, 4, 5, 2, 6, 4];
function netInputs(seed: number): Record<string, Tensor> {
  const Y = new Float64Array(B * C);
  for (let b = 0; b < B; b++) Y[b * C + ((b * 7 + seed) % C)] = 1;
  return {
    P: new Tensor([B, L, K], rnd(seed, B * L * K, 2)),
    Y: new Tensor([B, C], Y),
    W1: new Tensor([F, K + 1], rnd(seed + 1, F * (K + 1), 2)),
    W2: new Tensor([H, F * L + 1], rnd(seed + 2, H * (F * L + 1), 2)),
    W3: new Tensor([C, H + 1], rnd(seed + 3, C * (H + 1), 2)),
  };
}

test('the network’s hand-written backward equals matc’s VJP of its loss, and both match central differences', async () => {
  for (const seed of [11, 12]) {
    const inputs = netInputs(seed);
    const r = await mod.fn('lin2023_net').forward(inputs, { backend });
    const v = await mod.fn('lin2023_loss').vjp(inputs, { out: new Tensor([], [1]) }, { backend });
    for (const k of ['1', '2', '3']) {
      const e = maxRel(r.outputs[`G${k}`]!.data, v.gradients[`W${k}`]!.data);
      assert.ok(e < 1e-12, `seed ${seed}: G${k} against the VJP: ${e}`);
    }
    const gc = await gradCheck(mod.fn('lin2023_loss'), inputs, { directions: 6, tolerance: 1e-7, seed });
    assert.ok(gc.ok, `finite differences: ${gc.maxRelErr}`);
  }
});

test('the VJP of one INGD step (through the branch and the schedule) matches central differences', async () => {
  const [d, p, n] = [3, 4, 5];
  const f = mod.fn('ingd');
  const base = { W: new Tensor([d, p], rnd(1, d * p)), G: new Tensor([d, p], rnd(2, d * p)), a: new Tensor([n, p], rnd(3, n * p)), g: new Tensor([n, d], rnd(4, n * d)) };
  const st = (await mod.fn('ingd.init').forward(base, { backend })).outputs;
  // a state one refresh in, so that A, B, the momenta and the buffer are not trivial
  const s1 = (await f.forward({ ...base, ...st, lr_cov_init: 0.05 }, { backend, dims: { T: 2 } })).outputs;
  for (const t of [2, 3]) {
    const inputs = { ...base, A: s1.A!, B: s1.B!, mA: s1.mA!, mB: s1.mB!, PA: s1.PA!, PB: s1.PB!, buf: s1.buf!, t: new Tensor([], [t]), lr_cov_init: 0.05, weight_decay: 0.1 };
    const gc = await gradCheck(f, inputs, { directions: 6, tolerance: 1e-6, dims: { T: 2 } });
    assert.ok(gc.ok, `t = ${t} (${t % 2 === 0 ? 'refresh' : 'no refresh'}): ${gc.maxRelErr}`);
  }
});

// ---- the fixed point -----------------------------------------------------------------------------------

test('INGD’s fixed point on constant statistics: A Aᵀ = (t_B U + λ c_B I)⁻¹, B Bᵀ = (t_A G + λ c_A I)⁻¹', async () => {
  const [d, p, n, m] = [3, 5, 7, 6];
  const lambda = 0.1;
  const a = mk(n, p, rnd(21, n * p, 2));
  const g = mk(m, d, rnd(22, m * d, 2));
  const U = mul(tr(a), a);
  const Gs = mul(tr(g), g);
  const f = mod.fn('ingd');
  const inputs = { W: new Tensor([d, p], rnd(23, d * p)), G: new Tensor([d, p], rnd(24, d * p)), a: new Tensor([n, p], a.d), g: new Tensor([m, d], g.d) };
  let st = (await mod.fn('ingd.init').forward(inputs, { backend })).outputs;
  // a constant lr₁ (the schedule's three values set equal) to converge in a few hundred steps
  const hyper = { damping: lambda, lr_cov: 0.2, lr_cov_init: 0.2, lr_cov_warm: 0.2, lr: 0 };
  for (let k = 0; k < 600; k++) {
    const { W: _w, ...rest } = (await f.forward({ ...inputs, ...st, ...hyper }, { backend, dims: { T: 1 } })).outputs;
    st = rest;
  }
  const A = mk(p, p, st.A!.data);
  const Bm = mk(d, d, st.B!.data);
  const cB = sumsq(Bm) / d;
  const tB = trace(mul(mul(tr(Bm), Gs), Bm)) / d;
  const cA = sumsq(A) / p;
  const tA = trace(mul(mul(tr(A), U), A)) / p;
  const wantA = inv(lin(tB, U, lambda * cB, eye(p)));
  const wantB = inv(lin(tA, Gs, lambda * cA, eye(d)));
  const eA = maxRel(mul(A, tr(A)).d, wantA.d);
  const eB = maxRel(mul(Bm, tr(Bm)).d, wantB.d);
  console.log(`# INGD fixed point after 600 steps: A Aᵀ vs (t_B U + λ c_B I)⁻¹ ${eA.toExponential(2)}, B Bᵀ vs (t_A G + λ c_A I)⁻¹ ${eB.toExponential(2)}; momenta ${Math.max(...st.mA!.data.map(Math.abs)).toExponential(1)}`);
  assert.ok(eA < 1e-9 && eB < 1e-9, `${eA} ${eB}`);
  // the cached preconditioners are A Aᵀ and B Bᵀ
  assert.ok(maxRel(st.PA!.data, mul(A, tr(A)).d) < 1e-14);
});

// ---- the T-step branch and the lr₁ schedule --------------------------------------------------------------

function hasCondWithMatmul(n: Node, seen = new Set<Node>()): boolean {
  if (seen.has(n)) return false;
  seen.add(n);
  if (n.op === 'cond') {
    const inside = (x: Node, s = new Set<Node>()): boolean => {
      if (s.has(x)) return false;
      s.add(x);
      return x.op === 'matmul' || x.args.some((y) => inside(y, s)) || x.regions.some((r) => r.results.some((y) => inside(y, s)));
    };
    if (n.regions.some((r) => r.results.some((y) => inside(y)))) return true;
  }
  return n.args.some((x) => hasCondWithMatmul(x, seen)) || n.regions.some((r) => r.results.some((x) => hasCondWithMatmul(x, seen)));
}

test('the factor update is a real branch: a cond holding the products; factors kept bit for bit between refreshes', async () => {
  for (const name of ['ingd', 'kfac']) {
    const opt = mod.program.forward(name);
    assert.ok(opt.results.some((r) => hasCondWithMatmul(r.node)), `${name}: the optimized step has a cond whose side holds the matrix products`);
  }
  const [d, p, n] = [3, 4, 5];
  const f = mod.fn('ingd');
  const base = { W: new Tensor([d, p], rnd(31, d * p)), G: new Tensor([d, p], rnd(32, d * p)), a: new Tensor([n, p], rnd(33, n * p)), g: new Tensor([n, d], rnd(34, n * d)) };
  let st = (await mod.fn('ingd.init').forward(base, { backend })).outputs;
  for (let k = 0; k < 7; k++) {
    const { W: _w, ...next } = (await f.forward({ ...base, ...st }, { backend, dims: { T: 3 } })).outputs;
    const refresh = k % 3 === 0;
    for (const key of ['A', 'B', 'mA', 'mB', 'PA', 'PB']) {
      const same = next[key]!.data.every((v, i) => v === st[key]!.data[i]);
      assert.equal(same, !refresh, `step ${k}: ${key} ${refresh ? 'changes' : 'is kept'}`);
    }
    st = next;
  }
});

/** One INGD step of local_cov.py (faster=True) in JavaScript, from the given state at step t. */
function ingdStepRef(W: M, Gr: M, a: M, g: M, s: { A: M; B: M; mA: M; mB: M; buf: M }, t: number, T: number) {
  const [lr, mom, damping, beta2, wd, lrCov] = [0.001, 0.9, 0.001, 0.5, 0.01, 0.01];
  const d = W.r;
  const p = W.c;
  let { A, B, mA, mB } = s;
  if (t % T === 0) {
    const t1 = mul(mul(tr(a), a), A);
    const t2 = mul(mul(tr(g), g), B);
    const trBB = sumsq(B);
    const trAA = sumsq(A);
    const tva = A.d.reduce((acc, v, i) => acc + v * t1.d[i]!, 0);
    const tvb = B.d.reduce((acc, v, i) => acc + v * t2.d[i]!, 0);
    const ngA = lin(0.5, mul(tr(A), lin((damping * trBB) / d, A, tvb / d, t1)), -0.5, eye(p));
    const ngB = lin(0.5, mul(tr(B), lin((damping * trAA) / p, B, tva / p, t2)), -0.5, eye(d));
    const lr1 = t <= 100 ? 2e-4 : t < 500 ? 2e-3 : lrCov;
    mA = lin(beta2, mA, 1, lin(0.5, ngA, 0.5, tr(ngA)));
    mB = lin(beta2, mB, 1, lin(0.5, ngB, 0.5, tr(ngB)));
    A = lin(1, A, -lr1, mul(A, mA));
    B = lin(1, B, -lr1, mul(B, mB));
  }
  const D = mul(mul(mul(B, tr(B)), Gr), mul(A, tr(A)));
  const dp = t >= 20 * T ? lin(1, D, wd, W) : D;
  const buf = lin(mom, s.buf, 1, dp);
  return { W: lin(1, W, -lr, buf), A, B, mA, mB, buf };
}

test('the lr₁ schedule and the delayed weight decay: steps at t = 0, 19, 20, 100, 101, 499, 500 against local_cov transcribed', async () => {
  const [d, p, n] = [3, 4, 5];
  const f = mod.fn('ingd');
  const W = mk(d, p, rnd(41, d * p));
  const Gr = mk(d, p, rnd(42, d * p));
  const a = mk(n, p, rnd(43, n * p));
  const g = mk(n, d, rnd(44, n * d));
  // a non-trivial state (as after some refreshes)
  const s0 = { A: lin(1, eye(p), 0.1, mk(p, p, rnd(45, p * p))), B: lin(1, eye(d), 0.1, mk(d, d, rnd(46, d * d))), mA: mk(p, p), mB: mk(d, d), buf: mk(d, p, rnd(47, d * p)) };
  s0.mA = lin(0.5, mk(p, p, rnd(48, p * p)), 0.5, tr(mk(p, p, rnd(48, p * p))));
  s0.mB = lin(0.5, mk(d, d, rnd(49, d * d)), 0.5, tr(mk(d, d, rnd(49, d * d))));
  for (const t of [0, 19, 20, 100, 101, 499, 500]) {
    const want = ingdStepRef(W, Gr, a, g, s0, t, 1);
    const tens = (x: M) => new Tensor([x.r, x.c], x.d);
    const r = await f.forward(
      { W: tens(W), G: tens(Gr), a: tens(a), g: tens(g), A: tens(s0.A), B: tens(s0.B), mA: tens(s0.mA), mB: tens(s0.mB), PA: tens(mul(s0.A, tr(s0.A))), PB: tens(mul(s0.B, tr(s0.B))), buf: tens(s0.buf), t: new Tensor([], [t]) },
      { backend, dims: { T: 1 } },
    );
    for (const k of ['W', 'A', 'B', 'mA', 'mB', 'buf'] as const) {
      const e = maxRel(r.outputs[k]!.data, want[k].d);
      assert.ok(e < 1e-13, `t = ${t}: ${k} off by ${e}`);
    }
    assert.equal(r.outputs.t!.data[0], t + 1);
  }
});
