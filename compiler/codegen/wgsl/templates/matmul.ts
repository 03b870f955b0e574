// WGSL f32 GEMM generator: C[b] = op(A[b]) · op(B[b]) for row-major matrices, where op() is an
// optional transpose (A stored [K,M], B stored [N,K]) and b runs over a batch with element strides.
// The scheduler calls it for every large matrix product, so M, N, K, the batch count and strides are
// run-time uniforms; tile shapes are template parameters (one WGSL text per shape, cached by the
// runtime).
//
// 'tiled' (the workhorse). A workgroup owns a tileM×tileN block of C and walks K in steps of tileK:
//   stage A[m0:m0+BM, k0:k0+BK] and B[k0:k0+BK, n0:n0+BN] in workgroup memory, both stored k-major
//   (As[k][m], Bs[k][n]) so the inner loop reads 4 consecutive rows / columns as one vec4;
//   each thread accumulates a threadM×threadN block in registers (fully unrolled, named vec4
//   accumulators: no run-time-indexed arrays that could spill). Per k the thread reads
//   threadM/4 + threadN/4 vec4s and does threadM·threadN FMAs.
//   A thread's rows are interleaved, {g·4·WM + 4·tr + r}, not contiguous: the WM threads of a column
//   then read adjacent 16-byte words, and a 32-lane subgroup laid out 4 rows × 8 columns of threads
//   touches 64 + 128 contiguous bytes per k: one shared-memory wavefront each, conflict-free.
//   An operand loaded along K is scattered into the k-major tile with scalar stores (at most 2-way
//   bank conflicts, once per tile: negligible next to the tileK·threadM·threadN FMAs).
//   prefetch: one shared stage, tile t+1 fetched into registers while tile t is computed (two
//   barriers per K step).
//   doubleBuffer: two shared stages; tile t+1 is fetched into registers before computing tile t and
//   stored into the other stage afterwards, so one barrier per K step and the global-load latency is
//   hidden behind tileK·threadM·threadN FMAs.
//   vec4: global loads and C stores as vec4 (needs the leading dimensions divisible by 4, see
//   `matmulSupports`); bounds are checked per load, so any M, N, K works.
//   swizzle: launch order visits tile rows in groups of `swizzle`, so a wave of workgroups re-reads
//   the same B panels from L2 instead of streaming all of B (matters once B exceeds L2).
// 'subgroup-splitk' (needs the `subgroups` feature; used only when the device has it): for small
//   outputs with long K (Gram matrices XᵀX of tall X, gradient reductions). A workgroup owns a
//   threadM×threadN block of C; its invocations stride over K, and partial sums are reduced with
//   subgroupAdd and then across subgroups in workgroup memory. The tiled kernel would launch a
//   handful of workgroups there and leave the GPU idle.

import type { GpuPlan } from '../../../../core/gpu-plan.js';
import { ceilDiv, type TemplateKernel } from './kernel.js';

export type MatmulVariant = 'tiled' | 'subgroup-splitk';

export interface MatmulConfig {
  variant: MatmulVariant;
  /** Rows/columns of C per workgroup and K step ('tiled'). Powers of two. */
  tileM: number;
  tileN: number;
  tileK: number;
  /** Rows/columns of C per invocation. 'tiled': multiples of 4; 'subgroup-splitk': 1..8. */
  threadM: number;
  threadN: number;
  /** vec4 global loads/stores ('tiled'); see `matmulSupports` for the alignment it needs. */
  vec4: boolean;
  /** A is stored [K, M] (C = Aᵀ·B for a stored A). */
  transA: boolean;
  /** B is stored [N, K] (C = A·Bᵀ for a stored B). */
  transB: boolean;
  /** Two shared-memory stages with register prefetch ('tiled'). */
  doubleBuffer: boolean;
  /** With one stage: fetch tile t+1 into registers while computing tile t ('tiled'). */
  prefetch: boolean;
  /** Tile-row group size for the launch order; 0 or 1 disables ('tiled'). */
  swizzle: number;
  /** Invocations per workgroup ('subgroup-splitk'). */
  splitThreads: number;
}

export const DEFAULT_MATMUL_CONFIG: MatmulConfig = {
  variant: 'tiled',
  tileM: 128,
  tileN: 128,
  tileK: 16,
  threadM: 8,
  threadN: 8,
  vec4: true,
  transA: false,
  transB: false,
  doubleBuffer: false,
  prefetch: false,
  swizzle: 0,
  splitThreads: 256,
};

