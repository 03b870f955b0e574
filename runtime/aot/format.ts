// The data an AOT module (`matc compile`) embeds, as plain JSON-like values: per function its
// signature and, for the forward, the VJP and the JVP, the printed IR (run by the CPU reference
// after the small IR parser reads it back) and the instance-kernel spec (WGSL + host layout as
// dimension texts, run by the WebGPU runtime). Nothing here needs the compiler to be read: the
// printed IR does not carry parameter defaults, `differentiable` flags, int-parameter defaults or
// run-time assertions, so those travel beside it.
//
// `format` is bumped whenever a loader could misread an older module; the loader refuses a format
// it does not know instead of running it wrongly.

import type { InstanceKernelSpec } from '../../compiler/codegen/wgsl/layout.js';

export const AOT_FORMAT = 1;

export type FunctionKind = 'fn' | 'layer' | 'optimizer';

/** A parameter of the source-level function, as the caller sees it. */
export interface AotParam {
  name: string;
  /** the declared type as text: "mat[m, n]", "sphere[n]", "real" */
  type: string;
  /** instance shape as dimension texts (batch dimensions lead in the tensors passed) */
  shape: string[];
  /** declared structure: "general", "sym", "sphere", ... */
  struct: string;
  default?: number;
  differentiable: boolean;
}

export interface AotResult {
  name: string;
  type: string;
  shape: string[];
}

export interface AotSignature {
  kind: FunctionKind;
  params: AotParam[];
  results: AotResult[];
  intParams: { name: string; default?: number }[];
  derivedDims: { name: string; value: string }[];
  /** status entries of the forward (declarative nodes and loops), by name */
  status: string[];
  /** inputs the VJP returns gradients for (empty when no VJP was compiled) */
  gradients: string[];
  /** inputs the JVP takes tangents for */
  tangents: string[];
}

/** One executable form (forward, VJP or JVP) of a function. */
export interface AotExecutable {
  /** printFunc text of the expanded, optimized IR */
  ir: string;
  /** per IR parameter, what the printed IR does not carry */
  params: { name: string; default?: number; differentiable: boolean }[];
  intParams: { name: string; default?: number }[];
  assertions: { dim: string; message: string }[];
  /** null when the WGSL generator could not handle this function (then `kernelError` says why) */
  kernel: InstanceKernelSpec | null;
  /** The kernels the JIT would generate for other options, by `kernelKey` ("256", "128+sg",
   *  "256+sg"): every workgroup size of WORKGROUP_SIZES, with and without subgroup reductions;
   *  a variant whose text equals `kernel` (the "128" one) is left out. */
  variants?: Record<string, InstanceKernelSpec>;
  kernelError?: string;
}

/** A derived form that failed to compile; calling it raises `error`. */
export interface AotMissing {
  error: string;
}

export interface AotFunctionData {
  signature: AotSignature;
  forward: AotExecutable;
  vjp: AotExecutable | AotMissing;
  jvp: AotExecutable | AotMissing;
}

export interface AotModuleData {
  format: number;
  /** the matc version that wrote the module */
  matc: string;
  /** the .mat file it was compiled from (base name) */
  source: string;
  functions: Record<string, AotFunctionData>;
}

export function isMissing(x: AotExecutable | AotMissing): x is AotMissing {
  return (x as AotMissing).error !== undefined;
}

/** The key of a kernel variant: workgroup size, then "+sg" with subgroup reductions. */
export function kernelKey(workgroupSize: number, subgroups: boolean): string {
  return `${workgroupSize}${subgroups ? '+sg' : ''}`;
}
