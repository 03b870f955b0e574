// Floor division in dimensions, `div(a, b)` (docs/language.md, "Dimensions"; issue 15 item 1: the
// ⌈n/30⌉ blocks of block30diagonal): the normal form keeps ⌊a / b⌋ as an atom also for a constant
// b (whose `/` stays exact division), folds it when both are constants, prints as `div(a, b)` and
// parses back (the IR text format), keeps its meaning under substitution; from a spec, a tensor
// sized 30·div(n + 29, 30) has that many entries at sizes on and off the multiples of 30.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dim, parseDim } from '../core/dims.js';
import { compile } from '../api/module.js';
import { CompileError } from '../compiler/compile.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { Tensor } from '../runtime/tensor.js';

test('Dim.floorDiv: ⌊a / b⌋ as an atom, folded on constants, printed and parsed as div(a, b), kept under substitution', () => {
  const n = Dim.var('n');
  const b = Dim.floorDiv(n.add(Dim.const(29)), Dim.const(30));
  assert.equal(b.toString(), 'div(n + 29, 30)');
  assert.ok(parseDim(b.toString()).equals(b));
  assert.ok(parseDim('30*div(n + 29, 30) - n').equals(b.mul(Dim.const(30)).sub(n)));
  for (const [v, want] of [[0, 0], [1, 1], [29, 1], [30, 1], [31, 2], [60, 2], [61, 3]] as const) assert.equal(b.eval({ n: v }), want, `n = ${v}`);
  // exact division by a constant is another thing: (n + 29) / 30 has rational coefficients
  assert.ok(!n.add(Dim.const(29)).div(Dim.const(30)).equals(b));
  assert.equal(Dim.floorDiv(Dim.const(61), Dim.const(30)).constValue(), 2);
  assert.equal(Dim.floorDiv(Dim.const(-1), Dim.const(30)).constValue(), -1);
  assert.ok(Dim.floorDiv(n, Dim.const(1)).equals(n));
  const m = Dim.var('m');
  assert.equal(b.subst(new Map([['n', Dim.const(61)]])).constValue(), 3);
  assert.ok(b.subst(new Map([['n', m.mul(Dim.const(2))]])).equals(Dim.floorDiv(m.mul(Dim.const(2)).add(Dim.const(29)), Dim.const(30))));
  assert.deepEqual([...b.vars()], ['n']);
});

test('div(a, b) in a spec: padding to whole blocks of 30, reshaped into [⌈n/30⌉, 30]; division by zero is MAT0202', async () => {
  const m = compile(`fn pad(x: vec[n]) -> tensor[b, 30] where b = div(n + 29, 30) = reshape([x; zeros(30 * b - n)], b, 30)
fn blocks(x: vec[n]) -> real where b = div(n + 29, 30) = b
`, { path: 'blocks-dims.mat' });
  const backend = new CpuBackend({ engine: 'wasm', threads: 1 });
  for (const n of [0, 1, 29, 30, 31, 61]) {
    const x = new Tensor([n], Float64Array.from({ length: n }, (_, i) => i + 1));
    const o = (await m.fn('pad').forward({ x }, { backend })).outputs;
    const t = Object.values(o)[0]!;
    assert.deepEqual([...t.shape], [Math.ceil(n / 30), 30], `n = ${n}`);
    assert.deepEqual(Array.from(t.data), Array.from({ length: 30 * Math.ceil(n / 30) }, (_, i) => (i < n ? i + 1 : 0)), `n = ${n}`);
    const nb = Object.values((await m.fn('blocks').forward({ x }, { backend })).outputs)[0]!;
    assert.equal(nb.data[0], Math.ceil(n / 30));
  }
  assert.throws(() => compile('fn f(x: vec[n]) -> vec[div(n, 0)] = x', { path: 'z.mat' }),
    (e: unknown) => e instanceof CompileError && e.diagnostics.some((d) => d.code === 'MAT0202'));
});
