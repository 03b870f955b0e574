// STTP with its frames batched across cores of one shape (api/sttp-batched.ts, api/batch-map.ts;
// issue 14 item 2): one batched stiefel call per frame shape, then sttp_apply_frames. Its values
// and gradients must be those of sttp_apply (one call, frames one by one), for both spectra; the
// gradients also match central finite differences of the batched forward in f64; and the number
// of calls is the number of distinct frame shapes + 1, fewer than the cores.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../api/module.js';
import { sttpParamShapes, sttpShape, type Spectrum, type SttpShape } from '../api/sttp.js';
import { sttpForward, sttpVjp, type SttpParams } from '../api/sttp-batched.js';
import { forwardMany } from '../api/batch-map.js';
import { Tensor } from '../runtime/tensor.js';
import { Rng } from '../runtime/random.js';

const mod = compile('import "sttp.mat"', { path: 'batched.mat' });

function randomParams(rng: Rng, s: SttpShape, spectrum: Spectrum, scale = 0.5): SttpParams {
  const p = sttpParamShapes(s, spectrum);
  const R = (sh: number[]) => new Tensor(sh, rng.normals(sh.reduce((a, x) => a * x, 1)).map((x) => scale * x));
  return { PL: p.PL.map(R), Pm: R(p.Pm), Pv: R(p.Pv), PR: p.PR.map(R), ...(p.S ? { S: R(p.S) } : {}) };
}

const maxDiff = (a: Tensor, b: Tensor): number => {
  assert.deepEqual(a.shape, b.shape);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i]! - b.data[i]!));
  return m;
};

function distinctShapes(ts: Tensor[]): number {
  return new Set(ts.map((t) => t.shape.join('x'))).size;
}

for (const spectrum of ['learned', 'identity'] as const) {
  test(`STTP (${spectrum} spectrum) with frames batched per shape = sttp_apply: values, gradients, finite differences, call count`, async () => {
    // 48 × 36: modes 2 2 2 2 3 | 2 2 3 3, r = 4 → 9 cores
    const s = sttpShape(48, 36, 4);
    const rng = new Rng(spectrum === 'learned' ? 3 : 4);
    const p = randomParams(rng, s, spectrum);
    const c = 5;
    const X = new Tensor([s.dIn, c], rng.normals(s.dIn * c));
    const dY = new Tensor([s.dOut, c], rng.normals(s.dOut * c));
    const one = spectrum === 'learned' ? 'sttp_apply' : 'sttp_apply_c';
    const inputs = { PL: p.PL, Pm: p.Pm, Pv: p.Pv, PR: p.PR, ...(p.S ? { S: p.S } : {}), X };
    const ref = await mod.fn(one).vjp(inputs, { Y: dY }, { dims: s.dims });
    const b = await sttpVjp(mod, p, X, dY, s);
    assert.ok(maxDiff(b.Y, ref.outputs.Y!) < 1e-12, 'Y');
    const f = await sttpForward(mod, p, X, s);
    assert.ok(maxDiff(f.Y, ref.outputs.Y!) < 1e-12, 'Y (forward)');
    for (const [name, got, want] of [
      ['Pm', b.grads.Pm, ref.gradients.Pm!],
      ['Pv', b.grads.Pv, ref.gradients.Pv!],
      ['X', b.grads.X, ref.gradients.X!],
      ...(p.S ? [['S', b.grads.S!, ref.gradients.S!] as const] : []),
      ...b.grads.PL.map((g, i) => [`PL[${i}]`, g, ref.gradientLists.PL![i]!] as const),
      ...b.grads.PR.map((g, i) => [`PR[${i}]`, g, ref.gradientLists.PR![i]!] as const),
    ] as const) {
      assert.ok(maxDiff(got, want) < 1e-11 * Math.max(1, Math.max(...Array.from(want.data, Math.abs))), `grad ${name}`);
    }
    // ⟨dY, dY/dt⟩ along a random direction in every parameter and X, by central differences of
    // the batched forward
    const all = (q: SttpParams): Tensor[] => [...q.PL, q.Pm, q.Pv, ...q.PR, ...(q.S ? [q.S] : [])];
    const dirs = [...all(p), X].map((t) => new Tensor(t.shape, rng.normals(t.size)));
    const shift = (t: Tensor, u: Tensor, h: number): Tensor => new Tensor(t.shape, t.data.map((v, i) => v + h * u.data[i]!));
    const at = async (h: number): Promise<number> => {
      const ps = all(p).map((t, i) => shift(t, dirs[i]!, h));
      let k = 0;
      const q: SttpParams = { PL: p.PL.map(() => ps[k++]!), Pm: ps[k++]!, Pv: ps[k++]!, PR: p.PR.map(() => ps[k++]!), ...(p.S ? { S: ps[k++]! } : {}) };
      const y = (await sttpForward(mod, q, shift(X, dirs[dirs.length - 1]!, h), s)).Y;
      let acc = 0;
      for (let i = 0; i < y.data.length; i++) acc += y.data[i]! * dY.data[i]!;
      return acc;
    };
    const h = 1e-6;
    const fd = ((await at(h)) - (await at(-h))) / (2 * h);
    const gs = [...b.grads.PL, b.grads.Pm, b.grads.Pv, ...b.grads.PR, ...(b.grads.S ? [b.grads.S] : []), b.grads.X];
    let an = 0;
    gs.forEach((g, i) => {
      for (let j = 0; j < g.data.length; j++) an += g.data[j]! * dirs[i]!.data[j]!;
    });
    assert.ok(Math.abs(an - fd) <= 1e-6 * Math.max(1, Math.abs(fd)), `VJP ${an}, finite differences ${fd}`);
    // calls: one per distinct frame shape (reduced and full separately) + the apply
    const learned = spectrum === 'learned';
    const reduced = [...p.PL, ...(learned ? [] : [p.Pm]), ...p.PR];
    const full = [...(learned ? [p.Pm] : []), p.Pv];
    assert.equal(f.calls, distinctShapes(reduced) + distinctShapes(full) + 1);
    assert.ok(f.calls < s.K + 1, `${f.calls} calls for ${s.K} cores`);
    for (const st of [...f.statuses, ...b.statuses]) assert.ok(st.ok);
  });
}

test('forwardMany: one call per distinct shape, results in call order, equal to separate calls', async () => {
  const m = compile('fn f(A: mat[m, n], v: vec[n]) -> y: vec[m] = A * v + 1', { path: 'f.mat' });
  const rng = new Rng(9);
  const T = (sh: number[]) => new Tensor(sh, rng.normals(sh.reduce((a, x) => a * x, 1)));
  const calls = [[3, 2], [4, 2], [3, 2], [3, 2], [4, 5]].map(([a, b]) => ({ A: T([a!, b!]), v: T([b!]) }));
  const r = await forwardMany(m.fn('f'), calls);
  assert.equal(r.calls, 3);
  for (let i = 0; i < calls.length; i++) {
    const one = (await m.fn('f').forward(calls[i]!)).outputs.y!;
    assert.ok(maxDiff(r.outputs[i]!.y!, one) < 1e-15, `call ${i}`);
  }
});
