// Trains the digits classifier of examples/sttp/digits.mat from TypeScript (issue 14, item 5):
// the hidden 64 × 64 layer as STTP (learned spectrum) or SVDP at several ranks, or dense, with Adam
// on the 8×8 digits (examples/data/digits.csv.gz), and reports test accuracy against the hidden
// layer's compression (its DOF / 4096, as the paper's Fig. 7 at small scale). Each step is one
// VJP call of the compiled loss; the parameters live in TypeScript.
//
//   node dist/examples/sttp/train.js [--steps 400] [--out examples/sttp/out] [--quick]
//
// writes OUT/curves.svg (training loss and test accuracy per model) and OUT/results.md (the
// table), and prints a progress bar on stderr.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile, type Module } from '../../api/module.js';
import { stdlibDir } from '../../compiler/check/items.js';
import { Tensor } from '../../runtime/tensor.js';
import { Rng } from '../../runtime/random.js';
import { sttpDof, sttpShape, svdpDof } from '../../api/sttp.js';

const here = dirname(fileURLToPath(import.meta.url));
/** the repository root, from src (examples/sttp) or from dist/examples/sttp */
const root = here.includes(`${join('dist', 'examples')}`) ? join(here, '..', '..', '..') : join(here, '..', '..');

export interface Data {
  X: Float64Array; // n × 64, pixels / 16
  y: Int32Array;
  n: number;
}

export function loadDigits(): Data {
  const text = gunzipSync(readFileSync(join(root, 'examples', 'data', 'digits.csv.gz'))).toString('utf8');
  const rows = text.trim().split('\n').map((l) => l.split(',').map(Number));
  const n = rows.length;
  const X = new Float64Array(n * 64);
  const y = new Int32Array(n);
  rows.forEach((r, i) => {
    if (r.length !== 65) throw new Error(`digits: row ${i} has ${r.length} fields`);
    for (let j = 0; j < 64; j++) X[i * 64 + j] = r[j]! / 16;
    y[i] = r[64]!;
  });
  return { X, y, n };
}

/** Columns idx of the data as X (64 × c) and one-hot Yh (10 × c). */
function batch(d: Data, idx: readonly number[]): { X: Tensor; Yh: Tensor } {
  const c = idx.length;
  const X = new Float64Array(64 * c);
  const Yh = new Float64Array(10 * c);
  idx.forEach((s, q) => {
    for (let j = 0; j < 64; j++) X[j * c + q] = d.X[s * 64 + j]!;
    Yh[d.y[s]! * c + q] = 1;
  });
  return { X: new Tensor([64, c], X), Yh: new Tensor([10, c], Yh) };
}

export interface ModelSpec {
  name: string;
  kind: 'sttp' | 'svdp' | 'dense';
  rank: number;
}

export interface RunResult {
  model: ModelSpec;
  /** DOF of the hidden layer, and DOF / 4096 in percent */
  dof: number;
  z: number;
  loss: number[];
  /** (step, test accuracy) */
  acc: [number, number][];
  finalAcc: number;
  seconds: number;
  /** the trained parameters (flattened names) and the dims a call of the model's functions takes */
  params: Record<string, Tensor>;
  dims: Record<string, number>;
}

function normals(rng: Rng, shape: number[], scale: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(shape, rng.normals(n).map((x) => x * scale));
}

/** Initial parameters (flattened names, as the VJP returns gradients) and the call's dims. */
async function init(mod: Module, m: ModelSpec, rng: Rng, seed: number): Promise<{ params: Record<string, Tensor>; dims: Record<string, number>; dof: number }> {
  const head = { b1: new Tensor([64], new Float64Array(64)), W2: normals(rng, [10, 64], 1 / 8), b2: new Tensor([10], new Float64Array(10)) };
  if (m.kind === 'dense') return { params: { W1: normals(rng, [64, 64], 1 / 8), ...head }, dims: {}, dof: 4096 };
  if (m.kind === 'svdp') {
    const r = (await mod.fn('svdp_init').forward({}, { dims: { m: 64, n: 64, r: m.rank, seed } })).outputs;
    return { params: { PU: r.PU!, PV: r.PV!, S: r.S!, ...head }, dims: {}, dof: svdpDof(64, 64, m.rank) };
  }
  const s = sttpShape(64, 64, m.rank);
  const r = (await mod.fn('sttp_init').forward({}, { dims: { ...s.dims, seed } })).outputs;
  return { params: { ...r, ...head }, dims: s.dims, dof: sttpDof(s) };
}

