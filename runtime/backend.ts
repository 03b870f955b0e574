// The backend interface: something that runs an executable (runtime/executable.ts) over a bound
// batch. The CPU backends run in-process (runtime/cpu); the WebGPU backend (runtime/webgpu) runs
// the executable's GPU variant with one submission and one readback.

import type { Binding } from './bind.js';
import type { Executable, RawResult } from './executable.js';
import type { GpuTensor } from './gpu-tensor.js';
import type { ResidentRaw } from './gpu-tensor.js';

export interface Backend {
  readonly kind: 'cpu' | 'webgpu';
  /** a one-line description for the CLI ("cpu (f64 reference)", "webgpu (nvidia hopper)") */
  describe(): string;
  run(exe: Executable, bind: Binding): Promise<RawResult>;
  /** A call whose inputs may be GpuTensors and whose results stay on the device (WebGPU only). */
  runResident?(exe: Executable, bind: Binding): Promise<ResidentRaw>;
  /** Σ over leading batch dimensions of a GpuTensor, on its device (WebGPU only). */
  sumOverBatch?(t: GpuTensor, rank: number): Promise<GpuTensor>;
  dispose?(): void;
}