export interface MatmulDims {
  M: number;
  N: number;
  K: number;
  /** Number of independent products (default 1); at most 65535 per launch (grid z). */
  batch?: number;
  /** Element strides between batch entries (defaults: dense, M·K, K·N, M·N). 0 broadcasts. */
  strideA?: number;
  strideB?: number;
  strideC?: number;
}

export interface MatmulKernel extends TemplateKernel {
  config: MatmulConfig;
  /** Grid for the given sizes. */
  workgroups(d: MatmulDims): [number, number, number];
  /** The 32-byte uniform block: M, N, K, batch, strideA, strideB, strideC, 0 (u32). */
  uniforms(d: MatmulDims): Uint32Array;
  /** null when this kernel can run these sizes, else why not. */
  supports(d: MatmulDims): string | null;
}

const pow2 = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

function strides(d: MatmulDims): { batch: number; sA: number; sB: number; sC: number } {
  return { batch: d.batch ?? 1, sA: d.strideA ?? d.M * d.K, sB: d.strideB ?? d.K * d.N, sC: d.strideC ?? d.M * d.N };
}

/** Why a configuration cannot run these sizes (alignment for vec4, grid limits), or null. */
export function matmulSupports(cfg: MatmulConfig, d: MatmulDims, maxWorkgroupsPerDim = 65535): string | null {
  const { M, N, K } = d;
  const s = strides(d);
  for (const [k, v] of Object.entries({ M, N, K, batch: s.batch, strideA: s.sA, strideB: s.sB, strideC: s.sC })) {
    if (!Number.isInteger(v) || v < 0) return `${k} must be a non-negative integer`;
  }
  if (s.batch > maxWorkgroupsPerDim) return `batch ${s.batch} exceeds ${maxWorkgroupsPerDim} (grid z); split the launch`;
  if (cfg.variant === 'tiled') {
    if (ceilDiv(M, cfg.tileM) > maxWorkgroupsPerDim || ceilDiv(N, cfg.tileN) > maxWorkgroupsPerDim) return 'too many tiles for the grid';
    if (cfg.vec4) {
      const aLead = cfg.transA ? M : K;
      const bLead = cfg.transB ? K : N;
      if (aLead % 4 !== 0) return `vec4 needs A's row length (${cfg.transA ? 'M' : 'K'}=${aLead}) divisible by 4`;
      if (bLead % 4 !== 0) return `vec4 needs B's row length (${cfg.transB ? 'K' : 'N'}=${bLead}) divisible by 4`;
      if (N % 4 !== 0) return `vec4 needs N=${N} divisible by 4`;
      if (s.sA % 4 !== 0 || s.sB % 4 !== 0 || s.sC % 4 !== 0) return 'vec4 needs batch strides divisible by 4';
    }
  } else {
    if (ceilDiv(M, cfg.threadM) > maxWorkgroupsPerDim || ceilDiv(N, cfg.threadN) > maxWorkgroupsPerDim) return 'too many output blocks for the grid';
  }
  return null;
}

/** Validates a configuration's own parameters; throws on a bad one (a caller bug). */
function checkConfig(c: MatmulConfig): void {
  const bad = (m: string): never => {
    throw new Error(`matmul template: ${m} (${JSON.stringify(c)})`);
  };
  if (c.variant === 'subgroup-splitk') {
    if (!(c.threadM >= 1 && c.threadM <= 8 && c.threadN >= 1 && c.threadN <= 8)) bad('splitk threadM/threadN must be 1..8');
    if (!pow2(c.splitThreads) || c.splitThreads < 32 || c.splitThreads > 1024) bad('splitThreads must be a power of two in 32..1024');
    return;
  }
  for (const k of ['tileM', 'tileN', 'tileK', 'threadM', 'threadN'] as const) if (!pow2(c[k])) bad(`${k} must be a power of two`);
  if (c.threadM % 4 !== 0 || c.threadN % 4 !== 0) bad('threadM and threadN must be multiples of 4');
  if (c.tileM % c.threadM !== 0 || c.tileN % c.threadN !== 0) bad('tile must be a multiple of the thread block');
  if (c.tileK % 4 !== 0) bad('tileK must be a multiple of 4');
  const nt = (c.tileM / c.threadM) * (c.tileN / c.threadN);
  if (nt < 1 || nt > 1024) bad(`workgroup of ${nt} invocations`);
}

