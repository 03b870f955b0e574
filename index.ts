// The public API of matc: compile a .mat source into a Module of callable functions, the Tensor
// type they exchange, the backends, and the error types.

export { compile, Module, CompiledFn, type CallOptions, type ForwardResult, type VjpResult, type JvpResult, type CallStatus, type ParamInfo, type ResidentForwardResult, type ResidentVjpResult, type ResidentJvpResult } from './api/module.js';
export { compileProgram, checkSource, CompileError, type CompileOptions } from './compiler/compile.js';
export { gradCheck, type GradCheckResult } from './api/gradcheck.js';
export { render, renderAll, type Diagnostic } from './compiler/diagnostics.js';
export { Tensor, type DType } from './runtime/tensor.js';
export { GpuTensor } from './runtime/gpu-tensor.js';
export { MatcRuntimeError, InternalError } from './core/errors.js';
export { createWebGpuBackend, WebGpuBackend } from './runtime/webgpu/backend.js';
export { selectBackend, type BackendChoice } from './runtime/select.js';
export type { Backend } from './runtime/backend.js';
// Loading modules written by `matc compile` (generated modules import runtime/aot directly, so that
// loading them needs no compiler; this re-export is for API users who already have it loaded).
export { defineModule as defineAotModule, AotModule, AotFunction, type LoadedModule, type MatcFunction, type AotCallOptions, type AotModuleData, type LoadOptions as AotLoadOptions } from './runtime/aot/index.js';
// One function over a ragged list of inputs, one batched call per shape; STTP shapes and the STTP
// layer with its frames batched per shape (stdlib sttp.mat).
export { forwardMany, vjpMany, type MapInputs, type MapForward, type MapVjp } from './api/batch-map.js';
export { sttpShape, sttpParamShapes, sttpDof, svdpDof, sttpParamCount, compression, type SttpShape, type Spectrum } from './api/sttp.js';
export { sttpForward, sttpVjp, type SttpParams, type SttpFrames } from './api/sttp-batched.js';
