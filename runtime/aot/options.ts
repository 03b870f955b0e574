// The options of load() and createModule(), typed without naming WebGPU's types: the generated
// .d.ts reads these, and a consumer should type-check it whatever its `lib` holds (Node without
// the DOM, a browser whose DOM lib already declares WebGPU, with or without @webgpu/types, which
// conflicts with recent DOM libs).

import type { Backend } from '../backend.js';

export type BackendChoice = 'auto' | 'cpu' | 'webgpu';

/** A WebGPU `GPU` object: `navigator.gpu` in a browser, Dawn's `create([...])` in Node. Typed by
 *  the one method matc needs, so any GPU object fits without the WebGPU type declarations. */
export interface GpuLike {
  requestAdapter(options?: object): Promise<unknown>;
}

export interface LoadOptions {
  /** 'auto' (default): WebGPU when a GPU object is given or found, else the CPU reference */
  backend?: BackendChoice;
  /** a WebGPU `GPU` object (`navigator.gpu` in a browser); null forbids probing for one */
  gpu?: GpuLike | null;
  /** the CPU backend's options, when the functions run on the CPU: storage precision ('f64' or
   *  'f32'), worker threads for large batches (default: every core), or the reference interpreter */
  cpu?: { precision?: 'f64' | 'f32'; threads?: number; reference?: boolean };
}

export interface SelectedBackend {
  /** undefined = the compiled CPU program in this thread (before load()) */
  backend: Backend | undefined;
  /** "cpu (compiled, f64, 2 threads)", "webgpu (llvmpipe)", ... */
  name: string;
  /** why WebGPU was not taken, when it was not */
  note?: string;
}