/** Generates a matmul kernel. Bindings: 0 A (read), 1 B (read), 2 C (read_write), 3 params. */
export function matmulKernel(config: Partial<MatmulConfig> = {}): MatmulKernel {
  const cfg: MatmulConfig = { ...DEFAULT_MATMUL_CONFIG, ...config };
  checkConfig(cfg);
  const gen = cfg.variant === 'tiled' ? tiledWgsl(cfg) : splitKWgsl(cfg);
  return {
    wgsl: gen.wgsl,
    entryPoint: 'matmul',
    workgroupSize: [gen.threads, 1, 1],
    workgroupBytes: gen.workgroupBytes,
    bindings: [
      { binding: 0, name: 'A', access: 'read' },
      { binding: 1, name: 'B', access: 'read' },
      { binding: 2, name: 'C', access: 'read_write' },
      { binding: 3, name: 'params', access: 'uniform' },
    ],
    config: cfg,
    workgroups(d) {
      const batch = d.batch ?? 1;
      if (cfg.variant === 'tiled') return [ceilDiv(d.N, cfg.tileN), ceilDiv(d.M, cfg.tileM), batch];
      return [ceilDiv(d.N, cfg.threadN), ceilDiv(d.M, cfg.threadM), batch];
    },
    uniforms(d) {
      const s = strides(d);
      return new Uint32Array([d.M, d.N, d.K, s.batch, s.sA, s.sB, s.sC, 0]);
    },
    supports: (d) => matmulSupports(cfg, d),
  };
}

const HEADER = `struct Params { M: u32, N: u32, K: u32, batch: u32, strideA: u32, strideB: u32, strideC: u32, pad: u32 }`;

