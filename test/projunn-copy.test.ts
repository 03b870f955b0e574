// issue 13 item 4: the copy task trained end to end through compiled modules
// (examples/copy-task/copy.mat and trainer.ts). The BPTT gradient of `copy_loss` (reverse mode
// through its `iterate`) against central finite differences in f64; then a short training run on
// the compiled CPU program (WASM, f64) with the reference hyperparameters (projUNN-T, LSI k = 1,
// RMSprop lr 7e-4, lr_divider 32, batch 128, henaff init, ReLU) at a small size (N = 32, L = 5):
// the held-out loss must fall below the no-memory baseline 10 log 8 / (L + 20) — which no model
// without memory of the symbols can reach in expectation — and the copy accuracy above chance
// (1/8), while W stays orthogonal and moves. The loss curve SVG is written and parsed. On WebGPU
// (f32): the loss and its VJP, batched, against the CPU f64 program.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../runtime/tensor.js';
import { Rng } from '../runtime/random.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { relErr } from './util/approx.js';
import { trainCopy, defaults, loadModules, copyBatch, baseline, lossCurveSvg, K_SYMBOLS, C_CLASSES } from '../examples/copy-task/trainer.js';

const mods = loadModules();
after(releaseSharedGpu);

test('copy_loss: its BPTT gradient (reverse mode through iterate) matches central finite differences in f64; the data and the loss are the reference task', async () => {
  const rng = new Rng(2026);
  const n = 6;
  const L = 3;
  const T = L + 20;
  const params: Record<string, Tensor> = {
    W: new Tensor([n, n], rng.normals(n * n).map((x) => 0.4 * x)),
    U: new Tensor([n, K_SYMBOLS], rng.normals(n * K_SYMBOLS).map((x) => 0.8 * x)),
    V: new Tensor([C_CLASSES, n], rng.normals(C_CLASSES * n)),
    c: new Tensor([C_CLASSES], rng.normals(C_CLASSES).map((x) => 0.1 * x)),
  };
  const { x, y } = copyBatch(rng, L, 1);
  // the data: 10 symbols in 1…8, L blanks, the marker 9, 9 blanks; the target copies them at the end
  const xs = Array.from(x.data);
  const ys = Array.from(y.data);
  assert.ok(xs.slice(0, 10).every((s) => s >= 1 && s <= 8));
  assert.deepEqual(xs.slice(10), [...Array(L).fill(0), 9, ...Array(9).fill(0)]);
  assert.deepEqual(ys, [...Array(L + 10).fill(0), ...xs.slice(0, 10)]);
  const one = { x: new Tensor([T], x.data), y: new Tensor([T], y.data) };
  const fn = mods.copy.fn('copy_loss');
  const loss = async (p: Record<string, Tensor>) => (await fn.forward({ ...p, ...one })).outputs.out!.data[0]!;

  // the loss itself against a direct TypeScript evaluation of the same formula
  {
    const P = Object.fromEntries(Object.entries(params).map(([k, t]) => [k, t.data]));
    let h = new Float64Array(n);
    let s = 0;
    for (let t = 0; t < T; t++) {
      const h2 = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let a = P.U![i * K_SYMBOLS + xs[t]!]!;
        for (let j = 0; j < n; j++) a += P.W![i * n + j]! * h[j]!;
        h2[i] = Math.max(a, 0);
      }
      const z = Array.from({ length: C_CLASSES }, (_, q) => P.c![q]! + h2.reduce((acc, v, j) => acc + P.V![q * n + j]! * v, 0));
      const m = Math.max(...z);
      s += m + Math.log(z.reduce((acc, v) => acc + Math.exp(v - m), 0)) - z[ys[t]!]!;
      h = h2;
    }
    const got = await loss(params);
    assert.ok(Math.abs(got - s / T) <= 1e-12 * Math.abs(s / T), `copy_loss ${got} vs ${s / T}`);
  }

  const g = await fn.vjp({ ...params, ...one }, { out: new Tensor([], [1]) });
  assert.ok(g.status.ok);
  for (let d = 0; d < 4; d++) {
    const dir: Record<string, Tensor> = {};
    let analytic = 0;
    for (const [k, t] of Object.entries(params)) {
      dir[k] = new Tensor(t.shape, rng.normals(t.size));
      for (let i = 0; i < t.size; i++) analytic += g.gradients[k]!.data[i]! * dir[k]!.data[i]!;
    }
    const h = 1e-6;
    const at = (s: number) => Object.fromEntries(Object.entries(params).map(([k, t]) => [k, new Tensor(t.shape, t.data.map((v, i) => v + s * h * dir[k]!.data[i]!))]));
    const numeric = (8 * ((await loss(at(1))) - (await loss(at(-1)))) - ((await loss(at(2))) - (await loss(at(-2))))) / (12 * h);
    assert.ok(Math.abs(analytic - numeric) <= 1e-7 * Math.max(1, Math.abs(numeric)), `direction ${d}: ${analytic} vs ${numeric}`);
  }
});

