// Seeded random numbers (issue 10 item 6): Philox4x32-10 against the Random123 known-answer
// vectors, in JavaScript (core/philox.ts) and in WGSL (RANDOM_WGSL, run as a raw kernel); the u32
// streams bit-identical; rand and randn through every backend (reference interpreter, WebAssembly,
// JavaScript, WebGPU) agreeing — rand's f32 form exactly the top 24 bits, randn to f32 rounding;
// distribution sanity on many samples; zero derivative; batching semantics.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { philox4x32, randomValue, randomWords } from '../core/philox.js';
import { RANDOM_WGSL } from '../compiler/codegen/wgsl/ops.js';
import { BufferUsage, MapMode } from '../runtime/webgpu/constants.js';
import { Tensor } from '../runtime/tensor.js';
import { CompileError } from '../compiler/compile.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { assertAgree, runAll } from './util/backends.js';

after(releaseSharedGpu);

// Random123 tests/kat_vectors (github.com/DEShawResearch/random123): name, rounds, CTR (4 words),
// KEY (2 words), EXPECTED (4 words).
const KAT: [number, [number, number, number, number], [number, number], [number, number, number, number]][] = [
  [10, [0x00000000, 0x00000000, 0x00000000, 0x00000000], [0x00000000, 0x00000000], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
  [10, [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
  [10, [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
  [7, [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0x4dfccaba, 0x190a87f0, 0xc47362ba, 0xb6b5242a]],
];

test('Philox4x32 (JavaScript) reproduces the Random123 known-answer vectors', () => {
  for (const [rounds, ctr, key, want] of KAT) assert.deepEqual(philox4x32(ctr, key, rounds), want, `rounds ${rounds} ctr ${ctr.map((x) => x.toString(16))}`);
});

/** Runs WGSL `body` (one invocation per output index i, writing OUT[4 i .. 4 i + 3]) with the random
 *  helpers in scope; returns the u32 words. */
async function runWgsl(t: Parameters<typeof gpuOrSkip>[0], n: number, body: string): Promise<Uint32Array | null> {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return null;
  const device = ctx.device;
  const code = `@group(0) @binding(0) var<storage, read_write> OUT: array<u32>;
${RANDOM_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= ${n}u) { return; }
  ${body}
}`;
  const module = device.createShaderModule({ code });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const bytes = n * 16;
  const out = device.createBuffer({ size: bytes, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: bytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  const bg = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: out } }] });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bg);
  pass.dispatchWorkgroups(Math.ceil(n / 64));
  pass.end();
  enc.copyBufferToBuffer(out, 0, read, 0, bytes);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(MapMode.READ);
  const words = new Uint32Array(read.getMappedRange().slice(0));
  read.unmap();
  out.destroy();
  read.destroy();
  return words;
}

test('Philox4x32-10 in WGSL: the known-answer vectors and 4,096 counters bit for bit', async (t) => {
  const kat10 = KAT.filter((k) => k[0] === 10);
  const hex = (x: number) => `0x${x.toString(16)}u`;
  const cases = kat10.map(([, c, k], i) => `if (i == ${i}u) { let x = philox10(vec4<u32>(${c.map(hex).join(', ')}), vec2<u32>(${k.map(hex).join(', ')})); OUT[4u * i] = x.x; OUT[4u * i + 1u] = x.y; OUT[4u * i + 2u] = x.z; OUT[4u * i + 3u] = x.w; }`).join('\n  ');
  const w = await runWgsl(t, kat10.length, cases);
  if (!w) return;
  kat10.forEach(([, , , want], i) => assert.deepEqual([...w.subarray(4 * i, 4 * i + 4)], want, `KAT ${i}`));
  // the streams of rand/randn: counter (e, stream, kind, 0), key (key, 0), over e, streams, kinds and
  // keys (negative keys are their two's complement)
  const N = 4096;
  const keyOf = (i: number) => [0, 1, -1, 123456789, -2147483648][i % 5]!;
  const streamOf = (i: number) => [0, 7, -3][i % 3]!;
  const kindOf = (i: number) => (i >> 3) & 1;
  const body = `let x = philox10(vec4<u32>(i, u32(array<i32, 3>(0, 7, -3)[i % 3u]), (i >> 3u) & 1u, 0u), vec2<u32>(u32(array<i32, 5>(0, 1, -1, 123456789, -2147483647 - 1)[i % 5u]), 0u));
  OUT[4u * i] = x.x; OUT[4u * i + 1u] = x.y; OUT[4u * i + 2u] = x.z; OUT[4u * i + 3u] = x.w;`;
  const s = await runWgsl(t, N, body);
  for (let i = 0; i < N; i++) {
    const want = randomWords(kindOf(i) === 0 ? 'uniform' : 'normal', keyOf(i), streamOf(i), i);
    const got = [...s!.subarray(4 * i, 4 * i + 4)];
    if (got.some((x, j) => x !== want[j])) assert.fail(`counter ${i}: ${got} vs ${want}`);
  }
});

const src = `
fn f(seed: int = 3) -> (U: mat[m, n], Z: mat[m, n], V: vec[n], s: real) where m = 37, n = 29 =
  (rand(seed, m, n), randn(seed, m, n), rand(seed, n, stream: 5), randn(seed + 1))
fn keyed(x: vec[n], k: int = 0) -> vec[n] =
  iterate (y = x) for i in 0..3 => y + randn(k + i, n)
fn g(x: vec[n]) -> real = sum(x .* randn(11, n)) + 2 * sum(rand(4, n) .* x .* x)
`;

test('rand and randn: every backend agrees (rand f32 = the top 24 bits, randn to f32 rounding)', async (t) => {
  const m = compile(src, { path: 'random.mat' });
  const f = m.fn('f');
  for (const seed of [0, 3, 1000003]) {
    const runs = await runAll(f, {}, { dims: { seed }, t });
    assertAgree(runs, 0, 2e-6, `seed ${seed}: `);
    const ref = runs.reference!.outputs;
    // the values are the documented functions of (key, stream, element)
    for (let e = 0; e < 37 * 29; e++) {
      assert.equal(ref.U!.data[e], randomValue('uniform', seed, 0, e));
      assert.equal(ref.Z!.data[e], randomValue('normal', seed, 0, e));
    }
    for (let e = 0; e < 29; e++) assert.equal(ref.V!.data[e], randomValue('uniform', seed, 5, e));
    assert.equal(ref.s!.data[0], randomValue('normal', seed + 1, 0, 0));
    if (runs.webgpu) {
      const g = runs.webgpu.outputs;
      for (let e = 0; e < 37 * 29; e++) {
        // f32 rand: the top 24 bits of x0, exactly
        assert.equal(g.U!.data[e], randomValue('uniform', seed, 0, e, true), `U[${e}]`);
        assert.ok(g.U!.data[e]! < 1 && g.U!.data[e]! >= 0);
        const z = ref.Z!.data[e]!;
        assert.ok(Math.abs(g.Z!.data[e]! - z) <= 4 * 2 ** -24 * Math.max(1, Math.abs(z)), `Z[${e}]: ${g.Z!.data[e]} vs ${z}`);
      }
    }
  }
});

test('rand: f32-storage CPU programs and the interpreter in f32 give the f32 form (never 1)', async () => {
  const m = compile(src, { path: 'random.mat' });
  const f = m.fn('f');
  const { CpuBackend } = await import('../runtime/cpu/cpu-backend.js');
  const r32 = await f.forward({}, { dims: { seed: 3 }, backend: new CpuBackend({ precision: 'f32', threads: 1 }) });
  const i32 = await f.forward({}, { dims: { seed: 3 }, f32: true });
  for (let e = 0; e < 37 * 29; e++) {
    const want = randomValue('uniform', 3, 0, e, true);
    assert.equal(r32.outputs.U!.data[e], want);
    assert.equal(i32.outputs.U!.data[e], want);
  }
});

test('distribution: mean and variance of 2²⁰ samples, per backend', async (t) => {
  const m = compile(`fn big(k: int = 1) -> (u: vec[n], z: vec[n]) where n = 1048576 = (rand(k, n), randn(k, n))`, { path: 'big.mat' });
  const runs = await runAll(m.fn('big'), {}, { dims: { k: 99 }, t });
  const N = 1048576;
  for (const [name, run] of Object.entries(runs)) {
    const u = run.outputs.u!.data;
    const z = run.outputs.z!.data;
    let su = 0, su2 = 0, sz = 0, sz2 = 0, sz4 = 0, below = 0;
    for (let i = 0; i < N; i++) {
      su += u[i]!;
      su2 += u[i]! * u[i]!;
      sz += z[i]!;
      sz2 += z[i]! * z[i]!;
      sz4 += z[i]! ** 4;
      if (z[i]! < -1.959963984540054) below++;
    }
    const mu = su / N, vu = su2 / N - mu * mu, mz = sz / N, vz = sz2 / N - mz * mz;
    // standard errors: uniform mean √(1/12N) ≈ 2.8e-4, normal mean 1/√N ≈ 1e-3, variance √(2/N) ≈ 1.4e-3
    assert.ok(Math.abs(mu - 0.5) < 5 * 2.9e-4, `${name}: uniform mean ${mu}`);
    assert.ok(Math.abs(vu - 1 / 12) < 5 * 2.6e-4 / 3, `${name}: uniform variance ${vu}`);
    assert.ok(Math.abs(mz) < 5e-3, `${name}: normal mean ${mz}`);
    assert.ok(Math.abs(vz - 1) < 7e-3, `${name}: normal variance ${vz}`);
    assert.ok(Math.abs(sz4 / N - 3) < 0.05, `${name}: normal fourth moment ${sz4 / N}`);
    // P(z < −1.96) = 0.025, binomial standard error √(0.025·0.975/N) ≈ 1.5e-4
    assert.ok(Math.abs(below / N - 0.025) < 8e-4, `${name}: lower tail ${below / N}`);
    assert.ok(u.every((x) => x >= 0 && x < 1), `${name}: uniform in [0, 1)`);
  }
});

test('derivatives: random numbers are constants (VJP and JVP against the closed form)', async () => {
  const m = compile(src, { path: 'random.mat' });
  const g = m.fn('g');
  const x = new Tensor([6], [0.3, -1.2, 0.7, 2.0, -0.4, 1.1]);
  const r = await g.vjp({ x }, { out: 1 });
  const z = Array.from({ length: 6 }, (_, e) => randomValue('normal', 11, 0, e));
  const u = Array.from({ length: 6 }, (_, e) => randomValue('uniform', 4, 0, e));
  // g = Σ x z + 2 Σ u x² ⇒ ∇g = z + 4 u x
  const want = x.data.map((xi, e) => z[e]! + 4 * u[e]! * xi);
  r.gradients.x!.data.forEach((v, e) => assert.ok(Math.abs(v - want[e]!) < 1e-12, `∂g/∂x[${e}]`));
  const j = await g.jvp({ x }, { x: new Tensor([6], [1, 0, 0, 0, 0, 0]) });
  assert.ok(Math.abs(j.tangents.out!.data[0]! - want[0]!) < 1e-12);
});

test('batching: every instance draws the same numbers unless its key differs (loop index, int param)', async () => {
  const m = compile(src, { path: 'random.mat' });
  const k = m.fn('keyed');
  const x = new Tensor([2, 4], [1, 2, 3, 4, 1, 2, 3, 4]);
  const r = await k.forward({ x }, { dims: { k: 7 } });
  const d = r.outputs.out!.data;
  for (let e = 0; e < 4; e++) {
    assert.equal(d[e], d[4 + e], 'two instances with equal inputs and the same key');
    const want = x.data[e]! + randomValue('normal', 7, 0, e) + randomValue('normal', 8, 0, e) + randomValue('normal', 9, 0, e);
    assert.ok(Math.abs(d[e]! - want) < 1e-12);
  }
});

test('a real key is MAT0211 with a suggestion; an unknown named argument is MAT0307', () => {
  for (const [bad, code] of [
    ['fn f(x: real) -> vec[3] = rand(x, 3)', 'MAT0211'],
    ['fn f(x: real) -> vec[3] = randn(1, 3, seed: 2)', 'MAT0307'],
  ] as const) {
    try {
      compile(bad, { path: 'bad.mat' });
      assert.fail('expected a diagnostic');
    } catch (e) {
      assert.ok(e instanceof CompileError);
      assert.ok(e.diagnostics.some((x) => x.code === code), e.message);
    }
  }
});
