// WGSL batched small GEMM: C[i] = A[i]·B[i] for `count` independent n×n row-major matrices stored
// back to back (n = 8…64, a multiple of 4). This is the batch-first case of DESIGN §3: tens of
// thousands of tiny problems, where launching one GEMM per instance would be all overhead and the
// large-tile kernel would waste most of each tile. It is memory-bound for small n (3·n²·4 bytes per
// 2·n³ flops), so the kernel is built around coalesced vec4 traffic:
//   a workgroup owns `instances` consecutive instances (several per workgroup for small n, one for
//   large n) and walks K in chunks of `kChunk`: it copies A[:, chunk] and B[chunk, :] of all its
//   instances into workgroup memory with vec4 loads (for kChunk = n the instances' bytes are
//   contiguous, so the loads are perfectly coalesced), then each invocation accumulates a
//   threadRows × threadCols block of C in vec4 registers and stores it with vec4 writes. Every
//   load of a chunk is issued before the first is used, and chunk c+1 is fetched into registers
//   while chunk c is computed.
// Layout details that keep workgroup-memory reads conflict-free: an invocation's rows are
// interleaved (row = i·WR + tr) and A rows are padded to an odd number of vec4s, so the invocations
// of a subgroup read A rows from distinct banks; instance strides are odd numbers of vec4s too, so
// neighbouring instances do not collide either.

import type { GpuPlan } from '../../../../core/gpu-plan.js';
import { ceilDiv, foldGrid, type TemplateKernel } from './kernel.js';

export interface BatchedSmallConfig {
  /** Matrix size (n×n), a multiple of 4, 4…128. */
  n: number;
  /** Instances per workgroup (1 = one instance per workgroup). */
  instances: number;
  /** Rows of C per invocation (divides n). */
  threadRows: number;
  /** Columns of C per invocation (a multiple of 4 dividing n). */
  threadCols: number;
  /** K chunk staged in workgroup memory at a time (a multiple of 4 dividing n; default n). */
  kChunk: number;
}

export interface BatchedSmallKernel extends TemplateKernel {
  config: BatchedSmallConfig;
  workgroups(count: number, maxPerDim?: number): [number, number, number];
  /** Uniform block: instance count and 3 pads (u32). */
  uniforms(count: number): Uint32Array;
}

const odd = (v: number): number => (v % 2 === 0 ? v + 1 : v);

/** Throws on an invalid configuration (a caller bug). */
function check(c: BatchedSmallConfig): void {
  const bad = (m: string): never => {
    throw new Error(`batched-small-matmul template: ${m} (${JSON.stringify(c)})`);
  };
  if (!Number.isInteger(c.n) || c.n < 4 || c.n > 128 || c.n % 4 !== 0) bad('n must be a multiple of 4 in 4..128');
  if (!(c.threadRows >= 1) || c.n % c.threadRows !== 0) bad('threadRows must divide n');
  if (c.threadCols % 4 !== 0 || c.n % c.threadCols !== 0) bad('threadCols must be a multiple of 4 dividing n');
  if (c.kChunk % 4 !== 0 || c.n % c.kChunk !== 0 || c.n / c.kChunk > 16) bad('kChunk must be a multiple of 4 dividing n, at least n/16');
  if (!Number.isInteger(c.instances) || c.instances < 1) bad('instances must be >= 1');
  const nt = c.instances * (c.n / c.threadRows) * (c.n / c.threadCols);
  if (nt > 1024) bad(`workgroup of ${nt} invocations`);
}

