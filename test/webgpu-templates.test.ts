// The WGSL kernel templates against f64 CPU references at awkward sizes (1×1×1, sizes that are not
// multiples of any tile or of 4, batches, every transpose combination), on a real adapter. Outputs
// are compared by ‖out − ref‖/‖ref‖, which is ~1e-7 for correct f32 code and ~1 for a wrong index.
// Small tile shapes keep lavapipe's shader JIT fast; the large default tile used on big GPUs is
// covered once at a size that exercises its edge tiles.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { batchedSmallMatmulKernel, batchedSmallMatmulPlan, defaultBatchedSmallConfig } from '../compiler/codegen/wgsl/templates/batched-small-matmul.js';
import { copyKernel, copyPlan } from '../compiler/codegen/wgsl/templates/copy.js';
import { foldGrid } from '../compiler/codegen/wgsl/templates/kernel.js';
import { chooseMatmulConfig, matmulKernel, matmulPlan, matmulSupports, type MatmulConfig, type MatmulDims } from '../compiler/codegen/wgsl/templates/matmul.js';
import { runPlan } from '../runtime/webgpu/executor.js';
import type { GpuContext } from '../runtime/webgpu/device.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { matmulRef, randomF32, relErr } from './gpu-reference.js';

after(releaseSharedGpu);

const TOL = 2e-6;
const SMALL: Partial<MatmulConfig> = { tileM: 32, tileN: 32, tileK: 8, threadM: 4, threadN: 4 };

async function checkMatmul(ctx: GpuContext, d: MatmulDims & { transA?: boolean; transB?: boolean }, cfg: Partial<MatmulConfig>, seed: number): Promise<number> {
  let k = matmulKernel({ ...cfg, transA: d.transA ?? false, transB: d.transB ?? false });
  if (k.supports(d) !== null) k = matmulKernel({ ...k.config, vec4: false });
  const batch = d.batch ?? 1;
  const A = randomF32(batch * d.M * d.K, seed);
  const B = randomF32(batch * d.K * d.N, seed + 1);
  const r = await runPlan(ctx, matmulPlan(d, k), { A, B, params: k.uniforms(d) });
  return relErr(r.outputs.C!, matmulRef(A, B, d));
}

test('tiled matmul matches the f64 reference at awkward sizes (vec4 and scalar paths)', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  const cases: (MatmulDims & { vec4?: boolean })[] = [
    { M: 1, N: 1, K: 1 },
    { M: 33, N: 65, K: 17 },
    { M: 127, N: 129, K: 63 },
    { M: 64, N: 64, K: 64, batch: 3 },
    { M: 36, N: 44, K: 20 }, // multiples of 4, not of the tile: vec4 path with edge tiles
    { M: 36, N: 44, K: 20, vec4: false },
  ];
  for (const [i, d] of cases.entries()) {
    const cfg = { ...SMALL, vec4: d.vec4 ?? true };
    const e = await checkMatmul(ctx, d, cfg, 100 + i);
    assert.ok(e < TOL, `${JSON.stringify(d)}: rel err ${e}`);
  }
});

test('transposed matmul variants match the reference (vec4 and scalar loads)', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  // A 16×16 tile keeps lavapipe's JIT short; the index math is the same for every tile shape.
  const tiny = { tileM: 16, tileN: 16, tileK: 4, threadM: 4, threadN: 4 };
  for (const [transA, transB] of [
    [false, true],
    [true, false],
    [true, true],
  ] as const) {
    for (const d of [
      { M: 33, N: 65, K: 17 }, // scalar loads
      { M: 40, N: 36, K: 28, batch: 3 }, // vec4 loads, edge tiles
    ]) {
      const e = await checkMatmul(ctx, { ...d, transA, transB }, tiny, 7);
      assert.ok(e < TOL, `transA=${transA} transB=${transB} ${JSON.stringify(d)}: rel err ${e}`);
    }
  }
});

test('matmul pipelining variants (one stage, register prefetch, two stages) agree with the reference', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  const tiny = { tileM: 16, tileN: 16, tileK: 4, threadM: 4, threadN: 4 };
  for (const pipe of [
    { doubleBuffer: false, prefetch: true },
    { doubleBuffer: true, prefetch: false },
  ]) {
    for (const d of [
      { M: 37, N: 19, K: 45 }, // scalar loads, K not a multiple of tileK
      { M: 20, N: 36, K: 44, batch: 2 }, // vec4 loads, 11 K steps
    ]) {
      const e = await checkMatmul(ctx, d, { ...tiny, ...pipe }, 13);
      assert.ok(e < TOL, `${JSON.stringify(pipe)} ${JSON.stringify(d)}: ${e}`);
    }
  }
});

test('matmul batch strides: a broadcast operand (stride 0) and a padded output', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  const d = { M: 20, N: 12, K: 16, batch: 4, strideB: 0, strideC: 20 * 12 + 8 };
  const k = matmulKernel({ ...SMALL });
  assert.equal(k.supports(d), null);
  const A = randomF32(d.batch * d.M * d.K, 3);
  const B = randomF32(d.K * d.N, 4);
  const r = await runPlan(ctx, matmulPlan(d, k), { A, B, params: k.uniforms(d) });
  const ref = matmulRef(A, B, d);
  const C = r.outputs.C!;
  for (let b = 0; b < d.batch; b++) {
    const got = C.subarray(b * d.strideC, b * d.strideC + d.M * d.N);
    const want = ref.subarray(b * d.strideC, b * d.strideC + d.M * d.N);
    assert.ok(relErr(got, want) < TOL, `batch ${b}`);
  }
});

