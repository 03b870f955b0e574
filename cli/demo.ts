// `npm start`: the main job in one command. Compiles two stdlib layers and runs them, forward and
// backward, on WebGPU when an adapter exists and on the CPU reference otherwise (it says which):
//   LESS (least squares on the sphere, 64×32, a batch of 256) with a finite-difference check of
//   its implicit gradient, and IED (principal eigenvector, 32×32, PMaF's data, a batch of 512).

import { extent } from '../core/extent.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { gradCheck } from '../api/gradcheck.js';
import { selectBackend } from '../runtime/select.js';
import { stdlibDir } from '../compiler/check/items.js';
import { Tensor } from '../runtime/tensor.js';
import { Rng, randomInstance } from '../runtime/random.js';
import { exitAfterFlush } from './exit.js';
import { setQuietAdapterProbe } from '../runtime/webgpu/device.js';

// Dawn's adapter-probe warnings are noise here too (MATC_VERBOSE=1 shows them), as in the CLI.
setQuietAdapterProbe(true);

function batchOf(rng: Rng, batch: number, shape: number[], make?: (x: Float64Array) => Float64Array): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(batch * size);
  for (let b = 0; b < batch; b++) {
    const x = randomInstance(rng, shape, 'general');
    data.set(make ? make(x) : x, b * size);
  }
  return new Tensor([batch, ...shape], data);
}

/** PMaF's IED data: X = |N(0,1)|, X ← X + Xᵀ (a dominant Perron eigenvalue). */
function pmafSym(n: number) {
  return (x: Float64Array): Float64Array => {
    const out = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = Math.abs(x[i * n + j]!) + Math.abs(x[j * n + i]!);
    return out;
  };
}

const ms = (t: number) => `${t.toFixed(1)} ms`;

async function main(): Promise<void> {
  const sel = await selectBackend((process.env.MATC_BACKEND as 'auto' | 'cpu' | 'webgpu' | undefined) ?? 'auto');
  console.log(`matc demo — backend: ${sel.name}${sel.note ? ` (${sel.note})` : ''}`);
  const rng = new Rng(2026);
  // a software rasterizer (lavapipe) runs kernels on the CPU: keep its batches small
  const software = /llvmpipe|lavapipe|swiftshader|cpu/.test(sel.name);
  try {
    // LESS
    const lessPath = join(stdlibDir(), 'less.mat');
    const less = compile(readFileSync(lessPath, 'utf8'), { path: lessPath }).fn('less');
    const B = software ? 64 : 4096;
    const A = batchOf(rng, B, [64, 32]);
    const b = batchOf(rng, B, [64]);
    let t0 = performance.now();
    const fwd = await less.forward({ A, b }, { backend: sel.backend });
    const tf = performance.now() - t0;
    const st = fwd.status.nodes.find((s) => s.name.includes('argmin'))!;
    const cot = { x: batchOf(rng, B, [32]) };
    t0 = performance.now();
    const bwd = await less.vjp({ A, b }, cot, { backend: sel.backend });
    const tb = performance.now() - t0;
    console.log(`\nLESS  x* = argmin_{‖x‖=1} ½‖Ax − b‖²   A: ${B} × 64×32`);
    console.log(`  forward ${ms(tf)}, backward ${ms(tb)} (first calls include kernel compilation)`);
    console.log(`  solver: ${st.converged.filter(Boolean).length}/${B} converged, iterations ${extent(st.iterations).join('…')}`);
    console.log(`  ‖x‖ of instance 0 = ${Math.hypot(...fwd.outputs.x!.data.subarray(0, 32)).toFixed(6)}; gradients: A ${bwd.gradients.A!.shape.join('×')}, b ${bwd.gradients.b!.shape.join('×')}`);
    for (const w of new Set([...fwd.status.warnings, ...bwd.status.warnings])) console.log(`  warning: ${w}`);
    const one = { A: new Tensor([64, 32], A.data.subarray(0, 64 * 32)), b: new Tensor([64], b.data.subarray(0, 64)) };
    const gc = await gradCheck(less, one, { seed: 3 });
    console.log(`  implicit gradient vs central finite differences (f64, CPU): max relative error ${gc.maxRelErr.toExponential(2)} — ${gc.ok ? 'ok' : 'FAILED'}`);

    // IED
    const iedPath = join(stdlibDir(), 'ied.mat');
    const ied = compile(readFileSync(iedPath, 'utf8'), { path: iedPath }).fn('ied');
    const Bi = software ? 64 : 4096;
    const X = batchOf(rng, Bi, [32, 32], pmafSym(32));
    t0 = performance.now();
    const f2 = await ied.forward({ X }, { backend: sel.backend });
    const tf2 = performance.now() - t0;
    t0 = performance.now();
    await ied.vjp({ X }, { u: batchOf(rng, Bi, [32]) }, { backend: sel.backend });
    const tb2 = performance.now() - t0;
    const s2 = f2.status.nodes.find((s) => s.name.includes('argmax'))!;
    console.log(`\nIED   u* = argmax_{‖u‖=1} uᵀXu, 1ᵀu ≥ 0   X: ${Bi} × 32×32 (PMaF data)`);
    console.log(`  forward ${ms(tf2)}, backward ${ms(tb2)}; power iteration: ${s2.converged.filter(Boolean).length}/${Bi} converged in ${extent(s2.iterations).join('…')} iterations`);
    const g2 = await gradCheck(ied, { X: new Tensor([32, 32], X.data.subarray(0, 1024)) }, { seed: 4 });
    console.log(`  implicit gradient vs central finite differences (f64, CPU): max relative error ${g2.maxRelErr.toExponential(2)} — ${g2.ok ? 'ok' : 'FAILED'}`);
    console.log(`\nnext: npx matc run stdlib/less.mat --fn less --random --check-grad   (see README.md)`);
    process.exitCode = gc.ok && g2.ok ? 0 : 1;
  } finally {
    sel.backend?.dispose?.();
  }
}

main().then(
  () => exitAfterFlush(Number(process.exitCode ?? 0)),
  (e) => {
    console.error(e);
    process.exit(2);
  },
);
