// The data an AOT module (`matc compile`) embeds, as plain JSON-like values: per function its
// source-level signature (for the .d.ts and for callers) and, for the forward, the VJP and the
// JVP, an executable (core/executable.ts): the signature of that form, the printed IR (run by the
// CPU reference after the small IR parser reads it back), the CPU program and every GPU variant
// the runtime may pick. Nothing here needs the compiler to be read.
//
// `format` is bumped whenever a loader could misread an older module; the loader refuses a format
// it does not know (MATR113) instead of running it wrongly. Format 1 (matc ≤ 0.1 of November 2026)
// embedded bare instance-kernel specs instead of executables. Format 3 (December 2026) adds
// grid-model variants (`when.model: 'grid'`), which a format-2 loader would take for instance
// kernels; a format-3 loader reads format-2 modules (they have instance variants only).

import type { ExecutableData } from './executable.js';

export const AOT_FORMAT = 3;
/** Older formats this loader still reads. */
export const AOT_FORMATS_READ: readonly number[] = [2, 3];

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
  /** an int value (an optimizer's int state; type "int") */
  int?: boolean;
}

export interface AotResult {
  name: string;
  type: string;
  shape: string[];
  /** an int value (an optimizer's int state; type "int"): takes no cotangent */
  int?: boolean;
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

/** A derived form that failed to compile; calling it raises `error`. */
export interface AotMissing {
  error: string;
}

export interface AotFunctionData {
  signature: AotSignature;
  forward: ExecutableData;
  vjp: ExecutableData | AotMissing;
  jvp: ExecutableData | AotMissing;
}

export interface AotModuleData {
  format: number;
  /** the matc version that wrote the module */
  matc: string;
  /** the .mat file it was compiled from (base name) */
  source: string;
  functions: Record<string, AotFunctionData>;
}

export function isMissing(x: ExecutableData | AotMissing): x is AotMissing {
  return (x as AotMissing).error !== undefined;
}