function tiledWgsl(c: MatmulConfig): { wgsl: string; threads: number; workgroupBytes: number } {
  const { tileM: BM, tileN: BN, tileK: BK, threadM: TM, threadN: TN, vec4, transA, transB } = c;
  const WM = BM / TM; // thread rows
  const WN = BN / TN; // thread columns
  const NT = WM * WN;
  const GM = TM / 4; // vec4 groups of rows per thread
  const GN = TN / 4;
  // Threads of a 32-lane subgroup form LR × LC (4 × 8 when the tile allows): see header.
  const LC = Math.min(8, WN);
  const LR = Math.min(Math.max(1, 32 / LC), WM);
  const WGC = WN / LC;
  const NBUF = c.doubleBuffer ? 2 : 1;
  // Shared tiles are nested arrays [stage][k][g][t] of vec4 (rows 4·(g·WM + t) … +3), so that in
  // the inner loop the only run-time indices are the stage and the thread's t, which are the same
  // for every read: the bounds clamps robustness inserts on workgroup arrays are then computed
  // once per tile instead of once per read, and k, g are constants folded into the address.
  const aRef = (st: string, k: string, rq: string): string => `As[${st}][${k}][(${rq}) / ${WM}u][(${rq}) % ${WM}u]`;
  const bRef = (st: string, k: string, nq: string): string => `Bs[${st}][${k}][(${nq}) / ${WN}u][(${nq}) % ${WN}u]`;
  const elt = vec4 ? 'vec4<f32>' : 'f32';
  const L: string[] = [];
  const e = (s: string): void => {
    L.push(s);
  };

  e(`// matc matmul (tiled): C = ${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'}, tile ${BM}x${BN}x${BK}, thread ${TM}x${TN}, ${vec4 ? 'vec4' : 'scalar'}, ${NBUF} stage(s)${c.prefetch && NBUF === 1 ? ' + register prefetch' : ''}${c.swizzle > 1 ? `, swizzle ${c.swizzle}` : ''}`);
  e(HEADER);
  e(`@group(0) @binding(0) var<storage, read> A: array<${elt}>;`);
  e(`@group(0) @binding(1) var<storage, read> B: array<${elt}>;`);
  e(`@group(0) @binding(2) var<storage, read_write> C: array<${elt}>;`);
  e(`@group(0) @binding(3) var<uniform> P: Params;`);
  e(`var<workgroup> As: array<array<array<array<vec4<f32>, ${WM}>, ${GM}>, ${BK}>, ${NBUF}>;`);
  e(`var<workgroup> Bs: array<array<array<array<vec4<f32>, ${WN}>, ${GN}>, ${BK}>, ${NBUF}>;`);
  e('');
  e(`@compute @workgroup_size(${NT})`);
  e(`fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`);
  e(`  let M = P.M; let N = P.N; let K = P.K;`);
  if (c.swizzle > 1) {
    const G = c.swizzle;
    e(`  let tilesN = (N + ${BN - 1}u) / ${BN}u; let tilesM = (M + ${BM - 1}u) / ${BM}u;`);
    e(`  let lin = wid.y * tilesN + wid.x; let perGroup = ${G}u * tilesN;`);
    e(`  let firstM = (lin / perGroup) * ${G}u; let gsz = min(tilesM - firstM, ${G}u); let inG = lin % perGroup;`);
    e(`  let m0 = (firstM + inG % gsz) * ${BM}u; let n0 = (inG / gsz) * ${BN}u;`);
  } else {
    e(`  let m0 = wid.y * ${BM}u; let n0 = wid.x * ${BN}u;`);
  }
  e(`  let bz = wid.z;`);
  const q = vec4 ? ' / 4u' : '';
  e(`  let aBase = bz * P.strideA${q}; let bBase = bz * P.strideB${q}; let cBase = bz * P.strideC${q};`);
  if (vec4) e(`  let K4 = K / 4u; let M4 = M / 4u; let N4 = N / 4u;`);
  e(`  let lc = lid % ${LC}u; let lr = (lid / ${LC}u) % ${LR}u; let w = lid / ${LC * LR}u;`);
  e(`  let tc = (w % ${WGC}u) * ${LC}u + lc; let tr = (w / ${WGC}u) * ${LR}u + lr;`);
  for (let i = 0; i < TM; i++) for (let h = 0; h < GN; h++) e(`  var c${i}_${h} = vec4<f32>();`);

  // --- global → registers → shared ---------------------------------------------------------
  // Each operand tile has `total` elements of `elt`; invocation lid handles lid + j·NT.
  const perA = vec4 ? (BM * BK) / 4 : BM * BK;
  const perB = vec4 ? (BK * BN) / 4 : BK * BN;
  const nLA = ceilDiv(perA, NT);
  const nLB = ceilDiv(perB, NT);
  for (let j = 0; j < nLA; j++) e(`  var ra${j}: ${elt};`);
  for (let j = 0; j < nLB; j++) e(`  var rb${j}: ${elt};`);

  // A loads for tile starting at k0 into ra*.
  const loadA = (k0: string): string[] => {
    const out: string[] = [];
    for (let j = 0; j < nLA; j++) {
      const guardE = (j + 1) * NT > perA ? ` && e < ${perA}u` : '';
      out.push(`    { let e = lid + ${j * NT}u;`);
      if (!transA) {
        // A[m, k], K contiguous.
        if (vec4) {
          out.push(`      let row = e / ${BK / 4}u; let gm = m0 + row; let gk = ${k0} + (e % ${BK / 4}u) * 4u;`);
          out.push(`      ra${j} = vec4<f32>(); if (gm < M && gk < K${guardE}) { ra${j} = A[aBase + gm * K4 + gk / 4u]; } }`);
        } else {
          out.push(`      let row = e / ${BK}u; let gm = m0 + row; let gk = ${k0} + e % ${BK}u;`);
          out.push(`      ra${j} = 0.0; if (gm < M && gk < K${guardE}) { ra${j} = A[aBase + gm * K + gk]; } }`);
        }
      } else {
        // A stored [K, M], M contiguous.
        if (vec4) {
          out.push(`      let gk = ${k0} + e / ${BM / 4}u; let gm = m0 + (e % ${BM / 4}u) * 4u;`);
          out.push(`      ra${j} = vec4<f32>(); if (gm < M && gk < K${guardE}) { ra${j} = A[aBase + gk * M4 + gm / 4u]; } }`);
        } else {
          out.push(`      let gk = ${k0} + e / ${BM}u; let gm = m0 + e % ${BM}u;`);
          out.push(`      ra${j} = 0.0; if (gm < M && gk < K${guardE}) { ra${j} = A[aBase + gk * M + gm]; } }`);
        }
      }
    }
    return out;
  };
  const loadB = (k0: string): string[] => {
    const out: string[] = [];
    for (let j = 0; j < nLB; j++) {
      const guardE = (j + 1) * NT > perB ? ` && e < ${perB}u` : '';
      out.push(`    { let e = lid + ${j * NT}u;`);
      if (!transB) {
        // B[k, n], N contiguous.
        if (vec4) {
          out.push(`      let gk = ${k0} + e / ${BN / 4}u; let gn = n0 + (e % ${BN / 4}u) * 4u;`);
          out.push(`      rb${j} = vec4<f32>(); if (gn < N && gk < K${guardE}) { rb${j} = B[bBase + gk * N4 + gn / 4u]; } }`);
        } else {
          out.push(`      let gk = ${k0} + e / ${BN}u; let gn = n0 + e % ${BN}u;`);
          out.push(`      rb${j} = 0.0; if (gn < N && gk < K${guardE}) { rb${j} = B[bBase + gk * N + gn]; } }`);
        }
      } else {
        // B stored [N, K], K contiguous.
        if (vec4) {
          out.push(`      let gn = n0 + e / ${BK / 4}u; let gk = ${k0} + (e % ${BK / 4}u) * 4u;`);
          out.push(`      rb${j} = vec4<f32>(); if (gn < N && gk < K${guardE}) { rb${j} = B[bBase + gn * K4 + gk / 4u]; } }`);
        } else {
          out.push(`      let gn = n0 + e / ${BK}u; let gk = ${k0} + e % ${BK}u;`);
          out.push(`      rb${j} = 0.0; if (gn < N && gk < K${guardE}) { rb${j} = B[bBase + gn * K + gk]; } }`);
        }
      }
    }
    return out;
  };
  // Registers → shared stage at vec4 offsets aOff / bOff. Elements past the tile (when the tile
  // has fewer elements than loads × threads) are skipped.
  const storeA = (aOff: string): string[] => {
    const out: string[] = [];
    for (let j = 0; j < nLA; j++) {
      const guard = (j + 1) * NT > perA ? `if (lid + ${j * NT}u < ${perA}u) ` : '';
      out.push(`    ${guard}{ let e = lid + ${j * NT}u;`);
      if (!transA) {
        if (vec4) {
          out.push(`      let row = e / ${BK / 4}u; let kk = (e % ${BK / 4}u) * 4u; let rq = row / 4u; let r = row % 4u;`);
          for (let cc = 0; cc < 4; cc++) out.push(`      ${aRef(aOff, `kk + ${cc}u`, 'rq')}[r] = ra${j}[${cc}];`);
        } else {
          out.push(`      let row = e / ${BK}u; let kk = e % ${BK}u;`);
          out.push(`      ${aRef(aOff, 'kk', 'row / 4u')}[row % 4u] = ra${j};`);
        }
      } else {
        if (vec4) {
          out.push(`      ${aRef(aOff, `e / ${BM / 4}u`, `e % ${BM / 4}u`)} = ra${j};`);
        } else {
          out.push(`      let m = e % ${BM}u; ${aRef(aOff, `e / ${BM}u`, 'm / 4u')}[m % 4u] = ra${j};`);
        }
      }
      out.push('    }');
    }
    return out;
  };
  const storeB = (bOff: string): string[] => {
    const out: string[] = [];
    for (let j = 0; j < nLB; j++) {
      const guard = (j + 1) * NT > perB ? `if (lid + ${j * NT}u < ${perB}u) ` : '';
      out.push(`    ${guard}{ let e = lid + ${j * NT}u;`);
      if (!transB) {
        if (vec4) {
          out.push(`      ${bRef(bOff, `e / ${BN / 4}u`, `e % ${BN / 4}u`)} = rb${j};`);
        } else {
          out.push(`      let n = e % ${BN}u; ${bRef(bOff, `e / ${BN}u`, 'n / 4u')}[n % 4u] = rb${j};`);
        }
      } else {
        if (vec4) {
          out.push(`      let n = e / ${BK / 4}u; let kk = (e % ${BK / 4}u) * 4u; let nq = n / 4u; let r = n % 4u;`);
          for (let cc = 0; cc < 4; cc++) out.push(`      ${bRef(bOff, `kk + ${cc}u`, 'nq')}[r] = rb${j}[${cc}];`);
        } else {
          out.push(`      let n = e / ${BK}u; let kk = e % ${BK}u;`);
          out.push(`      ${bRef(bOff, 'kk', 'n / 4u')}[n % 4u] = rb${j};`);
        }
      }
      out.push('    }');
    }
    return out;
  };
  // The unrolled inner product over one stage (aI/bI: the stage index expressions).
  const compute = (aI: string, bI: string): string[] => {
    const out: string[] = [];
    for (let k = 0; k < BK; k++) {
      const reads: string[] = [];
      for (let g = 0; g < GM; g++) reads.push(`let a${g} = As[${aI}][${k}][${g}][tr];`);
      for (let h = 0; h < GN; h++) reads.push(`let b${h} = Bs[${bI}][${k}][${h}][tc];`);
      out.push(`    { ${reads.join(' ')}`);
      for (let g = 0; g < GM; g++) {
        for (let r = 0; r < 4; r++) {
          const i = g * 4 + r;
          const comp = 'xyzw'[r];
          out.push('      ' + Array.from({ length: GN }, (_, h) => `c${i}_${h} = fma(vec4<f32>(a${g}.${comp}), b${h}, c${i}_${h});`).join(' '));
        }
      }
      out.push('    }');
    }
    return out;
  };

  e(`  let numTiles = (K + ${BK - 1}u) / ${BK}u;`);
  if (c.doubleBuffer) {
    e(`  if (numTiles > 0u) {`);
    L.push(...loadA('0u'), ...loadB('0u'), ...storeA('0u'), ...storeB('0u'));
    e(`  }`);
    e(`  workgroupBarrier();`);
    e(`  for (var t = 0u; t < numTiles; t++) {`);
    e(`    let cur = t & 1u;`);
    e(`    let hasNext = t + 1u < numTiles;`);
    e(`    let kn = (t + 1u) * ${BK}u;`);
    e(`    if (hasNext) {`);
    L.push(...loadA('kn'), ...loadB('kn'));
    e(`    }`);
    L.push(...compute('cur', 'cur'));
    e(`    if (hasNext) {`);
    e(`      let nxt = 1u - cur;`);
    L.push(...storeA('nxt'), ...storeB('nxt'));
    e(`    }`);
    e(`    workgroupBarrier();`);
    e(`  }`);
  } else if (c.prefetch) {
    e(`  if (numTiles > 0u) {`);
    L.push(...loadA('0u'), ...loadB('0u'));
    e(`  }`);
    e(`  for (var t = 0u; t < numTiles; t++) {`);
    L.push(...storeA('0u'), ...storeB('0u'));
    e(`    workgroupBarrier();`);
    e(`    if (t + 1u < numTiles) {`);
    e(`      let kn = (t + 1u) * ${BK}u;`);
    L.push(...loadA('kn'), ...loadB('kn'));
    e(`    }`);
    L.push(...compute('0', '0'));
    e(`    workgroupBarrier();`);
    e(`  }`);
  } else {
    e(`  for (var t = 0u; t < numTiles; t++) {`);
    e(`    let k0 = t * ${BK}u;`);
    L.push(...loadA('k0'), ...loadB('k0'), ...storeA('0u'), ...storeB('0u'));
    e(`    workgroupBarrier();`);
    L.push(...compute('0', '0'));
    e(`    workgroupBarrier();`);
    e(`  }`);
  }

  // --- epilogue: C[row, col..col+3] ---------------------------------------------------------
  for (let g = 0; g < GM; g++) {
    for (let r = 0; r < 4; r++) {
      const i = g * 4 + r;
      e(`  { let row = m0 + ${g * WM * 4 + r}u + tr * 4u;`);
      e(`    if (row < M) {`);
      for (let h = 0; h < GN; h++) {
        e(`      { let col = n0 + ${h * WN * 4}u + tc * 4u;`);
        if (vec4) {
          e(`        if (col < N) { C[cBase + row * N4 + col / 4u] = c${i}_${h}; } }`);
        } else {
          e(`        let o = cBase + row * N + col;`);
          for (let cc = 0; cc < 4; cc++) e(`        if (col + ${cc}u < N) { C[o + ${cc}u] = c${i}_${h}[${cc}]; }`);
          e(`      }`);
        }
      }
      e(`    } }`);
    }
  }
  e(`}`);
  return { wgsl: L.join('\n') + '\n', threads: NT, workgroupBytes: 16 * NBUF * BK * (BM / 4 + BN / 4) };
}

