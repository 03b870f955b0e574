// Structured matrix classes (issue 15, items 1 and 4): stdlib/spd.mat's ten structures checked
// against dense f64 algebra written here from the classes' layouts in singd (not from the stdlib's
// members), and SINGD's structured states followed over many steps.
//
//  - every member of every class — declared or the dense-form default — through one generic
//    function instantiated per class (`fn probe_diagonal = probe[S = diagonal]`): to_dense is the
//    layout's dense form, project ∘ to_dense is the identity on the storage, project of a general X
//    is singd's fold (X[i, j], plus X[j, i] where the transposed entry is not in the class,
//    averaged over a Toeplitz diagonal), products stay in the class and equal the dense product,
//    gram/inner are Π(DᵀD), Π(DᵀaᵀaD), apply/apply_t are D M, Dᵀ M; at n = 5, 20, 30, 33, 61 (one
//    block smaller than 30, one full, a ragged 30-block of 3 or 1, hierarchical15_15 with and without
//    a middle diagonal), and with padding entries filled with garbage (members ignore them);
//  - 120 steps of each singd instance (normalize_lr_cov, fresh statistics every step): each step's
//    new K, C, m_K, m_C equal one step of SINGD done here in dense f64 from the previous state (with
//    the fold Π), the dense update is in the class (closure, measured in f64), and no stored
//    entry outside the class is ever nonzero;
//  - the language from a user's file: a class declared there instantiating stdlib's singd (equal
//    to singd_diag, its members all dense-form defaults), mixed classes, a static int and an
//    `unroll` over a structure, a loop carry typed by a structure, named structure arguments.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { Tensor } from '../runtime/tensor.js';
import { matmul, transpose } from './util/dense.js';
import { rnd } from './util/spd.js';

type Kind = 'dense' | 'diagonal' | 'triltoeplitz' | 'triutoeplitz' | 'block30diagonal' | 'hierarchical15_15'
  | 'tril_bottomright_diag' | 'triu_bottomright_diag' | 'tril_topleft_diag' | 'triu_topleft_diag';
const KINDS: Kind[] = ['dense', 'diagonal', 'triltoeplitz', 'triutoeplitz', 'block30diagonal', 'hierarchical15_15',
  'tril_bottomright_diag', 'triu_bottomright_diag', 'tril_topleft_diag', 'triu_topleft_diag'];
const OPT: Record<Kind, string> = {
  dense: 'singd_dense', diagonal: 'singd_diag', triltoeplitz: 'singd_triltoeplitz', triutoeplitz: 'singd_triutoeplitz',
  block30diagonal: 'singd_block30', hierarchical15_15: 'singd_hierarchical',
  tril_bottomright_diag: 'singd_tril_bottomright_diag', triu_bottomright_diag: 'singd_triu_bottomright_diag',
  tril_topleft_diag: 'singd_tril_topleft_diag', triu_topleft_diag: 'singd_triu_topleft_diag',
};

/** A class's layout: its storage shape, and for each stored entry the dense positions (i·n + j) it
 *  stands for (none: padding, not part of the class). */
