// The CPU program of a function (core/executable.ts CpuProgramData): the function lowered once
// to the loop IR (lower.ts), printed as JavaScript (emit-js.ts) and assembled into WebAssembly
// with SIMD (emit-wasm.ts). The runtime (runtime/cpu/program.ts) runs the WebAssembly where the
// engine has it and the JavaScript elsewhere (and for f32 storage); both compute the same thing,
// and the reference interpreter is the oracle of both in the tests.

import { toBase64 } from '../../../core/base64.js';
import type { CpuProgramData } from '../../../core/executable.js';
import type { Func } from '../../ir/node.js';
import { emitJs } from './emit-js.js';
import { emitWasm } from './emit-wasm.js';
import { lowerCpu } from './lower.js';

export function genCpuProgram(f: Func): CpuProgramData {
  const p = lowerCpu(f);
  const w = emitWasm(p);
  return { js: emitJs(p), wasm: toBase64(w.bytes), checks: w.checks, dims: p.dims, buffers: p.buffers };
}
