#!/usr/bin/env node
// Trains a 64 → 32 → 10 MLP on the 8×8 digits (examples/data/digits.csv.gz) from TypeScript/JavaScript
// with the inverse-free SPD optimizers of stdlib/spd.mat (INGD, INGD with binary16 factors,
// SINGD-diagonal, IF-Shampoo), KFAC
// with inverses, and SGD / Adam (examples/spd/mlp.mat), the forward and backward in a .mat spec
// that also returns each layer's statistics. Writes loss and accuracy curves of every optimizer
// against steps and against wall time into one SVG.
//
//   npx tsc -p tsconfig.json && node examples/spd/train.mjs [--steps 600] [--out build/spd-train.svg] [--json out.json]
//
// Data: the first 1,500 digits train (shuffled per epoch with a fixed seed), the last 297 test.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const { compile } = await import(join(root, 'dist/api/module.js'));
const { Tensor } = await import(join(root, 'dist/runtime/tensor.js'));
const { CpuBackend } = await import(join(root, 'dist/runtime/cpu/cpu-backend.js'));

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const STEPS = Number(opt('steps', '600'));
const OUT = opt('out', join(root, 'build', 'spd-train.svg'));
const JSON_OUT = opt('json', null);
const EVAL_EVERY = Number(opt('eval-every', String(Math.max(1, Math.floor(STEPS / 30)))));
const ONLY = opt('only', null);
const BATCH = 32;
const [K, H, C] = [64, 32, 10];

// ---- data ----
const rows = gunzipSync(readFileSync(join(root, 'examples/data/digits.csv.gz'))).toString('utf8').trim().split('\n').map((l) => l.split(',').map(Number));
const X = rows.map((r) => r.slice(0, 64).map((v) => v / 16));
const y = rows.map((r) => r[64]);
const TRAIN = 1500;
function lcg(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(1664525, s) + 1013904223) >>> 0) >>> 8) / 16777216;
}
function batchOf(idx) {
  const Xb = new Float64Array(idx.length * K);
  const Yb = new Float64Array(idx.length * C);
  idx.forEach((r, i) => {
    Xb.set(X[r], i * K);
    Yb[i * C + y[r]] = 1;
  });
  return { X: new Tensor([idx.length, K], Xb), Y: new Tensor([idx.length, C], Yb) };
}
const testSet = batchOf(Array.from({ length: rows.length - TRAIN }, (_, i) => TRAIN + i));

// ---- model ----
const mod = compile(readFileSync(join(here, 'mlp.mat'), 'utf8').replace(/^/, 'import "spd.mat"\n'), { path: join(here, 'mlp.mat') });
const backend = new CpuBackend({ engine: 'wasm', threads: 1 });
const net = mod.fn('mlp');
function initW(d, f, seed) {
  const u = lcg(seed);
  const b = 1 / Math.sqrt(f);
  return new Tensor([d, f + 1], Float64Array.from({ length: d * (f + 1) }, () => b * (2 * u() - 1)));
}
const copy = (t) => new Tensor(t.shape, Float64Array.from(t.data));

// each optimizer: its stdlib/example name, hyper-parameters, whether it takes the statistics
const OPTIMIZERS = [
  { name: 'SGD', fn: 'sgd', hyper: { lr: 0.1, momentum: 0.9 }, stats: false },
  { name: 'Adam', fn: 'adam', hyper: { lr: 0.01 }, stats: false },
  { name: 'KFAC', fn: 'kfac', T: 5, hyper: { lr: 0.05, momentum: 0.9, damping: 0.1, weight_decay: 0 }, stats: true },
  { name: 'INGD', fn: 'ingd', T: 5, hyper: { lr: 0.05, momentum: 0.9, damping: 0.01, weight_decay: 0, lr_cov: 0.01 }, stats: true },
  // the same INGD with its factors and statistics stored in binary16 (stdlib/spd.mat, low precision)
  { name: 'INGD-f16', fn: 'ingd_f16', T: 5, hyper: { lr: 0.05, momentum: 0.9, damping: 0.01, weight_decay: 0, lr_cov: 0.01 }, stats: true },
  { name: 'SINGD-diag', fn: 'singd_diag', T: 5, hyper: { lr: 0.05, momentum: 0.9, damping: 0.01, weight_decay: 0, lr_cov: 0.01 }, stats: true },
  { name: 'IF-Shampoo', fn: 'if_shampoo', T: 5, hyper: { lr: 0.05, damping: 0.01, lr_cov: 0.05, nbatch: BATCH }, stats: false },
].filter((o) => !ONLY || ONLY.split(',').includes(o.name));

function progress(name, s, n, loss) {
  if (!process.stderr.isTTY && s !== n) return;
  const w = 30;
  const k = Math.round((w * s) / n);
  process.stderr.write(`\r${name.padEnd(11)} [${'#'.repeat(k)}${'.'.repeat(w - k)}] ${String(s).padStart(5)}/${n} loss ${loss.toFixed(4)}${s === n ? '\n' : ''}`);
}

async function evaluate(Ws) {
  const o = (await net.forward({ ...testSet, W1: Ws[0], W2: Ws[1] }, { backend })).outputs;
  const Z = o.logits.data;
  let right = 0;
  const n = Z.length / C;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < C; j++) if (Z[i * C + j] > Z[i * C + best]) best = j;
    if (testSet.Y.data[i * C + best] === 1) right++;
  }
  return { loss: o.loss.data[0], acc: right / n };
}

