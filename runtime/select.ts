// Backend selection for the CLI and the API: `auto` takes WebGPU when an adapter exists and
// falls back to the CPU reference otherwise, and always says which it took and why.

import type { Backend } from './backend.js';
import { MatcRuntimeError } from '../core/errors.js';

export type BackendChoice = 'auto' | 'cpu' | 'webgpu';

export interface Selected {
  /** undefined = the in-process CPU reference */
  backend: Backend | undefined;
  name: string;
  note?: string;
}

const CPU_NAME = 'cpu (f64 reference)';

export async function selectBackend(choice: BackendChoice): Promise<Selected> {
  if (choice !== 'auto' && choice !== 'cpu' && choice !== 'webgpu') {
    throw new MatcRuntimeError('MATR112', `unknown backend '${choice}' (auto, cpu or webgpu)`);
  }
  if (choice === 'cpu') return { backend: undefined, name: CPU_NAME };
  let gpu: Backend | null = null;
  let why = '';
  try {
    const mod = await import('./webgpu/backend.js');
    gpu = await mod.createWebGpuBackend();
    if (!gpu) why = 'no WebGPU adapter found';
  } catch (e) {
    why = `WebGPU unavailable: ${(e as Error).message.split('\n')[0]}`;
  }
  if (gpu) return { backend: gpu, name: gpu.describe() };
  if (choice === 'webgpu') throw new MatcRuntimeError('MATR120', `--backend webgpu: ${why || 'no adapter'}`);
  return { backend: undefined, name: CPU_NAME, note: `${why}; running on the CPU reference` };
}
