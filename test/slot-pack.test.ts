// Liveness planning of instance-kernel scratch (issue 8 item 2; compiler/codegen/wgsl/slot-pack.ts):
//   - the rules on small bodies: disjoint lifetimes of one size share a slot only across a
//     workgroup barrier; a value live into a block (a loop that may run again) keeps its slot for
//     the whole block; other sizes never share; the kernel's lines are renamed consistently;
//   - the scratch of stdlib kernels shrinks (QR and its VJP at 32 × 32, IED's VJP), measured by
//     the kernels' own slot tables;
//   - on lavapipe, packed kernels give the unpacked kernels' results bit for bit (forward and
//     VJP of QR and IED): memory placement changes, the arithmetic does not.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Dim, parseDim } from '../core/dims.js';
import { packSlots, renameSlots } from '../compiler/codegen/wgsl/slot-pack.js';
import { genInstanceKernel } from '../compiler/codegen/wgsl/instance.js';
import { compileProgram } from '../compiler/compile.js';
import { compile } from '../api/module.js';
import { WebGpuBackend } from '../runtime/webgpu/backend.js';
import { Tensor } from '../runtime/tensor.js';
import { gpuOrSkip, releaseSharedGpu } from './gpu-available.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './gen/paths.js';

after(releaseSharedGpu);

const n = Dim.var('n');
const m = Dim.var('m');
const B = 'workgroupBarrier();';

test('slot packing: disjoint lifetimes share across a barrier, not without one', () => {
  const body = ['S[b0 + SO0 + 0] = 1.0;', B, 'let x = S[b0 + SO0 + 0];', B, 'S[b0 + SO1 + 0] = x;', B, 'let y = S[b0 + SO1 + 0];'];
  const p = packSlots(body, [n, n]);
  assert.deepEqual(p.map, [0, 0]);
  assert.equal(p.sizes.length, 1);
  assert.deepEqual(renameSlots(body, p.map).filter((l) => l.includes('SO1')), []);
  // no barrier between the last read of SO0 and the first write of SO1: a thread could overwrite
  // an element another thread has not read yet
  const racy = ['S[b0 + SO0 + 0] = 1.0;', B, 'let x = S[b0 + SO0 + 0];', 'S[b0 + SO1 + 0] = x;', B, 'let y = S[b0 + SO1 + 0];'];
  assert.deepEqual(packSlots(racy, [n, n]).map, [0, 1]);
});

test('slot packing: a value live into a loop keeps its slot for the whole loop; sizes must match', () => {
  // SO0 is written before the loop and read inside it: each iteration reads it again, so SO1
  // (written later in the body) must not take its memory
  const loop = ['S[b0 + SO0 + 0] = 1.0;', B, 'for (var i: i32 = 0; i < 3; i = i + 1) {', '  let x = S[b0 + SO0 + 0];', B, '  S[b0 + SO1 + 0] = x;', B, '  let y = S[b0 + SO1 + 0];', B, '}'];
  assert.deepEqual(packSlots(loop, [n, n]).map, [0, 1]);
  // inside one loop body, two temporaries in sequence share (barriers between and around them)
  const body = ['for (var i: i32 = 0; i < 3; i = i + 1) {', '  S[b0 + SO0 + 0] = 1.0;', B, '  let x = S[b0 + SO0 + 0];', B, '  S[b0 + SO1 + 0] = x;', B, '  let y = S[b0 + SO1 + 0];', B, '}'];
  assert.deepEqual(packSlots(body, [n, n]).map, [0, 0]);
  // the same body without the barrier at the end: iteration i+1's write of SO0 could overtake
  // iteration i's read of SO1
  const noBack = ['for (var i: i32 = 0; i < 3; i = i + 1) {', '  S[b0 + SO0 + 0] = 1.0;', B, '  let x = S[b0 + SO0 + 0];', B, '  S[b0 + SO1 + 0] = x;', B, '  let y = S[b0 + SO1 + 0];', '}'];
  assert.deepEqual(packSlots(noBack, [n, n]).map, [0, 1]);
  // different sizes never share
  const sizes = ['S[b0 + SO0 + 0] = 1.0;', B, 'let x = S[b0 + SO0 + 0];', B, 'S[b0 + SO1 + 0] = x;', B];
  assert.deepEqual(packSlots(sizes, [n, m]).map, [0, 1]);
});

const qrSrc = readFileSync(join(repoRoot, 'stdlib/qr.mat'), 'utf8');
const iedSrc = readFileSync(join(repoRoot, 'stdlib/ied.mat'), 'utf8');

function scratch(spec: { slots: string[] }, env: Record<string, number>): number {
  return spec.slots.reduce((s, d) => s + parseDim(d).eval(env), 0);
}