async function train(o) {
  const step = mod.fn(o.fn);
  const init = mod.fn(`${o.fn}.init`);
  let Ws = [initW(H, K, 1), initW(C, H, 2)];
  const states = [];
  const curve = { name: o.name, step: [], time: [], trainLoss: [], testLoss: [], testAcc: [] };
  const rnd = lcg(7);
  let order = [];
  let t0 = performance.now();
  let elapsed = 0;
  for (let s = 0; s <= STEPS; s++) {
    if (s % EVAL_EVERY === 0 || s === STEPS) {
      elapsed += performance.now() - t0;
      const ev = await evaluate(Ws);
      curve.step.push(s);
      curve.time.push(elapsed / 1000);
      curve.testLoss.push(ev.loss);
      curve.testAcc.push(ev.acc);
      t0 = performance.now();
    }
    if (s === STEPS) break;
    if (order.length < BATCH) {
      const perm = Array.from({ length: TRAIN }, (_, i) => i);
      for (let i = perm.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [perm[i], perm[j]] = [perm[j], perm[i]];
      }
      order = perm;
    }
    const b = batchOf(order.splice(0, BATCH));
    const out = (await net.forward({ ...b, W1: Ws[0], W2: Ws[1] }, { backend })).outputs;
    if (!Number.isFinite(out.loss.data[0])) throw new Error(`${o.name}: the loss is not finite at step ${s}`);
    curve.trainLoss.push(out.loss.data[0]);
    const next = [];
    for (let l = 0; l < 2; l++) {
      const inputs = { W: Ws[l], G: copy(out[`G${l + 1}`]), ...(o.stats ? { a: copy(out[`a${l + 1}`]), g: copy(out[`g${l + 1}`]) } : {}) };
      if (s === 0) states.push((await init.forward(inputs, { backend })).outputs);
      const r = (await step.forward({ ...inputs, ...states[l], ...o.hyper }, { backend, dims: o.T ? { T: o.T } : {} })).outputs;
      const { W, ...rest } = r;
      next.push(copy(W));
      states[l] = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, copy(v)]));
    }
    Ws = next;
    progress(o.name, s + 1, STEPS, out.loss.data[0]);
  }
  return curve;
}

// ---- SVG ----
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#d62728', '#9467bd', '#8c564b'];
// a low-precision variant is drawn dashed in its method's colour
const dash = (c) => (/-f16$/.test(c.name) ? ' stroke-dasharray="5,3"' : '');
function panel(curves, xKey, yKey, title, x0, y0, w, h, logY) {
  const xs = curves.flatMap((c) => c[xKey]);
  const ys = curves.flatMap((c) => c[yKey]).map((v) => (logY ? Math.log10(v) : v));
  const [xmin, xmax] = [Math.min(...xs), Math.max(...xs) || 1];
  const [ymin, ymax] = [Math.min(...ys), Math.max(...ys)];
  const sx = (v) => x0 + 50 + ((v - xmin) / (xmax - xmin || 1)) * (w - 60);
  const sy = (v) => y0 + h - 30 - (((logY ? Math.log10(v) : v) - ymin) / (ymax - ymin || 1)) * (h - 50);
  let g = `<text x="${x0 + w / 2}" y="${y0 + 14}" text-anchor="middle" font-size="13">${title}</text>`;
  g += `<rect x="${x0 + 50}" y="${y0 + 20}" width="${w - 60}" height="${h - 50}" fill="none" stroke="#999"/>`;
  for (const [v, anchor] of [[xmin, 'start'], [xmax, 'end']]) g += `<text x="${sx(v)}" y="${y0 + h - 14}" text-anchor="${anchor}" font-size="10">${+v.toPrecision(3)}</text>`;
  for (const v of [ymin, ymax]) {
    const val = logY ? 10 ** v : v;
    g += `<text x="${x0 + 46}" y="${sy(val) + 4}" text-anchor="end" font-size="10">${+val.toPrecision(3)}</text>`;
  }
  g += `<text x="${x0 + w / 2 + 25}" y="${y0 + h - 2}" text-anchor="middle" font-size="10">${xKey === 'time' ? 'wall time (s)' : 'step'}</text>`;
  curves.forEach((c, i) => {
    const n = Math.min(c[xKey].length, c[yKey].length);
    const pts = Array.from({ length: n }, (_, k) => `${sx(c[xKey][k]).toFixed(1)},${sy(c[yKey][k]).toFixed(1)}`).join(' ');
    g += `<polyline points="${pts}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5"${dash(c)}/>`;
  });
  return g;
}
function svg(curves) {
  const [W, H] = [440, 260];
  let body = '';
  body += panel(curves, 'step', 'testLoss', 'test loss vs steps', 0, 0, W, H, true);
  body += panel(curves, 'time', 'testLoss', 'test loss vs wall time', W, 0, W, H, true);
  body += panel(curves, 'step', 'testAcc', 'test accuracy vs steps', 0, H, W, H, false);
  body += panel(curves, 'time', 'testAcc', 'test accuracy vs wall time', W, H, W, H, false);
  curves.forEach((c, i) => {
    body += `<line x1="${40 + i * 120}" y1="${2 * H + 10}" x2="${54 + i * 120}" y2="${2 * H + 10}" stroke="${COLORS[i % COLORS.length]}" stroke-width="3"${dash(c)}/><text x="${58 + i * 120}" y="${2 * H + 14}" font-size="11">${c.name}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${2 * H + 24}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${body}</svg>\n`;
}

const curves = [];
for (const o of OPTIMIZERS) curves.push(await train(o));
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, svg(curves));
for (const c of curves) {
  const last = c.testAcc.length - 1;
  console.log(`${c.name.padEnd(11)} test loss ${c.testLoss[0].toFixed(4)} → ${c.testLoss[last].toFixed(4)}, accuracy ${(100 * c.testAcc[last]).toFixed(1)}%, ${c.time[last].toFixed(1)} s`);
}
console.log(`wrote ${OUT}`);
if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify(curves));
