// The CPU programs' Householder QR routine (compiler/codegen/cpu/routines.ts `householder`, and
// its JavaScript form in runtime/cpu/helpers.ts): the CPU form of a function keeps the
// `householder` node (Program.cpuForm) and calls the routine — unblocked below QR_BLOCKED_FROM
// reflections, blocked with the compact WY representation from there on — while the reference
// interpreter runs the lowered loops (compiler/solvers/spectral.ts lowerHouseholder), which are
// its oracle here: forward, VJP and JVP of `qr`, both engines, tall, wide, square, ragged last
// panels, zero columns, the zero matrix, batches; plus A = Q R and QᵀQ = I directly, f32 storage
// against f64, and MATC_CPU_QR=0 (the loops in the program instead of the routine).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { stdlibDir } from '../compiler/check/items.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { Tensor } from '../runtime/tensor.js';
import { QR_BLOCKED_FROM, QR_PANEL, REFLECT_ROWS } from '../core/qr-blocking.js';
import { withEnv } from './util/env.js';

const path = join(stdlibDir(), 'qr.mat');
const SRC = readFileSync(path, 'utf8');

function rnd(seed: number, k: number): number[] {
  let x = seed >>> 0;
  return Array.from({ length: k }, () => ((x = (Math.imul(1664525, x) + 1013904223) >>> 0) >>> 8) / 16777216 - 0.5);
}

/** max |a − b| / max |b| over every named tensor */
function relDiff(a: Record<string, Tensor>, b: Record<string, Tensor>): number {
  let worst = 0;
  for (const [k, y] of Object.entries(b)) {
    const x = a[k]!;
    assert.deepEqual(x.shape, y.shape, `${k}: shapes differ`);
    let scale = 1e-300;
    for (const v of y.data) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < x.data.length; i++) worst = Math.max(worst, Math.abs(x.data[i]! - y.data[i]!) / scale);
  }
  return worst;
}

// blocked from k = QR_BLOCKED_FROM: 130 × 128 (four full panels), 300 × 140 (a ragged last
// panel of 12), 128 × 200 (wide: trailing columns past k), and below it the unblocked routine
const BIG = QR_BLOCKED_FROM;
const shapes: [number, number][] = [[6, 4], [4, 6], [33, 33], [1, 1], [BIG + 2, BIG], [BIG + 172, BIG + 12], [BIG, BIG + 72]];

test('the CPU Householder routine (unblocked and blocked) equals the interpreted loops, forward and A = Q R, QᵀQ = I (f64, both engines)', async () => {
  assert.ok(BIG % QR_PANEL === 0 && (BIG + 12) % QR_PANEL !== 0, 'the shapes cover a ragged last panel');
  const fn = compile(SRC, { path }).fn('qr');
  const ref = new CpuBackend({ reference: true });
  const engines = [new CpuBackend({ threads: 1, engine: 'wasm' }), new CpuBackend({ threads: 1, engine: 'js' })];
  try {
    for (const [m, n] of shapes) {
      const data = rnd(m * 131 + n, m * n);
      const k = Math.min(m, n);
      // a zero column inside the second panel where there is one (v = 0: no reflection there)
      const zc = Math.min(n - 1, QR_PANEL + 3);
      const variants = [data, data.map((x, i) => (i % n === zc ? 0 : x))];
      if (m * n < 100) variants.push(new Array(m * n).fill(0));
      for (const [vi, v] of variants.entries()) {
        const A = new Tensor([m, n], v);
        const want = await fn.forward({ A }, { backend: ref });
        for (const be of engines) {
          const got = await fn.forward({ A }, { backend: be });
          const d = relDiff(got.outputs, want.outputs);
          assert.ok(d <= 1e-12, `${m}×${n} (variant ${vi}) ${be.options.engine}: off the interpreted loops by ${d}`);
          assert.equal(got.status.ok, want.status.ok, `${m}×${n} (variant ${vi}): status`);
          const Q = got.outputs.Q!.data;
          const R = got.outputs.R!.data;
          let res = 0;
          for (let i = 0; i < m; i++) {
            for (let j = 0; j < n; j++) {
              let s = 0;
              for (let l = 0; l < k; l++) s += Q[i * k + l]! * R[l * n + j]!;
              res = Math.max(res, Math.abs(s - A.data[i * n + j]!));
            }
          }
          assert.ok(res <= 1e-13 * Math.max(m, n), `${m}×${n}: |QR − A| = ${res}`);
          let orth = 0;
          for (let i = 0; i < k; i++) {
            assert.ok(R[i * n + i]! >= 0, `${m}×${n}: diag(R)[${i}] < 0`);
            for (let j = 0; j < i; j++) assert.equal(R[i * n + j], 0, `${m}×${n}: R[${i}, ${j}] below the diagonal`);
            for (let j = 0; j < k; j++) {
              let s = 0;
              for (let l = 0; l < m; l++) s += Q[l * k + i]! * Q[l * k + j]!;
              orth = Math.max(orth, Math.abs(s - (i === j ? 1 : 0)));
            }
          }
          assert.ok(orth <= 1e-13 * Math.max(m, n), `${m}×${n}: |QᵀQ − I| = ${orth}`);
        }
      }
    }
  } finally {
    for (const be of engines) be.dispose();
  }
});

