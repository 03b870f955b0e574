// The errors layer (STYLE.md "Test layers"): test/diagnostics/ holds one small spec per
// diagnostic code, named after it (MAT0203.mat; a second trigger of the same code gets a suffix,
// MAT0403-expand.mat), and NAME.expected pins the exact rendered text. A spec triggers its code
// and no other, the way a user would, so the golden doubles as the docs example
// (docs/diagnostics.md). `UPDATE_GOLDEN=1 npm test` rewrites the goldens (esbuild style);
// review the diff before committing it.
//
// Some codes are only raised when a derivative or a solver is built, not by `matc check`; their
// spec starts with `// derive: MODE NAME` and the golden is the CompileError that
// compileProgram(text).MODE(NAME) throws. A spec about the compile-time budget (MAT0703) starts
// with `// budget-steps: N`, the budget of steps it is checked with (steps, unlike time, make the
// golden the same on every machine).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompileError, checkSource, compileProgram } from '../compiler/compile.js';
import { renderAll, type Diagnostic } from '../compiler/diagnostics.js';

const here = dirname(fileURLToPath(import.meta.url));
// Compiled tests run from dist/test, sources from test/: find the checkout either way.
const root = [resolve(here, '../..'), resolve(here, '..')].find((p) => existsSync(join(p, 'test', 'diagnostics')))!;
const specDir = join(root, 'test', 'diagnostics');
const update = process.env.UPDATE_GOLDEN === '1';

/**
 * Codes the compiler declares but no spec can raise today. Each has a spec showing the nearest
 * user program; its golden pins what happens instead, and the test fails once the code becomes
 * reachable so that the entry is removed and the golden updated.
 */
const unreachable: ReadonlyMap<string, string> = new Map([
]);

/** Codes matching `re` (one capture group) quoted in the TypeScript sources under `dirs`. */
function codesIn(dirs: string[], re: RegExp): string[] {
  const codes = new Set<string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts')) for (const m of readFileSync(p, 'utf8').matchAll(re)) codes.add(m[1]!);
    }
  };
  for (const d of dirs) walk(join(root, d));
  return [...codes].sort();
}

/** Every code the front end and the derivation passes can report. */
const declaredCodes = (): string[] => codesIn(['compiler', 'grammar'], /'(MAT0\d{3})'/g);

interface Case {
  file: string;
  code: string;
  /** path given to the compiler, as a user running from the repository root would */
  path: string;
  text: string;
  derive: { mode: 'forward' | 'vjp' | 'jvp'; fn: string } | null;
  budgetSteps?: number;
}

function loadCases(): Case[] {
  return readdirSync(specDir)
    .filter((f) => f.endsWith('.mat'))
    .sort()
    .map((file) => {
      const code = /^(MAT\d{4})/.exec(file)?.[1];
      assert.ok(code, `${file}: spec files are named after their code (MAT0203.mat)`);
      const text = readFileSync(join(specDir, file), 'utf8');
      const d = /^\/\/ derive: (forward|vjp|jvp) ([A-Za-z_][A-Za-z0-9_.]*)/.exec(text);
      const budget = /^\/\/ budget-steps: (\d+)/m.exec(text);
      return { file, code, path: `test/diagnostics/${file}`, text, derive: d ? { mode: d[1] as 'forward' | 'vjp' | 'jvp', fn: d[2]! } : null, ...(budget ? { budgetSteps: Number(budget[1]) } : {}) };
    });
}

/** The diagnostics a case produces: from checking, or from the derivation it names. */
function diagnose(c: Case): Diagnostic[] {
  const opts = { path: c.path, ...(c.budgetSteps !== undefined ? { budgetSteps: c.budgetSteps } : {}) };
  const checked = checkSource(c.text, opts);
  if (!c.derive) return checked;
  assert.deepEqual(checked.filter((d) => d.severity === 'error').map((d) => d.code), [], `${c.file}: a derive spec must check cleanly`);
  const program = compileProgram(c.text, opts);
  try {
    program[c.derive.mode](c.derive.fn);
  } catch (e) {
    if (e instanceof CompileError) return e.diagnostics;
    throw e;
  }
  return [];
}

