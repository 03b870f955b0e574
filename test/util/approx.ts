// Small numeric assertion helpers shared by the test suites.

import assert from 'node:assert/strict';

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** max |a − b| / max(max|b|, floor) */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-12): number {
  assert.equal(a.length, b.length, 'length mismatch');
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i]! - b[i]!));
  return e / Math.max(maxAbs(b), floor);
}

export function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  const e = relErr(a, b);
  assert.ok(e <= tol, `${what}: relative error ${e.toExponential(2)} > ${tol}`);
}

export function assertFinite(a: ArrayLike<number>, what: string): void {
  for (let i = 0; i < a.length; i++) assert.ok(Number.isFinite(a[i]!), `${what}[${i}] = ${a[i]} is not finite`);
}
