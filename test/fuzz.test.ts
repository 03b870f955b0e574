// The fuzz layer (STYLE.md "Test layers"; issue 12): random text, token soup and mutated specs
// go through checkSource, where whatever the input the checker answers with well-formed
// diagnostics and never throws; a seeded sample goes on through the whole pipeline — check →
// compile → forward, VJP and JVP → a CPU run of each — in worker threads with a watchdog per
// stage (test/fuzz-pool.ts), where the only acceptable failures are diagnostics, CompileErrors
// and MatcRuntimeErrors and no stage may take 10 s; and every crash the long campaign saved
// (test/fuzz-corpus/) is replayed. The campaign is `npm run fuzz -- --cases N` (scripts/fuzz.mjs).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompileError, checkSource, compileProgram } from '../compiler/compile.js';
import { renderAll, type Diagnostic } from '../compiler/diagnostics.js';
import { stdlibDir, type SourceLoader } from '../compiler/check/items.js';
import { fuzzCase, loadCorpus, minimize, type FuzzCase } from './fuzz-gen.js';
import { asksForLongRun, isRequestedLongRun, malformed } from './fuzz-run.js';
import { FuzzPool } from './fuzz-pool.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = [resolve(here, '../..'), resolve(here, '..')].find((p) => existsSync(join(p, 'stdlib')))!;
const corpus = loadCorpus(root);
const SEED = Number(process.env.FUZZ_SEED ?? 20261123);
const CHECK_CASES = 2500;
const PIPELINE_CASES = 400;
const WATCHDOG_MS = 10000;

// Imports resolve against the standard library only, read once: the result of a case must not
// depend on the files around the checkout, and the fuzzer must not read arbitrary paths it
// generates.
const stdlib = new Map<string, string>();
for (const f of readdirSync(stdlibDir())) if (f.endsWith('.mat')) stdlib.set(join(stdlibDir(), f), readFileSync(join(stdlibDir(), f), 'utf8'));
const loader: SourceLoader = { read: (p) => stdlib.get(p) };
const PATH = 'fuzz.mat';

/** Runs one case through the checker: a failure description (or null) and whether it is clean. */
function checkCase(text: string): { failure: string | null; clean: boolean } {
  let ds: Diagnostic[];
  try {
    ds = checkSource(text, { path: PATH, loader });
  } catch (e) {
    return { failure: `checkSource threw ${describe(e)}`, clean: false };
  }
  for (const d of ds) {
    try {
      const bad = malformed(d, text);
      if (bad) return { failure: bad, clean: false };
    } catch (e) {
      return { failure: `render threw ${describe(e)}`, clean: false };
    }
  }
  try {
    renderAll(ds);
  } catch (e) {
    return { failure: `renderAll threw ${describe(e)}`, clean: false };
  }
  return { failure: null, clean: !ds.some((d) => d.severity === 'error') };
}

const checkFails = (t: string): string | null => checkCase(t).failure;

function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const frames = (e.stack ?? '').split('\n').filter((l) => l.trimStart().startsWith('at ')).slice(0, 3);
  return `${e.name}: ${e.message.split('\n')[0]}\n${frames.join('\n')}`;
}

function report(kind: string, failures: { c: FuzzCase; why: string }[], run: (t: string) => string | null): string {
  return failures
    .slice(0, 5)
    .map(({ c, why }) => {
      const small = minimize(c.text, (t) => run(t) !== null, 300);
      return `${kind} case ${c.index} (seed ${SEED}, ${c.kind}): ${why}\ninput: ${JSON.stringify(c.text)}\nminimized: ${JSON.stringify(small)}`;
    })
    .join('\n\n');
}

/** Crashes this fuzzer found (all fixed); each repro stays as a regression test below. */
const fixedCrashes: { name: string; repro: () => unknown }[] = [
  {
    name: 'a matrix literal with an empty row ([x; ]) crashes matrixLit',
    repro: () => checkSource('fn f(x: real) -> vec[2] =\n  [x; ]\n', { path: PATH, loader }),
  },
  {
    name: 'an empty matrix literal ([]) crashes matrixLit',
    repro: () => checkSource('fn f(x: real) -> real =\n  []\n', { path: PATH, loader }),
  },
  {
    name: 'calling a function whose parameter type has too many dimensions crashes inlineCall',
    repro: () => checkSource('fn sq(x: vec[n, n]) -> real = sumsq(x)\nfn total(v: vec[n]) -> real = sq(v)\n', { path: PATH, loader }),
  },
  {
    name: 'leaving out an argument whose parameter has no default, after one that has, crashes inlineCall',
    repro: () => checkSource('fn scaled(s: real = 1, x: vec[n]) -> vec[n] = s * x\nfn use(x: vec[n]) -> vec[n] = scaled(2)\n', { path: PATH, loader }),
  },
];

