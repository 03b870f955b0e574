// Builds executables (core/executable.ts) from optimized IR functions: the signature, the printed
// IR, the CPU program and the GPU variants. The JIT (api/jit.ts) calls the parts on first use;
// `matc compile` (compiler/aot/) calls `executableData` for every part at once.

import type { CpuProgramData, ExecutableData, Mode, VariantData, VariantWhen } from '../core/executable.js';
import { InternalError } from '../core/errors.js';
import { CompileError } from './compile.js';
import { type Budget, BudgetExceeded, stageBudget, withBudget } from './ir/budget.js';
import { budgetDiagnostic } from './limits.js';
import { genCpuProgram } from './codegen/cpu/program.js';
import { Graph, type Func } from './ir/node.js';
import { parseFunc } from './ir/parser.js';
import { printFunc } from './ir/printer.js';
import { instanceVariant } from './schedule/instance.js';
import { gridVariant } from './schedule/grid.js';
import { signatureData } from './signature.js';

/** The workgroup sizes instance kernels are generated with (AOT modules embed each). */
export const WORKGROUP_SIZES = [128, 256] as const;

/** Every variant the WebGPU runtime may pick on some adapter for some dimensions. */
export const ALL_VARIANTS: readonly VariantWhen[] = [
  ...WORKGROUP_SIZES.flatMap((workgroupSize) => [false, true].map((subgroups) => ({ workgroupSize, subgroups }))),
  // the grid model (compiler/schedule/grid.ts): one variant, which every adapter can run
  { workgroupSize: 256, subgroups: false, model: 'grid' },
];

/** The CPU program, or why there is none (the interpreter runs the IR then). */
export function cpuPart(f: Func, budget: Budget = stageBudget()): { cpu?: CpuProgramData; cpuError?: string } {
  try {
    return { cpu: generating('CPU program', f, budget, () => genCpuProgram(f)) };
  } catch (e) {
    if (e instanceof InternalError) return { cpuError: e.message.split('\n')[0]! };
    throw e;
  }
}

/** Code generation is a compile stage too, and runs under the stage budget (compiler/ir/budget.ts;
 *  lowering and emission charge a step per IR node and per statement): a function too large to
 *  generate code for in time ends in MAT0703 at its span instead of a first call that runs for
 *  a minute (issue 12: a fuzzed argmin over a 400-term elementwise chain spent 8 s compiling
 *  its VJP within budget, then 20 s generating the VJP's CPU program outside any). The JIT
 *  generates on first use, so a caller gets the CompileError from that call. */
function generating<T>(what: string, f: Func, budget: Budget, make: () => T): T {
  try {
    return withBudget(`generating the ${what} of ${f.name}`, budget, make);
  } catch (e) {
    if (e instanceof BudgetExceeded) throw new CompileError([budgetDiagnostic(e, f.span)]);
    throw e;
  }
}

/** The GPU variant of a function for these options: the instance model, or the grid model's
 *  kernels over tiles of large operands (`when.model`). */
export function gpuVariant(f: Func, when: VariantWhen, budget: Budget = stageBudget()): VariantData {
  return generating('WebGPU kernels', f, budget, () => (when.model === 'grid' ? gridVariant(f, when) : instanceVariant(f, when)));
}

/** The printed IR, checked to read back as itself: the CPU path of an AOT module runs the text. */
export function printedIr(f: Func, what: string): string {
  const ir = printFunc(f);
  let again: string;
  try {
    again = printFunc(parseFunc(ir, new Graph()));
  } catch (e) {
    throw new InternalError(`${what}: the printed IR does not parse back (${(e as Error).message})`, ir);
  }
  if (again !== ir) throw new InternalError(`${what}: the printed IR does not print back identically after parsing`, firstDifference(ir, again));
  return ir;
}

function firstDifference(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] !== y[i]) return `line ${i + 1}:\n  printed: ${x[i] ?? '(end)'}\n  re-read: ${y[i] ?? '(end)'}`;
  }
  return '';
}

/** Every part of an executable, as embedded data. */
export function executableData(f: Func, mode: Mode, what: string, variants: readonly VariantWhen[] = ALL_VARIANTS, gpuF: Func = f, gridF: Func = gpuF, cpuF: Func = f): ExecutableData {
  const out: ExecutableData = { mode, signature: signatureData(f), ir: printedIr(f, what), ...cpuPart(cpuF), variants: [] };
  try {
    for (const when of variants) if (when.model !== 'grid') out.variants.push(gpuVariant(gpuF, when));
  } catch (e) {
    out.variants = [];
    out.variantError = (e as Error).message.split('\n')[0];
  }
  // a function the grid model cannot run keeps its instance kernels (the runtime falls back)
  if (out.variants.length) {
    for (const when of variants) {
      if (when.model !== 'grid') continue;
      try {
        out.variants.push(gpuVariant(gridF, when));
      } catch {
        /* no grid variant: the instance model runs every call */
      }
    }
  }
  return out;
}
