// The executable: what the compiler hands to the runtime for one form (forward, VJP or JVP) of
// one function, as plain data. The JIT (api/) builds one in memory, generating each part on first
// use; `matc compile` (compiler/aot/) builds every part and embeds it in an ES module, whose
// loader (runtime/aot/) reads it back with no compiler. The runtime runs executables only: it
// never calls a code generator.
//
//   signature   parameters, results, dimensions, assertions and status entries: all a caller needs
//               to bind inputs and read results, as dimension texts
//   ir          the printed IR (compiler/ir/printer.ts), which the CPU reference interpreter runs
//   cpu         the CPU program (compiler/codegen/cpu): JavaScript over typed arrays
//   variants    GPU forms, each `{ when, schedule, kernels }`: the code-generation options it was
//               made for, its schedule (core/schedule.ts) and the kernels the schedule launches

import type { InstanceKernelSpec } from './instance-layout.js';
import type { Schedule } from './schedule.js';

export type Mode = 'forward' | 'vjp' | 'jvp';

/** What a status entry reports, so that callers word it without reading its name:
 *  - `solver`: a declarative node's forward solver (iterations, converged, optimality residual)
 *  - `loop`: an `iterate … until` loop (iterations, whether it stopped early)
 *  - `linear`: a linear solve of user code (`solve`, `inv`, `lstsq`, triangular solves):
 *    converged = rcond above max(1e-10, eps) (1e-10 in f64, 2⁻²³ in f32), residual = the
 *    reciprocal condition estimate
 *  - `monitor`: a user `monitor("name", value, ok)`: converged = ok, residual = value
 *  - `curvature`: a solver's check that its solution is a minimum (not a saddle or maximum)
 *  - `implicit`: the linear system of an implicit backward or tangent solved densely (converged =
 *    rcond above 1e-13, residual = rcond)
 *  - `iterative`: that system solved matrix-free by MINRES (`backward: minres | auto`):
 *    iterations, residual = the true relative residual of the solution, converged = it is within
 *    10× the tolerance (or, under auto, the dense fallback's rcond is above 1e-13)
 *  - `domain`: the input of a spectral function lies in its domain (sqrtm: no negative
 *    eigenvalue; invsqrtm: positive definite; polar: full rank): residual = the least eigenvalue
 *    (sqrtm, invsqrtm) or the relative least singular value (polar)
 *  - `degenerate`: the eigenvector (singular vector) derivative of a VJP or JVP: converged = the
 *    relative spectral gap is above √eps (and, for a non-square svd, no singular value is
 *    numerically zero), residual = the least relative gap */
export type StatusKind = 'solver' | 'loop' | 'linear' | 'monitor' | 'curvature' | 'implicit' | 'iterative' | 'domain' | 'degenerate';
export const statusKinds: readonly StatusKind[] = ['solver', 'loop', 'linear', 'monitor', 'curvature', 'implicit', 'iterative', 'domain', 'degenerate'];

export type FunctionKind = 'fn' | 'layer' | 'optimizer' | 'vjp' | 'jvp';

export interface SignatureParam {
  name: string;
  /** instance shape as dimension texts (batch dimensions lead in the tensors passed) */
  shape: string[];
  /** declared structure ("sym", "sphere", …); absent for a general tensor */
  struct?: string;
  default?: number;
  differentiable: boolean;
  /** an int value (an optimizer's int state): passed and returned as an integer */
  int?: boolean;
  /** a complex parameter, packed (…, 2), with its structure in the complex sense ("orth" is
   *  unitary, "sym" Hermitian, "general"); absent for a real one */
  complex?: string;
}

export interface SignatureData {
  name: string;
  kind: FunctionKind;
  params: SignatureParam[];
  /** `int`: an int value (an optimizer's int state), returned as an integer */
  results: { name: string; shape: string[]; int?: boolean }[];
  intParams: { name: string; default?: number }[];
  derivedDims: { name: string; value: string }[];
  /** dimension expressions that must be ≥ 0 at run time (slice bounds), with the reason; `code`
   *  the error code when it is not MATR103 (MATR170: an op undefined on an empty tensor) */
  assertions: { dim: string; message: string; code?: string }[];
  /** `estimate`: the residual is a probe estimate, not the exact norm */
  status: { name: string; kind: StatusKind; residual: boolean; estimate?: boolean }[];
}

/** Code-generation options a GPU variant was made for. */
export interface VariantWhen {
  workgroupSize: number;
  /** subgroup reductions (the adapter must have the 'subgroups' feature) */
  subgroups: boolean;
  /** the execution model (core/schedule.ts): one workgroup per instance (the default) or the grid
   *  model's kernels over tiles of large operands */
  model?: 'instance' | 'grid';
}

/** The key of a variant: workgroup size, then "+sg" with subgroup reductions ("128", "256+sg"). */
export function variantKey(w: VariantWhen): string {
  return `${w.workgroupSize}${w.subgroups ? '+sg' : ''}${w.model === 'grid' ? '+grid' : ''}`;
}

export interface VariantData {
  when: VariantWhen;
  schedule: Schedule;
  /** the kernels the schedule launches, by name */
  kernels: Record<string, InstanceKernelSpec>;
}

/** The CPU program of a function (compiler/codegen/cpu): a kernel over a range of batch instances
 *  as JavaScript source and as a WebAssembly module, with the host layout both read (dimensions
 *  and workspace buffers, as dimension texts). */
export interface CpuProgramData {
  /** the body of `function (H, D, IN, INS, OUT, ST, W, base, count)` */
  js: string;
  /** the WebAssembly module (base64): `run(hdr, base, count)` over an imported memory */
  wasm?: string;
  /** the same with f32 buffers (the f32 precision: loads promoted, stores rounded) */
  wasm32?: string;
  /** messages of the module's range checks, by the index it passes to env.oob */
  checks?: string[];
  /** D[i] holds this dimension */
  dims: string[];
  /** workspace buffer i holds this many elements */
  buffers: string[];
}

export interface ExecutableData {
  mode: Mode;
  signature: SignatureData;
  ir: string;
  /** absent when the CPU code generator could not handle the function (`cpuError` says why):
   *  the CPU reference interpreter runs it then */
  cpu?: CpuProgramData;
  cpuError?: string;
  variants: VariantData[];
  /** why there is no GPU variant, when there is none */
  variantError?: string;
}
