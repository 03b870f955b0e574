// GPU benchmarks of matc's kernel templates on whatever adapter Dawn finds (an H100 through the
// NVIDIA Vulkan driver, lavapipe on CPU-only machines):
//   node dist/bench/gpu-bench.js [--quick] [--json out.json] [--defaults-only] [--tune]
//                                [--only copy,mm4096,bmm8,gram,...] [--toggles disable_robustness,...]
//                                [--iterations N]
// Cases: copy 256 MiB; f32 matmul 256…4096 (square); batched small matmul 65536 × n×n for
// n = 8, 16, 32, 64; a small-output long-K product (gram). Each case times the templates' default
// configuration and a handful of candidates in the same process and reports the fastest, keeping
// the default's time in the row (--defaults-only: defaults alone). --quick shrinks every case so a
// lavapipe run takes a minute. --tune adds wider sweeps (tile shapes, register blocks, vec4, stages;
// copy widths; batched-small layouts). Every run checks its output: NaN-poisoned beforehand, all
// entries written, sampled entries against an f64 host reference. Exit code 1 if a check fails.

import { createGpuContext, getNodeGPU, type GpuContext } from '../runtime/webgpu/device.js';
import { MATMUL_TILES, chooseMatmulConfig, matmulKernel, matmulPlan, type MatmulConfig, type MatmulDims } from '../compiler/codegen/wgsl/templates/matmul.js';
import { copyKernel, copyPlan, type CopyConfig } from '../compiler/codegen/wgsl/templates/copy.js';
import { batchedSmallMatmulKernel, batchedSmallMatmulPlan, defaultBatchedSmallConfig, type BatchedSmallConfig } from '../compiler/codegen/wgsl/templates/batched-small-matmul.js';
import { fillNaN, fillRandom, formatTable, makeResult, parseArgs, randomAt, readRange, resident, timeResident, withCeilings, writeJson, type BenchArgs, type BenchResult } from './harness.js';

const MiB = 1 << 20;

