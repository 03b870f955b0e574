// The training example of issue 15 (examples/spd/train.mjs), short: an MLP on the 8×8 digits
// trained for 40 steps by SGD, Adam, KFAC, INGD, INGD with binary16 factors, SINGD-diagonal and IF-Shampoo, the forward and
// backward (and the layer statistics) from examples/spd/mlp.mat, the optimizers from stdlib/spd.mat.
// Every optimizer must lower the test loss from its initial value (2.32, ln 10 near the uniform
// prediction) and the SVG must hold every curve.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './gen/paths.js';

test('examples/spd/train.mjs: seven optimizers train the digits MLP for 40 steps; one SVG of their curves', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spd-train-'));
  const svg = join(dir, 'curves.svg');
  const json = join(dir, 'curves.json');
  const r = spawnSync(process.execPath, [join(repoRoot, 'examples/spd/train.mjs'), '--steps', '40', '--eval-every', '20', '--out', svg, '--json', json], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const curves = JSON.parse(readFileSync(json, 'utf8')) as { name: string; step: number[]; testLoss: number[]; testAcc: number[]; trainLoss: number[] }[];
  assert.deepEqual(curves.map((c) => c.name), ['SGD', 'Adam', 'KFAC', 'INGD', 'INGD-f16', 'SINGD-diag', 'IF-Shampoo']);
  for (const c of curves) {
    assert.deepEqual(c.step, [0, 20, 40], c.name);
    assert.equal(c.trainLoss.length, 40, c.name);
    assert.ok(c.trainLoss.every(Number.isFinite), c.name);
    const [first, last] = [c.testLoss[0]!, c.testLoss.at(-1)!];
    console.log(`# ${c.name}: test loss ${first.toFixed(3)} → ${last.toFixed(3)}, accuracy ${(100 * c.testAcc.at(-1)!).toFixed(1)}%`);
    assert.ok(last < first - 0.1, `${c.name}: the test loss fell from ${first} to ${last}`);
    assert.ok(c.testAcc.at(-1)! > 0.3, `${c.name}: accuracy ${c.testAcc.at(-1)}`);
  }
  const text = readFileSync(svg, 'utf8');
  assert.equal((text.match(/<polyline /g) ?? []).length, 4 * curves.length);
  for (const c of curves) assert.ok(text.includes(`>${c.name}</text>`), c.name);
});