const cases = loadCases();

test('every declared code has a spec, and every spec names a declared code', () => {
  const declared = declaredCodes();
  const covered = new Set(cases.map((c) => c.code));
  assert.deepEqual(declared.filter((c) => !covered.has(c)), [], 'codes without a spec in test/diagnostics/');
  assert.deepEqual([...covered].filter((c) => !declared.includes(c)), [], 'specs for codes the compiler no longer raises');
  for (const c of unreachable.keys()) assert.ok(declared.includes(c), `${c} is listed as unreachable but no longer declared`);
});

test('docs/diagnostics.md has an entry for every code and shows every golden verbatim', () => {
  const docs = readFileSync(join(root, 'docs', 'diagnostics.md'), 'utf8');
  const runtime = codesIn(['runtime', 'cli', 'compiler'], /'(MATR\d{3})'/g);
  const missing = [...declaredCodes(), ...runtime].filter((c) => !new RegExp(`^### ${c} `, 'm').test(docs));
  assert.deepEqual(missing, [], 'codes without a "### CODE — title" entry in docs/diagnostics.md');
  for (const c of cases) {
    const golden = readFileSync(join(specDir, c.file.replace(/\.mat$/, '.expected')), 'utf8').replace(/\n$/, '');
    if (golden) assert.ok(docs.includes(golden), `docs/diagnostics.md does not show the current output of ${c.file}: copy ${c.file.replace(/\.mat$/, '.expected')} into its entry`);
  }
});

for (const c of cases) {
  test(`${c.file} renders as ${c.file.replace(/\.mat$/, '.expected')}`, () => {
    const ds = diagnose(c);
    const codes = ds.map((d) => d.code);
    if (unreachable.has(c.code)) assert.ok(!codes.includes(c.code), `${c.code} is now reachable: drop it from the unreachable table and update ${c.file}`);
    const rendered = renderAll(ds);
    const goldenPath = join(specDir, c.file.replace(/\.mat$/, '.expected'));
    if (update) writeFileSync(goldenPath, rendered + '\n');
    assert.ok(existsSync(goldenPath), `${goldenPath} is missing; run with UPDATE_GOLDEN=1`);
    assert.equal(rendered, readFileSync(goldenPath, 'utf8').replace(/\n$/, ''), `${c.file}: rendered text differs from the golden`);
    if (unreachable.has(c.code)) return;

    assert.ok(codes.includes(c.code), `${c.file} does not raise ${c.code} (got ${codes.join(', ') || 'nothing'})`);
    assert.deepEqual([...new Set(codes)], [c.code], `${c.file} raises other codes too`);

    for (const d of ds) {
      assert.ok(d.span, `${d.code} has no span`);
      const len = d.span.file.text.length;
      assert.ok(d.span.start < d.span.end, `${d.code}: empty primary span at ${d.span.start}`);
      assert.ok(d.span.start >= 0 && d.span.end <= len, `${d.code}: span ${d.span.start}..${d.span.end} outside ${d.span.file.path} (${len} chars)`);
      for (const n of d.notes ?? []) if (n.span) assert.ok(n.span.start >= 0 && n.span.end <= n.span.file.text.length, `${d.code}: note span outside its file`);
    }
    const keys = ds.map((d) => `${d.code}|${d.span?.file.path}|${d.span?.start}|${d.span?.end}|${d.message}`);
    assert.equal(new Set(keys).size, keys.length, `${c.file}: a diagnostic is reported twice`);
  });
}

test('"did you mean" counts a swap of two adjacent characters as one edit (f61 → f16, smusq → sumsq)', () => {
  for (const [src, want] of [
    ['fn r(x: vec[n]) -> vec[n] = f61(x)', 'f16'],
    ['fn r(x: vec[n]) -> real = smusq(x)', 'sumsq'],
  ] as const) {
    const d = checkSource(src, { path: 'swap.mat' }).find((x) => x.code === 'MAT0302');
    assert.ok(d, src);
    assert.match(renderAll([d!]), new RegExp(`did you mean '${want}'\\?`), src);
  }
});
