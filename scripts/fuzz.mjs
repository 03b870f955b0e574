#!/usr/bin/env node
// The long fuzz campaign (`npm run fuzz -- --cases N`, after a build; issue 12). Cases are random
// text, token soup and mutants of the standard library, the diagnostics corpus and seed specs
// (test/fuzz-gen.ts: token deletions, duplications and swaps, truncation, changed dimensions and
// types, wrong arities, recursion, huge numbers, unicode, deep nesting, long chains, huge trip
// counts, changed operators, builtins and numbers). Each goes through check → compile → forward,
// VJP and JVP → a CPU run of each (test/fuzz-run.ts) in a pool of worker threads with a
// watchdog per stage (test/fuzz-pool.ts); a case past the watchdog is run again in a fresh worker,
// given three times as long, and counts as a hang only when it is past that too (a machine busy
// with other work can starve a case: such cases are counted apart, and those slower than the
// watchdog the second time too are listed by index). Every distinct crash or hang is printed once with a
// minimized repro and saved to test/fuzz-corpus/, which test/fuzz.test.ts replays. --cli N also
// runs N cases through the command line (`matc check`, `matc run --random`): exit 2 or a stack
// trace there is a crash too.
//
//   node scripts/fuzz.mjs [--seed S] [--start I] [--cases N] [--jobs J] [--timeout MS] [--cli N]
//                         [--progress N] [--no-save]
//   node scripts/fuzz.mjs SEED COUNT            (the older positional form)
//
// A line of counts goes to stderr every --progress cases (10,000), with the index below which every
// case has finished ("done through"): after an interruption (SIGINT, SIGTERM) the summary of the
// cases so far is printed with that index, and `--start` continues from it.
//
// Exit 1 if anything crashed or hung. A stage that runs past the watchdog while *running* a
// function whose spec asks for a trip count or iteration limit of a million or more is counted
// apart ("requested long runs"): the user asked for that much work.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync, mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
if (!existsSync(join(root, 'dist', 'test', 'fuzz-pool.js'))) {
  console.error('dist/ is missing; build first (npm run fuzz does)');
  process.exit(2);
}
const { FuzzPool } = await import('../dist/test/fuzz-pool.js');
const { fuzzCase, loadCorpus, minimize } = await import('../dist/test/fuzz-gen.js');
const { asksForLongRun, isRequestedLongRun } = await import('../dist/test/fuzz-run.js');

// ---- options ----------------------------------------------------------------------------------------

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const flag = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return false;
  args.splice(i, 1);
  return true;
};
const named = { seed: opt('--seed'), cases: opt('--cases'), jobs: opt('--jobs'), timeout: opt('--timeout'), cli: opt('--cli'), start: opt('--start'), progress: opt('--progress') };
const save = !flag('--no-save');
// what is left are the positional SEED and COUNT of the older form
const seed = Number(named.seed ?? args[0] ?? Date.now() % 1e9);
const count = Number(named.cases ?? args[1] ?? 100000);
const jobs = Number(named.jobs ?? Math.max(1, availableParallelism() - 1));
const timeoutMs = Number(named.timeout ?? 10000);
const cliCases = Number(named.cli ?? 0);
const start = Number(named.start ?? 0);
const progress = Number(named.progress ?? 10000);
for (const [k, v] of Object.entries({ seed, count, jobs, timeoutMs, cliCases, start, progress })) {
  if (!Number.isInteger(v) || v < 0 || (k === 'progress' && v === 0)) {
    console.error(`bad --${k}: ${v}\nusage: node scripts/fuzz.mjs [--seed S] [--start I] [--cases N] [--jobs J] [--timeout MS] [--cli N] [--progress N] [--no-save]`);
    process.exit(2);
  }
}

const corpus = loadCorpus(root);
const corpusDir = join(root, 'test', 'fuzz-corpus');
const pool = new FuzzPool(jobs, timeoutMs);

// ---- bookkeeping --------------------------------------------------------------------------------------

const tally = { cases: 0, diagnostics: 0, 'compile error': 0, 'runtime error': 0, ran: 0, crashes: 0, hangs: 0, longRuns: 0, internal: 0, stackOverflows: 0, unconfirmed: 0 };
/** cases past the watchdog once that finished when run again (a loaded machine, not a hang) */
const unconfirmed = [];
const distinct = new Map(); // sig → { n, first }
/** the index of every confirmed hang (a distinct hang prints only its first case) */
const hangCases = [];
/** cases past the watchdog that finished the second time, but took longer than it then too */
const slowCases = [];
const longRuns = [];
/** the command-line cases' counts (--cli) */
const cli = { cases: 0, exit2: 0, traces: 0, timeouts: 0 };
const t0 = performance.now();
/** Cases finish out of order with several workers: `doneThrough` is the first index not finished
 *  yet (every case below it has), `finished` the indices at or past it that have. */
