// The option objects of the API, checked where they are received (issue 12: a misspelt option is
// not ignored, a value of the wrong type does not fail deep inside a call, a TypeError never
// reaches the caller): the options of a call (`forward`, `vjp`, `jvp` on JIT functions and on
// compiled modules: MATR116), of `new CpuBackend(…)` and of a compiled module's `load(…)` (MATR117).

import { MatcRuntimeError } from '../core/errors.js';
import { checkOptions, isBool, isRecord, type OptionSpec } from '../core/option-check.js';
import { describeValue } from '../core/describe-value.js';

// ---- the options of a call ------------------------------------------------------------------------

const CALL_OPTIONS: Record<string, OptionSpec> = {
  dims: { what: 'an object {name: integer}', ok: isRecord },
  f32: { what: 'true or false', ok: isBool },
  backend: {
    what: "a backend object (new CpuBackend(…), createWebGpuBackend(…)) or 'cpu'",
    ok: (v) => v === 'cpu' || (isRecord(v) && typeof (v as { run?: unknown }).run === 'function'),
    hint: (v) => (v === 'webgpu' || v === 'auto' ? "; a WebGPU backend is an object: await createWebGpuBackend() (or load(…, { backend: 'webgpu' }) for a compiled module)" : ''),
  },
  resident: { what: 'true or false', ok: isBool },
  into: { what: 'an object {result: Tensor}', ok: isRecord },
  intoGradients: { what: 'an object {input: Tensor}', ok: isRecord },
};

/** The options each kind of call takes: `into` holds results of forward and VJP calls (JIT), a
 *  compiled module's calls take neither. */
export const CALL_OPTIONS_OF = {
  forward: ['dims', 'f32', 'backend', 'resident', 'into'],
  vjp: ['dims', 'f32', 'backend', 'resident', 'into', 'intoGradients'],
  jvp: ['dims', 'f32', 'backend', 'resident'],
  aot: ['dims', 'f32', 'backend', 'resident'],
} as const;

/** The options of a call of `fn` (MATR116). */
export function checkCallOptions(fn: string, opts: unknown, allowed: readonly string[]): void {
  checkOptions('MATR116', fn, 'the call options', opts, CALL_OPTIONS, allowed);
}

// ---- the CPU backend's options and a compiled module's load options -----------------------------------

const CPU_OPTIONS: Record<string, OptionSpec> = {
  precision: { what: "'f64' or 'f32'", ok: (v) => v === 'f64' || v === 'f32' },
  threads: { what: 'a whole number of threads, 1 or more', ok: (v) => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 4096 },
  reference: { what: 'true or false', ok: isBool },
  engine: { what: "'wasm' or 'js'", ok: (v) => v === 'wasm' || v === 'js' },
};

/** `new CpuBackend(options)` (MATR117). */
export function checkCpuOptions(where: string, opts: unknown): void {
  checkOptions('MATR117', where, "the CPU backend's options", opts, CPU_OPTIONS);
}

const LOAD_OPTIONS_GPU: OptionSpec = {
  what: 'a WebGPU GPU object (navigator.gpu) or null',
  ok: (v) => v === null || (isRecord(v) && typeof (v as { requestAdapter?: unknown }).requestAdapter === 'function'),
};

const LOAD_OPTIONS: Record<string, OptionSpec> = {
  // (a string that names no backend is MATR112, as on the command line: runtime/aot/backend.ts)
  backend: { what: "'auto', 'cpu' or 'webgpu'", ok: (v) => typeof v === 'string' },
  gpu: LOAD_OPTIONS_GPU,
  cpu: { what: "the CPU backend's options, an object", ok: isRecord },
};

const WEBGPU_OPTIONS: Record<string, OptionSpec> = {
  gpu: LOAD_OPTIONS_GPU,
  device: { what: 'a GPUDevice', ok: (v) => isRecord(v) && typeof (v as { createBuffer?: unknown }).createBuffer === 'function' },
};

/** `createWebGpuBackend(options)` (MATR117). */
export function checkWebGpuOptions(opts: unknown): void {
  checkOptions('MATR117', 'createWebGpuBackend', 'the WebGPU backend\'s options', opts, WEBGPU_OPTIONS);
}

/** A compiled module's `load(options)` (MATR117; the CPU options inside are checked as well). */
export function checkLoadOptions(opts: unknown): void {
  checkOptions('MATR117', 'load', 'the load options', opts, LOAD_OPTIONS);
  const cpu = (opts as { cpu?: unknown } | undefined)?.cpu;
  if (cpu !== undefined) checkCpuOptions('load: cpu', cpu);
}

// ---- module.fn(name) -------------------------------------------------------------------------------------------

/** A function name given to `module.fn(name)` (MATR100 when it is not a string). */
export function checkFunctionName(name: unknown, have: readonly string[]): void {
  if (typeof name !== 'string') throw new MatcRuntimeError('MATR100', `a function name must be a string, got ${describeValue(name)} (have: ${have.join(', ')})`);
}
