// Backend choice for AOT modules, in Node and in browsers alike. The GPU object is injected
// (`navigator.gpu` in a page, anything else a host provides); without one, Node's Dawn (npm
// `webgpu`) is tried, and a browser without an injected GPU runs on the CPU reference. `navigator`
// is never read here (DESIGN: it is a getter-only global on Node ≥ 21 and absent on 20), and the
// Node-only probe is not called outside Node because it touches `process`.
/// <reference types="@webgpu/types" />

import type { Backend } from '../backend.js';
import { MatcRuntimeError } from '../errors.js';
import { createGpuContext, getNodeGPU } from '../webgpu/device.js';
import { WebGpuBackend, type KernelProvider } from '../webgpu/backend.js';
import type { InstanceKernelSpec } from '../../compiler/codegen/wgsl/layout.js';
import type { InstanceOptions } from '../../compiler/codegen/wgsl/instance.js';
import type { Func } from '../../compiler/ir/node.js';
import { InternalError } from '../errors.js';
import type { LoadOptions, SelectedBackend } from './options.js';

export type { BackendChoice, GpuLike, LoadOptions, SelectedBackend } from './options.js';

export const CPU_NAME = 'cpu (f64 reference)';

/** Kernels of AOT modules are the embedded specs, registered per parsed IR function. */
const embedded = new WeakMap<Func, { plain: InstanceKernelSpec; subgroups?: InstanceKernelSpec }>();

export function registerKernel(f: Func, spec: InstanceKernelSpec, subgroups?: InstanceKernelSpec): void {
  embedded.set(f, { plain: spec, ...(subgroups ? { subgroups } : {}) });
}

/** The embedded kernel for these code-generation options: the subgroup variant exactly when the
 *  JIT would generate one. */
export function embeddedKernel(f: Func, opts?: InstanceOptions): InstanceKernelSpec | undefined {
  const k = embedded.get(f);
  return k && ((opts?.subgroups && k.subgroups) || k.plain);
}

/** The KernelProvider of AOT WebGPU backends: embedded specs only, never the code generator.
 *  The subgroup variant is taken exactly when the JIT would generate one (the backend's
 *  kernelOptions); a workgroup size other than the default is not embedded. */
const aotKernels: KernelProvider = {
  kernel(f: Func, opts?: InstanceOptions): InstanceKernelSpec {
    const k = embeddedKernel(f, opts);
    if (!k) throw new InternalError(`no embedded WebGPU kernel for ${f.kind} ${f.name}`);
    return k;
  },
};

function inNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

export async function selectBackend(opts: LoadOptions = {}): Promise<SelectedBackend> {
  const choice = opts.backend ?? 'auto';
  if (choice !== 'auto' && choice !== 'cpu' && choice !== 'webgpu') {
    throw new MatcRuntimeError('MATR112', `unknown backend '${String(choice)}' (auto, cpu or webgpu)`);
  }
  if (choice === 'cpu') return { backend: undefined, name: CPU_NAME };
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
      const backend = new WebGpuBackend(ctx, aotKernels);
      return { backend, name: backend.describe() };
    } catch (e) {
      why = `WebGPU unavailable: ${(e as Error).message.split('\n')[0]}`;
    }
  }
  if (choice === 'webgpu') throw new MatcRuntimeError('MATR120', `backend 'webgpu': ${why}`);
  return { backend: undefined, name: CPU_NAME, note: `${why}; running on the CPU reference` };
}