function splitKWgsl(c: MatmulConfig): { wgsl: string; threads: number; workgroupBytes: number } {
  const { threadM: TM, threadN: TN, splitThreads: WG, transA, transB } = c;
  const MAXSG = WG / 4; // WGSL guarantees subgroups of at least 4 invocations
  const L: string[] = [];
  const e = (s: string): void => {
    L.push(s);
  };
  e(`enable subgroups;`);
  e(`// matc matmul (subgroup split-K): C = ${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'}, ${TM}x${TN} outputs per workgroup of ${WG}`);
  e(HEADER);
  e(`@group(0) @binding(0) var<storage, read> A: array<f32>;`);
  e(`@group(0) @binding(1) var<storage, read> B: array<f32>;`);
  e(`@group(0) @binding(2) var<storage, read_write> C: array<f32>;`);
  e(`@group(0) @binding(3) var<uniform> P: Params;`);
  e(`var<workgroup> part: array<f32, ${MAXSG * TM * TN}>;`);
  e(`var<workgroup> slots: atomic<u32>;`);
  e('');
  e(`@compute @workgroup_size(${WG})`);
  e(`fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sgi: u32) {`);
  e(`  let M = P.M; let N = P.N; let K = P.K;`);
  e(`  let m0 = wid.y * ${TM}u; let n0 = wid.x * ${TN}u; let bz = wid.z;`);
  e(`  let aBase = bz * P.strideA; let bBase = bz * P.strideB; let cBase = bz * P.strideC;`);
  e(`  if (lid == 0u) { atomicStore(&slots, 0u); }`);
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN; j++) e(`  var s${i}_${j} = 0.0;`);
  // Rows/columns past the matrix read index 0 (always valid when the matrix is non-empty) and
  // contribute to sums that are never stored.
  for (let i = 0; i < TM; i++) e(`  let rA${i} = select(0u, m0 + ${i}u, m0 + ${i}u < M);`);
  for (let j = 0; j < TN; j++) e(`  let cB${j} = select(0u, n0 + ${j}u, n0 + ${j}u < N);`);
  e(`  for (var k = lid; k < K; k += ${WG}u) {`);
  for (let i = 0; i < TM; i++) e(`    let a${i} = A[aBase + ${transA ? `k * M + rA${i}` : `rA${i} * K + k`}];`);
  for (let j = 0; j < TN; j++) e(`    let b${j} = B[bBase + ${transB ? `cB${j} * K + k` : `k * N + cB${j}`}];`);
  for (let i = 0; i < TM; i++) e('    ' + Array.from({ length: TN }, (_, j) => `s${i}_${j} = fma(a${i}, b${j}, s${i}_${j});`).join(' '));
  e(`  }`);
  e(`  workgroupBarrier();`);
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN; j++) e(`  let t${i}_${j} = subgroupAdd(s${i}_${j});`);
  e(`  if (sgi == 0u) {`);
  e(`    let slot = atomicAdd(&slots, 1u) * ${TM * TN}u;`);
  for (let i = 0; i < TM; i++) for (let j = 0; j < TN; j++) e(`    part[slot + ${i * TN + j}u] = t${i}_${j};`);
  e(`  }`);
  e(`  workgroupBarrier();`);
  e(`  let nsg = atomicLoad(&slots);`);
  e(`  if (lid < ${TM * TN}u) {`);
  e(`    var acc = 0.0;`);
  e(`    for (var q = 0u; q < nsg; q++) { acc += part[q * ${TM * TN}u + lid]; }`);
  e(`    let row = m0 + lid / ${TN}u; let col = n0 + lid % ${TN}u;`);
  e(`    if (row < M && col < N) { C[cBase + row * N + col] = acc; }`);
  e(`  }`);
  e(`}`);
  return { wgsl: L.join('\n') + '\n', threads: WG, workgroupBytes: 4 * MAXSG * TM * TN + 4 };
}