/** Bindings: 0 A (read), 1 B (read), 2 C (read_write), 3 params (uniform). */
export function batchedSmallMatmulKernel(config: Partial<BatchedSmallConfig> & { n: number }): BatchedSmallKernel {
  const c: BatchedSmallConfig = { ...defaultBatchedSmallConfig(config.n), ...config };
  check(c);
  const { n, instances: G, threadRows: TR, threadCols: TC, kChunk: KC } = c;
  const N4 = n / 4;
  const KC4 = KC / 4;
  const WR = n / TR; // invocation rows per instance: row = i·WR + tr
  const WC = n / TC; // invocation columns per instance: vec4 column q = h·WC + tc
  const TPI = WR * WC; // invocations per instance
  const NT = G * TPI;
  const HC = TC / 4;
  const SA = odd(KC4); // vec4s per staged A row (padded to odd)
  const NCH = n / KC; // K chunks
  const perA = G * n * KC4; // vec4s of A staged per chunk
  const perB = G * KC * N4;
  const nLA = ceilDiv(perA, NT);
  const nLB = ceilDiv(perB, NT);
  const L: string[] = [];
  const e = (s: string): void => {
    L.push(s);
  };
  e(`// matc batched small matmul: ${n}x${n}, ${G} instance(s)/workgroup, ${TR}x${TC} per invocation, k chunk ${KC}`);
  e(`struct Params { count: u32, p0: u32, p1: u32, p2: u32 }`);
  // Shared tiles as nested arrays indexed [instance][constant][thread index][constant]: the inner
  // loop's run-time indices are then the same for every read (one bounds clamp each, hoisted), and
  // the trailing pad vec4 makes each instance's stride an odd number of vec4s.
  e(`struct AInst { m: array<array<array<vec4<f32>, ${SA}>, ${WR}>, ${TR}>, pad: vec4<f32> }`);
  e(`struct BInst { m: array<array<array<vec4<f32>, ${WC}>, ${HC}>, ${KC}>, pad: vec4<f32> }`);
  e(`@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;`);
  e(`@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;`);
  e(`@group(0) @binding(2) var<storage, read_write> C: array<vec4<f32>>;`);
  e(`@group(0) @binding(3) var<uniform> P: Params;`);
  e(`var<workgroup> As: array<AInst, ${G}>;`);
  e(`var<workgroup> Bs: array<BInst, ${G}>;`);
  e('');
  e(`@compute @workgroup_size(${NT})`);
  e(`fn bmm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`);
  e(`  let count = P.count;`);
  e(`  let inst0 = (wid.x + wid.y * nwg.x) * ${G}u;`);
  e(`  let li = lid / ${TPI}u; let t = lid % ${TPI}u;`);
  e(`  let tr = t / ${WC}u; let tc = t % ${WC}u;`);
  for (let i = 0; i < TR; i++) for (let h = 0; h < HC; h++) e(`  var c${i}_${h} = vec4<f32>();`);
  for (let j = 0; j < nLA; j++) e(`  var ra${j} = vec4<f32>();`);
  for (let j = 0; j < nLB; j++) e(`  var rb${j} = vec4<f32>();`);
  // All of a chunk's global loads are issued before any is used (registers ra*, rb*), so each
  // invocation has nLA + nLB independent 16-byte loads in flight.
  const load = (k0: string): void => {
    for (let j = 0; j < nLA; j++) {
      const tail = (j + 1) * NT > perA ? ` && e < ${perA}u` : '';
      e(`  { let e = lid + ${j * NT}u; let ii = e / ${n * KC4}u; let r = e % ${n * KC4}u;`);
      e(`    ra${j} = vec4<f32>(); if (inst0 + ii < count${tail}) { ra${j} = A[(inst0 + ii) * ${n * N4}u + (r / ${KC4}u) * ${N4}u + ${k0} / 4u + r % ${KC4}u]; } }`);
    }
    for (let j = 0; j < nLB; j++) {
      const tail = (j + 1) * NT > perB ? ` && e < ${perB}u` : '';
      e(`  { let e = lid + ${j * NT}u; let ii = e / ${KC * N4}u; let r = e % ${KC * N4}u;`);
      e(`    rb${j} = vec4<f32>(); if (inst0 + ii < count${tail}) { rb${j} = B[(inst0 + ii) * ${n * N4}u + ${k0} * ${N4}u + r]; } }`);
    }
  };
  const store = (): void => {
    for (let j = 0; j < nLA; j++) {
      const guard = (j + 1) * NT > perA ? `if (lid + ${j * NT}u < ${perA}u) ` : '';
      e(`  ${guard}{ let e = lid + ${j * NT}u; let ii = e / ${n * KC4}u; let r = e % ${n * KC4}u; let row = r / ${KC4}u;`);
      e(`    As[ii].m[row / ${WR}u][row % ${WR}u][r % ${KC4}u] = ra${j}; }`);
    }
    for (let j = 0; j < nLB; j++) {
      const guard = (j + 1) * NT > perB ? `if (lid + ${j * NT}u < ${perB}u) ` : '';
      e(`  ${guard}{ let e = lid + ${j * NT}u; let ii = e / ${KC * N4}u; let r = e % ${KC * N4}u; let q = r % ${N4}u;`);
      e(`    Bs[ii].m[r / ${N4}u][q / ${WC}u][q % ${WC}u] = rb${j}; }`);
    }
  };
  const compute = (): void => {
    for (let kq = 0; kq < KC4; kq++) {
      e(`  {`);
      for (let i = 0; i < TR; i++) e(`    let a${i} = As[li].m[${i}][tr][${kq}];`);
      for (let kk = 0; kk < 4; kk++) {
        const comp = 'xyzw'[kk];
        for (let h = 0; h < HC; h++) e(`    let b${kk}_${h} = Bs[li].m[${kq * 4 + kk}][${h}][tc];`);
        for (let i = 0; i < TR; i++) e('    ' + Array.from({ length: HC }, (_, h) => `c${i}_${h} = fma(vec4<f32>(a${i}.${comp}), b${kk}_${h}, c${i}_${h});`).join(' '));
      }
      e(`  }`);
    }
  };
  // Store chunk ch, then fetch chunk ch+1 into registers while computing chunk ch.
  load('0u');
  if (NCH === 1) {
    store();
    e(`  workgroupBarrier();`);
    compute();
  } else {
    e(`  for (var ch = 0u; ch < ${NCH}u; ch++) {`);
    store();
    e(`  workgroupBarrier();`);
    e(`  if (ch + 1u < ${NCH}u) {`);
    e(`  let k0 = (ch + 1u) * ${KC}u;`);
    load('k0');
    e(`  }`);
    compute();
    e(`  workgroupBarrier();`);
    e(`  }`);
  }
  e(`  if (inst0 + li < count) {`);
  e(`    let g = (inst0 + li) * ${n * N4}u;`);
  for (let i = 0; i < TR; i++) {
    for (let h = 0; h < HC; h++) e(`    C[g + (${i * WR}u + tr) * ${N4}u + ${h * WC}u + tc] = c${i}_${h};`);
  }
  e(`  }`);
  e(`}`);
  return {
    wgsl: L.join('\n') + '\n',
    entryPoint: 'bmm',
    workgroupSize: [NT, 1, 1],
    workgroupBytes: 16 * G * (n * SA + 1 + KC * N4 + 1),
    bindings: [
      { binding: 0, name: 'A', access: 'read' },
      { binding: 1, name: 'B', access: 'read' },
      { binding: 2, name: 'C', access: 'read_write' },
      { binding: 3, name: 'params', access: 'uniform' },
    ],
    config: c,
    workgroups: (count, maxPerDim = 65535) => foldGrid(ceilDiv(count, G), maxPerDim),
    uniforms: (count) => new Uint32Array([count, 0, 0, 0]),
  };
}