function progress(label: string, i: number, n: number, loss: number): void {
  if (!process.stderr.isTTY && i !== n && i % 50 !== 0) return;
  const w = 30;
  const f = Math.round((w * i) / n);
  process.stderr.write(`\r${label.padEnd(12)} [${'#'.repeat(f)}${'-'.repeat(w - f)}] ${String(i).padStart(4)}/${n} loss ${loss.toFixed(4)}${process.stderr.isTTY ? '' : '\n'}`);
  if (i === n && process.stderr.isTTY) process.stderr.write('\n');
}

export interface TrainOptions {
  steps: number;
  batch: number;
  lr: number;
  evalEvery: number;
  seed: number;
  quiet?: boolean;
}

/** Splits the data (a seeded shuffle: 1347 train, 450 test) and trains each model with Adam. */
export async function train(models: readonly ModelSpec[], o: TrainOptions): Promise<RunResult[]> {
  const src = readFileSync(join(root, 'examples', 'sttp', 'digits.mat'), 'utf8');
  const mod = compile(src, { path: join(stdlibDir(), 'digits.mat') });
  const d = loadDigits();
  const perm = Array.from({ length: d.n }, (_, i) => i);
  const rng = new Rng(o.seed);
  for (let i = perm.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const nTest = 450;
  const testIdx = perm.slice(0, nTest);
  const trainIdx = perm.slice(nTest);
  const test = batch(d, testIdx);
  const out: RunResult[] = [];
  for (const m of models) {
    const t0 = performance.now();
    const mr = new Rng(o.seed + 17);
    const { params, dims, dof } = await init(mod, m, mr, o.seed);
    const lossFn = mod.fn(`loss_${m.kind}`);
    const logitsFn = mod.fn(`logits_${m.kind}`);
    const mom: Record<string, Float64Array> = {};
    const vel: Record<string, Float64Array> = {};
    for (const [k, t] of Object.entries(params)) {
      mom[k] = new Float64Array(t.size);
      vel[k] = new Float64Array(t.size);
    }
    const losses: number[] = [];
    const acc: [number, number][] = [];
    const evaluate = async (step: number) => {
      const z = (await logitsFn.forward({ ...params, X: test.X }, { dims })).outputs.Z!;
      let right = 0;
      for (let q = 0; q < nTest; q++) {
        let best = 0;
        for (let k = 1; k < 10; k++) if (z.data[k * nTest + q]! > z.data[best * nTest + q]!) best = k;
        if (best === d.y[testIdx[q]!]) right++;
      }
      acc.push([step, right / nTest]);
    };
    const b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (let step = 1; step <= o.steps; step++) {
      const idx = Array.from({ length: o.batch }, () => trainIdx[Math.floor(mr.next() * trainIdx.length)]!);
      const { X, Yh } = batch(d, idx);
      const r = await lossFn.vjp({ ...params, X, Yh }, { out: new Tensor([], [1]) }, { dims });
      const loss = r.outputs.out!.data[0]!;
      if (!Number.isFinite(loss)) throw new Error(`${m.name}: the loss is ${loss} at step ${step}`);
      losses.push(loss);
      for (const [k, t] of Object.entries(params)) {
        const g = r.gradients[k]!.data;
        const mk = mom[k]!, vk = vel[k]!;
        const p = new Float64Array(t.data);
        const c1 = 1 - b1 ** step, c2 = 1 - b2 ** step;
        for (let e = 0; e < p.length; e++) {
          mk[e] = b1 * mk[e]! + (1 - b1) * g[e]!;
          vk[e] = b2 * vk[e]! + (1 - b2) * g[e]! * g[e]!;
          p[e]! -= (o.lr * (mk[e]! / c1)) / (Math.sqrt(vk[e]! / c2) + eps);
        }
        params[k] = new Tensor(t.shape, p);
      }
      if (!o.quiet) progress(m.name, step, o.steps, loss);
      if (step % o.evalEvery === 0 || step === o.steps) await evaluate(step);
    }
    out.push({ model: m, dof, z: (100 * dof) / 4096, loss: losses, acc, finalAcc: acc[acc.length - 1]![1], seconds: (performance.now() - t0) / 1000, params, dims });
  }
  return out;
}

const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** Two panels side by side: training loss (a moving average of 20 steps) and test accuracy. */
export function curvesSvg(runs: readonly RunResult[]): string {
  const W = 420, H = 300, pad = 45;
  const steps = Math.max(...runs.map((r) => r.loss.length));
  const smooth = (xs: number[]) => xs.map((_, i) => {
    const a = xs.slice(Math.max(0, i - 19), i + 1);
    return a.reduce((s, x) => s + x, 0) / a.length;
  });
  const maxLoss = Math.max(...runs.flatMap((r) => smooth(r.loss)));
  const panel = (x0: number, title: string, ymax: number, ymin: number, series: (r: RunResult) => [number, number][]) => {
    const sx = (s: number) => x0 + pad + ((W - 2 * pad) * s) / steps;
    const sy = (v: number) => H - pad - ((H - 2 * pad) * (v - ymin)) / (ymax - ymin);
    let g = `<rect x="${x0 + pad}" y="${pad}" width="${W - 2 * pad}" height="${H - 2 * pad}" fill="none" stroke="#333"/>`;
    g += `<text x="${x0 + W / 2}" y="${pad - 12}" text-anchor="middle" font-size="14">${title}</text>`;
    for (let t = 0; t <= 4; t++) {
      const v = ymin + ((ymax - ymin) * t) / 4;
      g += `<text x="${x0 + pad - 5}" y="${sy(v) + 4}" text-anchor="end" font-size="10">${v.toFixed(2)}</text>`;
      const s = Math.round((steps * t) / 4);
      g += `<text x="${sx(s)}" y="${H - pad + 14}" text-anchor="middle" font-size="10">${s}</text>`;
    }
    g += `<text x="${x0 + W / 2}" y="${H - 8}" text-anchor="middle" font-size="11">step</text>`;
    runs.forEach((r, i) => {
      const pts = series(r).map(([s, v]) => `${sx(s).toFixed(1)},${sy(v).toFixed(1)}`).join(' ');
      g += `<polyline fill="none" stroke="${palette[i % palette.length]}" stroke-width="1.5" points="${pts}"/>`;
    });
    return g;
  };
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W + 160}" height="${H}" font-family="sans-serif">`;
  svg += `<rect width="100%" height="100%" fill="white"/>`;
  svg += panel(0, 'training loss (mean of 20 steps)', maxLoss, 0, (r) => smooth(r.loss).map((v, i) => [i + 1, v]));
  svg += panel(W, 'test accuracy (450 digits)', 1, 0, (r) => r.acc);
  runs.forEach((r, i) => {
    svg += `<line x1="${2 * W + 5}" x2="${2 * W + 25}" y1="${pad + 16 * i}" y2="${pad + 16 * i}" stroke="${palette[i % palette.length]}" stroke-width="2"/>`;
    svg += `<text x="${2 * W + 30}" y="${pad + 16 * i + 4}" font-size="11">${r.model.name}</text>`;
  });
  return svg + '</svg>\n';
}

