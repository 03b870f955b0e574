// The WebGPU backend: an IR function becomes one instance kernel (compiler/codegen/wgsl/
// instance.ts) run with one workgroup per batch instance: one dispatch, one submission and one
// readback per call. Batches whose scratch, inputs or outputs exceed the device's buffer limits
// (or its 65,535 × 65,535 grid) are split into chunks, one plan run each, never rejected.
/// <reference types="@webgpu/types" />

import type { Func } from '../../compiler/ir/node.js';
import { genInstanceKernel, type InstanceOptions } from '../../compiler/codegen/wgsl/instance.js';
import { kernelArgs, type InstanceKernelSpec } from '../../compiler/codegen/wgsl/layout.js';
import type { Backend } from '../backend.js';
import type { Binding } from '../bind.js';
import type { NodeStatus } from '../cpu/backend.js';
import { Tensor } from '../tensor.js';
import { MatcRuntimeError } from '../errors.js';
import { createGpuContext, getNodeGPU, type GpuContext } from './device.js';
import { runPlan } from './executor.js';
import type { GpuPlan } from './plan.js';

export interface KernelProvider {
  kernel(f: Func, opts?: InstanceOptions): InstanceKernelSpec;
}

/** The workgroup sizes instance kernels are generated with (AOT modules embed each). */
export const WORKGROUP_SIZES = [128, 256] as const;

/**
 * One workgroup runs one problem instance, so its size trades idle invocations on small operands
 * against serial loops on large ones. The H100 sweep of 2026-11-23 (bench/variants.ts,
 * bench/RESULTS.md): at 128 ≤ the largest dimension, 256 invocations won (QR 1024 × 128²
 * fwd+bwd 60.5 vs 80.7 ms at 128; IED 1024 × 128² 14.5 vs 18.6–37 ms); below it 128 won or tied
 * (QR 16384 × 32² 9.7 vs 12.8 ms at 256; LESS 16384 × 64×32 42.4 vs 48.5 ms).
 */
export function defaultWorkgroupSize(dims: ReadonlyMap<string, number>): number {
  let big = 0;
  for (const v of dims.values()) big = Math.max(big, v);
  return big >= 128 ? 256 : 128;
}

/** JIT: generate the kernel from IR on first use. AOT modules supply their embedded specs. */
export const jitKernels: KernelProvider = (() => {
  const cache = new WeakMap<Func, Map<string, InstanceKernelSpec>>();
  return {
    kernel(f: Func, opts: InstanceOptions = {}): InstanceKernelSpec {
      let m = cache.get(f);
      if (!m) cache.set(f, (m = new Map()));
      const key = JSON.stringify(opts);
      let k = m.get(key);
      if (!k) m.set(key, (k = genInstanceKernel(f, opts)));
      return k;
    },
  };
})();

export interface RunSpecResult {
  outputs: Record<string, Tensor>;
  nodes: NodeStatus[];
  gpuMs?: number;
}

/** How a batch splits into launches of the instance kernel: the largest chunk whose buffers
 *  (scratch, batched inputs, outputs; f32) fit one storage binding and whose workgroups fit the
 *  2-D grid. `probe` is the layout of one instance. Shared with the resident timing plan
 *  (cli/bench.ts), which must chunk exactly as a call does. */
