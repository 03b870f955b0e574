// WebGPU context for tests of kernels that compile slowly on a software adapter: the declarative
// layers, and the spectral parity specs marked `kernelCost` in test/parity-specs.ts (svd, expm,
// sqrtm, polar: 2–15 minutes each, cold). The layers' instance kernels (a whole solver plus its
// implicit backward in one kernel) are large: a cold compile on lavapipe took 20 s (IED
// forward), 97 s (IED VJP) and 212 s (LESS VJP) on the 2-core development machine, which would
// dominate the suite. On a software adapter these tests therefore run only with
// MATC_GPU_LAYERS=1 (Mesa's shader cache makes later runs take about a second); on a hardware
// adapter they always run.

import type { TestContext } from 'node:test';
import type { GpuContext } from '../../runtime/webgpu/device.js';
import { gpuOrSkip } from '../gpu-available.js';

export async function layerGpuOrSkip(t: TestContext): Promise<GpuContext | null> {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return null;
  if (/llvmpipe|lavapipe|swiftshader|warp/i.test(ctx.describe()) && process.env.MATC_GPU_LAYERS !== '1') {
    t.skip(`${ctx.describe()}: the layer kernels take minutes to compile cold on a software adapter; set MATC_GPU_LAYERS=1 to run`);
    return null;
  }
  return ctx;
}