const layouts = new Map<string, { shape: number[]; pos: number[][]; member: Set<number> }>();
function layout(kind: Kind, n: number): { shape: number[]; pos: number[][]; member: Set<number> } {
  const key = `${kind}/${n}`;
  let l = layouts.get(key);
  if (!l) {
    const { shape, pos } = layoutOf(kind, n);
    l = { shape, pos, member: new Set(pos.flat()) };
    layouts.set(key, l);
  }
  return l;
}
function layoutOf(kind: Kind, n: number): { shape: number[]; pos: number[][] } {
  const at = (i: number, j: number): number => i * n + j;
  const range = (k: number): number[] => Array.from({ length: k }, (_, i) => i);
  switch (kind) {
    case 'dense':
      return { shape: [n, n], pos: range(n * n).map((k) => [k]) };
    case 'diagonal':
      return { shape: [n], pos: range(n).map((k) => [at(k, k)]) };
    case 'triltoeplitz':
      return { shape: [n], pos: range(n).map((o) => range(n - o).map((i) => at(i + o, i))) };
    case 'triutoeplitz':
      return { shape: [n], pos: range(n).map((o) => range(n - o).map((i) => at(i, i + o))) };
    case 'block30diagonal': {
      const w = Math.min(n, 30);
      return { shape: [n, w], pos: range(n * w).map((k) => {
        const [i, t] = [Math.floor(k / w), k % w];
        const j = 30 * Math.floor(i / 30) + t;
        return j < n ? [at(i, j)] : [];
      }) };
    }
    case 'hierarchical15_15': {
      // [[A, B₁, B₂], [0, diag, 0], [0, D, E]]: A the first min(15, n) rows and columns, E the last
      // rows from max(n − 15, min(15, n)) on (singd's Hierarchical15_15Matrix), packed n × 31:
      // column i < 15 is top row i, column 15 the middle diagonal, column 16 + r bottom row e + r
      // from column min(15, n) on
      const k1 = Math.min(15, n);
      const e = Math.max(n - 15, k1);
      return { shape: [n, 31], pos: range(n * 31).map((k) => {
        const [j, c] = [Math.floor(k / 31), k % 31];
        if (c < 15) return c < k1 ? [at(c, j)] : [];
        if (c === 15) return j >= k1 && j < e ? [at(j, j)] : [];
        return e + c - 16 < n && j >= k1 ? [at(e + c - 16, j)] : [];
      }) };
    }
    default: {
      // [diagonal, vector] (n × 2)
      const vec = (k: number): number | null => {
        if (kind === 'tril_bottomright_diag') return k >= 1 ? at(k, 0) : null;
        if (kind === 'triu_bottomright_diag') return k >= 1 ? at(0, k) : null;
        if (kind === 'tril_topleft_diag') return k < n - 1 ? at(n - 1, k) : null;
        return k < n - 1 ? at(k, n - 1) : null;
      };
      return { shape: [n, 2], pos: range(2 * n).map((k) => (k % 2 === 0 ? [at(k / 2, k / 2)] : vec((k - 1) / 2) !== null ? [vec((k - 1) / 2)!] : [])) };
    }
  }
}

function toDense(kind: Kind, s: ArrayLike<number>, n: number): Float64Array {
  const D = new Float64Array(n * n);
  layout(kind, n).pos.forEach((ps, k) => ps.forEach((q) => (D[q] = s[k]!)));
  return D;
}
/** Stored entries that stand for nothing yet are nonzero. */
function stray(kind: Kind, s: ArrayLike<number>, n: number): number {
  return layout(kind, n).pos.filter((ps, k) => ps.length === 0 && s[k] !== 0).length;
}
/** singd's Π: per stored entry, the sum of X over its positions and over the transposed positions
 *  that are not in the class, divided by the number of its positions. */
function project(kind: Kind, X: ArrayLike<number>, n: number): Float64Array {
  const { pos, member } = layout(kind, n);
  return Float64Array.from(pos, (ps) => {
    if (!ps.length) return 0;
    let acc = 0;
    for (const q of ps) {
      acc += X[q]!;
      const t = (q % n) * n + Math.floor(q / n);
      if (!member.has(t)) acc += X[t]!;
    }
    return acc / ps.length;
  });
}
/** How far a dense matrix is from its class: max |X − to_dense(mean over each entry's positions)|. */
function offClass(kind: Kind, X: ArrayLike<number>, n: number): number {
  const { pos } = layout(kind, n);
  const s = pos.map((ps) => (ps.length ? ps.reduce((a, q) => a + X[q]!, 0) / ps.length : 0));
  const D = toDense(kind, s, n);
  let w = 0;
  for (let k = 0; k < X.length; k++) w = Math.max(w, Math.abs(X[k]! - D[k]!));
  return w;
}

/** A random storage of a class, padding 0. */
function randomStorage(kind: Kind, n: number, seed: number): Tensor {
  const { shape, pos } = layout(kind, n);
  const x = rnd(seed, pos.length).map((v, k) => (pos[k]!.length ? v : 0));
  return new Tensor(shape, x);
}
const maxAbs = (a: ArrayLike<number>): number => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const relDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.equal(a.length, b.length);
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i]! - b[i]!));
  return e / Math.max(1, maxAbs(b));
};
const eye = (n: number): Float64Array => Float64Array.from({ length: n * n }, (_, k) => (k % (n + 1) === 0 ? 1 : 0));

const probeSpec = `import "spd.mat"
// every member of a structure, declared or its dense-form default
fn probe(s: S[n], t: S[n], X: mat[n, n], a: mat[m, n], M: mat[n, k], S: static structure)
    -> (D: mat[n, n], P: S[n], PD: S[n], ST: S[n], GR: S[n], IN: S[n], AP: mat[n, k], AT: mat[n, k], TR: real, MX: real, I: S[n], Z: S[n]) =
  (S.to_dense(s), S.project(X), S.project(S.to_dense(s)), S.mul(s, t), S.gram(s), S.inner(s, a), S.apply(s, M),
   S.apply_t(s, M), S.trace(s), S.maxabs(s), S.eye(n), S.zeros(n))
${KINDS.map((k) => `fn probe_${k} = probe[S = ${k}]`).join('\n')}
`;
const mod = compile(probeSpec, { path: 'structures-probe.mat' });
const backend = new CpuBackend({ engine: 'wasm', threads: 1 });

