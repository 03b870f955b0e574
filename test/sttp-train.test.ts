// The short version of the STTP training example (examples/sttp/train.ts, issue 14 item 5): the
// digits classifier with an STTP, an SVDP and a dense hidden layer, 60 Adam steps each. It checks
// that training works (the loss falls, test accuracy is far above chance), that the trained STTP
// and SVDP weights are still spectral (σ_max = 1: Lipschitz-1 by construction, not by a penalty),
// and that the plot and the table are written.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { stdlibDir } from '../compiler/check/items.js';
import { jacobiEigen } from './oracles/less-exact.js';
import { curvesSvg, loadDigits, resultsTable, train } from '../examples/sttp/train.js';

function sigmaMax(w: ArrayLike<number>, m: number, n: number): number {
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < m; k++) s += w[k * n + i]! * w[k * n + j]!;
    g[i * n + j] = s;
  }
  return Math.sqrt(Math.max(...Array.from(jacobiEigen(g, n).values)));
}

test('the digits data set loads: 1797 images of 64 pixels in [0, 1], labels 0…9', () => {
  const d = loadDigits();
  assert.equal(d.n, 1797);
  assert.ok(d.X.every((x) => x >= 0 && x <= 1));
  assert.deepEqual([...new Set(d.y)].sort(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('training the digits classifier with STTP, SVDP and dense hidden layers (short run): loss falls, accuracy well above chance, weights stay spectral', async () => {
  const runs = await train(
    [
      { name: 'STTP r=4', kind: 'sttp', rank: 4 },
      { name: 'SVDP r=4', kind: 'svdp', rank: 4 },
      { name: 'dense', kind: 'dense', rank: 64 },
    ],
    { steps: 60, batch: 64, lr: 0.01, evalEvery: 20, seed: 14, quiet: true },
  );
  const mod = compile(readFileSync(join(stdlibDir(), 'sttp.mat'), 'utf8'), { path: join(stdlibDir(), 'sttp.mat') });
  for (const r of runs) {
    const head = r.loss.slice(0, 10).reduce((a, b) => a + b, 0) / 10;
    const tail = r.loss.slice(-10).reduce((a, b) => a + b, 0) / 10;
    assert.ok(tail < 0.8 * head, `${r.model.name}: loss ${head.toFixed(3)} → ${tail.toFixed(3)}`);
    assert.ok(r.finalAcc > 0.4, `${r.model.name}: test accuracy ${r.finalAcc} (chance 0.1)`);
    assert.equal(r.acc.length, 3);
    if (r.model.kind === 'sttp') {
      assert.equal(r.dof, 144);
      const p = Object.fromEntries(Object.entries(r.params).filter(([k]) => !['b1', 'W2', 'b2'].includes(k)));
      const W = (await mod.fn('sttp_weight').forward(p, { dims: r.dims })).outputs.W!;
      assert.ok(Math.abs(sigmaMax(W.data, 64, 64) - 1) < 1e-9, 'STTP: σ_max(W) = 1 after training');
    }
    if (r.model.kind === 'svdp') {
      assert.equal(r.dof, 4 * 128 - 16);
      const W = (await mod.fn('svdp_weight').forward({ PU: r.params.PU!, PV: r.params.PV!, S: r.params.S! })).outputs.W!;
      assert.ok(Math.abs(sigmaMax(W.data, 64, 64) - 1) < 1e-9, 'SVDP: σ_max(W) = 1 after training');
    }
  }
  const svg = curvesSvg(runs);
  assert.ok(svg.startsWith('<svg') && svg.trimEnd().endsWith('</svg>'));
  assert.equal((svg.match(/<polyline/g) ?? []).length, 2 * runs.length);
  const table = resultsTable(runs);
  assert.equal(table.trim().split('\n').length, 2 + runs.length);
  assert.match(table, /\| STTP \| 4 \| 144 \| 3\.5 % \|/);
});
