// The shape every WGSL kernel template returns. Templates are pure string generators (no GPU
// access) so the scheduler can call them at compile time and AOT modules can embed their text;
// the binding list doubles as the explicit bind group layout the runtime creates, and the helper
// functions turn run-time sizes into a dispatch grid and a uniform block.

export type TemplateAccess = 'read' | 'read_write' | 'uniform';

export interface TemplateBinding {
  binding: number;
  /** The role the caller maps to a plan buffer ('A', 'B', 'C', 'params', ...). */
  name: string;
  access: TemplateAccess;
}

export interface TemplateKernel {
  wgsl: string;
  entryPoint: string;
  workgroupSize: readonly [number, number, number];
  /** Bindings of group 0 in binding order. */
  bindings: readonly TemplateBinding[];
  /** Bytes of workgroup memory the kernel declares (for checks against device limits). */
  workgroupBytes: number;
}

/** A 1-D count of workgroups folded into (x, y) so that neither exceeds the WebGPU per-dimension
 *  limit; kernels recover the linear id as x + y * num_workgroups.x and guard the tail. */
export function foldGrid(groups: number, maxPerDim = 65535): [number, number, number] {
  if (groups <= maxPerDim) return [Math.max(groups, 1), 1, 1];
  const y = Math.ceil(groups / maxPerDim);
  const x = Math.ceil(groups / y);
  return [x, y, 1];
}

export const ceilDiv = (a: number, b: number): number => Math.floor((a + b - 1) / b);

/** Formats a number as a WGSL u32 literal. */
export const u = (n: number): string => `${n}u`;
