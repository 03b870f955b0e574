// Backend selection for the CLI and the API: `auto` takes WebGPU when an adapter exists and
// falls back to the CPU backend otherwise, and always says which it took and why.

import type { Backend } from './backend.js';
import { MatcRuntimeError } from '../core/errors.js';
import { createCpuBackend, type CpuBackendOptions } from './cpu/cpu-backend.js';

export type BackendChoice = 'auto' | 'cpu' | 'webgpu';

export interface Selected {
  backend: Backend;
  name: string;
  note?: string;
}

export async function selectBackend(choice: BackendChoice, cpu: CpuBackendOptions = {}): Promise<Selected> {
  if (choice !== 'auto' && choice !== 'cpu' && choice !== 'webgpu') {
    throw new MatcRuntimeError('MATR112', `unknown backend '${choice}' (auto, cpu or webgpu)`);
  }
  const onCpu = async (note?: string): Promise<Selected> => {
    const backend = await createCpuBackend(cpu);
    return { backend, name: backend.describe(), ...(note ? { note } : {}) };
  };
  if (choice === 'cpu') return onCpu();
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
  return onCpu(`${why}; running on the CPU`);
}
