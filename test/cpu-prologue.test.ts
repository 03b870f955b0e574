// The CPU programs' prologue (compiler/codegen/cpu/loop-ir.ts splitInstanceInvariant): top-level
// statements whose effect is the same for every instance run once per call, before the instance
// loop. What moves (the probe vectors of a residual estimate, constants) and what must not (a
// declaration assigned later, a buffer written again later or per instance, reads of parameters,
// routines that write, swaps), and that the programs built with it still equal the reference
// interpreter, batched, on both engines and with threads.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { stdlibDir } from '../compiler/check/items.js';
import { compileProgram } from '../compiler/compile.js';
import { lowerCpu } from '../compiler/codegen/cpu/lower.js';
import { type Stmt, F, I, V, load, splitInstanceInvariant } from '../compiler/codegen/cpu/loop-ir.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { Tensor } from '../runtime/tensor.js';

const w = (id: number) => ({ k: 'w' as const, id });
const fill = (buf: number, value: ReturnType<typeof F>): Stmt => ({ k: 'for', v: `i${buf}`, lo: I(0), hi: I(4), body: [{ k: 'store', buf: w(buf), at: V(`i${buf}`, 'i'), value }] });
const keep = (body: Stmt[]) => splitInstanceInvariant(body);

test('the prologue takes what every instance computes alike and nothing else', () => {
  // constants, a buffer built from them, a scalar read from it: all move
  const moves: Stmt[] = [
    { k: 'decl', name: 'a', ty: 'f', init: F(2.4) },
    fill(0, V('a', 'f')),
    { k: 'decl', name: 'b', ty: 'f', init: load(w(0), I(1)) },
  ];
  assert.equal(keep(moves).prologue.length, 3);
  assert.equal(keep(moves).body.length, 0);
  // a declaration assigned later (a reduction's accumulator) stays, and so does its loop
  const acc: Stmt[] = [
    { k: 'decl', name: 's', ty: 'f', init: F(0) },
    { k: 'for', v: 'j', lo: I(0), hi: I(4), body: [{ k: 'assign', name: 's', value: { k: 'fbin', op: 'add', a: V('s', 'f'), b: load({ k: 'in', i: 0 }, V('j', 'i')) } }] },
  ];
  assert.equal(keep(acc).prologue.length, 0);
  // a buffer written again after the statement stays (the later write is per instance)
  const rewritten: Stmt[] = [fill(1, F(1)), fill(1, load({ k: 'in', i: 0 }, I(0)))];
  assert.equal(keep(rewritten).prologue.length, 0);
  // a buffer read before the statement by the body stays (that read saw the previous instance's)
  const readFirst: Stmt[] = [{ k: 'store', buf: { k: 'out', i: 0 }, at: V('inst', 'i'), value: load(w(2), I(0)) }, fill(2, F(3))];
  assert.equal(keep(readFirst).prologue.length, 0);
  // instance variables, parameters and outputs stay
  assert.equal(keep([{ k: 'decl', name: 'x', ty: 'f', init: load({ k: 'in', i: 0 }, V('io0', 'i')) }]).prologue.length, 0);
  assert.equal(keep([{ k: 'decl', name: 'y', ty: 'i', init: V('inst', 'i') }]).prologue.length, 0);
  assert.equal(keep([{ k: 'store', buf: { k: 'out', i: 0 }, at: I(0), value: F(1) }]).prologue.length, 0);
  // a routine that writes stays, and so does a buffer a later routine writes (gemv's output)
  const gemv: Stmt[] = [
    fill(3, F(1)),
    { k: 'call', fn: 'gemv', args: [{ k: 'val', e: I(2) }, { k: 'val', e: I(2) }, { k: 'ptr', buf: { k: 'in', i: 0 }, at: V('io0', 'i') }, { k: 'val', e: I(2) }, { k: 'val', e: I(1) }, { k: 'ptr', buf: w(3), at: I(0) }, { k: 'val', e: I(1) }, { k: 'ptr', buf: w(4), at: I(0) }] },
  ];
  const g = keep(gemv);
  assert.equal(g.prologue.length, 1, 'gemv only reads its vector: the vector is built once');
  assert.equal(g.body.length, 1);
  const gemvInto: Stmt[] = [gemv[0]!, { ...(gemv[1] as Extract<Stmt, { k: 'call' }>), args: (gemv[1] as Extract<Stmt, { k: 'call' }>).args.map((a, i) => (i === 7 ? { k: 'ptr' as const, buf: w(3), at: I(0) } : a)) }];
  assert.equal(keep(gemvInto).prologue.length, 0, 'a buffer a later routine writes is per instance');
  // a routine called inside an expression writes too: `let rc = lu(…, X)` solves into X, so the
  // identity a later lu overwrites is built per instance (the empty-solves spec of
  // bugs-empty-dims.test.ts found this: inv(A) read a solution of the instance before)
  const lu: Stmt[] = [
    fill(9, F(1)),
    { k: 'decl', name: 'rc', ty: 'f', init: { k: 'call', fn: 'lu', ty: 'f', args: [{ k: 'val', e: I(2) }, { k: 'val', e: I(2) }, { k: 'ptr', buf: w(10), at: I(0) }, { k: 'ptr', buf: w(9), at: I(0) }] } },
  ];
  assert.equal(keep(lu).prologue.length, 0);
  // a swap exchanges buffers per instance
  assert.equal(keep([fill(5, F(1)), { k: 'swap', a: 5, b: 6 }]).prologue.length, 0);
  // the order within the prologue and the body is kept
  const mixed: Stmt[] = [fill(7, F(1)), { k: 'decl', name: 'z', ty: 'f', init: load({ k: 'in', i: 0 }, I(0)) }, fill(8, load(w(7), I(0)))];
  const sm = keep(mixed);
  assert.deepEqual(sm.prologue, [mixed[0], mixed[2]]);
  assert.deepEqual(sm.body, [mixed[1]]);
});

