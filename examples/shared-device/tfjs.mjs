// matc and TensorFlow.js's WebGPU backend sharing one GPUDevice, with no readback in between.
//
// TF.js makes a batch of SPD systems on the GPU (A = XᵀX/n + I, b), matc solves them with a .mat
// function reading TF.js's buffers in place (backend.wrap), and TF.js takes matc's solution
// buffer as a tensor (tf.tensor({ buffer })) to compute the residual ‖Ax − b‖ on the GPU. The only
// transfers to the host are the residuals and matc's status at the end.
//
//   bash examples/shared-device/run.sh        (installs TF.js here, builds matc if needed)
//
// Ownership: this program owns the device (it made it and destroys it); TF.js and matc both run
// on it. matc never destroys a device handed to it, and reads wrapped buffers without writing
// them. TF.js records commands lazily, so every buffer crosses only after its writer submitted:
// dataToGPU() submits TF.js's queue; a matc call is submitted when its promise resolves.

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { compile } = await import(join(root, 'dist/api/module.js'));
const { createWebGpuBackend } = await import(join(root, 'dist/runtime/webgpu/backend.js'));

// ---- the device, owned here ------------------------------------------------------------------------
process.env.XDG_RUNTIME_DIR ??= '/tmp';
const { create, globals } = await import('webgpu'); // Dawn for Node (matc's own dependency)
Object.assign(globalThis, globals); // TF.js reads GPUBufferUsage & co. from the globals
const gpu = create(['backend=vulkan']);
// TF.js's WebGPU backend checks navigator.gpu exists before it accepts a device (a browser has it)
if (!globalThis.navigator) globalThis.navigator = {};
if (!globalThis.navigator.gpu) Object.defineProperty(globalThis.navigator, 'gpu', { value: gpu, configurable: true });
const adapter = await gpu.requestAdapter();
if (!adapter) throw new Error('no WebGPU adapter (on Linux without a GPU: sudo bash .ci/install-lavapipe.sh)');
const device = await adapter.requestDevice({ label: 'shared' });

// ---- TF.js on that device ----------------------------------------------------------------------------
const tf = await import('@tensorflow/tfjs-core');
const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
// the package registers 'webgpu' with a factory that opens its own device: replace it with ours
// (its kernels are registered under the name 'webgpu' and stay)
tf.removeBackend('webgpu');
tf.registerBackend('webgpu', () => new WebGPUBackend(device, adapter.info));
await tf.setBackend('webgpu');

// ---- matc on that device -----------------------------------------------------------------------------
const matc = await createWebGpuBackend({ device });
const solve = compile(`fn solve_batch(A: mat[n, n], b: vec[n]) -> x: vec[n] = solve(A, b)`).fn('solve_batch');
console.log(`TF.js backend: ${tf.getBackend()}; matc: ${matc.describe()}`);

const B = 64;
const n = 16;
// TF.js: the systems, on the GPU
const X = tf.randomNormal([B, n, n], 0, 1, 'float32', 1);
const A = tf.add(tf.div(tf.matMul(X, X, true, false), n), tf.eye(n, n, [B]));
// (randomNormal is made on the host and uploaded at first use: one GPU op puts b on the device)
const b = tf.sum(tf.mul(X, tf.randomNormal([B, 1, n], 0, 1, 'float32', 2)), 2);
// hand TF.js's buffers to matc: dataToGPU() gives a GPUBuffer (a copy TF.js keeps for us) and
// submits TF.js's pending work
const Ag = A.dataToGPU();
const bg = b.dataToGPU();
const Am = await matc.wrap(Ag.buffer, [B, n, n]);
const bm = await matc.wrap(bg.buffer, [B, n]);
const r = await solve.forward({ A: Am, b: bm }, { backend: matc, resident: true });
// matc's call is submitted: TF.js may reuse its buffers now
Ag.tensorRef.dispose();
bg.tensorRef.dispose();
// matc's solution into TF.js, without a copy (zeroCopy: TF.js uses matc's buffer as it is, so the
// GpuTensor stays alive until TF.js is done with it)
const x = r.outputs.x;
const xt = tf.tensor({ buffer: x.buffer, zeroCopy: true }, [B, n], 'float32');
const resid = tf.norm(tf.sub(tf.squeeze(tf.matMul(A, tf.expandDims(xt, 2)), [2]), b), 'euclidean', 1);
const res = await resid.data(); // the first readback
const status = await r.status;
console.log(`matc status: ok=${status.ok}${status.warnings.length ? ` (${status.warnings.join('; ')})` : ''}`);
console.log(`‖Ax − b‖ per system, computed by TF.js on matc's result: max ${Math.max(...res).toExponential(2)}, mean ${(res.reduce((s, v) => s + v, 0) / B).toExponential(2)}`);
// cross-check on the host: one system solved in f64 by Gaussian elimination
const A0 = Array.from((await A.data()).slice(0, n * n));
const b0 = Array.from((await b.data()).slice(0, n));
const x0 = gauss(A0, b0, n);
const xm = (await x.read()).data.slice(0, n);
const err = Math.max(...x0.map((v, i) => Math.abs(v - xm[i])));
console.log(`system 0: max |x_matc − x_f64| = ${err.toExponential(2)}`);
tf.dispose([X, A, b, xt, resid]);
x.dispose();
Am.dispose(); // forgets TF.js's buffer; TF.js owns it
bm.dispose();
matc.dispose(); // matc's pool and pipelines; the device stays
device.destroy(); // the owner's call
if (!(Math.max(...res) < 1e-3 && err < 1e-4 && status.ok)) {
  console.error('FAILED');
  process.exit(1);
}

function gauss(a, rhs, n) {
  const M = a.slice();
  const y = rhs.slice();
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(M[i * n + k]) > Math.abs(M[p * n + k])) p = i;
    for (let j = 0; j < n; j++) [M[k * n + j], M[p * n + j]] = [M[p * n + j], M[k * n + j]];
    [y[k], y[p]] = [y[p], y[k]];
    for (let i = k + 1; i < n; i++) {
      const f = M[i * n + k] / M[k * n + k];
      for (let j = k; j < n; j++) M[i * n + j] -= f * M[k * n + j];
      y[i] -= f * y[k];
    }
  }
  const out = new Array(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let j = i + 1; j < n; j++) s -= M[i * n + j] * out[j];
    out[i] = s / M[i * n + i];
  }
  return out;
}
