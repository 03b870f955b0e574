// The contract between matc's kernel scheduler and the WebGPU executor: a GpuPlan is a list of
// compute launches over named buffers. The scheduler (compiler/schedule) produces plans; the
// executor (runtime/webgpu/executor.ts) runs one plan with at most one queue submission and one
// readback. AOT modules embed plans as JSON, so everything here is plain data.

/** How a buffer is used by a plan. `input` buffers are uploaded from host data, `output` buffers
 *  are read back, `scratch` buffers live only during the plan (zero-filled when `zero` is set),
 *  `uniform` buffers hold small parameter blocks (dimensions, batch offsets) uploaded from host,
 *  `indirect` buffers hold workgroup counts that kernels write and indirect launches read. */
export type PlanBufferKind = 'input' | 'output' | 'scratch' | 'uniform' | 'indirect';

export interface PlanBuffer {
  name: string;
  /** Size in bytes (a multiple of 4). */
  bytes: number;
  kind: PlanBufferKind;
  /** Clear to zero before the first launch (scratch/output buffers only). */
  zero?: boolean;
}

export interface PlanBinding {
  binding: number;
  buffer: string;
  /** `read` = read-only storage, `read_write` = storage, `uniform` = uniform buffer. */
  access: 'read' | 'read_write' | 'uniform';
}

export interface PlanKernel {
  wgsl: string;
  entryPoint: string;
}

export interface PlanLaunch {
  /** Key into GpuPlan.kernels. Every launch of a kernel must use the same binding layout. */
  kernel: string;
  bindings: PlanBinding[];
  workgroups: [number, number, number];
  /** dispatch by the counts at this byte offset of an `indirect` buffer instead (written by an
   *  earlier launch); `workgroups` is what they hold when nothing is left out */
  indirect?: { buffer: string; offset: number };
  label?: string;
}

export interface GpuPlan {
  kernels: Record<string, PlanKernel>;
  buffers: PlanBuffer[];
  launches: PlanLaunch[];
  /** Buffers read back to the host after the last launch, in this order. */
  outputs: string[];
}

/** Host data for `input` and `uniform` buffers, by buffer name. */
export type PlanInputs = Record<string, Float32Array | Uint32Array | Int32Array>;

export interface PlanRunOptions {
  /** Measure GPU time with timestamp queries (when the adapter has them). */
  timing?: boolean;
}

export interface PlanRunResult {
  outputs: Record<string, Float32Array>;
  /** GPU time from the first launch's start to the last launch's end, when measured. */
  gpuMs?: number;
  /** Per-launch GPU times in ms (same order as plan.launches), when measured. */
  launchMs?: number[];
}