export interface MatmulCaps {
  subgroups: boolean;
  maxWorkgroupStorage: number;
  maxInvocations: number;
}

/** Tile shapes the chooser picks from, largest first (measured on an H100, bench/RESULTS.md):
 *  128×128 with 8×8 per invocation, tileK 16, one stage plus register prefetch reached
 *  39.2 TFLOP/s at 4096³ (75 % of cuBLAS without TF32) and 37.9 at 2048³, ahead of every
 *  two-stage variant (which lost 10–40 %); 64×128 won at 1024³ and 32×32 at 512³ and 256³, where
 *  the big tile leaves SMs idle (fewer than ~2 workgroups per SM). */
export const MATMUL_TILES = {
  large: { tileM: 128, tileN: 128, tileK: 16, threadM: 8, threadN: 8, doubleBuffer: false, prefetch: true },
  wide: { tileM: 64, tileN: 128, tileK: 16, threadM: 8, threadN: 8, doubleBuffer: false, prefetch: false },
  medium: { tileM: 64, tileN: 64, tileK: 16, threadM: 8, threadN: 8, doubleBuffer: false, prefetch: false },
  small: { tileM: 32, tileN: 32, tileK: 8, threadM: 4, threadN: 4, doubleBuffer: false, prefetch: true },
} as const satisfies Record<string, Partial<MatmulConfig>>;

