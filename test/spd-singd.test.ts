// SINGD over structured factors (issue 15, items 2 and 4): stdlib/spd.mat's singd_dense, singd_diag
// and singd_toeplitz (lower and upper) on the reference network Conv → Linear → Linear of
// test/util/spd.ts, against test/fixtures/spd.json's runs of singd's optimizer transcribed in
// PyTorch with singd's structure classes (test/oracles/gen_spd_fixtures.py, float64; the generator
// checks SINGD-dense against LocalOptimizer and every class against dense algebra). Each run: 6 steps
// of batch 32, T = 2, in the variants INGD-like, IKFAC (kfac_like) and normalize_lr_cov; the loss of
// every step, the final logits and each layer's final W, momentum buffer, K, m_K, C, m_C (dense forms)
// to rtol 1e-5, atol 5e-7. The Toeplitz helpers are also checked against dense algebra in JavaScript
// (closure of the class under products, Π a Frobenius projection onto it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { Tensor } from '../runtime/tensor.js';
import { LAYERS, batchInputs, initWeights, loadDigits, netSpec, scaledError, spdFixture, summarize, summaryError } from './util/spd.js';

const RTOL = 1e-5;
const ATOL = 5e-7;

const mod = compile(`import "spd.mat"\n${netSpec}`, { path: 'spd-singd.mat' });
const backend = new CpuBackend({ engine: 'wasm', threads: 1 });

type Kind = 'dense' | 'diagonal' | 'triltoeplitz' | 'triutoeplitz' | Masked;
type Masked = 'block30diagonal' | 'hierarchical15_15' | 'trilbottomrightdiag' | 'triltopleftdiag' | 'triubottomrightdiag' | 'triutopleftdiag';
/** the instance of stdlib/spd.mat's one generic `singd` for each of singd's structures */
const OPT: Record<Kind, string> = {
  dense: 'singd_dense', diagonal: 'singd_diag', triltoeplitz: 'singd_triltoeplitz', triutoeplitz: 'singd_triutoeplitz',
  block30diagonal: 'singd_block30', hierarchical15_15: 'singd_hierarchical',
  trilbottomrightdiag: 'singd_tril_bottomright_diag', triltopleftdiag: 'singd_tril_topleft_diag',
  triubottomrightdiag: 'singd_triu_bottomright_diag', triutopleftdiag: 'singd_triu_topleft_diag',
};
const MASKED: readonly Kind[] = ['block30diagonal', 'hierarchical15_15', 'trilbottomrightdiag', 'triltopleftdiag', 'triubottomrightdiag', 'triutopleftdiag'];

/** singd's Hierarchical15_15 pattern [[A, B₁, B₂], [0, diag, 0], [0, D, E]] (K1 = min(15, n) rows
 *  in A, the last max(n − 15, K1) … rows in E), as singd's hierarchical.py lays it out. */
function hierarchicalPattern(n: number): Uint8Array {
  const k1 = Math.min(15, n);
  const e = Math.max(n - 15, k1);
  const P = new Uint8Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const top = i < k1;
      const bot = i >= e;
      const mid = !top && !bot;
      const jtop = j < k1;
      const jbot = j >= e;
      P[i * n + j] = top ? 1 : mid ? (i === j ? 1 : 0) : !jtop ? 1 : 0;
      if (bot && jbot) P[i * n + j] = 1;
    }
  return P;
}

/** The dense n×n form of a stored factor, written here from the classes' layouts in singd (not
 *  from the stdlib's to_dense), and the count of stored entries that belong to no class member
 *  (padding the optimizer must keep at 0). */
