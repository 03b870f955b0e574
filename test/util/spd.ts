// Shared by the SPD optimizer tests (test/spd*.test.ts): the reference network of SINGD's test as a
// .mat spec (forward, hand-written backward and the per-layer statistics), its data (the 8×8 digits
// upsampled to 28×28, as test/oracles/gen_spd_fixtures.py makes them), its initial weights (the
// generator's LCG draw) and comparisons against test/fixtures/spd.json.

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { repoRoot } from '../gen/paths.js';
import { Tensor } from '../../runtime/tensor.js';
import type { Backend } from '../../runtime/backend.js';

/** Conv2d(1→3, k5, s2) as its im2col product → ReLU → Flatten → ReLU → Linear(432→50) → ReLU →
 *  Linear(50→10), cross-entropy averaged over the batch. Weights are d×(fan_in + 1) matrices with
 *  the bias as the last column (local_cov's matrix form). The backward is written out (so the
 *  statistics of every layer are at hand) and is checked against matc's own VJP of `loss` and
 *  against central differences in the tests. Statistics follow SINGD (singd/optim/utils.py):
 *  a = [inputs, 1]/√rows (rows = b·l for the convolution, b otherwise), g = ∂loss/∂outputs·√b, so
 *  U = aᵀa and G = gᵀg. A softmax over the logits shifted by their largest entry. */
export const netSpec = `
fn lin2023_net(P: tensor[b, l, k], Y: mat[b, c], W1: mat[f, k + 1], W2: mat[h, f * l + 1], W3: mat[c, h + 1])
    -> (loss: real, logits: mat[b, c], G1: mat[f, k + 1], G2: mat[h, f * l + 1], G3: mat[c, h + 1],
        a1: mat[b * l, k + 1], g1: mat[b * l, f], a2: mat[b, f * l + 1], g2: mat[b, h], a3: mat[b, h + 1], g3: mat[b, c]) =
  let A1 = [reshape(P, b * l, k), ones(b * l, 1)],
      Z1 = A1 * W1',
      H1 = reshape(einsum("bpc->bcp", reshape(relu(Z1), b, l, f)), b, f * l),
      A2 = [H1, ones(b, 1)],
      Z2 = A2 * W2',
      A3 = [relu(Z2), ones(b, 1)],
      Z3 = A3 * W3',
      E = exp(Z3 - max(Z3)),
      s = rowsum(E),
      loss = (sum(log(s)) + b * max(Z3) - sum(Y .* Z3)) / b,
      D3 = (E ./ (s * ones(c)') - Y) / b,
      D2 = (D3 * W3[:, 0:h]) .* (Z2 > 0),
      D1 = reshape(einsum("bcp->bpc", reshape(D2 * W2[:, 0:f * l], b, f, l)), b * l, f) .* (Z1 > 0)
  in (loss, Z3, D1' * A1, D2' * A2, D3' * A3,
      A1 / sqrt(b * l), D1 * sqrt(b), A2 / sqrt(b), D2 * sqrt(b), A3 / sqrt(b), D3 * sqrt(b))

// the loss alone (for matc's own VJP and for finite differences)
fn lin2023_loss(P: tensor[b, l, k], Y: mat[b, c], W1: mat[f, k + 1], W2: mat[h, f * l + 1], W3: mat[c, h + 1]) -> real =
  let (loss, z, g1, g2, g3, a1, d1, a2, d2, a3, d3) = lin2023_net(P, Y, W1, W2, W3) in loss
`;

export const BATCH = 32;

export interface Digits {
  X: Float64Array[];
  y: number[];
}

/** examples/data/digits.csv.gz: 1,797 rows of 64 pixels (0…16) and a label. */
export function loadDigits(): Digits {
  const text = gunzipSync(readFileSync(join(repoRoot, 'examples/data/digits.csv.gz'))).toString('utf8');
  const X: Float64Array[] = [];
  const y: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const v = line.split(',').map(Number);
    X.push(Float64Array.from(v.slice(0, 64), (p) => p / 16));
    y.push(v[64]!);
  }
  return { X, y };
}

