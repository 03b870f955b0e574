// The CPU program of a function (core/executable.ts CpuProgramData): the function lowered once
// to the loop IR (lower.ts), printed as JavaScript (emit-js.ts) and assembled into WebAssembly
// with SIMD (emit-wasm.ts). The runtime (runtime/cpu/program.ts) runs the WebAssembly where the
// engine has it and the JavaScript elsewhere (and for f32 storage); both compute the same thing,
// and the reference interpreter is the oracle of both in the tests.

import { toBase64 } from '../../../core/base64.js';
import { InternalError } from '../../../core/errors.js';
import type { CpuProgramData } from '../../../core/executable.js';
import { type Func, funcRoots, reachable } from '../../ir/node.js';
import { emitJs } from './emit-js.js';
import { emitWasm } from './emit-wasm.js';
import { lowerCpu } from './lower.js';

/** Characters of JavaScript from which a function is not compiled for the CPU: the reference
 *  interpreter runs it instead (executable cpuError says so). The standard library's largest
 *  programs are the complex projUNN VJPs, ~0.5 MB (interpreted, then); generated chains of a thousand terms gave 0.85 MB and 1.7 MB, whose first
 *  call took 16 s and 20 s (the engine compiling one huge function) while the interpreter ran
 *  them in 1.3 s and 0.8 s (issue 12). */
export const MAX_CPU_PROGRAM_CHARS = 200_000;

/** The fewest characters of JavaScript the CPU program spends per IR node of a function, over the
 *  standard library's forms with more than a few nodes (32–89; the complex projUNN VJPs, the
 *  largest at ~6,000 nodes, 89): a function with more nodes than MAX_CPU_PROGRAM_CHARS / this is
 *  over the limit before it is lowered, and is not lowered (the lowering of a 60,000-node VJP took
 *  a second only to be refused: issue 12). */
const MIN_CHARS_PER_NODE = 32;

export function genCpuProgram(f: Func): CpuProgramData {
  const nodes = reachable([...funcRoots(f), ...f.params.map((p) => p.node)]).length;
  if (nodes * MIN_CHARS_PER_NODE > MAX_CPU_PROGRAM_CHARS) {
    throw new InternalError(`${f.name}: the CPU program would be over ${(MAX_CPU_PROGRAM_CHARS / 1e6).toFixed(1)} MB of code (${nodes.toLocaleString('en-US')} IR nodes; limit ${MAX_CPU_PROGRAM_CHARS / 1e6} MB: engines compile one function that large slowly); the reference interpreter runs it`);
  }
  const p = lowerCpu(f);
  const js = emitJs(p);
  if (js.length > MAX_CPU_PROGRAM_CHARS) {
    throw new InternalError(`${f.name}: the CPU program would be ${(js.length / 1e6).toFixed(1)} MB of code (limit ${MAX_CPU_PROGRAM_CHARS / 1e6} MB: engines compile one function that large slowly); the reference interpreter runs it`);
  }
  const w = emitWasm(p);
  return { js, wasm: toBase64(w.bytes), checks: w.checks, dims: p.dims, buffers: p.buffers };
}