test('the copy task (N = 32, L = 5, reference hyperparameters, 1000 steps, compiled CPU WASM f64): the held-out loss falls below the no-memory baseline 10 log 8 / (L + 20), copy accuracy above chance, W orthogonal', async () => {
  const backend = new CpuBackend({ engine: 'wasm', precision: 'f64', threads: 1 });
  const L = 5;
  const r = await trainCopy({ ...defaults, L, N: 32, steps: 1000, evalEvery: 250, testSize: 100, backend, progress: false }, mods);
  const base = baseline(L);
  assert.ok(Math.abs(base - (10 * Math.log(8)) / 25) < 1e-15);
  const first = r.curve[0]!;
  const last = r.curve[r.curve.length - 1]!;
  console.log(`# copy task L = ${L}, N = 32: held-out loss ${first.test.toFixed(4)} → ${last.test.toFixed(4)} (baseline ${base.toFixed(4)}), copy accuracy ${(100 * last.acc).toFixed(1)}% (chance 12.5%), max|WᵀW − I| ${r.orthError.toExponential(1)}, ‖W − W₀‖_F ${r.moved.toFixed(3)}, ${r.seconds.toFixed(1)} s`);
  assert.equal(last.step, 1000);
  assert.ok(first.test > 2, `the untrained loss is near log 9 or above: ${first.test}`);
  assert.ok(last.test < base, `held-out loss ${last.test} is not below the no-memory baseline ${base}`);
  // 1000 held-out predictions: chance is 1/8 (σ ≈ 0.0105); 0.16 is 3σ above it
  assert.ok(last.acc > 0.16, `copy accuracy ${last.acc} is not above chance`);
  assert.ok(r.orthError < 1e-10, `max|WᵀW − I| = ${r.orthError}`);
  // the projected optimizer moved the recurrent matrix (a fixed W would be a reservoir)
  assert.ok(r.moved > 0.01, `‖W − W₀‖_F = ${r.moved}`);

  const svg = lossCurveSvg(r.curve, base, 'copy task');
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal((svg.match(/<path d="M/g) ?? []).length, 2, 'a training and a held-out curve');
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  assert.ok(!/NaN/.test(svg));
  // another run's held-out curve beside (the form bench/run-copy-task.sh draws PyTorch's in)
  const two = lossCurveSvg(r.curve, base, 'copy task', [{ label: 'other', curve: r.curve.map((p) => ({ step: p.step, test: 1.1 * p.test })) }]);
  assert.equal((two.match(/<path d="M/g) ?? []).length, 3);
  assert.match(two, /held-out loss, other/);
});

test('WebGPU (f32): copy_loss and its BPTT VJP, batched, agree with the CPU f64 program (lavapipe: 14 s cold, loss 8e-8, gradients ≤ 2e-7)', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const gpu = new WebGpuBackend(ctx);
  const cpu = new CpuBackend({ engine: 'wasm', precision: 'f64', threads: 1 });
  const rng = new Rng(7);
  const n = 8;
  const L = 2;
  const B = 4;
  const inputs = {
    W: new Tensor([n, n], rng.normals(n * n).map((x) => 0.3 * x)),
    U: new Tensor([n, K_SYMBOLS], rng.normals(n * K_SYMBOLS).map((x) => 0.5 * x)),
    V: new Tensor([C_CLASSES, n], rng.normals(C_CLASSES * n).map((x) => 0.5 * x)),
    c: new Tensor([C_CLASSES], new Float64Array(C_CLASSES)),
    ...copyBatch(rng, L, B),
  };
  const fn = mods.copy.fn('copy_loss');
  const cot = { out: new Tensor([B], new Float64Array(B).fill(1 / B)) };
  const a = await fn.vjp(inputs, cot, { backend: cpu });
  const b = await fn.vjp(inputs, cot, { backend: gpu });
  assert.ok(b.status.ok);
  const e = relErr(b.outputs.out!.data, a.outputs.out!.data);
  console.log(`# copy_loss on ${gpu.describe()}: loss rel. err ${e.toExponential(1)}`);
  assert.ok(e < 1e-5, `loss: ${e}`);
  for (const k of ['W', 'U', 'V', 'c']) {
    const ek = relErr(b.gradients[k]!.data, a.gradients[k]!.data);
    console.log(`#   grad ${k}: ${ek.toExponential(1)}`);
    assert.ok(ek < 1e-4, `grad ${k}: ${ek}`);
  }
});