test('every member of the ten stdlib structures against dense f64 (n = 5, 20, 30, 33, 61): to_dense, project ∘ to_dense = id, the fold Π, closed products, gram, inner, apply', async () => {
  const [m, k] = [4, 3];
  for (const kind of KINDS) {
    for (const n of [5, 20, 30, 33, 61]) {
      const s = randomStorage(kind, n, 7 + n);
      const t = randomStorage(kind, n, 11 + n);
      const X = rnd(13 + n, n * n);
      const a = rnd(17 + n, m * n);
      const M = rnd(19 + n, n * k);
      const o = (await mod.fn(`probe_${kind}`).forward({ s, t, X: new Tensor([n, n], X), a: new Tensor([m, n], a), M: new Tensor([n, k], M) }, { backend })).outputs;
      const D = toDense(kind, s.data, n);
      const Dt = toDense(kind, t.data, n);
      const what = `${kind} n=${n}`;
      assert.ok(relDiff(o.D!.data, D) === 0, `${what}: to_dense`);
      assert.ok(relDiff(o.PD!.data, s.data) < 1e-15, `${what}: project ∘ to_dense = id (${relDiff(o.PD!.data, s.data)})`);
      assert.ok(relDiff(o.P!.data, project(kind, X, n)) < 1e-14, `${what}: project of a general X`);
      const prod = matmul(D, Dt, n, n, n);
      assert.ok(offClass(kind, prod, n) < 1e-14, `${what}: the class is closed under products (dense f64)`);
      assert.ok(relDiff(toDense(kind, o.ST!.data, n), prod) < 1e-13, `${what}: mul`);
      const DtD = matmul(transpose(D, n, n), D, n, n, n);
      assert.ok(relDiff(o.GR!.data, project(kind, DtD, n)) < 1e-13, `${what}: gram = Π(DᵀD)`);
      const aD = matmul(a, D, m, n, n);
      assert.ok(relDiff(o.IN!.data, project(kind, matmul(transpose(aD, m, n), aD, n, m, n), n)) < 1e-13, `${what}: inner = Π(DᵀaᵀaD)`);
      assert.ok(relDiff(o.AP!.data, matmul(D, M, n, n, k)) < 1e-13, `${what}: apply`);
      assert.ok(relDiff(o.AT!.data, matmul(transpose(D, n, n), M, n, n, k)) < 1e-13, `${what}: apply_t`);
      let tr = 0;
      for (let i = 0; i < n; i++) tr += D[i * n + i]!;
      assert.ok(Math.abs(o.TR!.data[0]! - tr) < 1e-13 * Math.max(1, Math.abs(tr)), `${what}: trace`);
      assert.equal(o.MX!.data[0], maxAbs(D), `${what}: maxabs`);
      assert.deepEqual(Array.from(toDense(kind, o.I!.data, n)), Array.from(eye(n)), `${what}: eye`);
      assert.equal(maxAbs(o.Z!.data), 0, `${what}: zeros`);
      for (const key of ['P', 'PD', 'ST', 'GR', 'IN', 'I'] as const) assert.equal(stray(kind, o[key]!.data, n), 0, `${what}: ${key} writes padding`);
      // padding entries stand for nothing: filled with garbage they change no member's result
      const { pos } = layout(kind, n);
      const junk = (x: Tensor, seed: number): Tensor => {
        const r = rnd(seed, pos.length, 1e3);
        return new Tensor(x.shape, Float64Array.from(x.data, (v, q) => (pos[q]!.length ? v : r[q]!)));
      };
      const [sg, tg] = [junk(s, 23 + n), junk(t, 29 + n)];
      if (pos.some((ps) => !ps.length)) assert.ok(stray(kind, sg.data, n) > 0, `${what}: the garbage is in the padding`);
      const og = (await mod.fn(`probe_${kind}`).forward({ s: sg, t: tg, X: new Tensor([n, n], X), a: new Tensor([m, n], a), M: new Tensor([n, k], M) }, { backend })).outputs;
      for (const key of ['D', 'ST', 'GR', 'IN', 'AP', 'AT', 'TR', 'MX'] as const) {
        assert.ok(relDiff(og[key]!.data, o[key]!.data) < 1e-15, `${what}: ${key} reads padding (${relDiff(og[key]!.data, o[key]!.data)})`);
      }
      for (const key of ['ST', 'GR', 'IN'] as const) assert.equal(stray(kind, og[key]!.data, n), 0, `${what}: ${key} of garbage-padded operands writes padding`);
    }
  }
});