test("qr's residual probes (cos(2.4 j + φ)) are built once per call, and the results equal the interpreter's, batched, both engines, threads", async () => {
  const path = join(stdlibDir(), 'qr.mat');
  const mod = compile(readFileSync(path, 'utf8'), { path });
  const fn = mod.fn('qr');
  const p = lowerCpu(compileProgram(readFileSync(path, 'utf8'), { path }).cpuForm('qr', 'forward'));
  const cosIn = (body: Stmt[]): number => JSON.stringify(body).split('"op":"cos"').length - 1;
  assert.equal(cosIn(p.prologue), 4, 'four probe vectors (two of n entries, two of k) in the prologue');
  assert.equal(cosIn(p.body), 0, 'no cos left in the instance loop');
  const B = 5;
  const data = Array.from({ length: B * 7 * 5 }, (_, i) => Math.sin(1.7 * i + 0.3));
  const A = new Tensor([B, 7, 5], data);
  const ref = await fn.forward({ A }, { backend: new CpuBackend({ reference: true }) });
  for (const backend of [new CpuBackend({ threads: 1, engine: 'wasm' }), new CpuBackend({ threads: 1, engine: 'js' }), new CpuBackend({ threads: 2 })]) {
    const got = await fn.forward({ A }, { backend });
    for (const k of ['Q', 'R']) {
      const x = got.outputs[k]!.data;
      const y = ref.outputs[k]!.data;
      for (let i = 0; i < y.length; i++) assert.ok(Math.abs(x[i]! - y[i]!) <= 1e-12, `${k}[${i}]: ${x[i]} against ${y[i]}`);
    }
    // the residual estimate of every instance (the probes' consumer), not only the first one's
    const res = (r: typeof ref) => r.status.nodes.find((n) => n.residualEstimate)!.residual!;
    const rg = res(got);
    const rr = res(ref);
    assert.equal(rg.length, B);
    for (let i = 0; i < B; i++) assert.ok(Math.abs(rg[i]! - rr[i]!) <= 1e-12 * Math.max(1, Math.abs(rr[i]!)) + 1e-15, `instance ${i}: residual ${rg[i]} against ${rr[i]}`);
    backend.dispose();
  }
});