export function instanceChunking(ctx: GpuContext, spec: InstanceKernelSpec, bind: Binding): { chunk: number; maxGrid: number; probe: ReturnType<typeof kernelArgs> } {
  const lim = ctx.limits;
  const maxBind = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
  const maxGrid = lim.maxComputeWorkgroupsPerDimension;
  const probe = kernelArgs(spec, bind.dims, { count: 1, base: 0, batched: bind.inputs.map((i) => i.batched) });
  const perInstance = Math.max(
    probe.scratchPerInstance * 4,
    bind.inputs.reduce((s, inp, i) => s + (inp.batched ? probe.inputSizes[i]! * 4 : 0), 0),
    probe.outputSizes.reduce((s, x) => s + x * 4, 0),
    4,
  );
  const fixedIn = bind.inputs.reduce((s, inp, i) => s + (inp.batched ? 0 : probe.inputSizes[i]! * 4), 0);
  if (fixedIn + perInstance > maxBind) {
    throw new MatcRuntimeError('MATR130', `one problem instance needs ${perInstance + fixedIn} bytes of GPU buffers, more than the device allows (${maxBind})`);
  }
  const chunk = Math.max(1, Math.min(bind.batchSize, Math.floor((maxBind - fixedIn) / perInstance), maxGrid * maxGrid));
  return { chunk, maxGrid, probe };
}

/** The f32 input buffer of one chunk (instances base … base+count−1): batched inputs contribute
 *  their slice, unbatched ones their single instance, in parameter order (the kernel layout). */
export function packChunkInputs(bind: Binding, inputSizes: readonly number[], base: number, count: number): Float32Array {
  let total = 0;
  bind.inputs.forEach((inp, i) => (total += inp.batched ? inputSizes[i]! * count : inputSizes[i]!));
  const input = new Float32Array(Math.max(total, 1));
  let off = 0;
  bind.inputs.forEach((inp, i) => {
    const size = inputSizes[i]!;
    const src = inp.tensor.data;
    if (inp.batched) {
      input.set(src.subarray(base * size, (base + count) * size), off);
      off += size * count;
    } else {
      input.set(src.subarray(0, size), off);
      off += size;
    }
  });
  return input;
}

/** Runs an instance kernel spec on bound inputs (shared by the JIT backend and AOT modules). */
export async function runInstanceKernel(ctx: GpuContext, spec: InstanceKernelSpec, bind: Binding, opts: { timing?: boolean } = {}): Promise<RunSpecResult> {
  const B = bind.batchSize;
  const { chunk, maxGrid, probe } = instanceChunking(ctx, spec, bind);
  // results stay f32 (what the device computed): no conversion pass over large outputs
  const outData = spec.outputs.map((o, i) => new Float32Array(probe.outputSizes[i]! * B));
  const trace = typeof process !== 'undefined' && process.env.MATC_TRACE === '1';
  const t0 = performance.now();
  const phases: Record<string, number> = {};
  const mark = (k: string, t: number) => (phases[k] = (phases[k] ?? 0) + performance.now() - t);
  let gpuMs = 0;
  for (let base = 0; base < B; base += chunk) {
    const count = Math.min(chunk, B - base);
    const args = kernelArgs(spec, bind.dims, { count, base, batched: bind.inputs.map((i) => i.batched) });
    const tp0 = performance.now();
    const input = packChunkInputs(bind, args.inputSizes, base, count);
    mark('pack', tp0);
    const outLen = args.outputSizes.reduce((s, x) => s + x * count, 0);
    const gx = Math.min(count, maxGrid);
    const gy = Math.ceil(count / gx);
    const plan: GpuPlan = {
      kernels: { inst: { wgsl: spec.wgsl, entryPoint: spec.entryPoint } },
      buffers: [
        { name: 'uni', bytes: args.uniforms.byteLength, kind: 'uniform' },
        { name: 'scratch', bytes: Math.max(4, args.scratchPerInstance * 4 * count), kind: 'scratch' },
        { name: 'in', bytes: input.byteLength, kind: 'input' },
        { name: 'out', bytes: Math.max(4, outLen * 4), kind: 'output' },
      ],
      launches: [
        {
          kernel: 'inst',
          bindings: [
            { binding: 0, buffer: 'uni', access: 'uniform' },
            { binding: 1, buffer: 'scratch', access: 'read_write' },
            { binding: 2, buffer: 'in', access: 'read' },
            { binding: 3, buffer: 'out', access: 'read_write' },
          ],
          workgroups: [gx, gy, 1],
        },
      ],
      outputs: ['out'],
    };
    let tp = performance.now();
    const r = await runPlan(ctx, plan, { uni: args.uniforms, in: input }, { timing: opts.timing === true, label: 'matc' });
    mark('gpu run (upload, dispatch, readback)', tp);
    tp = performance.now();
    if (r.gpuMs !== undefined) gpuMs += r.gpuMs;
    const out = r.outputs.out!;
    let o = 0;
    spec.outputs.forEach((_, i) => {
      const size = args.outputSizes[i]!;
      const n = size * count;
      outData[i]!.set(out.subarray(o, o + n), base * size);
      o += n;
    });
    mark('unpack', tp);
  }
  if (trace) console.error(`[matc trace] ${spec.wgsl.split('\n')[1]?.slice(0, 60)}: ${Object.entries(phases).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(', ')}; total ${(performance.now() - t0).toFixed(1)} ms`);
  const outputs: Record<string, Tensor> = {};
  const nodes = new Map<string, NodeStatus>();
  spec.outputs.forEach((o, i) => {
    if (o.kind === 'result') {
      const shape = (o.shape ?? []).map((d) => Number(bind.dims.get(d) ?? evalText(d, bind.dims)));
      outputs[o.name] = new Tensor([...bind.batch, ...shape], outData[i]!);
      return;
    }
    const [name, field] = o.name.split('#') as [string, string];
    let s = nodes.get(name);
    if (!s) nodes.set(name, (s = { name, iterations: [], converged: [] }));
    const vals = Array.from(outData[i]!);
    if (field === 'iterations') s.iterations = vals.map((v) => Math.round(v));
    else if (field === 'converged') s.converged = vals.map((v) => v !== 0);
    else s.residual = vals;
  });
  return { outputs, nodes: [...nodes.values()], ...(opts.timing ? { gpuMs } : {}) };
}

