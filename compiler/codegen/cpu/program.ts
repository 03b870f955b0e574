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
import { MixedElements, emitWasm, type WasmProgram } from './emit-wasm.js';
import { lowerCpu } from './lower.js';
import type { LoopProgram } from './loop-ir.js';

/** Characters of JavaScript up to which a function's CPU program is one function, and assembled
 *  into WebAssembly too. Engines compile one function that large slowly: generated chains of a
 *  thousand terms gave 0.85 MB and 1.7 MB, whose first call took 16 s and 20 s, and a 0.37 MB
 *  WebAssembly function of the complex projUNN VJP (0.54 MB of JavaScript) took V8 1.4 GB and
 *  ~3 s to optimize (issue 11, 12). Past it the program is JavaScript split into functions of
 *  CPU_CHUNK_CHARS (emit-js.ts emitJs), which the engine compiles and optimizes one at a time. */
export const MAX_CPU_PROGRAM_CHARS = 200_000;

/** Characters of JavaScript (as one function) from which a function is not compiled for the CPU:
 *  the reference interpreter runs it instead (executable cpuError says so). */
export const MAX_CPU_CHUNKED_CHARS = 8_000_000;

/** The size of each function of a split program. */
export const CPU_CHUNK_CHARS = 20_000;

/** The fewest characters of JavaScript the CPU program spends per IR node of a function, over the
 *  standard library's forms with more than a few nodes (32–89; the complex projUNN VJPs, the
 *  largest at ~6,000 nodes, 89): a function with more nodes than MAX_CPU_CHUNKED_CHARS / this is
 *  over the limit before it is lowered, and is not lowered (issue 12). */
const MIN_CHARS_PER_NODE = 32;

/** The primitive ops the CPU programs run as routines of their own (compiler/codegen/cpu/routines.ts),
 *  so the expand stage keeps them in the CPU's form of a function (Program.cpuForm):
 *  `householder`, blocked Householder QR. The reference interpreter runs the loops they are
 *  lowered to everywhere else, so it stays the routine's oracle. MATC_CPU_QR=0 lowers it to the
 *  loops in the CPU programs too (A/B runs). */
export function cpuKeptOps(): ReadonlySet<string> {
  const v = typeof process !== 'undefined' ? process.env.MATC_CPU_QR : undefined;
  return v === '0' ? new Set() : new Set(['householder']);
}

/** MATC_CPU_CHUNK=N: split every program into functions of N characters (tests of the split form). */
function forcedChunk(): number | undefined {
  const v = typeof process !== 'undefined' ? Number(process.env.MATC_CPU_CHUNK) : NaN;
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

export function genCpuProgram(f: Func): CpuProgramData {
  const nodes = reachable([...funcRoots(f), ...f.params.map((p) => p.node)]).length;
  if (nodes * MIN_CHARS_PER_NODE > MAX_CPU_CHUNKED_CHARS) {
    throw new InternalError(`${f.name}: the CPU program would be over ${(MAX_CPU_CHUNKED_CHARS / 1e6).toFixed(1)} MB of code (${nodes.toLocaleString('en-US')} IR nodes); the reference interpreter runs it`);
  }
  const p = lowerCpu(f);
  const js = emitJs(p);
  const forced = forcedChunk();
  if (js.length > MAX_CPU_CHUNKED_CHARS) {
    throw new InternalError(`${f.name}: the CPU program would be ${(js.length / 1e6).toFixed(1)} MB of code (limit ${MAX_CPU_CHUNKED_CHARS / 1e6} MB); the reference interpreter runs it`);
  }
  // a large program: JavaScript split into functions, no WebAssembly
  if (js.length > MAX_CPU_PROGRAM_CHARS || forced) return { js: emitJs(p, forced ?? CPU_CHUNK_CHARS), dims: p.dims, buffers: p.buffers };
  const w = emitWasm(p);
  // the f32-storage module (the f32 precision's; arithmetic in f64 as the JavaScript form's)
  const w32 = emitF32(p);
  if (w32 && w32.checks.join('\n') !== w.checks.join('\n')) throw new InternalError(`${f.name}: the f32 module's range checks differ from the f64 module's`);
  return { js, wasm: toBase64(w.bytes), ...(w32 ? { wasm32: toBase64(w32.bytes) } : {}), checks: w.checks, dims: p.dims, buffers: p.buffers };
}

/** The f32 module, or undefined where it cannot be built (MixedElements). */
function emitF32(p: LoopProgram): WasmProgram | undefined {
  try {
    return emitWasm(p, 4);
  } catch (e) {
    if (e instanceof MixedElements) return undefined;
    throw e;
  }
}
