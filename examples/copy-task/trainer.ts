// The copy task trained end to end through compiled matc modules (issue 13 item 4): the loss and
// its BPTT gradient are `copy_loss` of examples/copy-task/copy.mat (reverse mode through its
// `iterate`), the recurrent matrix moves by stdlib/projunn.mat's projunn_t_rmsprop (projected
// RMSprop, LSI rank k, lr / lr_divider), U, V and c by copy.mat's RMSprop optimizers; every call
// runs a compiled executable on the given backend (default: the compiled CPU program, WASM f64).
// TypeScript only draws the data, passes tensors between the calls, prints a progress bar and
// writes the loss curve as SVG.
//
// As a script (after `npx tsc -p tsconfig.json`, which compiles this file with the tests):
//   node dist/examples/copy-task/trainer.js --L 1000 --N 190 --steps 20000 --out copy-L1000
// (see examples/copy-task/README.md for the options and the full-size command).

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compile, type Module } from '../../api/module.js';
import { Tensor } from '../../runtime/tensor.js';
import { Rng } from '../../runtime/random.js';
import { CpuBackend } from '../../runtime/cpu/cpu-backend.js';
import { createWebGpuBackend } from '../../runtime/webgpu/backend.js';
import type { Backend } from '../../runtime/backend.js';

/** The repository root, from the source (examples/copy-task) or the build (dist/examples/copy-task). */
function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const up2 = resolve(here, '..', '..');
  return up2.endsWith('dist') ? resolve(up2, '..') : up2;
}

export const K_SYMBOLS = 10; // input classes: blank 0, data 1 … 8, marker 9
export const C_CLASSES = 9; // output classes: blank 0, data 1 … 8
export const RECALL = 10; // symbols to copy

/** The no-memory baseline per step: blanks for L + 10 steps, a uniform guess over 8 for 10. */
export function baseline(L: number): number {
  return (RECALL * Math.log(8)) / (L + 2 * RECALL);
}

/** copy_task.py's Generate_Data: x = (s, 0 × L, 9, 0 × 9), y = (0 × (L + 10), s), s ∈ {1 … 8}¹⁰. */
export function copyBatch(rng: Rng, L: number, B: number): { x: Tensor; y: Tensor } {
  const T = L + 2 * RECALL;
  const x = new Float64Array(B * T);
  const y = new Float64Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < RECALL; i++) {
      const s = 1 + Math.floor(rng.next() * 8);
      x[b * T + i] = s;
      y[b * T + L + RECALL + i] = s;
    }
    x[b * T + L + RECALL] = 9;
  }
  return { x: new Tensor([B, T], x), y: new Tensor([B, T], y) };
}

export interface CopyOptions {
  /** delay (blanks between the symbols and the marker); T = L + 20 */
  L: number;
  /** hidden size (190 in the reference) */
  N: number;
  batch: number;
  steps: number;
  lr: number;
  lrDivider: number;
  /** rank of the projected update */
  k: number;
  /** steps per "epoch": lr × decay after each (the reference: 4000 steps, × 0.9) */
  epochSteps: number;
  decay: number;
  /** Newton–Schulz re-orthonormalisation of W every `reorth` steps (0: never) */
  reorth: number;
  seed: number;
  /** held-out sequences, evaluated every `evalEvery` steps */
  testSize: number;
  evalEvery: number;
  backend: Backend;
  /** where the optimizer steps and the initialisation run (default: `backend`); the CPU here keeps
   *  the loss and its BPTT on the GPU and the O(kN²) projected step on the host */
  optBackend?: Backend;
  progress: boolean;
}

export const defaults: Omit<CopyOptions, 'backend'> = {
  L: 1000,
  N: 190,
  batch: 128,
  steps: 20000,
  lr: 7e-4,
  lrDivider: 32,
  k: 1,
  epochSteps: 4000,
  decay: 0.9,
  reorth: 100,
  seed: 5544,
  testSize: 100,
  evalEvery: 100,
  progress: true,
};

export interface CurvePoint {
  step: number;
  /** mean training loss of the batches since the previous point */
  train: number;
  /** held-out loss and copy accuracy (last 10 steps) at this step */
  test: number;
  acc: number;
}

export interface CopyResult {
  curve: CurvePoint[];
  baseline: number;
  /** max |WᵀW − I| at the end */
  orthError: number;
  seconds: number;
  /** mean wall time of a training step (VJP, the four optimizer calls) from step 2 on: step 1
   *  also compiles the executables (and on WebGPU their pipelines) */
  stepMs: number;
  W: Tensor;
  /** ‖W − W₀‖_F: how far the projected optimizer moved the recurrent matrix */
  moved: number;
}

