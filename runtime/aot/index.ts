// The runtime entry of modules written by `matc compile`: everything a generated module imports,
// and the types its .d.ts names. This import graph holds the runtime only (tensor, binding, CPU
// reference, WebGPU runtime, the IR data structures and the small IR parser) — no grammar, no
// elaborator, no differentiation, solver expansion or optimization passes; test/aot.test.ts walks
// it to keep it so.
//
// Its declarations name no WebGPU type (runtime/aot/options.ts), so the generated .d.ts
// type-checks in a Node project without the DOM lib and in a browser project alike.

export { defineModule, AotModule, type LoadedModule } from './module.js';
export { AotFunction, AotCompileError, type MatcFunction, type AotCallOptions, type ForwardResult, type VjpResult, type JvpResult, type InputValue, type Mode, type ResidentForwardResult, type ResidentVjpResult, type ResidentJvpResult } from './function.js';
export { selectBackend as selectAotBackend, CPU_NAME } from './backend.js';
export type { BackendChoice, GpuLike, LoadOptions, SelectedBackend } from './options.js';
export { summarize, type CallStatus } from '../call.js';
export type { ExecutableData } from '../../core/executable.js';
export { AOT_FORMAT, type AotModuleData, type AotFunctionData, type AotSignature, type AotParam, type AotResult, type FunctionKind } from '../../core/aot-format.js';
export { Tensor, type DType } from '../tensor.js';
export { GpuTensor } from '../gpu-tensor.js';
export { MatcRuntimeError, InternalError } from '../../core/errors.js';
export type { NodeStatus } from '../cpu/backend.js';
export type { Backend } from '../backend.js';
