// The CPU backend's command-line options (`run` and `bench`), parsed and documented in one place.

import { MatcRuntimeError } from '../core/errors.js';
import type { CpuBackendOptions } from '../runtime/cpu/cpu-backend.js';
import type { BackendChoice } from '../runtime/select.js';

/** The CPU backend's options from the command line: --precision f64|f32, --threads N, --reference. */
export function cpuOptions(values: Record<string, string | boolean | undefined>): CpuBackendOptions {
  const out: CpuBackendOptions = {};
  const p = values.precision;
  if (p !== undefined) {
    if (p !== 'f64' && p !== 'f32') throw new MatcRuntimeError('MATR112', `--precision must be f64 or f32, got '${String(p)}'`);
    out.precision = p;
  }
  const t = values.threads;
  if (t !== undefined) {
    const n = Number(t);
    if (!Number.isInteger(n) || n < 1) throw new MatcRuntimeError('MATR112', `--threads must be a positive integer, got '${String(t)}'`);
    out.threads = n;
  }
  if (values.reference) out.reference = true;
  return out;
}

/** The backend --backend names (default auto). The CPU backend's options (--reference, --precision,
 *  --threads) choose the CPU when --backend is not given — `auto` would otherwise run them on a WebGPU
 *  adapter and ignore them — and contradict an explicit `--backend webgpu`. */
export function backendChoice(values: Record<string, string | boolean | undefined>): BackendChoice {
  const given = values.backend as string | undefined;
  const cpuOnly = (['reference', 'precision', 'threads'] as const).filter((k) => values[k] !== undefined && values[k] !== false);
  if (given === 'webgpu' && cpuOnly.length > 0) {
    throw new MatcRuntimeError('MATR112', `--${cpuOnly[0]} is an option of the CPU backend; it cannot be used with --backend webgpu`);
  }
  if (given === undefined) return cpuOnly.length > 0 ? 'cpu' : 'auto';
  return given as BackendChoice;
}

/** Help text of those options. */
export const CPU_OPTIONS_HELP = `  --precision P        the CPU backend's storage precision: f64 (default) or f32
  --threads N          worker threads for large batches on the CPU (default: every core)
  --reference          run on the CPU reference interpreter (the compiled program's oracle)
                       (these three options select the CPU backend when --backend is not given)`;