function denseOf(kind: Kind, T: Tensor, n: number): { M: Float64Array; stray: number } {
  const out = new Float64Array(n * n);
  let stray = 0;
  const x = T.data;
  if (kind === 'dense') return { M: Float64Array.from(x), stray };
  if (kind === 'hierarchical15_15') {
    // packed n × 31 (stdlib/spd.mat): column i < 15 top row i, column 15 the middle diagonal,
    // column 16 + r bottom row e + r from column K1 on; each dense entry of the pattern read once
    const P = hierarchicalPattern(n);
    const k1 = Math.min(15, n);
    const e = Math.max(n - 15, k1);
    assert.deepEqual([...T.shape], [n, 31]);
    const seen = new Uint8Array(n * n);
    for (let j = 0; j < n; j++)
      for (let c = 0; c < 31; c++) {
        const v = x[j * 31 + c]!;
        const i = c < 15 ? (c < k1 ? c : -1) : c === 15 ? (j >= k1 && j < e ? j : -1) : e + c - 16 < n && j >= k1 ? e + c - 16 : -1;
        if (i < 0) {
          if (v !== 0) stray++;
          continue;
        }
        assert.ok(P[i * n + j] && !seen[i * n + j], `hierarchical layout at (${i}, ${j})`);
        seen[i * n + j] = 1;
        out[i * n + j] = v;
      }
    assert.equal(seen.reduce((a, b) => a + b, 0), P.reduce((a, b) => a + b, 0), 'hierarchical layout covers the pattern');
    return { M: out, stray };
  }
  if (kind === 'block30diagonal') {
    const w = Math.min(n, 30);
    assert.deepEqual([...T.shape], [n, w]);
    for (let i = 0; i < n; i++)
      for (let t = 0; t < w; t++) {
        const j = 30 * Math.floor(i / 30) + t;
        if (j < n) out[i * n + j] = x[i * w + t]!;
        else if (x[i * w + t] !== 0) stray++;
      }
    return { M: out, stray };
  }
  if (MASKED.includes(kind)) {
    // [diagonal, vector] (n × 2): the vector's entry on the diagonal is padding
    assert.deepEqual([...T.shape], [n, 2]);
    const at = (k: number): [number, number] | null => {
      if (kind === 'trilbottomrightdiag') return k >= 1 ? [k, 0] : null;
      if (kind === 'triubottomrightdiag') return k >= 1 ? [0, k] : null;
      if (kind === 'triltopleftdiag') return k < n - 1 ? [n - 1, k] : null;
      return k < n - 1 ? [k, n - 1] : null; // triutopleftdiag
    };
    for (let k = 0; k < n; k++) {
      out[k * n + k] = x[2 * k]!;
      const ij = at(k);
      if (ij) out[ij[0] * n + ij[1]] = x[2 * k + 1]!;
      else if (x[2 * k + 1] !== 0) stray++;
    }
    return { M: out, stray };
  }
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      if (kind === 'diagonal') out[i * n + j] = i === j ? x[i]! : 0;
      else if (kind === 'triltoeplitz') out[i * n + j] = i >= j ? x[i - j]! : 0;
      else out[i * n + j] = j >= i ? x[j - i]! : 0;
    }
  return { M: out, stray };
}
const dense = (kind: Kind, T: Tensor, n: number): Float64Array => denseOf(kind, T, n).M;

