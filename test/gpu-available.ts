// Gives GPU tests a WebGPU context, or skips them where no adapter exists (a developer machine
// without lavapipe). CI sets MATC_REQUIRE_GPU=1 after installing lavapipe, and then a missing
// adapter FAILS the test instead: a silently skipped GPU suite would hide a broken install.

import type { TestContext } from 'node:test';
import { createGpuContext, getNodeGPU, type GpuContext } from '../runtime/webgpu/device.js';

let shared: Promise<GpuContext | null> | null = null;

/** One context per test file (device creation costs ~0.2 s on lavapipe). */
export function sharedGpuContext(): Promise<GpuContext | null> {
  shared ??= (async () => {
    const gpu = await getNodeGPU();
    if (gpu === null) return null;
    try {
      return await createGpuContext({ gpu });
    } catch {
      return null;
    }
  })();
  return shared;
}

/** The shared context, or — when there is no adapter — skips `t` and returns null. With
 *  MATC_REQUIRE_GPU=1 a missing adapter throws, failing the test. */
export async function gpuOrSkip(t: TestContext): Promise<GpuContext | null> {
  const ctx = await sharedGpuContext();
  if (ctx !== null) return ctx;
  if (process.env.MATC_REQUIRE_GPU === '1') {
    throw new Error('MATC_REQUIRE_GPU=1 but no WebGPU adapter is available (is lavapipe installed? see .ci/install-lavapipe.sh)');
  }
  t.skip('no WebGPU adapter');
  return null;
}

/** Destroys the shared context (call from an `after` hook so the process can exit). */
export async function releaseSharedGpu(): Promise<void> {
  const ctx = shared === null ? null : await shared;
  ctx?.destroy();
  shared = null;
}
