// Tensor.firstNonFinite / countNonFinite (runtime/tensor.ts), which every call runs over its
// inputs (MATR104) and outputs (the non-finite warnings): the fast pass sums x · 0 (±0 for finite
// x, NaN for NaN and ±Inf) in four partial sums; against a plain loop over lengths around the
// unrolling, every position, −0, the largest finite values, subnormals, f64 and f32.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../runtime/tensor.js';

const naiveFirst = (d: ArrayLike<number>): number => {
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) return i;
  return -1;
};
const naiveCount = (d: ArrayLike<number>): number => Array.from(d).filter((x) => !Number.isFinite(x)).length;

test('firstNonFinite and countNonFinite agree with a plain loop (f64 and f32, every position, edge values)', () => {
  // the largest finite values and subnormals of each format
  const finite64 = [0, -0, 1, -1, Number.MAX_VALUE, -Number.MAX_VALUE, 5e-324, -5e-324, 3.4e38, 1e-45];
  const finite32 = [0, -0, 1, -1, 3.4028234663852886e38, -3.4028234663852886e38, 1.401298464324817e-45, -1.401298464324817e-45];
  const bad = [NaN, Infinity, -Infinity];
  for (const len of [0, 1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17]) {
    for (const Arr of [Float64Array, Float32Array]) {
      const finite = Arr === Float64Array ? finite64 : finite32;
      const base = new Arr(len).map((_, i) => finite[i % finite.length]!);
      assert.ok(base.every((x) => Number.isFinite(x)));
      const t = new Tensor([len], base);
      assert.equal(t.firstNonFinite(), -1, `${Arr.name} ${len}: all finite`);
      assert.equal(t.countNonFinite(), 0);
      for (let at = 0; at < len; at++) {
        for (const b of bad) {
          const d = base.slice();
          d[at] = b;
          if (at + 2 < len) d[at + 2] = bad[(bad.indexOf(b) + 1) % 3]!;
          const u = new Tensor([len], d);
          assert.equal(u.firstNonFinite(), naiveFirst(d), `${Arr.name} ${len}: ${b} at ${at}`);
          assert.equal(u.countNonFinite(), naiveCount(d), `${Arr.name} ${len}: count, ${b} at ${at}`);
        }
      }
    }
  }
});