/** 8×8 → 24×24 (nearest, ×3) → 28×28 (zero padding 2), as the generator's image28. */
function image28(x: Float64Array): Float64Array {
  const out = new Float64Array(28 * 28);
  for (let i = 0; i < 24; i++) for (let j = 0; j < 24; j++) out[(i + 2) * 28 + j + 2] = x[Math.floor(i / 3) * 8 + Math.floor(j / 3)]!;
  return out;
}

/** Batch s as the network's inputs: the im2col patches P (b, 144, 25) and one-hot labels (b, 10). */
export function batchInputs(d: Digits, s: number): { P: Tensor; Y: Tensor; labels: number[] } {
  const P = new Float64Array(BATCH * 144 * 25);
  const Y = new Float64Array(BATCH * 10);
  const labels: number[] = [];
  for (let b = 0; b < BATCH; b++) {
    const img = image28(d.X[BATCH * s + b]!);
    const label = d.y[BATCH * s + b]!;
    labels.push(label);
    Y[b * 10 + label] = 1;
    for (let oh = 0; oh < 12; oh++)
      for (let ow = 0; ow < 12; ow++)
        for (let kh = 0; kh < 5; kh++)
          for (let kw = 0; kw < 5; kw++) P[((b * 144 + oh * 12 + ow) * 25) + kh * 5 + kw] = img[(2 * oh + kh) * 28 + 2 * ow + kw]!;
  }
  return { P: new Tensor([BATCH, 144, 25], P), Y: new Tensor([BATCH, 10], Y), labels };
}

/** The generator's lcg_uniform: exact dyadic numbers in [0, 1). */
export function lcgUniform(seed: number, n: number): number[] {
  const out: number[] = [];
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(1664525, s) + 1013904223) >>> 0;
    out.push((s >>> 8) / 16777216);
  }
  return out;
}

/** n LCG draws (lcgUniform) centred and scaled: uniform on [−scale/2, scale/2) — the random
 *  inputs of the SPD optimizer and structure tests. */
export function rnd(seed: number, n: number, scale = 1): Float64Array {
  return Float64Array.from(lcgUniform(seed, n), (u) => scale * (u - 0.5));
}

/** A layer's initial d×(fan_in + 1) matrix: ±1/√fan_in from lcgUniform(seed) (the generator's init_layer). */
export function initLayer(d: number, fanIn: number, seed: number): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  const u = lcgUniform(seed, d * (fanIn + 1));
  // the draw is the d×(fan_in + 1) matrix row by row (bias last), as the generator reshapes it
  return new Tensor([d, fanIn + 1], Float64Array.from(u, (v) => bound * (2 * v - 1)));
}

export const LAYERS: [number, number][] = [
  [3, 25],
  [50, 432],
  [10, 50],
];

export function initWeights(): Tensor[] {
  return LAYERS.map(([d, f], k) => initLayer(d, f, 1 + k));
}

// ---- the fixture ---------------------------------------------------------------------------------------

export interface FixT {
  shape: number[];
  data: number[];
}
export interface Summary {
  full?: FixT;
  Mx?: FixT;
  MTy?: FixT;
  trace?: number | null;
  fro?: number;
}

export interface SpdFixture {
  sketch: Record<string, FixT>;
  lin2023: { loss: number[]; logits: Record<string, FixT>; checkpoints: Record<string, Record<string, Record<string, Summary & FixT>>> };
  kfac: { loss: number[]; logits: Record<string, FixT>; checkpoints: Record<string, Record<string, Record<string, Summary>>> };
  singd: { structure: string; variant: string; hyper: Record<string, number | boolean>; loss: number[]; logits: FixT; final: Record<string, Record<string, Summary>> }[];
  checks: Record<string, number>;
}

