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
}

export interface SelectedBackend {
  /** undefined = the in-process CPU reference (f64) */
  backend: Backend | undefined;
  /** "cpu (f64 reference)", "webgpu (llvmpipe)", ... */
  name: string;
  /** why WebGPU was not taken, when it was not */
  note?: string;
}