async function runSingd(run: ReturnType<typeof spdFixture>['singd'][number]): Promise<Record<string, number>> {
  const fx = spdFixture();
  const kind = run.structure as Kind;
  const h = run.hyper;
  const hyper: Record<string, number> = {
    lr: h.lr as number, momentum: h.momentum as number, damping: h.damping as number, alpha1: h.alpha1 as number,
    weight_decay: h.weight_decay as number, lr_cov: h.lr_cov as number,
    kfac_like: h.kfac_like ? 1 : 0, normalize_lr_cov: h.normalize_lr_cov ? 1 : 0,
  };
  const digits = loadDigits();
  const net = mod.fn('lin2023_net');
  const step = mod.fn(OPT[kind]);
  const init = mod.fn(`${OPT[kind]}.init`);
  let Ws = initWeights();
  const states: Record<string, Tensor>[] = [];
  const worst: Record<string, number> = { loss: 0, logits: 0, state: 0 };
  const bump = (k: string, e: number): void => {
    if (!(e <= worst[k]!)) worst[k] = e;
  };
  const steps = run.loss.length;
  for (let s = 0; s < steps; s++) {
    const { P, Y } = batchInputs(digits, s);
    const o = (await net.forward({ P, Y, W1: Ws[0]!, W2: Ws[1]!, W3: Ws[2]! }, { backend })).outputs;
    bump('loss', scaledError([o.loss!.data[0]!], [run.loss[s]!], RTOL, ATOL));
    if (s === steps - 1) bump('logits', scaledError(o.logits!.data, run.logits.data, RTOL, ATOL));
    const next: Tensor[] = [];
    for (let li = 0; li < 3; li++) {
      const inputs = { W: Ws[li]!, G: o[`G${li + 1}`]!, a: o[`a${li + 1}`]!, g: o[`g${li + 1}`]! };
      if (s === 0) states.push((await init.forward(inputs, { backend })).outputs);
      const st = await step.forward({ ...inputs, ...states[li]!, ...hyper }, { backend, dims: { T: h.T as number } });
      const { W, ...rest } = st.outputs;
      next.push(W!);
      states[li] = rest;
      if (s === steps - 1) {
        const [d, f] = LAYERS[li]!;
        const p = f + 1;
        const [K, mK, C, mC] = [rest.K!, rest.mK!, rest.C!, rest.mC!];
        const mats: Record<string, [ArrayLike<number>, number, number]> = {
          W: [W!.data, d, p], buf: [rest.buf!.data, d, p],
          K: [dense(kind, K, p), p, p], mK: [dense(kind, mK, p), p, p], C: [dense(kind, C, d), d, d], mC: [dense(kind, mC, d), d, d],
        };
        // the factors and momenta stay in their class exactly: no stored entry outside it
        for (const [key, M, q] of [['K', K, p], ['mK', mK, p], ['C', C, d], ['mC', mC, d]] as const) {
          const off = denseOf(kind, M, q).stray;
          assert.equal(off, 0, `${kind} layer ${li + 1} ${key}: ${off} stored entries outside the class`);
        }
        for (const [key, [M, r0, c0]] of Object.entries(mats)) {
          const want = run.final[`layer${li + 1}`]![key];
          assert.ok(want, `the fixture has ${key} of layer ${li + 1}`);
          const e = summaryError(summarize(M, r0, c0, fx), want, RTOL, ATOL);
          assert.ok(e <= 1, `${kind}/${run.variant} layer ${li + 1} ${key}: error ${e} × tolerance`);
          bump('state', e);
        }
      }
    }
    Ws = next;
  }
  return worst;
}

const runs = spdFixture().singd.filter((r) => r.structure in OPT);

test('the fixture holds SINGD runs for every structure stdlib/spd.mat has', () => {
  const have = new Set(runs.map((r) => `${r.structure}/${r.variant}`));
  for (const k of ['dense/ingd', 'dense/ikfac', 'dense/normalized', 'diagonal/ingd', 'diagonal/ikfac', 'diagonal/normalized',
    'triltoeplitz/ingd', 'triltoeplitz/ikfac', 'triltoeplitz/normalized', 'triutoeplitz/ingd',
    ...MASKED.map((k) => `${k}/ingd`)])
    assert.ok(have.has(k), k);
});

