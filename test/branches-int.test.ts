// Integer arithmetic of the language (issue 10 item 7): floor, div and mod, with the semantics of
// core/intops.ts — floor division, the floored remainder, div(a, 0) = 0, mod(a, 0) = a, wrapping
// i32 — identical on the reference interpreter, the compiled CPU program (WebAssembly and
// JavaScript) and WebGPU. The oracle is Python's // and % (test/oracles/gen_branches_fixtures.py →
// test/fixtures/branches-int.json).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { intDiv, intMod } from '../core/intops.js';
import { ftoi } from '../runtime/cpu/helpers.js';
import { Tensor } from '../runtime/tensor.js';
import { CompileError } from '../compiler/compile.js';
import { repoRoot } from './gen/paths.js';
import { runAll } from './util/backends.js';
import { releaseSharedGpu } from './gpu-available.js';

after(releaseSharedGpu);

interface Fixture {
  intops: { a: number; b: number; div: number; mod: number }[];
  floor: { x: number; floor: number }[];
}
const fx = JSON.parse(readFileSync(join(repoRoot, 'test', 'fixtures', 'branches-int.json'), 'utf8')) as Fixture;

test('core/intops: div and mod against Python // and % (i32, zero divisor by definition)', () => {
  assert.ok(fx.intops.length > 500);
  for (const c of fx.intops) {
    assert.equal(intDiv(c.a, c.b), c.div, `div(${c.a}, ${c.b})`);
    assert.equal(intMod(c.a, c.b), c.mod, `mod(${c.a}, ${c.b})`);
  }
  for (const c of fx.floor) assert.equal(ftoi(c.x), c.floor, `floor(${c.x})`);
});

const src = `
fn f(x: vec[2]) -> (q: real, r: real) =
  let a = floor(x[0]), b = floor(x[1]) in (float(div(a, b)), float(mod(a, b)))
fn g(x: real) -> real = float(floor(x))
fn lits() -> (a: real, b: real, c: real, d: real, e: real) = (float(div(-7, 2)), float(mod(-7, 2)), float(div(7, -2)), float(mod(7, 0)), float(floor(-2.5)))
`;

test('div, mod and floor agree with the oracle on every backend', async (t) => {
  const m = compile(src, { path: 'int.mat' });
  const f = m.fn('f');
  const B = fx.intops.length;
  const x = new Tensor([B, 2], fx.intops.flatMap((c) => [c.a, c.b]));
  const runs = await runAll(f, { x });
  for (const [name, run] of Object.entries(runs)) {
    fx.intops.forEach((c, i) => {
      assert.equal(run.outputs.q!.data[i], c.div, `${name}: div(${c.a}, ${c.b})`);
      assert.equal(run.outputs.r!.data[i], c.mod, `${name}: mod(${c.a}, ${c.b})`);
    });
  }
  const fl = fx.floor;
  const g = m.fn('g');
  const gr = await runAll(g, { x: new Tensor([fl.length], fl.map((c) => c.x)) });
  for (const [name, run] of Object.entries(gr)) fl.forEach((c, i) => assert.equal(run.outputs.out!.data[i], c.floor, `${name}: floor(${c.x})`));
  // WebGPU: inputs and outputs are f32, so the cases whose operands are f32 values (|v| < 2²⁴ or
  // exact), compared with the f32 of the exact result
  const exact = fx.intops.filter((c) => Math.fround(c.a) === c.a && Math.fround(c.b) === c.b && Math.abs(c.a) < 2 ** 31 && Math.abs(c.b) < 2 ** 31 && c.a !== 2 ** 31 - 1);
  assert.ok(exact.length > 200, `${exact.length} f32-exact cases`);
  const gpu = await runAll(f, { x: new Tensor([exact.length, 2], exact.flatMap((c) => [c.a, c.b])) }, { t });
  if (gpu.webgpu) {
    exact.forEach((c, i) => {
      assert.equal(gpu.webgpu!.outputs.q!.data[i], Math.fround(c.div), `webgpu: div(${c.a}, ${c.b})`);
      assert.equal(gpu.webgpu!.outputs.r!.data[i], Math.fround(c.mod), `webgpu: mod(${c.a}, ${c.b})`);
    });
    const fl32 = fl.filter((c) => Math.fround(c.x) === c.x && Math.abs(c.x) < 2 ** 31);
    const gg = await runAll(g, { x: new Tensor([fl32.length], fl32.map((c) => c.x)) }, { t });
    // (=== : a driver may fold f32(i32(floor(x))) to floor(x), which keeps the sign of −0)
    fl32.forEach((c, i) => assert.ok(gg.webgpu!.outputs.out!.data[i] === Math.fround(c.floor), `webgpu: floor(${c.x}) = ${gg.webgpu!.outputs.out!.data[i]}`));
  }
  // literals fold to the same values
  const l = await m.fn('lits').forward({});
  assert.deepEqual(['a', 'b', 'c', 'd', 'e'].map((k) => l.outputs[k]!.data[0]), [-4, 1, -4, 7, -3]);
});

test('div and mod take ints: a real operand is MAT0211 with a suggestion', () => {
  try {
    compile('fn f(x: real) -> real = float(mod(x, 2))', { path: 'bad.mat' });
    assert.fail('expected a diagnostic');
  } catch (e) {
    assert.ok(e instanceof CompileError);
    const d = e.diagnostics.find((x) => x.code === 'MAT0211');
    assert.ok(d, e.message);
    assert.match(d!.message, /mod takes ints/);
    assert.match(d!.suggestion ?? '', /floor/);
  }
});