export function resultsTable(runs: readonly RunResult[]): string {
  let s = '| hidden layer | rank | DOF | Z (DOF / 4096) | test accuracy | time (s) |\n|---|---|---|---|---|---|\n';
  for (const r of runs) s += `| ${r.model.kind.toUpperCase()} | ${r.model.kind === 'dense' ? '—' : r.model.rank} | ${r.dof} | ${r.z.toFixed(1)} % | ${(100 * r.finalAcc).toFixed(1)} % | ${r.seconds.toFixed(1)} |\n`;
  return s;
}

export const defaultModels: ModelSpec[] = [
  ...[2, 4, 8].map((rank) => ({ name: `STTP r=${rank}`, kind: 'sttp' as const, rank })),
  ...[2, 4, 8].map((rank) => ({ name: `SVDP r=${rank}`, kind: 'svdp' as const, rank })),
  { name: 'dense', kind: 'dense', rank: 64 },
];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (k: string, dflt: string) => {
    const i = args.indexOf(k);
    return i >= 0 && i + 1 < args.length ? args[i + 1]! : dflt;
  };
  const quick = args.includes('--quick');
  const steps = Number(arg('--steps', quick ? '60' : '400'));
  const outDir = arg('--out', join(root, 'examples', 'sttp', 'out'));
  const runs = await train(defaultModels, { steps, batch: 64, lr: 0.01, evalEvery: Math.max(1, Math.floor(steps / 20)), seed: 14 });
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'curves.svg'), curvesSvg(runs));
  const table = resultsTable(runs);
  writeFileSync(join(outDir, 'results.md'), `${steps} Adam steps (lr 0.01, batch 64), seed 14\n\n${table}`);
  process.stdout.write(table);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
