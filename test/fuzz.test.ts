// The fuzz layer (STYLE.md "Test layers"): random text, token soup and mutated specs go through
// checkSource; whatever the input, the checker answers with well-formed diagnostics and never
// throws. Mutants that still check cleanly go on through compileProgram(...).forward/vjp, where
// the only acceptable failure is a CompileError. The long run is `npm run fuzz`
// (scripts/fuzz.mjs, 100,000 cases); this one is sized for CI.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompileError, checkSource, compileProgram } from '../compiler/compile.js';
import { render, renderAll, type Diagnostic } from '../compiler/diagnostics.js';
import { stdlibDir, type SourceLoader } from '../compiler/check/items.js';
import { fuzzCase, loadCorpus, minimize, type FuzzCase } from './fuzz-gen.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = [resolve(here, '../..'), resolve(here, '..')].find((p) => existsSync(join(p, 'stdlib')))!;
const corpus = loadCorpus(root);
const SEED = Number(process.env.FUZZ_SEED ?? 20261123);
const CHECK_CASES = 2500;
const DERIVE_CASES = 300;

// Imports resolve against the standard library only, read once: the result of a case must not
// depend on the files around the checkout, and the fuzzer must not read arbitrary paths it
// generates.
const stdlib = new Map<string, string>();
for (const f of readdirSync(stdlibDir())) if (f.endsWith('.mat')) stdlib.set(join(stdlibDir(), f), readFileSync(join(stdlibDir(), f), 'utf8'));
const loader: SourceLoader = { read: (p) => stdlib.get(p) };
const PATH = 'fuzz.mat';

/** What is wrong with a diagnostic, or null. */
function malformed(d: Diagnostic, text: string): string | null {
  if (typeof d.code !== 'string' || !/^MAT\d{4}$/.test(d.code)) return `bad code ${JSON.stringify(d.code)}`;
  if (typeof d.message !== 'string' || d.message.trim() === '') return `${d.code} has no message`;
  if (d.severity !== 'error' && d.severity !== 'warning') return `${d.code} has severity ${String(d.severity)}`;
  if (!d.span) return `${d.code} has no span`;
  const len = d.span.file.path === PATH ? text.length : d.span.file.text.length;
  if (!(d.span.start >= 0 && d.span.start <= d.span.end && d.span.end <= len)) return `${d.code} span ${d.span.start}..${d.span.end} outside ${d.span.file.path} (${len} chars)`;
  for (const n of d.notes ?? []) {
    if (typeof n.message !== 'string') return `${d.code} has a note without a message`;
    if (n.span && !(n.span.start >= 0 && n.span.start <= n.span.end && n.span.end <= n.span.file.text.length)) return `${d.code} note span outside its file`;
  }
  render(d);
  return null;
}

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

/** Compiles a clean case and builds the forward and VJP of every function. */
function deriveCase(text: string): string | null {
  let program;
  try {
    program = compileProgram(text, { path: PATH, loader });
  } catch (e) {
    return e instanceof CompileError ? null : `compileProgram threw ${describe(e)}`;
  }
  for (const name of program.names) {
    for (const mode of ['forward', 'vjp'] as const) {
      try {
        program[mode](name);
      } catch (e) {
        if (!(e instanceof CompileError)) return `${mode}(${name}) threw ${describe(e)}`;
      }
    }
  }
  return null;
}

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

const clean: FuzzCase[] = [];

test(`checkSource survives ${CHECK_CASES} fuzz cases with well-formed diagnostics`, (t) => {
  const failures: { c: FuzzCase; why: string }[] = [];
  for (let i = 0; i < CHECK_CASES; i++) {
    const c = fuzzCase(SEED, i, corpus);
    const r = checkCase(c.text);
    if (r.failure) failures.push({ c, why: r.failure });
    else if (r.clean && c.kind === 'mutant' && clean.length < DERIVE_CASES) clean.push(c);
  }
  t.diagnostic(`${CHECK_CASES} cases checked`);
  assert.equal(failures.length, 0, report('check', failures, checkFails));
});

test('clean mutants derive or fail with a CompileError', (t) => {
  // Mutants are mostly broken; these come from the same corpus so the count stays in the hundreds.
  for (let i = CHECK_CASES; clean.length < DERIVE_CASES && i < CHECK_CASES + 20 * DERIVE_CASES; i++) {
    const c = fuzzCase(SEED, i, corpus);
    if (c.kind === 'mutant' && checkCase(c.text).clean) clean.push(c);
  }
  assert.ok(clean.length >= DERIVE_CASES / 2, `only ${clean.length} clean mutants to derive`);
  const failures: { c: FuzzCase; why: string }[] = [];
  for (const c of clean) {
    const why = deriveCase(c.text);
    if (why) failures.push({ c, why });
  }
  t.diagnostic(`${clean.length} clean mutants compiled, forward and vjp of every function built`);
  assert.equal(failures.length, 0, report('derive', failures, deriveCase));
});

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