test('qr and householder_qr through the CPU Householder routine: VJP and JVP equal the interpreted loops, batched, blocked and not (f64)', async () => {
  const fn = compile(SRC, { path }).fn('qr');
  // the builtin itself: its JVP is forward mode through the routine's results (compiler/diff/spectral-rules.ts),
  // where `qr`'s own JVP is the implicit derivation's (dense in m·n unknowns: small sizes only)
  const prim = compile(`import "qr.mat"\nfn prim(A: mat[m, n]) -> (Q: mat[m, k], R: mat[k, n]) where k = min(m, n) = householder_qr(A)`, { path: join(stdlibDir(), 'prim.mat') }).fn('prim');
  const ref = new CpuBackend({ reference: true });
  const be = new CpuBackend({ threads: 1 });
  try {
    for (const [B, m, n] of [[3, 9, 7], [1, BIG + 6, BIG], [1, BIG, BIG + 40]] as const) {
      const k = Math.min(m, n);
      const A = new Tensor([B, m, n], rnd(B * 7 + m, B * m * n));
      const cts = { Q: new Tensor([B, m, k], rnd(5 + m, B * m * k)), R: new Tensor([B, k, n], rnd(9 + n, B * k * n)) };
      const dA = { A: new Tensor([B, m, n], rnd(1013 + 3 * n, B * m * n)) };
      for (const f of [fn, prim]) {
        const vj = await f.vjp({ A }, cts, { backend: be });
        const vjRef = await f.vjp({ A }, cts, { backend: ref });
        const dv = relDiff(vj.gradients!, vjRef.gradients!);
        assert.ok(dv <= 1e-10, `${f.name}, ${B} × ${m}×${n}: the VJP is off the interpreted loops by ${dv}`);
      }
      const g = m * n <= 100 ? fn : prim;
      const jv = await g.jvp({ A }, dA, { backend: be });
      const jvRef = await g.jvp({ A }, dA, { backend: ref });
      const dj = relDiff(jv.tangents!, jvRef.tangents!);
      assert.ok(dj <= 1e-10, `${B} × ${m}×${n}: the JVP is off the interpreted loops by ${dj}`);
    }
  } finally {
    be.dispose();
  }
});

test('the CPU Householder routine in f32 storage stays within f32 rounding of f64, blocked and not', async () => {
  const fn = compile(SRC, { path }).fn('qr');
  const f64 = new CpuBackend({ threads: 1 });
  const f32 = new CpuBackend({ threads: 1, precision: 'f32' });
  try {
    for (const [m, n] of [[40, 30], [BIG + 10, BIG]] as const) {
      const A = new Tensor([m, n], rnd(m + n, m * n));
      const a = await fn.forward({ A }, { backend: f64 });
      const b = await fn.forward({ A }, { backend: f32 });
      const d = relDiff(b.outputs, a.outputs);
      assert.ok(d <= 2e-4 && d > 0, `${m}×${n}: f32 off f64 by ${d}`);
    }
  } finally {
    f64.dispose();
    f32.dispose();
  }
});

test('the two forms of the routine round alike: the WebAssembly and JavaScript engines give bit-identical f32 results (rows in groups of REFLECT_ROWS and left over)', async () => {
  // f32 storage rounds t and X at every store, so a different order of the reflections' sums in
  // the two forms (helpers.ts against routines.ts) shows up in the last bits; both engines also
  // differ from f64 (a check that f32 is really what ran)
  const fn = compile(SRC, { path }).fn('qr');
  const engines = (['wasm', 'js'] as const).map((engine) => new CpuBackend({ threads: 1, precision: 'f32', engine }));
  const f64 = new CpuBackend({ threads: 1 });
  try {
    for (const [m, n] of [[REFLECT_ROWS * 7 + 3, 29], [REFLECT_ROWS + 1, REFLECT_ROWS + 2], [BIG + 10, BIG]] as const) {
      const A = new Tensor([m, n], rnd(7 * m + n, m * n));
      const [w, j] = await Promise.all(engines.map(async (backend) => (await fn.forward({ A }, { backend })).outputs));
      for (const k of Object.keys(w!)) assert.deepEqual(Array.from(w![k]!.data), Array.from(j![k]!.data), `${m}×${n}: ${k} differs between the engines`);
      assert.ok(relDiff(w!, (await fn.forward({ A }, { backend: f64 })).outputs) > 1e-9, `${m}×${n}: f32 equals f64`);
    }
  } finally {
    for (const be of [...engines, f64]) be.dispose();
  }
});

test('the CPU program calls the routine; MATC_CPU_QR=0 compiles the loops instead, with the same results', async () => {
  const A = new Tensor([2, 20, 12], rnd(3, 2 * 240));
  const run = async () => {
    const fn = compile(SRC, { path }).fn('qr');
    const js = fn.executable('forward').cpu()?.js ?? '';
    return { calls: js.includes('H.householder('), out: (await fn.forward({ A }, { backend: new CpuBackend({ threads: 1 }) })).outputs };
  };
  const on = await run();
  const off = await withEnv('MATC_CPU_QR', '0', run);
  assert.ok(on.calls, 'the CPU program of qr calls the householder routine');
  assert.ok(!off.calls, 'with MATC_CPU_QR=0 it runs the loops');
  assert.ok(relDiff(on.out, off.out) <= 1e-13);
});