test('slot packing shrinks the scratch of stdlib kernels (QR, QR VJP at 32 × 32; IED VJP at m = 64)', () => {
  const qr = compileProgram(qrSrc, { path: 'qr.mat' });
  const ied = compileProgram(iedSrc, { path: 'ied.mat' });
  const rows: [string, number, number][] = [];
  for (const [label, f, env] of [
    ['qr', qr.forward('qr'), { m: 32, n: 32 }],
    ['qr.vjp', qr.vjp('qr', 'gpu'), { m: 32, n: 32 }],
    ['ied.vjp', ied.vjp('ied', 'gpu'), { m: 64 }],
  ] as const) {
    const packed = scratch(genInstanceKernel(f, { packScratch: true }), env);
    const plain = scratch(genInstanceKernel(f, { packScratch: false }), env);
    rows.push([label, plain, packed]);
  }
  const [qrF, qrV, iedV] = rows;
  assert.ok(qrF![2] <= 0.75 * qrF![1], JSON.stringify(rows));
  assert.ok(qrV![2] <= 0.7 * qrV![1], JSON.stringify(rows));
  assert.ok(iedV![2] < iedV![1], JSON.stringify(rows));
  console.log(`# scratch f32 per instance, unpacked → packed: ${rows.map(([l, a, b]) => `${l} ${a} → ${b}`).join('; ')}`);
});

test('grid programs pack their scratch over the launch sequence (INGD step and its VJP at p = d = 1024; QR VJP at 512²)', async () => {
  const { genGridProgram } = await import('../compiler/codegen/wgsl/grid.js');
  const spd = compileProgram(readFileSync(join(repoRoot, 'stdlib/spd.mat'), 'utf8'), { path: 'spd.mat' });
  const qr = compileProgram(qrSrc, { path: 'qr.mat' });
  const rows: [string, number, number][] = [];
  for (const [label, f, env] of [
    ['ingd', spd.forward('ingd'), { p: 1024, d: 1024, n: 128, m: 128 }],
    ['ingd.vjp', spd.vjp('ingd', 'gpu'), { p: 1024, d: 1024, n: 128, m: 128 }],
    ['qr.vjp', qr.vjp('qr', 'gpu'), { m: 512, n: 512 }],
  ] as const) {
    const packed = scratch(genGridProgram(f, { packScratch: true }).spec, env);
    const plain = scratch(genGridProgram(f, { packScratch: false }).spec, env);
    rows.push([label, plain, packed]);
  }
  console.log(`# grid scratch f32 per instance, unpacked → packed: ${rows.map(([l, a, b]) => `${l} ${a} → ${b}`).join('; ')}`);
  const [ingdF, ingdV, qrV] = rows;
  assert.ok(ingdF![2] <= 0.5 * ingdF![1], JSON.stringify(rows));
  assert.ok(ingdV![2] <= 0.4 * ingdV![1], JSON.stringify(rows));
  assert.ok(qrV![2] < qrV![1], JSON.stringify(rows));
});

test('packed kernels equal unpacked ones bit for bit on lavapipe (QR and IED, forward and VJP)', async (t) => {
  const ctx = await gpuOrSkip(t);
  if (!ctx) return;
  const backend = new WebGpuBackend(ctx);
  const rnd = (seed: number, k: number) => {
    let s = seed >>> 0;
    return Float64Array.from({ length: k }, () => ((s = (Math.imul(1664525, s) + 1013904223) >>> 0) >>> 8) / 16777216 - 0.5);
  };
  const results: Record<string, Float64Array[]> = {};
  for (const pack of ['1', '0']) {
    process.env.MATC_PACK_SCRATCH = pack;
    // a fresh module per setting: kernels are generated when a module first runs a function
    const qr = compile(qrSrc, { path: `qr-${pack}.mat` });
    const ied = compile(iedSrc, { path: `ied-${pack}.mat` });
    const A = new Tensor([3, 6, 5], rnd(1, 90));
    // symmetric 8 × 8 inputs with a dominant eigenvalue
    const R = rnd(2, 192);
    const X = new Tensor([3, 8, 8], Float64Array.from({ length: 192 }, (_, k) => {
      const [b, i, j] = [Math.floor(k / 64), Math.floor((k % 64) / 8), k % 8];
      return R[b * 64 + Math.min(i, j) * 8 + Math.max(i, j)]! + (i === 0 && j === 0 ? 3 : 0);
    }));
    const out: Float64Array[] = [];
    const q = await qr.fn('qr').vjp({ A }, { Q: new Tensor([3, 6, 5], rnd(3, 90)), R: new Tensor([3, 5, 5], rnd(4, 75)) }, { backend });
    out.push(Float64Array.from(q.outputs.Q!.data), Float64Array.from(q.gradients.A!.data));
    const e = await ied.fn('ied').vjp({ X }, { u: new Tensor([3, 8], rnd(5, 24)) }, { backend });
    out.push(Float64Array.from(e.outputs.u!.data), Float64Array.from(e.gradients.X!.data));
    results[pack] = out;
  }
  delete process.env.MATC_PACK_SCRATCH;
  assert.equal(results['1']!.length, results['0']!.length);
  results['1']!.forEach((a, i) => assert.deepEqual(Array.from(a), Array.from(results['0']![i]!), `output ${i}`));
});
