// The JIT's executables: the runtime's Executable (runtime/executable.ts) over an IR function in
// memory, with each part generated on first use and kept — the CPU program when a CPU call first
// needs it, one GPU variant per set of code-generation options a device asks for. AOT modules
// build the same parts eagerly (compiler/aot/), so both paths run the same code.

import type { CpuProgramData, Mode, VariantData, VariantWhen } from '../core/executable.js';
import { variantKey } from '../core/executable.js';
import { InternalError } from '../core/errors.js';
import type { Func } from '../compiler/ir/node.js';
import { type Budget } from '../compiler/ir/budget.js';
import { cpuPart, gpuVariant } from '../compiler/executable.js';
import { CompileError } from '../compiler/compile.js';
import type { Executable } from '../runtime/executable.js';
import { signatureOf, type Signature } from '../runtime/signature.js';

class JitExecutable implements Executable {
  readonly signature: Signature;
  private cpuDone = false;
  private cpuFailed: CompileError | undefined;
  private cpuProgram: CpuProgramData | undefined;
  private cpuWhy: string | undefined;
  private variants = new Map<string, VariantData | Error>();
  private gpuF: Func | undefined;
  private gridF: Func | undefined;

  /** `gpu` gives the form the kernels are generated from when it may differ from `f`
   *  (Program.vjp(name, 'gpu')), `grid` the grid model's (Program.gridForm); each is asked for
   *  on its first kernel. */
  constructor(
    readonly mode: Mode,
    private readonly f: Func,
    private readonly gpu?: () => Func,
    private readonly grid?: () => Func,
    /** the form the CPU program is generated from (Program.cpuForm), when it may differ from `f` */
    private readonly cpuF?: () => Func,
    /** code generation's budget (the program's CompileOptions; compiler/executable.ts) */
    private readonly budget?: Budget,
  ) {
    this.signature = signatureOf(f);
  }

  func(): Func {
    return this.f;
  }

  cpu(): CpuProgramData | undefined {
    if (this.cpuFailed) throw this.cpuFailed;
    if (!this.cpuDone) {
      let r: ReturnType<typeof cpuPart>;
      try {
        r = cpuPart(this.cpuF ? this.cpuF() : this.f, this.budget);
      } catch (e) {
        // code generation past its budget (MAT0703) fails the same way next time: at once
        if (e instanceof CompileError) this.cpuFailed = e;
        throw e;
      }
      this.cpuProgram = r.cpu;
      this.cpuWhy = r.cpuError;
      this.cpuDone = true;
    }
    return this.cpuProgram;
  }

  cpuError(): string | undefined {
    this.cpu();
    return this.cpuWhy;
  }

  variant(when: VariantWhen): VariantData {
    const key = variantKey(when);
    let v = this.variants.get(key);
    if (!v) {
      try {
        if (when.model === 'grid') {
          this.gridF ??= this.grid ? this.grid() : (this.gpuF ??= this.gpu ? this.gpu() : this.f);
          v = gpuVariant(this.gridF, when, this.budget);
        } else {
          this.gpuF ??= this.gpu ? this.gpu() : this.f;
          v = gpuVariant(this.gpuF, when, this.budget);
        }
      } catch (e) {
        if (!(e instanceof Error)) throw e;
        v = e instanceof InternalError || e instanceof CompileError ? e : new InternalError(`${this.f.name} (${this.mode}): no WebGPU kernel: ${e.message}`);
      }
      this.variants.set(key, v);
    }
    if (v instanceof Error) throw v;
    return v;
  }
}

const cache = new WeakMap<Func, Map<Mode, Executable>>();

/** The JIT executable of an IR function (one per function and form). */
export function jitExecutable(mode: Mode, f: Func, gpu?: () => Func, grid?: () => Func, cpu?: () => Func, budget?: Budget): Executable {
  let m = cache.get(f);
  if (!m) cache.set(f, (m = new Map()));
  let e = m.get(mode);
  if (!e) m.set(mode, (e = new JitExecutable(mode, f, gpu, grid, cpu, budget)));
  return e;
}