/** The configuration the scheduler should use for these sizes on a device with `caps`: the
 *  largest tile that still gives the GPU enough workgroups, split-K over subgroups for small
 *  outputs with long K, vec4 whenever the sizes are aligned. */
export function chooseMatmulConfig(d: MatmulDims, caps: MatmulCaps, base: Partial<MatmulConfig> = {}): MatmulConfig {
  const batch = d.batch ?? 1;
  const pick = (c: Partial<MatmulConfig>): MatmulConfig => {
    const cfg: MatmulConfig = { ...DEFAULT_MATMUL_CONFIG, ...base, ...c };
    if (cfg.variant === 'tiled' && cfg.vec4 && matmulSupports(cfg, d) !== null) cfg.vec4 = false;
    return cfg;
  };
  const tiles = (bm: number, bn: number): number => ceilDiv(d.M, bm) * ceilDiv(d.N, bn) * batch;
  if (caps.subgroups && tiles(64, 64) < 32 && d.K >= 4096 && batch <= 65535) {
    return pick({ variant: 'subgroup-splitk', threadM: 4, threadN: 4, splitThreads: 256 });
  }
  const fits = (c: Partial<MatmulConfig>): boolean => {
    const k = matmulKernel({ ...base, ...c });
    return k.workgroupBytes <= caps.maxWorkgroupStorage && k.workgroupSize[0] <= caps.maxInvocations;
  };
  const T = MATMUL_TILES;
  if (tiles(128, 128) >= 256 && fits(T.large)) return pick({ ...T.large, swizzle: tiles(128, 128) >= 512 ? 8 : 0 });
  if (tiles(64, 128) >= 128 && fits(T.wide)) return pick({ ...T.wide, swizzle: 0 });
  if (tiles(64, 64) >= 128 && fits(T.medium)) return pick({ ...T.medium, swizzle: 0 });
  return pick({ ...T.small, swizzle: 0 });
}
/** A one-launch GpuPlan computing C = op(A)·op(B) with buffers 'A', 'B' (inputs), 'C' (output)
 *  and 'params' (uniform), for tests, benchmarks and simple schedules. */
export function matmulPlan(d: MatmulDims, kernel: MatmulKernel): GpuPlan {
  const why = kernel.supports(d);
  if (why !== null) throw new Error(`matmulPlan: ${why}`);
  const s = strides(d);
  const need = (stride: number, one: number): number => 4 * Math.max(1, one, stride * (s.batch - 1) + one);
  return {
    kernels: { matmul: { wgsl: kernel.wgsl, entryPoint: kernel.entryPoint } },
    buffers: [
      { name: 'A', bytes: need(s.sA, d.M * d.K), kind: 'input' },
      { name: 'B', bytes: need(s.sB, d.K * d.N), kind: 'input' },
      { name: 'C', bytes: need(s.sC, d.M * d.N), kind: 'output' },
      { name: 'params', bytes: 32, kind: 'uniform' },
    ],
    launches: [
      {
        kernel: 'matmul',
        label: 'matmul',
        bindings: kernel.bindings.map((b) => ({ binding: b.binding, buffer: b.name, access: b.access })),
        workgroups: kernel.workgroups(d),
      },
    ],
    outputs: ['C'],
  };
}