function relErrOf(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < got.length; i++) {
    if (!Number.isFinite(got[i]!)) return Infinity;
    num += (got[i]! - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}

async function benchCopy(ctx: GpuContext, name: string, floats: number, cfg: Partial<CopyConfig>, a: BenchArgs): Promise<BenchResult> {
  const k = copyKernel(cfg);
  const r = await resident(ctx, copyPlan(floats, k), name);
  try {
    const dev = r.device;
    fillRandom(dev, r.buffer('src'), floats * 4, 11);
    fillNaN(dev, r.buffer('dst'), floats * 4);
    dev.queue.writeBuffer(r.buffer('params'), 0, k.uniforms(floats));
    const t = await timeResident(r, { iterations: a.iterations });
    // Check three windows: start, middle, end.
    let err = 0;
    for (const start of [0, Math.floor(floats / 2), floats - 4096]) {
      const got = await readRange(dev, r.buffer('dst'), start, 4096);
      const ref = Array.from({ length: 4096 }, (_, i) => randomAt(11, floats * 4, start + i));
      err = Math.max(err, relErrOf(got, ref));
    }
    return makeResult(name, 'copy', 2 * floats * 4, 0, t, { relErr: err, params: { ...k.config, floats } });
  } finally {
    r.release();
  }
}

async function benchMatmul(ctx: GpuContext, name: string, d: MatmulDims, cfg: MatmulConfig, a: BenchArgs, kind: 'gemm' | 'other' = 'gemm'): Promise<BenchResult> {
  const k = matmulKernel(cfg);
  const { M, N, K } = d;
  const r = await resident(ctx, matmulPlan(d, k), name);
  try {
    const dev = r.device;
    fillRandom(dev, r.buffer('A'), M * K * 4, 21);
    fillRandom(dev, r.buffer('B'), K * N * 4, 22);
    fillNaN(dev, r.buffer('C'), M * N * 4);
    dev.queue.writeBuffer(r.buffer('params'), 0, k.uniforms(d));
    const t = await timeResident(r, { iterations: a.iterations });
    // Every element written (no NaN left), and 64 sampled entries against an f64 dot product.
    const C = await readRange(dev, r.buffer('C'), 0, M * N);
    let finite = true;
    for (let i = 0; i < C.length; i++) if (!Number.isFinite(C[i]!)) finite = false;
    const got: number[] = [];
    const ref: number[] = [];
    const rows = Array.from({ length: 8 }, (_, i) => Math.floor(((i + 0.5) * M) / 8));
    const cols = Array.from({ length: 8 }, (_, j) => Math.floor(((j + 0.37) * N) / 8));
    const aRow = new Float64Array(K);
    for (const i of rows) {
      for (let kk = 0; kk < K; kk++) aRow[kk] = cfg.transA ? randomAt(21, M * K * 4, kk * M + i) : randomAt(21, M * K * 4, i * K + kk);
      for (const j of cols) {
        let s = 0;
        for (let kk = 0; kk < K; kk++) s += aRow[kk]! * (cfg.transB ? randomAt(22, K * N * 4, j * K + kk) : randomAt(22, K * N * 4, kk * N + j));
        got.push(C[i * N + j]!);
        ref.push(s);
      }
    }
    const relErr = finite ? relErrOf(got, ref) : Infinity;
    return makeResult(name, kind, 4 * (M * K + K * N + M * N), 2 * M * N * K, t, { relErr, params: { ...k.config } });
  } finally {
    r.release();
  }
}

async function benchBatched(ctx: GpuContext, name: string, count: number, cfg: BatchedSmallConfig, a: BenchArgs): Promise<BenchResult> {
  const k = batchedSmallMatmulKernel(cfg);
  const n = cfg.n;
  const bytes = count * n * n * 4;
  const r = await resident(ctx, batchedSmallMatmulPlan(count, k), name);
  try {
    const dev = r.device;
    fillRandom(dev, r.buffer('A'), bytes, 31);
    fillRandom(dev, r.buffer('B'), bytes, 32);
    fillNaN(dev, r.buffer('C'), bytes);
    dev.queue.writeBuffer(r.buffer('params'), 0, k.uniforms(count));
    const t = await timeResident(r, { iterations: a.iterations });
    let err = 0;
    for (const inst of [0, 1, Math.floor(count / 3), count - 2, count - 1]) {
      const base = inst * n * n;
      const got = await readRange(dev, r.buffer('C'), base, n * n);
      const ref = new Float64Array(n * n);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let kk = 0; kk < n; kk++) s += randomAt(31, bytes, base + i * n + kk) * randomAt(32, bytes, base + kk * n + j);
          ref[i * n + j] = s;
        }
      err = Math.max(err, relErrOf(got, ref));
    }
    return makeResult(name, 'bmm', 3 * bytes, 2 * count * n * n * n, t, { relErr: err, params: { ...k.config, count } });
  } finally {
    r.release();
  }
}

function caps(ctx: GpuContext): { subgroups: boolean; maxWorkgroupStorage: number; maxInvocations: number } {
  return { subgroups: ctx.features.subgroups, maxWorkgroupStorage: ctx.limits.maxComputeWorkgroupStorageSize, maxInvocations: ctx.limits.maxComputeInvocationsPerWorkgroup };
}

/** Kernel-parameter sweeps for --tune. */
function matmulSweep(): Partial<MatmulConfig>[] {
  const out: Partial<MatmulConfig>[] = [];
  for (const [tileM, tileN, threadM, threadN] of [
    [128, 128, 8, 8],
    [128, 64, 8, 8],
    [64, 128, 8, 8],
    [64, 64, 4, 4],
    [64, 64, 8, 8],
    [128, 128, 8, 4],
    [128, 256, 8, 16],
    [256, 128, 16, 8],
  ] as const) {
    for (const tileK of [8, 16]) {
      for (const [doubleBuffer, prefetch] of [
        [true, false],
        [false, false],
        [false, true],
      ] as const) {
        out.push({ tileM, tileN, threadM, threadN, tileK, doubleBuffer, prefetch, swizzle: 0 });
      }
    }
  }
  out.push({ tileM: 128, tileN: 128, threadM: 8, threadN: 8, tileK: 8, doubleBuffer: true, swizzle: 8 });
  out.push({ tileM: 128, tileN: 128, threadM: 8, threadN: 8, tileK: 8, doubleBuffer: true, swizzle: 4 });
  out.push({ tileM: 128, tileN: 128, threadM: 8, threadN: 8, tileK: 16, doubleBuffer: false, swizzle: 8 });
  out.push({ tileM: 128, tileN: 128, threadM: 8, threadN: 8, tileK: 8, doubleBuffer: true, vec4: false });
  out.push({ tileM: 64, tileN: 64, threadM: 4, threadN: 4, tileK: 8, doubleBuffer: true, vec4: false });
  return out;
}

