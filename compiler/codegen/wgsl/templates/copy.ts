// WGSL buffer copy dst[i] = src[i]. It is the runtime's device-to-device move (a plan output that
// aliases an input, a state carried between optimizer steps) and the benchmark that measures the
// machine's bandwidth ceiling. Memory-bound code wants 16-byte accesses coalesced across the
// subgroup and several independent loads in flight per invocation before the first store: each
// invocation moves `perThread` vec4s strided by the workgroup size, all loads issued first.
// The element count is a uniform; the grid is folded into (x, y) past 65535 workgroups.

import type { GpuPlan } from '../../../../core/gpu-plan.js';
import { ceilDiv, foldGrid, type TemplateKernel } from './kernel.js';

export interface CopyConfig {
  /** vec4 elements (the count must then be a multiple of 4 floats). */
  vec4: boolean;
  /** Invocations per workgroup. */
  workgroupSize: number;
  /** Elements moved per invocation. */
  perThread: number;
}

/** On an H100 every vec4 variant with 128–512 invocations moved 2.84–2.88 TB/s (97 % of
 *  PyTorch's copy); one vec4 per invocation was the fastest by a hair (bench/RESULTS.md). */
export const DEFAULT_COPY_CONFIG: CopyConfig = { vec4: true, workgroupSize: 256, perThread: 1 };

export interface CopyKernel extends TemplateKernel {
  config: CopyConfig;
  /** Grid for `n` f32 elements. */
  workgroups(n: number, maxPerDim?: number): [number, number, number];
  /** Uniform block: element count (in vec4s or floats, as the kernel indexes), 3 pads. */
  uniforms(n: number): Uint32Array;
  supports(n: number): string | null;
}

/** Bindings: 0 src (read), 1 dst (read_write), 2 params (uniform). */
export function copyKernel(config: Partial<CopyConfig> = {}): CopyKernel {
  const c: CopyConfig = { ...DEFAULT_COPY_CONFIG, ...config };
  if (!Number.isInteger(c.workgroupSize) || c.workgroupSize < 1 || c.workgroupSize > 1024) throw new Error(`copy template: bad workgroupSize ${c.workgroupSize}`);
  if (!Number.isInteger(c.perThread) || c.perThread < 1 || c.perThread > 16) throw new Error(`copy template: bad perThread ${c.perThread}`);
  const elt = c.vec4 ? 'vec4<f32>' : 'f32';
  const WG = c.workgroupSize;
  const P = c.perThread;
  const L: string[] = [];
  L.push(`// matc copy: ${elt}, ${WG} invocations x ${P} elements`);
  L.push(`struct Params { n: u32, p0: u32, p1: u32, p2: u32 }`);
  L.push(`@group(0) @binding(0) var<storage, read> src: array<${elt}>;`);
  L.push(`@group(0) @binding(1) var<storage, read_write> dst: array<${elt}>;`);
  L.push(`@group(0) @binding(2) var<uniform> P: Params;`);
  L.push(`@compute @workgroup_size(${WG})`);
  L.push(`fn copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`);
  L.push(`  let base = (wid.x + wid.y * nwg.x) * ${WG * P}u + lid;`);
  L.push(`  let n = P.n;`);
  if (P === 1) {
    L.push(`  if (base < n) { dst[base] = src[base]; }`);
  } else {
    // Full blocks take the branch-free path: all loads, then all stores.
    L.push(`  if (base + ${(P - 1) * WG}u < n) {`);
    for (let j = 0; j < P; j++) L.push(`    let v${j} = src[base + ${j * WG}u];`);
    for (let j = 0; j < P; j++) L.push(`    dst[base + ${j * WG}u] = v${j};`);
    L.push(`  } else {`);
    L.push(`    for (var j = 0u; j < ${P}u; j++) { let i = base + j * ${WG}u; if (i < n) { dst[i] = src[i]; } }`);
    L.push(`  }`);
  }
  L.push(`}`);
  const per = c.vec4 ? 4 : 1;
  return {
    wgsl: L.join('\n') + '\n',
    entryPoint: 'copy',
    workgroupSize: [WG, 1, 1],
    workgroupBytes: 0,
    bindings: [
      { binding: 0, name: 'src', access: 'read' },
      { binding: 1, name: 'dst', access: 'read_write' },
      { binding: 2, name: 'params', access: 'uniform' },
    ],
    config: c,
    workgroups: (n, maxPerDim = 65535) => foldGrid(ceilDiv(n / per, WG * P), maxPerDim),
    uniforms: (n) => new Uint32Array([n / per, 0, 0, 0]),
    supports: (n) => (!Number.isInteger(n) || n < 0 ? 'bad element count' : c.vec4 && n % 4 !== 0 ? `vec4 copy needs a multiple of 4 floats (got ${n})` : null),
  };
}

/** One-launch plan copying input 'src' to output 'dst' (n floats). */
export function copyPlan(n: number, kernel: CopyKernel): GpuPlan {
  const why = kernel.supports(n);
  if (why !== null) throw new Error(`copyPlan: ${why}`);
  return {
    kernels: { copy: { wgsl: kernel.wgsl, entryPoint: kernel.entryPoint } },
    buffers: [
      { name: 'src', bytes: Math.max(4, 4 * n), kind: 'input' },
      { name: 'dst', bytes: Math.max(4, 4 * n), kind: 'output' },
      { name: 'params', bytes: 16, kind: 'uniform' },
    ],
    launches: [{ kernel: 'copy', label: 'copy', bindings: kernel.bindings.map((b) => ({ binding: b.binding, buffer: b.name, access: b.access })), workgroups: kernel.workgroups(n) }],
    outputs: ['dst'],
  };
}
