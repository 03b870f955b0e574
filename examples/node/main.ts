// LESS — least squares on the unit sphere, x* = argmin_{‖x‖=1} ½‖Ax − b‖² — run from the ES
// module that `matc compile` wrote for stdlib/less.mat. No compiler runs here: the module holds
// the WGSL kernels (WebGPU) and the printed IR (CPU reference) and imports only matc's runtime.
// Build and run with `bash examples/node/build.sh` (examples/README.md).

// Written by examples/build.sh; typed by the generated less.d.ts.
import { less, load, Tensor } from '../build/less.js';

/** A small deterministic generator, so the run prints the same numbers every time. */
function normals(seed: number, n: number): Float64Array {
  let s = seed >>> 0;
  const u = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

const fmt = (xs: ArrayLike<number>): string => Array.from(xs, (v) => v.toFixed(5).padStart(9)).join(' ');

// WebGPU when an adapter exists (Dawn through the npm package `webgpu`), else the CPU reference.
const mod = await load(process.argv.includes('--cpu') ? { backend: 'cpu' } : {});
console.log(`backend: ${mod.backend}${mod.note ? ` (${mod.note})` : ''}`);

// A batch of 4 problems: A is 4 × [8, 3], b is 4 × [8] (batch dimensions lead).
const B = 4;
const m = 8;
const n = 3;
const A = new Tensor([B, m, n], normals(1, B * m * n));
const b = new Tensor([B, m], normals(2, B * m));

const t0 = performance.now();
const fwd = await less.forward({ A, b });
const t1 = performance.now();
const x: Tensor = fwd.outputs.x;
console.log(`forward (${(t1 - t0).toFixed(1)} ms): x has shape [${x.shape.join(', ')}]`);
for (let i = 0; i < B; i++) {
  const xi = x.data.subarray(i * n, (i + 1) * n);
  console.log(`  x[${i}] = ${fmt(xi)}   ‖x‖ = ${Math.hypot(...xi).toFixed(6)}`);
}
for (const s of fwd.status.nodes) console.log(`  ${s.name}: iterations ${s.iterations.join(', ')}; converged ${s.converged.every(Boolean) ? 'all' : s.converged.join(', ')}`);
if (!fwd.status.ok) for (const w of fwd.status.warnings) console.log(`  warning: ${w}`);

// Gradients of ⟨x̄, x⟩ with x̄ = 1 (the implicit backward, derived by matc from the KKT system).
const ones = new Tensor([B, n], new Float64Array(B * n).fill(1));
const t2 = performance.now();
const back = await less.vjp({ A, b }, { x: ones });
const t3 = performance.now();
console.log(`vjp (${(t3 - t2).toFixed(1)} ms): grad A [${back.gradients.A.shape.join(', ')}], grad b [${back.gradients.b.shape.join(', ')}]`);
console.log(`  grad b[0] = ${fmt(back.gradients.b.data.subarray(0, m))}`);

// Directional derivative of x along a change of b (forward mode).
const tan = await less.jvp({ A, b }, { b: new Tensor([B, m], normals(3, B * m)) });
console.log(`jvp: dx[0] = ${fmt(tan.tangents.x.data.subarray(0, n))}   (tangent to the sphere: x·dx = ${Array.from(tan.tangents.x.data.subarray(0, n)).reduce((s: number, v: number, i: number) => s + v * x.data[i]!, 0).toExponential(1)})`);

// Releases the GPU device: a Node process with a live Dawn device does not exit.
mod.dispose();