function evalText(d: string, dims: ReadonlyMap<string, number>): number {
  // shapes are dimension texts; most are plain names or numbers
  if (/^\d+$/.test(d)) return Number(d);
  return kernelDim(d, dims);
}

import { parseDim } from '../../compiler/dims.js';
function kernelDim(d: string, dims: ReadonlyMap<string, number>): number {
  return parseDim(d).eval(dims);
}

export class WebGpuBackend implements Backend {
  readonly kind = 'webgpu' as const;
  constructor(
    readonly ctx: GpuContext,
    readonly kernels: KernelProvider = jitKernels,
  ) {}

  describe(): string {
    return this.ctx.describe();
  }

  /** Code generation options for this device and these dimensions: subgroup reductions where the
   *  adapter has them (MATC_SUBGROUPS=0 turns them off); the workgroup size of
   *  `defaultWorkgroupSize` (MATC_WG overrides it). */
  kernelOptions(dims: ReadonlyMap<string, number>): InstanceOptions {
    const env = typeof process !== 'undefined' ? process.env : {};
    return {
      subgroups: this.ctx.features.subgroups && env.MATC_SUBGROUPS !== '0',
      workgroupSize: env.MATC_WG ? Number(env.MATC_WG) : defaultWorkgroupSize(dims),
    };
  }

  async run(f: Func, bind: Binding): Promise<{ outputs: Record<string, Tensor>; nodes: NodeStatus[] }> {
    return runInstanceKernel(this.ctx, this.kernels.kernel(f, this.kernelOptions(bind.dims)), bind);
  }

  dispose(): void {
    this.ctx.destroy();
  }
}

/** A WebGPU backend on Node's Dawn (npm `webgpu`) or an injected GPU object; null without an
 *  adapter. */
export async function createWebGpuBackend(opts: { gpu?: GPU } = {}): Promise<WebGpuBackend | null> {
  const gpu = opts.gpu ?? (await getNodeGPU());
  if (!gpu) return null;
  const ctx = await createGpuContext({ gpu });
  return new WebGpuBackend(ctx);
}
