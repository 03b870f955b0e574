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
import { kernelKey } from './format.js';

export type { BackendChoice, GpuLike, LoadOptions, SelectedBackend } from './options.js';

export const CPU_NAME = 'cpu (f64 reference)';

/** Kernels of AOT modules are the embedded specs, registered per parsed IR function. */
const embedded = new WeakMap<Func, { plain: InstanceKernelSpec; variants: Record<string, InstanceKernelSpec> }>();

export function registerKernel(f: Func, spec: InstanceKernelSpec, variants: Record<string, InstanceKernelSpec> = {}): void {
  embedded.set(f, { plain: spec, variants });
}

/** The embedded kernel for these code-generation options — the one the JIT would generate. A
 *  workgroup size that was not embedded (MATC_WG=64) falls back to the default size's kernel. */
export function embeddedKernel(f: Func, opts?: InstanceOptions): InstanceKernelSpec | undefined {
  const k = embedded.get(f);
  if (!k) return undefined;
  const sg = opts?.subgroups ?? false;
  return k.variants[kernelKey(opts?.workgroupSize ?? 128, sg)] ?? k.variants[kernelKey(128, sg)] ?? k.plain;
}

/** The KernelProvider of AOT WebGPU backends: embedded specs only, never the code generator. */
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
