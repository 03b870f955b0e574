// The CPU program of a function (core/executable.ts CpuProgramData): the function lowered once
// to the loop IR (lower.ts), printed as JavaScript (emit-js.ts) and assembled into WebAssembly
// (emit-wasm.ts). The runtime (runtime/cpu/program.ts) runs the WebAssembly where the engine has
// SIMD and the JavaScript elsewhere; both compute the same thing, and the reference interpreter
// is the oracle of both in the tests.

import type { CpuProgramData } from '../../../core/executable.js';
import type { Func } from '../../ir/node.js';
import { emitJs } from './emit-js.js';
import { lowerCpu } from './lower.js';

export function genCpuProgram(f: Func): CpuProgramData {
  const p = lowerCpu(f);
  return { js: emitJs(p), dims: p.dims, buffers: p.buffers };
}
