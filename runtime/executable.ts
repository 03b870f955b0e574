// What the runtime runs: an Executable (core/executable.ts has its data). The JIT (api/) makes
// one per function and form, generating each part on first use; AOT modules (runtime/aot/) make
// one from embedded data. Backends ask an executable for what they run — the IR for the CPU
// reference, the CPU program, a GPU variant — and never call a code generator themselves.

import type { CpuProgramData, ExecutableData, Mode, StatusKind, VariantData, VariantWhen } from '../core/executable.js';
import type { Func } from '../compiler/ir/node.js';
import type { Tensor } from './tensor.js';
import { parseSignature, type Signature } from './signature.js';

export interface Executable {
  readonly mode: Mode;
  readonly signature: Signature;
  /** the IR, which the CPU reference interpreter runs */
  func(): Func;
  /** the CPU program; undefined when the code generator could not handle the function (the
   *  interpreter runs it then; `cpuError()` says why) */
  cpu(): CpuProgramData | undefined;
  cpuError(): string | undefined;
  /** the GPU variant for these options (or the closest one this executable has); throws an
   *  InternalError that says why when there is none */
  variant(when: VariantWhen): VariantData;
}

/** Per status entry, one value per batch instance. */
export interface NodeStatus {
  name: string;
  kind: StatusKind;
  iterations: number[];
  converged: boolean[];
  residual?: number[];
  /** the residual is a probe estimate (a `solve` whose exact residual would cost as much as its
   *  solution; `check: 1` computes it exactly) */
  residualEstimate?: boolean;
}

export interface RawResult {
  outputs: Record<string, Tensor>;
  nodes: NodeStatus[];
  /** GPU time of the launches, when measured */
  gpuMs?: number;
}

/** The variant for `when` among those an executable carries: the same options, else the same
 *  subgroup choice at the default workgroup size (128), else the first. */
export function pickVariant(all: readonly VariantData[], when: VariantWhen): VariantData | undefined {
  const model = when.model ?? 'instance';
  const variants = all.filter((v) => (v.when.model ?? 'instance') === model);
  return (
    variants.find((v) => v.when.workgroupSize === when.workgroupSize && v.when.subgroups === when.subgroups) ??
    variants.find((v) => v.when.workgroupSize === 128 && v.when.subgroups === when.subgroups) ??
    variants.find((v) => !v.when.subgroups) ??
    variants[0]
  );
}

/** An executable over embedded data (AOT modules). `readIr` parses the printed IR on first use. */
export class DataExecutable implements Executable {
  readonly signature: Signature;
  private parsed: Func | undefined;

  constructor(
    readonly data: ExecutableData,
    private readonly readIr: (data: ExecutableData, sig: Signature) => Func,
    private readonly what: string,
    private readonly missing: (what: string) => Error,
  ) {
    this.signature = parseSignature(data.signature);
  }

  get mode(): Mode {
    return this.data.mode;
  }

  func(): Func {
    return (this.parsed ??= this.readIr(this.data, this.signature));
  }

  cpu(): CpuProgramData | undefined {
    return this.data.cpu;
  }

  cpuError(): string | undefined {
    return this.data.cpuError;
  }

  variant(when: VariantWhen): VariantData {
    const v = pickVariant(this.data.variants, when);
    if (!v) throw this.missing(`${this.what}: the module has no WebGPU kernel${this.data.variantError ? `: ${this.data.variantError}` : ''}`);
    return v;
  }
}