/** Per-n defaults, the fastest of the candidates measured on an H100 (bench/RESULTS.md): four
 *  instances per workgroup with one row × 4 columns per invocation for n = 8 (2.0 TB/s, 5.2× PyTorch
 *  bmm), one instance per workgroup from n = 16 on (2.7–2.8 TB/s at n = 16, 32), K chunks of 16 for
 *  n >= 32 so workgroup memory stays small and chunk c+1 loads while chunk c computes. n = 64 is
 *  still far from its bound (bench/RESULTS.md). Every choice is correct on any device. */
export function defaultBatchedSmallConfig(n: number): BatchedSmallConfig {
  if (n <= 8) return { n, instances: 4, threadRows: 1, threadCols: 4, kChunk: n };
  if (n <= 16) return { n, instances: 1, threadRows: 2, threadCols: 4, kChunk: n };
  if (n <= 32) return { n, instances: 1, threadRows: 4, threadCols: 4, kChunk: 16 };
  if (n <= 64) return { n, instances: 1, threadRows: 4, threadCols: 8, kChunk: 16 };
  return { n, instances: 1, threadRows: 8, threadCols: 8, kChunk: 16 };
}

/** One-launch plan: inputs 'A', 'B' (count·n² floats each), output 'C', uniform 'params'. */
export function batchedSmallMatmulPlan(count: number, kernel: BatchedSmallKernel): GpuPlan {
  const bytes = Math.max(16, 4 * count * kernel.config.n * kernel.config.n);
  return {
    kernels: { bmm: { wgsl: kernel.wgsl, entryPoint: kernel.entryPoint } },
    buffers: [
      { name: 'A', bytes, kind: 'input' },
      { name: 'B', bytes, kind: 'input' },
      { name: 'C', bytes, kind: 'output' },
      { name: 'params', bytes: 16, kind: 'uniform' },
    ],
    launches: [{ kernel: 'bmm', label: `bmm${kernel.config.n}`, bindings: kernel.bindings.map((b) => ({ binding: b.binding, buffer: b.name, access: b.access })), workgroups: kernel.workgroups(count) }],
    outputs: ['C'],
  };
}