test('SINGD states stay in their class over 120 steps, each step equal to dense f64 SINGD with the fold Π (all ten structures)', async () => {
  const [d, p, nb] = [5, 33, 6];
  const hy = { lr: 0.05, momentum: 0.9, damping: 1e-3, alpha1: 0.5, weight_decay: 1e-2, lr_cov: 0.05, kfac_like: 0, normalize_lr_cov: 1 };
  const opt = compile('import "spd.mat"', { path: 'structures-steps.mat' });
  const report: string[] = [];
  for (const kind of KINDS) {
    const step = opt.fn(OPT[kind]);
    let W = rnd(1, d * p);
    const G0 = new Tensor([d, p], rnd(2, d * p));
    let st = (await opt.fn(`${OPT[kind]}.init`).forward({ W: new Tensor([d, p], W), G: G0, a: new Tensor([nb, p], rnd(3, nb * p)), g: new Tensor([nb, d], rnd(4, nb * d)) }, { backend })).outputs;
    let worst = 0;
    let worstOff = 0;
    let tm = 0;
    for (let s = 0; s < 120; s++) {
      const G = rnd(100 + s, d * p);
      const a = rnd(300 + s, nb * p, 1.5);
      const g = rnd(500 + s, nb * d, 1.5);
      const t0 = performance.now();
      const out = (await step.forward({ W: new Tensor([d, p], W), G: new Tensor([d, p], G), a: new Tensor([nb, p], a), g: new Tensor([nb, d], g), ...st, ...hy }, { backend, dims: { T: 1 } })).outputs;
      tm += performance.now() - t0;
      // one SINGD step in dense f64 from the previous state (seeds-math §2.4, normalize_lr_cov)
      const [K, C, mK, mC] = (['K', 'C', 'mK', 'mC'] as const).map((key, i) => toDense(kind, st[key]!.data, i % 2 === 0 ? p : d));
      const Pi = (X: Float64Array, q: number): Float64Array => toDense(kind, project(kind, X, q), q);
      const tr = (X: Float64Array, q: number): number => Array.from({ length: q }, (_, i) => X[i * q + i]!).reduce((x, y) => x + y, 0);
      const aK = matmul(a, K, nb, p, p);
      const gC = matmul(g, C, nb, d, d);
      const HK = Pi(matmul(transpose(aK, nb, p), aK, p, nb, p), p);
      const HC = Pi(matmul(transpose(gC, nb, d), gC, d, nb, d), d);
      const KK = Pi(matmul(transpose(K, p, p), K, p, p, p), p);
      const CC = Pi(matmul(transpose(C, d, d), C, d, d, d), d);
      const sc = (1 - hy.alpha1) / 2;
      const [cK, eK, cC, eC] = [tr(HC, d) / d, tr(CC, d) / d, tr(HK, p) / p, tr(KK, p) / p];
      const [Ip, Id] = [eye(p), eye(d)];
      const nK = HK.map((v, i) => sc * (cK * v + hy.damping * eK * KK[i]! - Ip[i]!) + hy.alpha1 * mK[i]!);
      const nC = HC.map((v, i) => sc * (cC * v + hy.damping * eC * CC[i]! - Id[i]!) + hy.alpha1 * mC[i]!);
      const KnK = matmul(K, nK, p, p, p);
      const CnC = matmul(C, nC, d, d, d);
      const [bK, bC] = [hy.lr_cov / Math.max(1, maxAbs(nK)), hy.lr_cov / Math.max(1, maxAbs(nC))];
      const K2 = K.map((v, i) => v - bK * KnK[i]!);
      const C2 = C.map((v, i) => v - bC * CnC[i]!);
      // closure, in f64: the dense update is in the class
      for (const [X, q] of [[K2, p], [C2, d], [nK, p], [nC, d]] as const) worstOff = Math.max(worstOff, offClass(kind, X, q) / Math.max(1, maxAbs(X)));
      for (const [key, want, q] of [['K', K2, p], ['C', C2, d], ['mK', nK, p], ['mC', nC, d]] as const) {
        const got = out[key]!.data;
        assert.equal(stray(kind, got, q), 0, `${kind} step ${s}: ${key} has stored entries outside its class`);
        worst = Math.max(worst, relDiff(toDense(kind, got, q), want));
      }
      const { W: W2, ...rest } = out;
      W = Float64Array.from(W2!.data);
      st = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, new Tensor(v.shape, Float64Array.from(v.data))]));
    }
    report.push(`${kind} ${worst.toExponential(1)} (off-class ${worstOff.toExponential(1)}, matc ${(tm / 1000).toFixed(1)} s)`);
    assert.ok(worst < 1e-12, `${kind}: worst step error ${worst}`);
    assert.ok(worstOff < 1e-13, `${kind}: the dense update left the class by ${worstOff}`);
    assert.ok(maxAbs(W) < 1e3 && Number.isFinite(maxAbs(W)), `${kind}: W stays finite`);
  }
  console.log(`# 120 steps, worst per-step |matc − dense f64 SINGD| / max(1, |x|): ${report.join('; ')}`);
});