for (const run of runs) {
  test(`SINGD ${run.structure} (${run.variant}) reproduces singd's optimizer on the reference network: ${run.loss.length} steps, rtol 1e-5`, async () => {
    const t0 = performance.now();
    const worst = await runSingd(run);
    console.log(`# singd ${run.structure}/${run.variant}: worst error / tolerance: loss ${worst.loss!.toExponential(2)}, logits ${worst.logits!.toExponential(2)}, states ${worst.state!.toExponential(2)} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    for (const [k, v] of Object.entries(worst)) assert.ok(v <= 1, `${k}: ${v}`);
  });
}

// ---- the Toeplitz class against dense algebra ---------------------------------------------------------

function rnd(seed: number, n: number): Float64Array {
  let s = seed >>> 0;
  return Float64Array.from({ length: n }, () => {
    s = (Math.imul(1664525, s) + 1013904223) >>> 0;
    return (s >>> 8) / 16777216 - 0.5;
  });
}
const mm = (A: ArrayLike<number>, B: ArrayLike<number>, n: number): Float64Array => {
  const o = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) o[i * n + j] += A[i * n + k]! * B[k * n + j]!;
  return o;
};
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i]! - b[i]!));
  return a.length === b.length ? w : Infinity;
};

test('Toeplitz storage: dense forms, closure under products and the projection Π (n = 1, 2, 7, 30)', async () => {
  const up = mod.fn('toeplitz_upper');
  const lo = mod.fn('toeplitz_lower');
  const proj = mod.fn('toeplitz_project');
  const out = async (f: typeof up, inputs: Record<string, Tensor>): Promise<Tensor> => Object.values((await f.forward(inputs, { backend })).outputs)[0]!;
  for (const n of [1, 2, 7, 30]) {
    const c = rnd(3 + n, n);
    const e = rnd(5 + n, n);
    const U = await out(up, { c: new Tensor([n], c) });
    const L = await out(lo, { c: new Tensor([n], c) });
    assert.equal(maxAbs(U.data, dense('triutoeplitz', new Tensor([n], c), n)), 0, `upper n=${n}`);
    assert.equal(maxAbs(L.data, dense('triltoeplitz', new Tensor([n], c), n)), 0, `lower n=${n}`);
    // closure: L(c) L(e) = L(L(c) e) and U(c) U(e) = U(L(c) e), the coefficients as the optimizer forms them
    const Le = dense('triltoeplitz', new Tensor([n], e), n);
    const coef = new Float64Array(n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) coef[i] += c[i - j]! * e[j]!;
    assert.ok(maxAbs(mm(L.data, Le, n), dense('triltoeplitz', new Tensor([n], coef), n)) < 1e-14, `lower product n=${n}`);
    const Ue = dense('triutoeplitz', new Tensor([n], e), n);
    assert.ok(maxAbs(mm(U.data, Ue, n), dense('triutoeplitz', new Tensor([n], coef), n)) < 1e-14, `upper product n=${n}`);
    // Π: a Toeplitz matrix is fixed; X − Π(X) is Frobenius-orthogonal to every lower Toeplitz basis
    // matrix E_o (ones on the o-th subdiagonal) after symmetrisation (singd projects symmetric X)
    const X = rnd(11 + n, n * n);
    const S = Float64Array.from(X, (v, k) => v + X[(k % n) * n + Math.floor(k / n)]!);
    const pc = Float64Array.from((await out(proj, { X: new Tensor([n, n], S) })).data);
    for (let o = 0; o < n; o++) {
      let ip = 0;
      for (let i = o; i < n; i++) ip += S[i * n + i - o]! - (o === 0 ? pc[0]! : pc[o]! / 2);
      for (let i = o; i < n && o > 0; i++) ip += S[(i - o) * n + i]! - pc[o]! / 2;
      assert.ok(Math.abs(ip) < 1e-12, `Π orthogonality n=${n} o=${o}: ${ip}`);
    }
    // Π(L(c)) = c and Π(U(c)) = c: both triangles' classes are fixed by it
    const again = (await out(proj, { X: new Tensor([n, n], dense('triltoeplitz', new Tensor([n], pc), n)) })).data;
    assert.ok(maxAbs(again, pc) < 1e-13, `Π of a lower Toeplitz matrix n=${n}`);
    const againU = (await out(proj, { X: new Tensor([n, n], dense('triutoeplitz', new Tensor([n], pc), n)) })).data;
    assert.ok(maxAbs(againU, pc) < 1e-13, `Π of an upper Toeplitz matrix n=${n}`);
  }
});

// ---- IF-Shampoo (2-D) against a JavaScript transcription of seeds-math §2.5 ---------------------------

const tp = (A: Float64Array, r: number, c: number): Float64Array => {
  const o = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) o[j * r + i] = A[i * c + j]!;
  return o;
};
const mr = (A: ArrayLike<number>, B: ArrayLike<number>, r: number, k: number, c: number): Float64Array => {
  const o = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let l = 0; l < k; l++) for (let j = 0; j < c; j++) o[i * c + j] += A[i * k + l]! * B[l * c + j]!;
  return o;
};
const eyeN = (n: number): Float64Array => Float64Array.from({ length: n * n }, (_, k) => (k % (n + 1) === 0 ? 1 : 0));

test('IF-Shampoo (stdlib if_shampoo, 2-D): 70 steps on its log₄ schedule against a transcription of §2.5', async () => {
  const [d2, d1] = [3, 4];
  const h = { lr: 0.1, damping: 1e-3, beta2: 0.5, lr_cov: 0.05, nbatch: 8 };
  const T = 3;
  const step = mod.fn('if_shampoo');
  let W = rnd(1, d2 * d1);
  let st = (await mod.fn('if_shampoo.init').forward({ W: new Tensor([d2, d1], W), G: new Tensor([d2, d1], W) }, { backend })).outputs;
  // the oracle's state
  let B1 = eyeN(d1);
  let B2 = eyeN(d2);
  let m1 = new Float64Array(d1 * d1);
  let m2 = new Float64Array(d2 * d2);
  let Wr = Float64Array.from(W);
  let next = 0;
  const updates: number[] = [];
  let worst = 0;
  for (let t = 0; t < 70; t++) {
    const G = rnd(100 + t, d2 * d1);
    if (t === next) {
      updates.push(t);
      const Bh1 = B1.map((v) => v / Math.sqrt(d1));
      const Bh2 = B2.map((v) => v / Math.sqrt(d2));
      const X = mr(mr(tp(Bh2, d2, d2), G.map((v) => Math.sqrt(h.nbatch) * v), d2, d2, d1), Bh1, d2, d1, d1);
      const ss = (A: Float64Array): number => A.reduce((s, v) => s + v * v, 0);
      const H1 = mr(tp(Bh1, d1, d1), Bh1, d1, d1, d1).map((v, k) => (h.damping * d1 * ss(Bh2) / 2) * v + (d1 / 2) * mr(tp(X, d2, d1), X, d1, d2, d1)[k]! - 0.5 * (k % (d1 + 1) === 0 ? 1 : 0));
      const H2 = mr(tp(Bh2, d2, d2), Bh2, d2, d2, d2).map((v, k) => (h.damping * d2 * ss(Bh1) / 2) * v + (d2 / 2) * mr(X, tp(X, d2, d1), d2, d1, d2)[k]! - 0.5 * (k % (d2 + 1) === 0 ? 1 : 0));
      m1 = m1.map((v, k) => h.beta2 * v + (1 - h.beta2) * H1[k]!);
      m2 = m2.map((v, k) => h.beta2 * v + (1 - h.beta2) * H2[k]!);
      const s1 = h.lr_cov / Math.max(1, Math.sqrt(ss(m1)));
      const s2 = h.lr_cov / Math.max(1, Math.sqrt(ss(m2)));
      const B1m = mr(B1, m1, d1, d1, d1);
      const B2m = mr(B2, m2, d2, d2, d2);
      B1 = B1.map((v, k) => v - s1 * B1m[k]!);
      B2 = B2.map((v, k) => v - s2 * B2m[k]!);
      let L = 0;
      while (4 ** (L + 1) <= t + 1) L++;
      next = t + Math.min(Math.max(L, 1), T);
    }
    const D = mr(mr(mr(B2, tp(B2, d2, d2), d2, d2, d2), G, d2, d2, d1), mr(B1, tp(B1, d1, d1), d1, d1, d1), d2, d1, d1);
    Wr = Wr.map((v, k) => v - h.lr * D[k]!);
    const before = { B1: Float64Array.from(st.B1!.data), B2: Float64Array.from(st.B2!.data) };
    const out = (await step.forward({ W: new Tensor([d2, d1], W), G: new Tensor([d2, d1], G), ...st, ...h }, { backend, dims: { T } })).outputs;
    const { W: W2, ...rest } = out;
    W = Float64Array.from(W2!.data);
    st = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, new Tensor(v.shape, Float64Array.from(v.data))]));
    if (!updates.includes(t)) {
      // between schedule steps the factors come back bit for bit
      assert.equal(maxAbs(st.B1!.data, before.B1), 0, `B1 changed at t=${t}`);
      assert.equal(maxAbs(st.B2!.data, before.B2), 0, `B2 changed at t=${t}`);
    }
    for (const [got, want] of [[W, Wr], [st.B1!.data, B1], [st.B2!.data, B2], [st.m1!.data, m1], [st.m2!.data, m2]] as const) worst = Math.max(worst, maxAbs(got, want));
  }
  // 0 … 15 every step (⌊log₄(t + 1)⌋ ≤ 1), then every 2nd step up to t + 1 ≥ 64, then every T = 3rd
  assert.deepEqual(updates.slice(0, 19), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17, 19, 21]);
  assert.ok(updates.includes(63) && updates.includes(66) && updates.includes(69), updates.join(','));
  console.log(`# if_shampoo: ${updates.length} factor updates in 70 steps; worst |matc − transcription| ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-12, `worst ${worst}`);
});

// ---- IKFAC's fixed point (seeds-math §2.4): with kfac_like the trace couplings drop, and on constant
// statistics m = 0 means Kᵀ(U + λI)K = I, i.e. K Kᵀ = (U + λI)⁻¹ (damped KFAC, from products only);
// for diagonal factors Π keeps diag(Kᵀ U K) = k² ∘ diag(U), so k² = 1 / (diag(U) + λ) ----------------

test('IKFAC fixed point on constant statistics: singd_dense K Kᵀ = (U + λI)⁻¹, C Cᵀ = (G + λI)⁻¹; singd_diag k² = 1/(diag U + λ)', async () => {
  const [d, p, n] = [3, 4, 6];
  const a = new Tensor([n, p], rnd(41, n * p).map((v) => 0.8 * v));
  const g = new Tensor([n, d], rnd(43, n * d).map((v) => 0.8 * v));
  const W = new Tensor([d, p], rnd(45, d * p));
  const G = new Tensor([d, p], rnd(47, d * p));
  const damping = 0.1;
  const hyper = { lr: 0, momentum: 0, damping, alpha1: 0, weight_decay: 0, lr_cov: 0.2, kfac_like: 1 };
  const gram = (X: Tensor, r: number, c: number): Float64Array => mr(tp(Float64Array.from(X.data), r, c), X.data, c, r, c);
  const U = gram(a, n, p).map((v, k) => v + (k % (p + 1) === 0 ? damping : 0));
  const Gm = gram(g, n, d).map((v, k) => v + (k % (d + 1) === 0 ? damping : 0));
  for (const name of ['singd_dense', 'singd_diag']) {
    let st = (await mod.fn(`${name}.init`).forward({ W, G, a, g }, { backend })).outputs;
    for (let s = 0; s < 600; s++) {
      const r = (await mod.fn(name).forward({ W, G, a, g, ...st, ...hyper }, { backend, dims: { T: 1 } })).outputs;
      const { W: _w, ...rest } = r;
      st = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, new Tensor(v.shape, Float64Array.from(v.data))]));
    }
    let worst = 0;
    if (name === 'singd_dense') {
      // K Kᵀ (U + λI) = I and C Cᵀ (G + λI) = I
      for (const [F, S, q] of [[st.K!.data, U, p], [st.C!.data, Gm, d]] as const) {
        const R = mr(mr(F, tp(Float64Array.from(F), q, q), q, q, q), S, q, q, q);
        worst = Math.max(worst, maxAbs(R, eyeN(q)));
      }
    } else {
      for (const [f, S, q] of [[st.K!.data, U, p], [st.C!.data, Gm, d]] as const)
        for (let i = 0; i < q; i++) worst = Math.max(worst, Math.abs(f[i]! * f[i]! * S[i * q + i]! - 1));
    }
    console.log(`# ${name} (kfac_like) after 600 steps: worst |fixed-point residual| ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-9, `${name}: ${worst}`);
  }
});