function batchedSweep(n: number): BatchedSmallConfig[] {
  const out: BatchedSmallConfig[] = [defaultBatchedSmallConfig(n)];
  const blocks: [number, number][] = [
    [1, 4],
    [2, 4],
    [4, 4],
    [4, 8],
    [8, 8],
  ];
  for (const [tr, tc] of blocks) {
    if (n % tr !== 0 || n % tc !== 0) continue;
    const tpi = (n / tr) * (n / tc);
    for (const g of [1, 2, 4, 8, 16, 32]) {
      const nt = g * tpi;
      if (nt < 32 || nt > 256) continue;
      for (const kc of n > 32 ? [16, 32] : [n]) {
        const c = { n, instances: g, threadRows: tr, threadCols: tc, kChunk: kc };
        const k = batchedSmallMatmulKernel(c);
        if (k.workgroupBytes > 32768) continue;
        if (!out.some((o) => JSON.stringify(o) === JSON.stringify(c))) out.push(c);
      }
    }
  }
  return out;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const gpu = await getNodeGPU({ enableToggles: a.enableToggles });
  if (gpu === null) {
    console.error('gpu-bench: no WebGPU adapter (install lavapipe: .ci/install-lavapipe.sh)');
    process.exit(2);
  }
  const ctx = await createGpuContext({ gpu, powerPreference: 'high-performance' });
  const header = `${ctx.details()}${a.enableToggles.length > 0 ? ` toggles=${a.enableToggles.join(',')}` : ''}`;
  console.log(header);
  const want = (name: string): boolean => a.only.length === 0 || a.only.some((o) => name.startsWith(o));
  const results: BenchResult[] = [];
  const tune: BenchResult[] = [];
  const candidates: BenchResult[] = [];
  let failures = 0;
  const run = async (list: BenchResult[], f: () => Promise<BenchResult>, label: string): Promise<void> => {
    try {
      const r = await f();
      list.push(r);
      console.log(`  ${r.name.padEnd(28)} ${r.medianMs.toFixed(4).padStart(10)} ms ${r.gbps.toFixed(1).padStart(8)} GB/s ${r.gflops.toFixed(1).padStart(9)} GFLOP/s err ${r.relErr?.toExponential(1) ?? '-'}${list === tune ? ' ' + JSON.stringify(r.params) : ''}`);
    } catch (e) {
      if (list === results) failures++;
      console.log(`  ${label}: FAILED ${(e as Error).message.split('\n').slice(0, 3).join(' | ')}`);
    }
  };
  const mmSizes = a.quick ? [64, 128, 256] : [256, 512, 1024, 2048, 4096];
  const copyFloats = (a.quick ? 16 * MiB : 256 * MiB) / 4;
  const bmmCount = a.quick ? 256 : 65536;
  const c = caps(ctx);

  if (a.tune) {
    console.log('tune: copy');
    for (const cfg of [
      { workgroupSize: 256, perThread: 1 },
      { workgroupSize: 256, perThread: 2 },
      { workgroupSize: 256, perThread: 4 },
      { workgroupSize: 256, perThread: 8 },
      { workgroupSize: 128, perThread: 4 },
      { workgroupSize: 512, perThread: 4 },
      { workgroupSize: 1024, perThread: 2 },
      { workgroupSize: 64, perThread: 8 },
    ]) {
      if (want('copy')) await run(tune, () => benchCopy(ctx, `copy wg${cfg.workgroupSize}x${cfg.perThread}`, copyFloats, cfg, a), 'copy');
    }
    for (const s of a.quick ? [256] : [4096, 1024]) {
      if (!want(`mm${s}`)) continue;
      console.log(`tune: matmul ${s}`);
      for (const p of matmulSweep()) {
        const cfg = { ...chooseMatmulConfig({ M: s, N: s, K: s }, c), ...p } as MatmulConfig;
        const k = matmulKernel(cfg);
        if (k.workgroupBytes > c.maxWorkgroupStorage || k.workgroupSize[0] > c.maxInvocations) continue;
        const tag = `${cfg.tileM}x${cfg.tileN}x${cfg.tileK}/${cfg.threadM}x${cfg.threadN}${cfg.doubleBuffer ? '/db' : ''}${cfg.vec4 ? '' : '/scalar'}${cfg.swizzle > 1 ? `/sw${cfg.swizzle}` : ''}`;
        await run(tune, () => benchMatmul(ctx, `mm${s} ${tag}`, { M: s, N: s, K: s }, cfg, a), tag);
      }
    }
    for (const n of [8, 16, 32, 64]) {
      if (!want(`bmm${n}`)) continue;
      console.log(`tune: batched ${n}`);
      for (const cfg of batchedSweep(n)) {
        const tag = `g${cfg.instances}/${cfg.threadRows}x${cfg.threadCols}/kc${cfg.kChunk}`;
        await run(tune, () => benchBatched(ctx, `bmm${n} ${tag}`, bmmCount, cfg, a), tag);
      }
    }
  }

  // Each case runs the default configuration and a few candidates in the same process; the row
  // reports the fastest (its parameters and the default's time are kept in the row), and every
  // candidate is logged in `candidates`. --defaults-only times the defaults alone.
  console.log('cases');
  const best = async (name: string, runs: (() => Promise<BenchResult>)[]): Promise<BenchResult> => {
    const got: BenchResult[] = [];
    for (const [i, f] of runs.entries()) {
      if (i > 0 && a.defaultsOnly) break;
      try {
        const r = await f();
        got.push(r);
        candidates.push(r);
        console.log(`    ${i === 0 ? 'default ' : 'candidate'} ${r.medianMs.toFixed(4).padStart(10)} ms  err ${r.relErr?.toExponential(1) ?? '-'}  ${JSON.stringify(r.params)}`);
      } catch (e) {
        console.log(`    candidate failed: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    const ok = got.filter((r) => r.relErr !== undefined && r.relErr < 1e-4);
    if (ok.length === 0) throw new Error(`${name}: no candidate ran correctly`);
    const top = ok.reduce((x, y) => (y.medianMs < x.medianMs ? y : x));
    return { ...top, name, note: top === got[0] ? 'default' : `best of ${got.length}; default ${got[0]!.medianMs.toFixed(4)} ms`, defaultMs: got[0]!.medianMs };
  };
  const uniq = <T,>(xs: T[]): T[] => xs.filter((x, i) => xs.findIndex((y) => JSON.stringify(y) === JSON.stringify(x)) === i);
  if (want('copy')) {
    const cands = uniq([{}, { workgroupSize: 256, perThread: 1 }, { workgroupSize: 256, perThread: 2 }, { workgroupSize: 512, perThread: 4 }, { workgroupSize: 128, perThread: 4 }].map((x) => ({ ...copyKernel(x).config })));
    await run(results, () => best(`copy ${(copyFloats * 4) / MiB} MiB`, cands.map((cfg) => () => benchCopy(ctx, `copy ${(copyFloats * 4) / MiB} MiB`, copyFloats, cfg, a))), 'copy');
  }
  for (const s of mmSizes) {
    const d = { M: s, N: s, K: s };
    if (!want(`mm${s}`)) continue;
    const T = MATMUL_TILES;
    const base = chooseMatmulConfig(d, c);
    const cands = uniq([
      base,
      ...[
        { ...T.large, swizzle: s >= 4096 ? 8 : 0 },
        { ...T.large, prefetch: true, swizzle: s >= 4096 ? 8 : 0 },
        { ...T.large, tileK: 32, swizzle: s >= 4096 ? 8 : 0 },
        { tileM: 128, tileN: 256, tileK: 16, threadM: 8, threadN: 16, doubleBuffer: false, prefetch: false, swizzle: s >= 4096 ? 8 : 0 },
        T.wide,
        { ...T.wide, prefetch: true },
        T.medium,
        { tileM: 64, tileN: 64, tileK: 16, threadM: 4, threadN: 4, doubleBuffer: true, prefetch: false },
        T.small,
        { ...T.small, tileK: 16, prefetch: false },
        { ...T.small, doubleBuffer: true, prefetch: false },
      ]
        .map((p) => ({ ...base, swizzle: 0, ...p }) as MatmulConfig)
        .filter((cfg) => {
          const k = matmulKernel(cfg);
          const tiles = Math.ceil(s / cfg.tileM) * Math.ceil(s / cfg.tileN);
          return k.workgroupBytes <= c.maxWorkgroupStorage && k.workgroupSize[0] <= c.maxInvocations && tiles >= 16;
        }),
    ]);
    await run(results, () => best(`matmul ${s}`, cands.map((cfg) => () => benchMatmul(ctx, `matmul ${s}`, d, cfg, a))), `matmul ${s}`);
  }
  for (const n of [8, 16, 32, 64]) {
    if (!want(`bmm${n}`)) continue;
    const extra: Partial<BatchedSmallConfig>[] =
      n === 8
        ? [{ instances: 4, threadRows: 1, threadCols: 4 }, { instances: 8, threadRows: 1, threadCols: 4 }, { instances: 2, threadRows: 1, threadCols: 4 }, { instances: 16, threadRows: 2, threadCols: 4 }, { instances: 8, threadRows: 2, threadCols: 4 }, { instances: 16, threadRows: 1, threadCols: 4 }]
        : n === 16
          ? [{ instances: 1, threadRows: 2, threadCols: 4 }, { instances: 2, threadRows: 2, threadCols: 4 }, { instances: 1, threadRows: 1, threadCols: 4 }, { instances: 4, threadRows: 2, threadCols: 4 }, { instances: 4, threadRows: 4, threadCols: 4 }, { instances: 2, threadRows: 4, threadCols: 4 }]
          : n === 32
            ? [{ instances: 1, threadRows: 2, threadCols: 4, kChunk: 32 }, { instances: 1, threadRows: 4, threadCols: 4, kChunk: 32 }, { instances: 1, threadRows: 2, threadCols: 4, kChunk: 16 }, { instances: 1, threadRows: 4, threadCols: 4, kChunk: 16 }, { instances: 2, threadRows: 4, threadCols: 4, kChunk: 16 }, { instances: 1, threadRows: 1, threadCols: 4, kChunk: 32 }]
            : [{ instances: 1, threadRows: 4, threadCols: 4, kChunk: 16 }, { instances: 1, threadRows: 4, threadCols: 4, kChunk: 32 }, { instances: 1, threadRows: 4, threadCols: 8, kChunk: 16 }, { instances: 1, threadRows: 8, threadCols: 8, kChunk: 16 }, { instances: 1, threadRows: 4, threadCols: 4, kChunk: 8 }, { instances: 1, threadRows: 2, threadCols: 4, kChunk: 16 }];
    const cands = uniq([defaultBatchedSmallConfig(n), ...extra.map((x) => ({ ...defaultBatchedSmallConfig(n), ...x, n }))]).filter((cfg) => {
      const k = batchedSmallMatmulKernel(cfg);
      return k.workgroupBytes <= c.maxWorkgroupStorage && k.workgroupSize[0] <= c.maxInvocations;
    });
    await run(results, () => best(`bmm ${bmmCount}x${n}x${n}`, cands.map((cfg) => () => benchBatched(ctx, `bmm ${bmmCount}x${n}x${n}`, bmmCount, cfg, a))), `bmm ${n}`);
  }
  // Small output, long K (XᵀY of tall matrices): the subgroup split-K variant where the device has
  // subgroups, against the tiled kernel.
  const gramK = a.quick ? 16384 : 262144;
  if (want('gram')) {
    const d = { M: 16, N: 16, K: gramK };
    const base = { ...chooseMatmulConfig(d, c), transA: true };
    const cands = uniq([base, { ...base, variant: 'tiled' as const, ...MATMUL_TILES.small, vec4: true }]);
    await run(results, () => best(`gram 16x16x${gramK}`, cands.map((cfg) => () => benchMatmul(ctx, `gram 16x16x${gramK}`, d, cfg, a, 'other'))), 'gram');
  }
  const all = withCeilings(results);
  console.log('');
  console.log(formatTable(all.results));
  console.log(`ceilings: bandwidth ${all.bandwidthGBs.toFixed(1)} GB/s (best copy), compute ${all.computeGflops.toFixed(1)} GFLOP/s (best GEMM)`);
  if (a.json !== undefined) {
    writeJson(a.json, { device: ctx.describe(), details: header, date: new Date().toISOString(), quick: a.quick, ceilings: { bandwidthGBs: all.bandwidthGBs, computeGflops: all.computeGflops }, results: all.results, candidates, tune });
  }
  ctx.destroy();
  process.exit(failures > 0 || results.some((r) => !(r.relErr !== undefined && r.relErr < 1e-4)) ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
