// The CPU backend's command-line options (`run` and `bench`), parsed and documented in one place.

import { MatcRuntimeError } from '../core/errors.js';
import type { CpuBackendOptions } from '../runtime/cpu/cpu-backend.js';

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

/** Help text of those options. */
export const CPU_OPTIONS_HELP = `  --precision P        the CPU backend's storage precision: f64 (default) or f32
  --threads N          worker threads for large batches on the CPU (default: every core)
  --reference          run on the CPU reference interpreter (the compiled program's oracle)`;