let cached: SpdFixture | null = null;
export function spdFixture(): SpdFixture {
  cached ??= JSON.parse(readFileSync(join(repoRoot, 'test/fixtures/spd.json'), 'utf8')) as SpdFixture;
  return cached;
}

/** The same summary of a row-major r×c matrix as the generator's summ(). */
export function summarize(M: ArrayLike<number>, r: number, c: number, fx: SpdFixture): Summary {
  if (r * c <= 100) return { full: { shape: [r, c], data: Array.from(M) } };
  const x = fx.sketch[String(c)]!.data;
  const y = fx.sketch[String(r)]!.data;
  const Mx = new Array<number>(r).fill(0);
  const MTy = new Array<number>(c).fill(0);
  let tr = 0;
  let fro = 0;
  for (let i = 0; i < r; i++)
    for (let j = 0; j < c; j++) {
      const v = M[i * c + j]!;
      Mx[i] += v * x[j]!;
      MTy[j] += v * y[i]!;
      fro += v * v;
      if (i === j) tr += v;
    }
  return { Mx: { shape: [r], data: Mx }, MTy: { shape: [c], data: MTy }, trace: r === c ? tr : null, fro: Math.sqrt(fro) };
}

/** The largest error of `got` against `want` relative to rtol·|want| + atol (≤ 1 passes). */
export function scaledError(got: ArrayLike<number>, want: ArrayLike<number>, rtol: number, atol: number): number {
  let worst = 0;
  if (got.length !== want.length) return Infinity;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i]! - want[i]!) / (rtol * Math.abs(want[i]!) + atol);
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}

/** Compares a summary made here with the fixture's (only the fields the fixture has). */
export function summaryError(got: Summary, want: Summary, rtol: number, atol: number): number {
  let worst = 0;
  const upd = (e: number): void => {
    if (!(e <= worst)) worst = e;
  };
  if (want.full) upd(scaledError(got.full?.data ?? [], want.full.data, rtol, atol));
  if (want.Mx) upd(scaledError(got.Mx?.data ?? [], want.Mx.data, rtol, atol));
  if (want.MTy) upd(scaledError(got.MTy?.data ?? [], want.MTy.data, rtol, atol));
  if (typeof want.trace === 'number') upd(scaledError([got.trace ?? NaN], [want.trace], rtol, atol));
  if (typeof want.fro === 'number') upd(scaledError([got.fro ?? NaN], [want.fro], rtol, atol));
  return worst;
}

/** Three chained steps of a stdlib optimizer (T = 2: with and without the factor update) from its
 *  init, W and every state array at the end (copied to f64): test/spd-backends.test.ts and
 *  test/blocks-backends.test.ts run it on each backend against the compiled f64 program. */
export async function threeSteps(
  mod: { fn(name: string): { forward(inputs: Record<string, Tensor | number>, opts: { backend: Backend; dims?: Record<string, number> }): Promise<{ outputs: Record<string, Tensor> }> } },
  fn: string,
  W0: Tensor,
  inputs: (s: number) => Record<string, Tensor>,
  hyper: Record<string, number>,
  backend: Backend,
): Promise<Record<string, Float64Array>> {
  let st = (await mod.fn(`${fn}.init`).forward({ W: W0, ...inputs(0) }, { backend })).outputs;
  let W = W0;
  for (let s = 0; s < 3; s++) {
    const r = (await mod.fn(fn).forward({ W, ...inputs(s), ...st, ...hyper }, { backend, dims: { T: 2 } })).outputs;
    const { W: W2, ...rest } = r;
    W = new Tensor(W2!.shape, Float64Array.from(W2!.data));
    st = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, new Tensor(v.shape, Float64Array.from(v.data))]));
  }
  return Object.fromEntries([['W', W.data], ...Object.entries(st).map(([k, v]) => [k, v.data])].map(([k, v]) => [k, Float64Array.from(v as ArrayLike<number>)]));
}