/** The example's modules: copy.mat (loss, predictions, init, RMSprop) and the stdlib's projUNN. */
export function loadModules(): { copy: Module; projunn: Module } {
  const root = repoRoot();
  const copyPath = join(root, 'examples', 'copy-task', 'copy.mat');
  const projPath = join(root, 'stdlib', 'projunn.mat');
  return {
    copy: compile(readFileSync(copyPath, 'utf8'), { path: copyPath }),
    projunn: compile(readFileSync(projPath, 'utf8'), { path: projPath }),
  };
}

function orthError(W: ArrayLike<number>, n: number): number {
  let e = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let r = 0; r < n; r++) s += W[r * n + i]! * W[r * n + j]!;
      e = Math.max(e, Math.abs(s - (i === j ? 1 : 0)));
    }
  }
  return e;
}

function bar(frac: number, width = 30): string {
  const f = Math.max(0, Math.min(1, frac));
  const full = Math.floor(f * width);
  return '█'.repeat(full) + (full < width ? '░'.repeat(width - full) : '');
}

/** Trains the orthogonal RNN on the copy task; returns the loss curve. */
export async function trainCopy(o: CopyOptions, mods = loadModules()): Promise<CopyResult> {
  const { copy, projunn } = mods;
  const be = { backend: o.backend };
  const ob = { backend: o.optBackend ?? o.backend };
  const T = o.L + 2 * RECALL;
  const N = o.N;
  const rng = new Rng(o.seed);

  // initialisation as copy_task.py: W henaff (seeded Philox in the module), U xavier-uniform
  // (gain 1), V kaiming-normal (ReLU: std √(2/N)), c = 0
  const W0 = await copy.fn('copy_init_w').forward({}, { ...ob, dims: { n: N, key: o.seed } });
  let W = W0.outputs.out!;
  const Winit = W;
  const ua = Math.sqrt(6 / (K_SYMBOLS + N));
  let U = new Tensor([N, K_SYMBOLS], Float64Array.from({ length: N * K_SYMBOLS }, () => (2 * rng.next() - 1) * ua));
  let V = new Tensor([C_CLASSES, N], rng.normals(C_CLASSES * N).map((v) => v * Math.sqrt(2 / N)));
  let c = new Tensor([C_CLASSES], new Float64Array(C_CLASSES));

  const test = copyBatch(new Rng(o.seed + 1), o.L, o.testSize);
  const zeroG = (t: Tensor) => new Tensor(t.shape, new Float64Array(t.size));
  let sW = (await projunn.fn('projunn_t_rmsprop.init').forward({ W, G: zeroG(W) }, ob)).outputs;
  let sU = (await copy.fn('rmsprop_mat.init').forward({ P: U, G: zeroG(U) }, ob)).outputs;
  let sV = (await copy.fn('rmsprop_mat.init').forward({ P: V, G: zeroG(V) }, ob)).outputs;
  let sc = (await copy.fn('rmsprop_vec.init').forward({ P: c, G: zeroG(c) }, ob)).outputs;

  const loss = copy.fn('copy_loss');
  const predict = copy.fn('copy_predict');
  const evaluate = async (): Promise<{ test: number; acc: number }> => {
    const inputs = { W, U, V, c, ...test };
    const l = (await loss.forward(inputs, be)).outputs.out!.data;
    const p = (await predict.forward(inputs, be)).outputs.acc!.data;
    let s = 0;
    let a = 0;
    for (let b = 0; b < o.testSize; b++) {
      s += l[b]!;
      a += p[b]!;
    }
    return { test: s / o.testSize, acc: a / o.testSize };
  };

  const curve: CurvePoint[] = [];
  const first = await evaluate();
  curve.push({ step: 0, train: NaN, test: first.test, acc: first.acc });
  const base = baseline(o.L);
  const started = performance.now();
  let acc = 0;
  let count = 0;
  let stepTime = 0;
  const cot = new Tensor([o.batch], new Float64Array(o.batch).fill(1 / o.batch));
  for (let step = 1; step <= o.steps; step++) {
    const lr = o.lr * o.decay ** Math.floor((step - 1) / o.epochSteps);
    const data = copyBatch(rng, o.L, o.batch);
    const t0 = performance.now();
    const r = await loss.vjp({ W, U, V, c, ...data }, { out: cot }, be);
    if (!r.status.ok) throw new Error(`copy_loss at step ${step}: ${r.status.warnings.join('; ')}`);
    let l = 0;
    for (const v of r.outputs.out!.data) l += v;
    l /= o.batch;
    if (!Number.isFinite(l)) throw new Error(`copy_loss at step ${step} is not finite: ${l}`);
    acc += l;
    count++;
    const g = r.gradients;
    const w = await projunn.fn('projunn_t_rmsprop').forward({ W, G: g.W!, ...sW, lr, lr_divider: o.lrDivider }, { ...ob, dims: { k: o.k, seed: o.seed, reorth: o.reorth } });
    if (!w.status.ok) throw new Error(`projunn_t_rmsprop at step ${step}: ${w.status.warnings.join('; ')}`);
    ({ W, ...sW } = w.outputs as Record<string, Tensor> & { W: Tensor });
    const u = (await copy.fn('rmsprop_mat').forward({ P: U, G: g.U!, ...sU, lr }, ob)).outputs;
    ({ P: U, ...sU } = u as Record<string, Tensor> & { P: Tensor });
    const v = (await copy.fn('rmsprop_mat').forward({ P: V, G: g.V!, ...sV, lr }, ob)).outputs;
    ({ P: V, ...sV } = v as Record<string, Tensor> & { P: Tensor });
    const cc = (await copy.fn('rmsprop_vec').forward({ P: c, G: g.c!, ...sc, lr }, ob)).outputs;
    ({ P: c, ...sc } = cc as Record<string, Tensor> & { P: Tensor });
    if (step > 1) stepTime += performance.now() - t0;

    if (step % o.evalEvery === 0 || step === o.steps) {
      const e = await evaluate();
      curve.push({ step, train: acc / count, test: e.test, acc: e.acc });
      acc = 0;
      count = 0;
    }
    if (o.progress) {
      const last = curve[curve.length - 1]!;
      const secs = (performance.now() - started) / 1000;
      const eta = (secs / step) * (o.steps - step);
      const line = `\r${bar(step / o.steps)} ${step}/${o.steps} loss ${l.toFixed(4)} test ${last.test.toFixed(4)} (baseline ${base.toFixed(4)}) acc ${(100 * last.acc).toFixed(0)}% ${(secs / step).toFixed(2)} s/step eta ${eta.toFixed(0)} s `;
      process.stderr.write(line);
    }
  }
  if (o.progress) process.stderr.write('\n');
  let moved = 0;
  for (let i = 0; i < W.size; i++) moved += (W.data[i]! - Winit.data[i]!) ** 2;
  return { curve, baseline: base, orthError: orthError(W.data, N), seconds: (performance.now() - started) / 1000, stepMs: o.steps > 1 ? stepTime / (o.steps - 1) : NaN, W, moved: Math.sqrt(moved) };
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Another run's curve drawn beside (its held-out loss), e.g. PyTorch's from bench/torch_copy_task.py. */
export interface OtherCurve {
  label: string;
  curve: { step: number; test: number }[];
}

/** The loss curve (training and held-out loss against the step, the baseline dashed) as SVG text,
 *  with the held-out curves of `others` beside it. */
export function lossCurveSvg(curve: CurvePoint[], base: number, title: string, others: OtherCurve[] = []): string {
  const w = 640;
  const h = 400;
  const m = { l: 64, r: 20, t: 36, b: 48 };
  const pw = w - m.l - m.r;
  const ph = h - m.t - m.b;
  const xmax = Math.max(1, ...curve.map((p) => p.step), ...others.flatMap((o) => o.curve.map((p) => p.step)));
  const ys = [...curve.flatMap((p) => [p.train, p.test]), ...others.flatMap((o) => o.curve.map((p) => p.test))].filter((v) => Number.isFinite(v));
  // the y range covers the run after its first 5 % (the first drop, from ~log 9, is clipped: the
  // interesting part is near the baseline)
  const late = [...curve.flatMap((p) => (p.step >= xmax / 20 ? [p.train, p.test] : [])), ...others.flatMap((o) => o.curve.filter((p) => p.step >= xmax / 20).map((p) => p.test))].filter((v) => Number.isFinite(v));
  const ymax = Math.max(base * 1.5, ...(late.length ? late : ys)) * 1.05;
  const ymin = 0;
  const X = (s: number) => m.l + (s / xmax) * pw;
  const Y = (v: number) => m.t + ph - ((v - ymin) / (ymax - ymin)) * ph;
  const path = (vals: [number, number][]) => vals.map(([s, v], i) => `${i ? 'L' : 'M'}${X(s).toFixed(1)},${Y(v).toFixed(1)}`).join(' ');
  const train = curve.filter((p) => Number.isFinite(p.train)).map((p) => [p.step, p.train] as [number, number]);
  const test = curve.map((p) => [p.step, p.test] as [number, number]);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${w}" height="${h}" fill="white"/>`);
  out.push(`<defs><clipPath id="plot"><rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}"/></clipPath></defs>`);
  out.push(`<text x="${w / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`);
  // axes, ticks and grid
  const nt = 5;
  for (let i = 0; i <= nt; i++) {
    const v = ymin + ((ymax - ymin) * i) / nt;
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.l - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end">${v.toFixed(2)}</text>`);
    const s = (xmax * i) / nt;
    out.push(`<text x="${X(s).toFixed(1)}" y="${m.t + ph + 18}" text-anchor="middle">${Math.round(s)}</text>`);
  }
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="black"/>`);
  out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="black"/>`);
  out.push(`<text x="${m.l + pw / 2}" y="${h - 10}" text-anchor="middle">training step</text>`);
  out.push(`<text x="16" y="${m.t + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${m.t + ph / 2})">cross-entropy per step</text>`);
  // baseline, curves, legend
  out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${Y(base).toFixed(1)}" y2="${Y(base).toFixed(1)}" stroke="#888" stroke-dasharray="6 4"/>`);
  if (train.length) out.push(`<path d="${path(train)}" fill="none" stroke="#1f77b4" stroke-width="1.5" clip-path="url(#plot)"/>`);
  out.push(`<path d="${path(test)}" fill="none" stroke="#d62728" stroke-width="1.5" clip-path="url(#plot)"/>`);
  const colours = ['#2ca02c', '#9467bd', '#ff7f0e'];
  others.forEach((o, i) => {
    const pts = o.curve.filter((p) => Number.isFinite(p.test)).map((p) => [p.step, p.test] as [number, number]);
    if (pts.length) out.push(`<path d="${path(pts)}" fill="none" stroke="${colours[i % colours.length]}" stroke-width="1.5" clip-path="url(#plot)"/>`);
  });
  const lx = m.l + 266;
  const legend: [string, string, string][] = [
    ['#1f77b4', '', 'training loss (mean since last point)'],
    ['#d62728', '', 'held-out loss'],
    ...others.map((o, i) => [colours[i % colours.length]!, '', `held-out loss, ${o.label}`] as [string, string, string]),
    ['#888', '6 4', `no-memory baseline 10 log 8 / (L + 20) = ${base.toFixed(4)}`],
  ];
  legend.forEach(([col, dash, label], i) => {
    const y = m.t + 12 + 16 * i;
    out.push(`<line x1="${lx - 60}" x2="${lx - 36}" y1="${y}" y2="${y}" stroke="${col}" stroke-width="1.5"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    out.push(`<text x="${lx - 30}" y="${y + 4}">${esc(label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function parseArgs(argv: string[]): { opts: Omit<CopyOptions, 'backend'>; out: string; engine: string; precision: 'f64' | 'f32'; threads: number; backendKind: string; optKind: string; withFiles: string[]; plot: string } {
  const opts = { ...defaults };
  let out = 'copy-task';
  let engine = 'wasm';
  let precision: 'f64' | 'f32' = 'f64';
  let threads = 1;
  let backendKind = 'cpu';
  let optKind = 'same';
  const withFiles: string[] = [];
  let plot = '';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    const num = () => {
      i++;
      const x = Number(v);
      if (!Number.isFinite(x)) throw new Error(`${a} needs a number, got ${v}`);
      return x;
    };
    switch (a) {
      case '--L': opts.L = num(); break;
      case '--N': opts.N = num(); break;
      case '--batch': opts.batch = num(); break;
      case '--steps': opts.steps = num(); break;
      case '--lr': opts.lr = num(); break;
      case '--lr-divider': opts.lrDivider = num(); break;
      case '--k': opts.k = num(); break;
      case '--epoch-steps': opts.epochSteps = num(); break;
      case '--decay': opts.decay = num(); break;
      case '--reorth': opts.reorth = num(); break;
      case '--seed': opts.seed = num(); break;
      case '--test-size': opts.testSize = num(); break;
      case '--eval-every': opts.evalEvery = num(); break;
      case '--threads': threads = num(); break;
      case '--quiet': opts.progress = false; break;
      case '--out': out = v ?? out; i++; break;
      case '--engine': engine = v ?? engine; i++; break;
      case '--backend': backendKind = v ?? backendKind; i++; break;
      case '--opt-backend': optKind = v ?? optKind; i++; break;
      case '--with': withFiles.push(v ?? ''); i++; break;
      case '--plot': plot = v ?? ''; i++; break;
      case '--f32': precision = 'f32'; break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  if (backendKind !== 'cpu' && backendKind !== 'webgpu') throw new Error(`--backend cpu|webgpu, got ${backendKind}`);
  if (optKind !== 'same' && optKind !== 'cpu') throw new Error(`--opt-backend same|cpu, got ${optKind}`);
  return { opts, out, engine, precision, threads, backendKind, optKind, withFiles, plot };
}

async function main(): Promise<void> {
  // a live Dawn device keeps Node running: main() ends with process.exit
  const { opts, out, engine, precision: p, threads, backendKind, optKind, withFiles, plot } = parseArgs(process.argv.slice(2));
  // --with FILE.json[=LABEL]: another run's held-out curve beside (bench/torch_copy_task.py's JSON)
  const others: OtherCurve[] = withFiles.map((f) => {
    const [file, label] = f.split('=');
    const j = JSON.parse(readFileSync(file!, 'utf8')) as { implementation?: string; precision?: string; curve: { step: number; test: number }[] };
    return { label: label ?? `${j.implementation ?? file} (${j.precision ?? '?'})`, curve: j.curve };
  });
  if (plot) {
    // --plot FILE.json: redraw a finished run (no training)
    const j = JSON.parse(readFileSync(plot, 'utf8')) as { options: CopyOptions; precision: string; baseline: number; curve: CurvePoint[] };
    const curve = j.curve.map((q) => ({ ...q, train: q.train ?? NaN }));
    const title = `copy task, L = ${j.options.L}, N = ${j.options.N}, projUNN-T k = ${j.options.k}, RMSprop lr ${j.options.lr} (matc, ${j.precision})`;
    writeFileSync(`${out}.svg`, lossCurveSvg(curve, j.baseline, title, others));
    console.log(`wrote ${out}.svg`);
    return;
  }
  let precision = p;
  let backend: Backend;
  if (backendKind === 'webgpu') {
    const gpu = await createWebGpuBackend();
    if (!gpu) throw new Error('--backend webgpu: no WebGPU adapter');
    backend = gpu;
    precision = 'f32';
  } else backend = new CpuBackend({ engine: engine as 'wasm', precision, threads });
  const optBackend = optKind === 'cpu' ? new CpuBackend({ engine: engine as 'wasm', precision: 'f64', threads: 1 }) : undefined;
  console.log(`copy task: L = ${opts.L} (T = ${opts.L + 20}), N = ${opts.N}, k = ${opts.k}, batch ${opts.batch}, ${opts.steps} steps, lr ${opts.lr} (÷${opts.lrDivider} on W), backend ${backend.describe()}${optBackend ? `, optimizer on ${optBackend.describe()}` : ''}`);
  const r = await trainCopy({ ...opts, backend, ...(optBackend ? { optBackend } : {}) });
  const last = r.curve[r.curve.length - 1]!;
  console.log(`done in ${r.seconds.toFixed(0)} s: held-out loss ${last.test.toFixed(4)} (baseline ${r.baseline.toFixed(4)}), copy accuracy ${(100 * last.acc).toFixed(1)}%, max|WᵀW − I| ${r.orthError.toExponential(2)}, ‖W − W₀‖_F ${r.moved.toFixed(3)}, ${r.stepMs.toFixed(1)} ms a step`);
  const title = `copy task, L = ${opts.L}, N = ${opts.N}, projUNN-T k = ${opts.k}, RMSprop lr ${opts.lr} (matc, ${precision})`;
  writeFileSync(`${out}.svg`, lossCurveSvg(r.curve, r.baseline, title, others));
  writeFileSync(`${out}.json`, JSON.stringify({ options: opts, precision, baseline: r.baseline, seconds: r.seconds, orthError: r.orthError, moved: r.moved, stepMs: r.stepMs, device: backend.describe(), optimizerDevice: (optBackend ?? backend).describe(), curve: r.curve }, null, 1) + '\n');
  console.log(`wrote ${out}.svg and ${out}.json`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