test('the large default tile (128×128, 8×8 per invocation, tileK 16) is correct on edge tiles', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  const d = { M: 136, N: 132, K: 24 };
  const cfg = chooseMatmulConfig({ M: 4096, N: 4096, K: 4096 }, { subgroups: false, maxWorkgroupStorage: 32768, maxInvocations: 1024 });
  assert.equal(cfg.variant, 'tiled');
  assert.equal(cfg.tileM, 128);
  // One variant only: lavapipe's JIT of this fully unrolled 8×8 kernel takes seconds.
  const e = await checkMatmul(ctx, d, { ...cfg, swizzle: 2 }, 9);
  assert.ok(e < TOL, `default tile: ${e}`);
});

test('subgroup split-K matmul (only where the device has subgroups)', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  if (!ctx.features.subgroups) {
    t.skip('adapter has no subgroups');
    return;
  }
  const cfg = { variant: 'subgroup-splitk' as const, threadM: 3, threadN: 4, splitThreads: 64 };
  for (const [transA, transB] of [
    [false, false],
    [true, true],
  ] as const) {
    const e = await checkMatmul(ctx, { M: 7, N: 9, K: 3001, batch: 2, transA, transB }, cfg, 21);
    assert.ok(e < 1e-5, `split-K transA=${transA}: ${e}`);
  }
  const chosen = chooseMatmulConfig({ M: 16, N: 16, K: 100000 }, { subgroups: true, maxWorkgroupStorage: 32768, maxInvocations: 256 });
  assert.equal(chosen.variant, 'subgroup-splitk');
  const noSg = chooseMatmulConfig({ M: 16, N: 16, K: 100000 }, { subgroups: false, maxWorkgroupStorage: 32768, maxInvocations: 256 });
  assert.equal(noSg.variant, 'tiled');
});

test('vec4 copy and scalar copy move every element', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  for (const [cfg, n] of [
    [{}, 4],
    [{}, 4 * 1024 * 37 + 12],
    [{ vec4: false, perThread: 3, workgroupSize: 64 }, 1001],
  ] as const) {
    const k = copyKernel(cfg);
    const src = randomF32(n, n);
    const r = await runPlan(ctx, copyPlan(n, k), { src, params: k.uniforms(n) });
    assert.deepEqual(r.outputs.dst, src, `copy ${JSON.stringify(cfg)} n=${n}`);
  }
  assert.match(copyKernel().supports(6) ?? '', /multiple of 4/);
});

async function checkBatched(ctx: GpuContext, n: number, count: number, cfg: Record<string, number> = {}): Promise<void> {
  const k = batchedSmallMatmulKernel({ ...defaultBatchedSmallConfig(n), ...cfg, n });
  const A = randomF32(count * n * n, n);
  const B = randomF32(count * n * n, n + 1);
  const r = await runPlan(ctx, batchedSmallMatmulPlan(count, k), { A, B, params: k.uniforms(count) });
  const e = relErr(r.outputs.C!, matmulRef(A, B, { M: n, N: n, K: n, batch: count }));
  assert.ok(e < TOL, `${JSON.stringify(k.config)} count=${count}: ${e}`);
}

test('batched small matmul, small n (several instances per workgroup for n = 8)', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  await checkBatched(ctx, 8, 37); // 37 = two full groups of 16 and a partial one
  await checkBatched(ctx, 16, 11);
  await checkBatched(ctx, 8, 9, { instances: 4, threadRows: 1, threadCols: 8 });
});

test('batched small matmul, one instance per workgroup, K chunks with prefetch (n = 32, 64)', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (ctx === null) return;
  await checkBatched(ctx, 32, 5);
  await checkBatched(ctx, 64, 3);
  await checkBatched(ctx, 32, 2, { kChunk: 8, threadRows: 4 }); // four chunks
});

test('templates are pure: deterministic text, sane grids, rejected bad parameters', () => {
  assert.equal(matmulKernel(SMALL).wgsl, matmulKernel(SMALL).wgsl);
  const k = matmulKernel();
  assert.deepEqual(k.workgroups({ M: 300, N: 129, K: 5, batch: 2 }), [2, 3, 2]);
  assert.deepEqual(Array.from(k.uniforms({ M: 3, N: 4, K: 5 })), [3, 4, 5, 1, 15, 20, 12, 0]);
  assert.match(matmulSupports(k.config, { M: 8, N: 8, K: 6 }) ?? '', /divisible by 4/);
  assert.equal(matmulSupports({ ...k.config, vec4: false }, { M: 8, N: 8, K: 6 }), null);
  assert.throws(() => matmulKernel({ threadM: 3 }));
  assert.throws(() => matmulKernel({ tileM: 256, threadM: 4, tileN: 256, threadN: 4 }), /invocations/);
  assert.throws(() => batchedSmallMatmulKernel({ n: 10 }));
  assert.deepEqual(foldGrid(70000), [35000, 2, 1]);
  assert.deepEqual(foldGrid(0), [1, 1, 1]);
  for (const n of [8, 16, 32, 64]) {
    const b = batchedSmallMatmulKernel({ n });
    assert.ok(b.workgroupBytes <= 32768 && b.workgroupSize[0] <= 256, `bmm${n} fits default limits`);
    assert.ok(!/navigator/.test(b.wgsl));
  }
  assert.ok(!k.wgsl.includes('enable subgroups'));
  assert.ok(matmulKernel({ variant: 'subgroup-splitk' }).wgsl.startsWith('enable subgroups;'));
});