test('structures in user code: a class declared in one file instantiates stdlib singd (checked against its dense form), static ints and loop carries over a structure', async () => {
  const spec = `import { singd } from "spd.mat"
// a user's class (diagonal again, under its own name) in a file that sees only singd
structure mydiag(n: int) {
  storage: vec[n]
  fn to_dense(s: vec[n]) -> mat[n, n] = diag(s)
  fn project(X: mat[n, n]) -> vec[n] = diag(X)
}
optimizer singd_mine = singd[SK = mydiag, SC = mydiag]
optimizer singd_mixed = singd[SK = mydiag, SC = dense]
// K^(N+1) by a static unroll, and a loop whose carry is a Toeplitz storage
fn powers(K: S[p], S: static structure, N: static int = 3) -> S[p] =
  unroll (X = K) for i in 0..N => S.mul(X, K)
fn p3(k: mydiag[p]) -> mydiag[p] = powers(k, mydiag)
fn p2(k: mydiag[p]) -> mydiag[p] = powers(k, S: mydiag, 2)
fn tpow(c: vec[p], T: int = 3) -> vec[p] =
  iterate (x: triltoeplitz[p] = c) for i in 0..T => triltoeplitz.mul(x, c)
`;
  const m = compile(spec, { path: 'structures-user.mat' });
  const k = new Tensor([3], Float64Array.from([1, 2, 3]));
  const out = async (f: string, inputs: Record<string, Tensor>, dims: Record<string, number> = {}): Promise<number[]> =>
    Array.from(Object.values((await m.fn(f).forward(inputs, { backend, dims })).outputs)[0]!.data);
  assert.deepEqual(await out('p3', { k }), [1, 16, 81]);
  assert.deepEqual(await out('p2', { k }), [1, 8, 27]);
  // (1 + z)^4 truncated to 3 coefficients: the lower Toeplitz product is the truncated convolution
  assert.deepEqual(await out('tpow', { c: new Tensor([3], Float64Array.from([1, 1, 0])) }), [1, 4, 6]);
  // the user's class through stdlib singd gives what singd_diag gives (to 1e-14: the defaults go through
  // dense forms); mixed classes give a dense C
  const [d, p, nb] = [3, 4, 5];
  const inputs = { W: new Tensor([d, p], rnd(1, d * p)), G: new Tensor([d, p], rnd(2, d * p)), a: new Tensor([nb, p], rnd(3, nb * p)), g: new Tensor([nb, d], rnd(4, nb * d)) };
  const std = compile('import "spd.mat"', { path: 'structures-std.mat' });
  let [s1, s2] = [(await m.fn('singd_mine.init').forward(inputs, { backend })).outputs, (await std.fn('singd_diag.init').forward(inputs, { backend })).outputs];
  for (let s = 0; s < 4; s++) {
    const o1 = (await m.fn('singd_mine').forward({ ...inputs, ...s1 }, { backend, dims: { T: 1 } })).outputs;
    const o2 = (await std.fn('singd_diag').forward({ ...inputs, ...s2 }, { backend, dims: { T: 1 } })).outputs;
    // mydiag declares no mul, gram, inner, apply…: its dense-form defaults agree with diagonal's O(n) members
    for (const key of ['W', 'K', 'C', 'mK', 'mC']) assert.ok(relDiff(o1[key]!.data, o2[key]!.data) < 1e-14, `${key} at step ${s}: ${relDiff(o1[key]!.data, o2[key]!.data)}`);
    const { W: _a, ...r1 } = o1;
    const { W: _b, ...r2 } = o2;
    [s1, s2] = [r1, r2];
  }
  const mixed = (await m.fn('singd_mixed.init').forward(inputs, { backend })).outputs;
  assert.deepEqual([...mixed.K!.shape], [p]);
  assert.deepEqual([...mixed.C!.shape], [d, d]);
});
