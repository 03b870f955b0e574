// The WebGPU runtime layer's public surface in one import: device/context, plan execution (one
// submission, one readback), the resident-plan API for benchmarks, pipeline cache, buffer pool and
// plan checks. See plan.ts for the contract with the scheduler.

export { DEFAULT_DAWN_FLAGS, GpuContext, adapterName, createGpuContext, getNodeGPU } from './device.js';
export type { DeviceHandle, DeviceLossInfo, GpuContextOptions, GpuFeatures, NodeGpuOptions } from './device.js';
export { ResidentPlan, prepareResidentPlan, runPlan } from './executor.js';
export type { ResidentRunOptions, RunPlanOptions, RunPlanResult, TimingSamples } from './executor.js';
export { PipelineCache, layoutKey } from './pipeline-cache.js';
export type { BindingAccess, BindingSlot, CachedPipeline, KernelSource, PipelineCacheStats } from './pipeline-cache.js';
export { BufferPool, sizeClass } from './buffer-pool.js';
export type { BufferPoolOptions, BufferPoolStats } from './buffer-pool.js';
export { planProblems, validateInputs, validatePlan } from './plan-check.js';
export type { PlanLimits } from './plan-check.js';
export { BufferUsage, MapMode, ShaderStage } from './constants.js';
export type * from '../../core/gpu-plan.js';
