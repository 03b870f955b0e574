// The fuzz pool's watchdog (test/fuzz-pool.ts): a stage that runs past its limit is a hang, and
// the time the pool's own thread could not run (stopped with SIGSTOP while a benchmark ran, or
// starved) is not charged to the case: before, a campaign paused for minutes reported every case
// in flight as a hang, and its confirmation run too when the pauses followed each other.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { FuzzPool, tickCredit } from './fuzz-pool.js';

const pool = new FuzzPool(1, 10_000);
after(() => pool.close());

// an iteration count far past any watchdog: its run stage cannot finish
const LONG = 'fn f(x: vec[n]) -> vec[n] = iterate (y = x) for i in 0..2000000000 => sin(y) + 1';
const SHORT = 'fn f(x: vec[n]) -> vec[n] = 2 * x + 1';

test('a stage past the watchdog is a hang, reported within about a tick of its limit', async () => {
  const t0 = performance.now();
  const r = await pool.run(LONG, {}, 800);
  const ms = performance.now() - t0;
  assert.equal(r.verdict, 'hang', JSON.stringify(r));
  assert.ok(ms < 5000, `reported after ${ms.toFixed(0)} ms`);
  // the pool runs on after replacing the worker
  assert.equal((await pool.run(SHORT, {}, 10_000)).verdict, 'ok');
});

test('time the pool thread could not run is not charged to a case', async () => {
  await pool.run(SHORT, {}, 10_000); // warm: the worker has loaded the compiler
  const pending = pool.run(SHORT, {}, 1000);
  await new Promise((resolve) => setImmediate(resolve)); // the case is posted to the worker
  // the pool's thread is blocked for 1.5 s (as if stopped) while the worker finishes the case
  const until = performance.now() + 1500;
  while (performance.now() < until) {
    /* busy */
  }
  const r = await pending;
  assert.equal(r.verdict, 'ok', `a case that took ${r.wallMs.toFixed(0)} ms of wall time, ${JSON.stringify(r.text ?? '')}`);
  assert.ok(r.wallMs >= 1400);
});

test('the watchdog charges computing, not waiting: a tick credits at most the CPU time the process used, shared among its busy workers (fuzz seed 6868 case 249232 took 1.4 s alone and was reported as a hang while test suites starved the nice-19 campaign)', () => {
  // a worker computing without end: charged its wall time
  assert.equal(tickCredit(250, 250, 1), 250);
  // starved: a quarter of a core for it over the tick
  assert.equal(tickCredit(250, 60, 1), 60);
  // two busy workers share the process's CPU time
  assert.equal(tickCredit(250, 500, 2), 250);
  assert.equal(tickCredit(250, 100, 2), 50);
  // a pause (SIGSTOP, a blocked pool thread): at most two ticks, whatever the CPU time says
  assert.equal(tickCredit(5000, 5000, 1), 500);
  // no busy worker counted (between cases): as one
  assert.equal(tickCredit(250, 30, 0), 30);
});