test(`checkSource survives ${CHECK_CASES} fuzz cases with well-formed diagnostics`, (t) => {
  const failures: { c: FuzzCase; why: string }[] = [];
  for (let i = 0; i < CHECK_CASES; i++) {
    const c = fuzzCase(SEED, i, corpus);
    const r = checkCase(c.text);
    if (r.failure) failures.push({ c, why: r.failure });
  }
  t.diagnostic(`${CHECK_CASES} cases checked`);
  assert.equal(failures.length, 0, report('check', failures, checkFails));
});

const pool = new FuzzPool(2, WATCHDOG_MS);
after(() => pool.close());

/** Known crashes in code outside this test's reach, matched against a failure's signature and
 *  frames, with why. A replayed case that fails this way is marked todo (reported, not failing
 *  the suite); delete the entry when the fix lands, and the cases pass. */
const knownUnfixed: [RegExp, string][] = [];
const knownWhy = (r: { sig?: string; text?: string }): string | undefined => knownUnfixed.find(([re]) => re.test(`${r.sig ?? ''}\n${r.text ?? ''}`))?.[1];

test(`${PIPELINE_CASES} fuzz cases go through check, compile, forward/VJP/JVP and a CPU run without a crash or a stage past ${WATCHDOG_MS / 1000} s`, async (t) => {
  const tally: Record<string, number> = {};
  const failures: string[] = [];
  const known: string[] = [];
  for (let i = 0; i < PIPELINE_CASES; i++) {
    const c = fuzzCase(SEED + 1, i, corpus);
    const r = await pool.run(c.text, {}, WATCHDOG_MS, asksForLongRun(c.text) ? 1000 : WATCHDOG_MS);
    const what = isRequestedLongRun(c.text, r) ? 'requested long run' : (r.reached ?? r.verdict);
    tally[what] = (tally[what] ?? 0) + 1;
    if (r.verdict === 'ok' || what === 'requested long run') continue;
    const line = `case ${i} (seed ${SEED + 1}, ${c.kind}${c.mutations ? `: ${c.mutations.join(', ')}` : ''}): ${r.sig}\n${r.text}\ninput: ${JSON.stringify(c.text).slice(0, 500)}`;
    if (knownWhy(r)) known.push(line);
    else failures.push(line);
  }
  t.diagnostic(`reached: ${JSON.stringify(tally)}; known unfixed: ${known.length}`);
  assert.ok((tally.ran ?? 0) >= PIPELINE_CASES / 40, `only ${tally.ran ?? 0} cases ran: the sample no longer reaches the run stage`);
  assert.deepEqual(failures, []);
});

const corpusDir = join(root, 'test', 'fuzz-corpus');
const saved = existsSync(corpusDir) ? readdirSync(corpusDir).filter((f) => f.endsWith('.mat')).sort() : [];
for (const file of saved) {
  const text = readFileSync(join(corpusDir, file), 'utf8');
  const sig = /^\/\/ fuzz \w+: (.*)$/m.exec(text)?.[1] ?? '';
  test(`fuzz corpus ${file} (found as ${sig.slice(0, 80)}) runs without a crash or a hang`, async (t) => {
    const r = await pool.run(text, {}, WATCHDOG_MS, asksForLongRun(text) ? 1000 : WATCHDOG_MS);
    if (isRequestedLongRun(text, r) || r.verdict === 'ok') return;
    const why = knownWhy(r);
    if (why) t.todo(why);
    assert.equal(r.verdict, 'ok', `${r.sig}\n${r.text}`);
  });
}

for (const k of fixedCrashes) {
  test(`regression (fuzzer): ${k.name.replace(/ crashes .*/, '')} is a diagnostic, not a crash`, () => {
    assert.doesNotThrow(k.repro);
  });
}

// Regression (found outside the fuzzer): importing a directory threw EISDIR from the file loader.
test('importing a directory is a diagnostic, not a crash', () => {
  assert.doesNotThrow(() => checkSource('import "."\n', { path: 'x.mat' }));
});

// Regression: a solver error raised while expanding (MAT0409) escaped Program.stage as a plain Error.
test('stage(name, "expand") reports solver errors as a CompileError', () => {
  const src = 'layer top(X: sym[n]) -> u: sphere[n] =\n  argmax u: sphere[n] of sum(exp(X * u))\n    by power_iteration(max_iter: 100)\n';
  const program = compileProgram(src, { path: PATH, loader });
  assert.throws(() => program.stage('top', 'expand'), (e: unknown) => e instanceof CompileError && (e as CompileError).diagnostics[0]!.code === 'MAT0409');
});
