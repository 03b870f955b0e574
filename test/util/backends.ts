// Runs one form of a compiled function on every backend matc has — the reference interpreter, the
// compiled CPU program as WebAssembly and as JavaScript (f64), and (when an adapter exists) the
// WGSL instance kernel on WebGPU — so that tests of new ops can compare them directly.

import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { CompiledFn } from '../../api/module.js';
import { CpuBackend } from '../../runtime/cpu/cpu-backend.js';
import { bindInputs, type InputValue } from '../../runtime/bind.js';
import type { Mode } from '../../core/executable.js';
import type { Tensor } from '../../runtime/tensor.js';
import { WebGpuBackend } from '../../runtime/webgpu/backend.js';
import { gpuOrSkip } from '../gpu-available.js';

export type BackendName = 'reference' | 'wasm' | 'js' | 'webgpu';

export interface BackendRun {
  outputs: Record<string, Tensor>;
  /** status entries by name: iterations and converged per instance */
  status: Record<string, { iterations: number[]; converged: boolean[] }>;
}

/** Results of one form (forward by default) on the CPU backends, and on WebGPU when `t` is given
 *  and an adapter exists. Asserts that the compiled CPU program exists (a function the code
 *  generator cannot handle silently falls back to the interpreter otherwise). For `vjp` the inputs
 *  include the cotangents `ct.<result>`, for `jvp` the tangents `tg.<param>` (IR names). */
export async function runAll(
  fn: CompiledFn,
  inputs: Record<string, InputValue>,
  opts: { dims?: Record<string, number>; t?: TestContext; mode?: Mode } = {},
): Promise<Partial<Record<BackendName, BackendRun>>> {
  const mode = opts.mode ?? 'forward';
  const exe = fn.executable(mode);
  assert.ok(exe.cpu(), `${fn.name} ${mode}: no CPU program (${exe.cpuError()})`);
  const bind = bindInputs(exe.signature, inputs, { ...(opts.dims ? { dims: opts.dims } : {}) });
  const out: Partial<Record<BackendName, BackendRun>> = {};
  const cpu: [BackendName, CpuBackend][] = [
    ['reference', new CpuBackend({ reference: true })],
    ['wasm', new CpuBackend({ engine: 'wasm', threads: 1 })],
    ['js', new CpuBackend({ engine: 'js', threads: 1 })],
  ];
  for (const [name, backend] of cpu) {
    const r = await backend.run(exe, bind);
    out[name] = { outputs: r.outputs, status: statusOf(r.nodes) };
  }
  if (opts.t) {
    const ctx = await gpuOrSkip(opts.t);
    if (ctx) {
      assert.ok(exe.variant({ workgroupSize: 128, subgroups: false }), `${fn.name} ${mode}: no GPU variant`);
      const r = await new WebGpuBackend(ctx).run(exe, bind);
      out.webgpu = { outputs: r.outputs, status: statusOf(r.nodes) };
    }
  }
  return out;
}

/** Forward results on every backend (see runAll). */
export function forwardAll(fn: CompiledFn, inputs: Record<string, InputValue>, opts: { dims?: Record<string, number>; t?: TestContext } = {}): Promise<Partial<Record<BackendName, BackendRun>>> {
  return runAll(fn, inputs, opts);
}

function statusOf(nodes: readonly { name: string; iterations: number[]; converged: boolean[] }[]): BackendRun['status'] {
  const o: BackendRun['status'] = {};
  for (const n of nodes) o[n.name] = { iterations: [...n.iterations], converged: [...n.converged] };
  return o;
}

/** Every backend's output `name` agrees with the reference to `tol` (relative to max(1, |ref|));
 *  `gpuTol` for WebGPU (f32). */
export function assertAgree(runs: Partial<Record<BackendName, BackendRun>>, tol = 1e-12, gpuTol = 1e-4, what = ''): void {
  const ref = runs.reference!;
  for (const [name, run] of Object.entries(runs) as [BackendName, BackendRun][]) {
    if (name === 'reference') continue;
    const t = name === 'webgpu' ? gpuTol : tol;
    for (const [k, a] of Object.entries(ref.outputs)) {
      const b = run.outputs[k];
      assert.ok(b, `${what}${name}: output ${k} missing`);
      assert.deepEqual(b.shape, a.shape, `${what}${name}: shape of ${k}`);
      for (let i = 0; i < a.data.length; i++) {
        const x = a.data[i]!;
        const y = b.data[i]!;
        if (!(Math.abs(x - y) <= t * Math.max(1, Math.abs(x)))) assert.fail(`${what}${name}: ${k}[${i}] = ${y}, reference ${x}`);
      }
    }
  }
}
