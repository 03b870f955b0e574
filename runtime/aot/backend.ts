// Backend choice for AOT modules, in Node and in browsers alike. The GPU object is injected
// (`navigator.gpu` in a page, anything else a host provides); without one, Node's Dawn (npm
// `webgpu`) is tried, and a browser without an injected GPU runs on the CPU reference. `navigator`
// is never read here (DESIGN: it is a getter-only global on Node ≥ 21 and absent on 20), and the
// Node-only probe is not called outside Node because it touches `process`.
/// <reference types="@webgpu/types" />

import { MatcRuntimeError } from '../../core/errors.js';
import { createGpuContext, getNodeGPU } from '../webgpu/device.js';
import { WebGpuBackend } from '../webgpu/backend.js';
import { createCpuBackend } from '../cpu/cpu-backend.js';
import type { LoadOptions, SelectedBackend } from './options.js';
import { checkLoadOptions } from '../options.js';

export type { BackendChoice, GpuLike, LoadOptions, SelectedBackend } from './options.js';

/** What the module's functions run on before load(): the compiled CPU program, this thread. */
export const CPU_NAME = 'cpu (compiled, f64)';

function inNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

export async function selectBackend(opts: LoadOptions = {}): Promise<SelectedBackend> {
  checkLoadOptions(opts);
  const choice = opts.backend ?? 'auto';
  if (choice !== 'auto' && choice !== 'cpu' && choice !== 'webgpu') {
    throw new MatcRuntimeError('MATR112', `unknown backend '${String(choice)}' (auto, cpu or webgpu)`);
  }
  const onCpu = async (note?: string): Promise<SelectedBackend> => {
    const backend = await createCpuBackend(opts.cpu);
    return { backend, name: backend.describe(), ...(note ? { note } : {}) };
  };
  if (choice === 'cpu') return onCpu();
  // GpuLike is the declarations' view; at run time it is a GPU object
  let gpu: GPU | null = (opts.gpu as GPU | null | undefined) ?? null;
  let why = '';
  if (!gpu && opts.gpu === undefined) {
    if (inNode()) {
      gpu = await getNodeGPU();
      if (!gpu) why = 'no WebGPU adapter found (npm package `webgpu` missing or no adapter)';
    } else why = 'no GPU object given (pass { gpu: navigator.gpu })';
  } else if (!gpu) why = 'gpu: null was given';
  if (gpu) {
    try {
      const ctx = await createGpuContext({ gpu });
      const backend = new WebGpuBackend(ctx);
      return { backend, name: backend.describe() };
    } catch (e) {
      why = `WebGPU unavailable: ${(e as Error).message.split('\n')[0]}`;
    }
  }
  if (choice === 'webgpu') throw new MatcRuntimeError('MATR120', `backend 'webgpu': ${why}`);
  return onCpu(`${why}; running on the CPU`);
}
