// One parity check of a spec (test/parity-specs.ts) on a WebGPU backend against the CPU f64
// reference: forward outputs within the spec's tolerance and, for specs marked `grad`, the VJP
// within ten times it. Shared by the instance-model parity test (webgpu-parity) and the grid
// model's (grid-parity).

import assert from 'node:assert/strict';
import type { CompiledFn } from '../../api/module.js';
import type { Backend } from '../../runtime/backend.js';
import { Tensor } from '../../runtime/tensor.js';
import { randomInputs } from '../../cli/inputs.js';
import type { ParitySpec } from '../parity-specs.js';
import { relErr } from './approx.js';

export async function checkParity(s: ParitySpec, fn: CompiledFn, backend: Backend, dims: Record<string, number>, batch: number, seed: number): Promise<{ statuses: [unknown, unknown] }> {
  const tol = s.tol ?? 1e-4;
  const inputs = randomInputs(fn, dims, batch > 1 ? [batch] : [], seed);
  const ref = s.f32ref ? { f32: true } : {};
  const cpu = await fn.forward(inputs, ref);
  const gpu = await fn.forward(inputs, { backend });
  for (const k of Object.keys(cpu.outputs)) {
    const e = relErr(gpu.outputs[k]!.data, cpu.outputs[k]!.data, 1e-3);
    assert.ok(e <= tol, `${s.name} ${k} dims ${JSON.stringify(dims)} batch ${batch}: ${e}`);
  }
  if (s.grad) {
    const cot: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(cpu.outputs)) cot[k] = new Tensor(v.shape, Array.from({ length: v.size }, (_, i) => Math.cos(i + seed)));
    const gc = await fn.vjp(inputs, cot, ref);
    const gg = await fn.vjp(inputs, cot, { backend });
    for (const k of Object.keys(gc.gradients)) {
      const e = relErr(gg.gradients[k]!.data, gc.gradients[k]!.data, 1e-3);
      assert.ok(e <= tol * 10, `${s.name} ∂${k} dims ${JSON.stringify(dims)} batch ${batch}: ${e}`);
    }
  }
  return { statuses: [gpu.status.nodes.map((n) => [n.name, n.converged]), cpu.status.nodes.map((n) => [n.name, n.converged])] };
}