let doneThrough = Number(named.start ?? 0);
const finished = new Set();
function markDone(i) {
  finished.add(i);
  while (finished.delete(doneThrough)) doneThrough++;
}

const short = (s, n = 400) => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);

async function record(c, r) {
  tally.crashes += r.verdict === 'crash' ? 1 : 0;
  tally.hangs += r.verdict === 'hang' ? 1 : 0;
  if (/InternalError/.test(r.sig ?? '')) tally.internal++;
  if (/Maximum call stack/.test(r.sig ?? '')) tally.stackOverflows++;
  const prev = distinct.get(r.sig);
  if (prev) {
    prev.n++;
    return;
  }
  // minimize a crash (not a hang: every try could take the whole timeout)
  let small = c.text;
  if (r.verdict === 'crash') {
    small = await minimizeAsync(c.text, async (t) => (await pool.run(t)).sig === r.sig, 150);
  }
  distinct.set(r.sig, { n: 1, first: { c, r, small } });
  console.log(`\n[${r.verdict}] case ${c.index} (seed ${seed}, ${c.kind}${c.mutations ? `: ${c.mutations.join(', ')}` : ''}): ${r.sig}\n${r.text ?? ''}\ninput:     ${short(JSON.stringify(c.text))}\nminimized: ${short(JSON.stringify(small))}`);
  if (save) {
    mkdirSync(corpusDir, { recursive: true });
    const h = createHash('sha256').update(r.sig).digest('hex').slice(0, 10);
    const file = join(corpusDir, `${r.verdict}-${h}.mat`);
    if (!existsSync(file)) {
      const header = [`// fuzz ${r.verdict}: ${r.sig}`, `// found by: node scripts/fuzz.mjs --seed ${seed} (case ${c.index}, ${c.kind}${c.mutations ? `: ${c.mutations.join(', ')}` : ''})`, '// replayed by test/fuzz.test.ts', ''];
      writeFileSync(file, header.join('\n') + small + (small.endsWith('\n') ? '' : '\n'));
    }
  }
}

/** minimize() with an asynchronous predicate (each try runs in the pool). */
async function minimizeAsync(text, fails, budget) {
  // test/fuzz-gen's minimize is synchronous; collect its candidates in rounds
  let cur = text;
  let tries = 0;
  for (let round = 0; round < 50 && tries < budget; round++) {
    const candidates = [];
    minimize(cur, (t) => {
      candidates.push(t);
      return false;
    }, Math.min(200, budget - tries));
    let improved = false;
    for (const cand of candidates) {
      if (++tries > budget) break;
      if (cand !== cur && cand.length < cur.length && (await fails(cand))) {
        cur = cand;
        improved = true;
        break;
      }
    }
    if (!improved) break;
  }
  return cur;
}

/** The summary of the cases so far; the exit status (1 if anything crashed or hung). */
function report(interrupted) {
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(`\nfuzz seed ${seed}: ${tally.cases} cases (index ${start}…${end - 1}${interrupted ? `; interrupted, done through index ${doneThrough - 1}: continue with --start ${doneThrough}` : ''}) in ${secs} s with ${jobs} worker(s), watchdog ${timeoutMs} ms per stage`);
  console.log(`  reached: ${tally.diagnostics} diagnostics, ${tally['compile error']} compile errors, ${tally['runtime error']} runtime errors, ${tally.ran} ran cleanly`);
  console.log(`  crashes: ${tally.crashes} (${tally.internal} internal errors, ${tally.stackOverflows} stack overflows), hangs: ${tally.hangs}, distinct: ${distinct.size}`);
  if (hangCases.length) console.log(`  hang cases (rerun one with --start I --cases 1): ${hangCases.join(', ')}`);
  if (slowCases.length) console.log(`  slow cases (past the watchdog, then finished in more than it; rerun alone): ${slowCases.join(', ')}`);
  console.log(`  requested long runs (a run past the watchdog with a trip count or iteration limit ≥ 10⁶): ${tally.longRuns}`);
  console.log(`  past the watchdog once, finished when run again (not hangs: a loaded machine): ${tally.unconfirmed}`);
  for (const u of unconfirmed.slice(0, 5)) console.log(`    case ${u.index} (${u.stage}): ${Math.round(u.ms ?? 0)} ms, then ${Math.round(u.again ?? 0)} ms`);
  for (const l of longRuns.slice(0, 3)) console.log(`    case ${l.index} (${l.stage}): ${short(JSON.stringify(l.text), 200)}`);
  if (cliCases > 0) console.log(`  cli: ${cli.cases} runs of ${cliCases} cases: ${cli.exit2} exit 2, ${cli.traces} stack traces, ${cli.timeouts} timeouts`);
  for (const [sig, { n, first }] of distinct) console.log(`  ${n}× ${sig}\n     repro (case ${first.c.index}): ${short(JSON.stringify(first.small), 300)}`);
  if (save && distinct.size) console.log(`  saved to ${corpusDir} (${readdirSync(corpusDir).length} files)`);
  return distinct.size > 0 || cli.exit2 > 0 || cli.traces > 0 ? 1 : 0;
}

// ---- the API campaign -------------------------------------------------------------------------------------

let nextIndex = start;
const end = start + count;
async function worker() {
  for (;;) {
    const i = nextIndex++;
    if (i >= end) return;
    const c = fuzzCase(seed, i, corpus);
    const runTimeout = asksForLongRun(c.text) ? Math.min(1000, timeoutMs) : timeoutMs;
    let r = await pool.run(c.text, {}, timeoutMs, runTimeout);
    if (r.verdict === 'hang' && !isRequestedLongRun(c.text, r)) {
      // a hang is confirmed by a second run in a fresh worker, given three times as long: on a
      // machine busy with other work (a campaign at low priority beside test suites) a case can
      // be starved past the watchdog, and a second time too; a stage that never ends fails both.
      // A case that finishes the second time but took longer than the watchdog is listed as slow
      // (its index, to run again alone on a quiet machine: --start I --cases 1)
      const again = await pool.run(c.text, {}, 3 * timeoutMs, 3 * runTimeout);
      if (again.verdict !== 'hang') {
        tally.unconfirmed++;
        if (unconfirmed.length < 20) unconfirmed.push({ index: i, stage: r.stage, ms: r.wallMs, again: again.wallMs });
        if (again.wallMs > timeoutMs && slowCases.length < 1000) slowCases.push(i);
        r = again;
      }
    }
    tally.cases++;
    if (r.reached) tally[r.reached]++;
    if (isRequestedLongRun(c.text, r)) {
      tally.longRuns++;
      if (longRuns.length < 20) longRuns.push({ index: i, stage: r.stage, text: c.text });
    } else if (r.verdict !== 'ok') {
      if (r.verdict === 'hang' && hangCases.length < 1000) hangCases.push(i);
      await record(c, r);
    }
    markDone(i);
    if (tally.cases % progress === 0) {
      const s = ((performance.now() - t0) / 1000).toFixed(0);
      process.stderr.write(`  ${tally.cases}/${count} cases in ${s} s (done through index ${doneThrough - 1}): ${tally.ran} ran, ${tally.crashes} crashes, ${tally.hangs} hangs (${tally.longRuns} requested long runs, ${tally.unconfirmed} past the watchdog once only), ${distinct.size} distinct${hangCases.length ? `; hang cases ${hangCases.join(', ')}` : ''}${slowCases.length ? `; slow cases ${slowCases.join(', ')}` : ''}\n`);
    }
  }
}
// An interrupted campaign still reports what it ran, and where to continue.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    const code = report(true);
    process.exit(code || (sig === 'SIGINT' ? 130 : 143));
  });
}
await Promise.all(Array.from({ length: jobs }, () => worker()));

// ---- the CLI cases --------------------------------------------------------------------------------------------

if (cliCases > 0) {
  const dir = mkdtempSync(join(tmpdir(), 'matc-fuzz-cli-'));
  const matc = join(root, 'dist', 'cli', 'matc.js');
  try {
    for (let i = 0; i < cliCases; i++) {
      const c = fuzzCase(seed + 1, i, corpus);
      const file = join(dir, 'case.mat');
      writeFileSync(file, c.text);
      for (const argv of [['check', file], ['run', file, '--random', '--backend', 'cpu']]) {
        const r = spawnSync(process.execPath, [matc, ...argv], { encoding: 'utf8', timeout: 6 * timeoutMs, maxBuffer: 64 << 20 });
        cli.cases++;
        const trace = /internal error|\n\s+at .+\(.*:\d+:\d+\)/.test(r.stderr ?? '');
        if (r.error && r.error.code === 'ETIMEDOUT') cli.timeouts++;
        else if (r.status === 2 || trace) {
          if (r.status === 2) cli.exit2++;
          if (trace) cli.traces++;
          console.log(`\n[cli] case ${i} (seed ${seed + 1}): matc ${argv[0]} exited ${r.status}\n${short(r.stderr, 800)}\ninput: ${short(JSON.stringify(c.text))}`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
await pool.close();

// ---- report ---------------------------------------------------------------------------------------------------

process.exit(report(false));
