// Golden files pin what the compiler prints for every stdlib spec (new specs in stdlib/ are
// picked up by listing the directory):
//   test/golden/<spec>.parse.mat          the AST printed back as source (`matc ir --stage parse`)
//   test/golden/<spec>.<fn>.lower.ir      typed IR after elaboration
//   test/golden/<spec>.<fn>.diff.ir       the VJP before solver expansion
// Compared exactly. After an intended change, rewrite them and review the diff:
//   UPDATE_GOLDEN=1 node scripts/run-tests.mjs golden-ir
// Golden IR must also parse back (compiler/ir/parser.ts) to the same text, so a golden file is
// always a loadable function, not just a snapshot.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileProgram } from '../compiler/compile.js';
import { Graph } from '../compiler/ir/node.js';
import { parseFunc } from '../compiler/ir/parser.js';
import { printFunc } from '../compiler/ir/printer.js';
import { repoRoot, stdlibFiles } from './gen/paths.js';

const update = process.env.UPDATE_GOLDEN === '1';
const goldenDir = join(repoRoot, 'test', 'golden');
const irStages = ['lower', 'diff'] as const;

/** Every golden file this run expects, to find stale ones (a removed spec or function). */
const expected = new Set<string>();
let specsDone = 0;

function check(name: string, actual: string, parsesAsIr: boolean): void {
  expected.add(name);
  const path = join(goldenDir, name);
  const text = actual.endsWith('\n') ? actual : actual + '\n';
  if (parsesAsIr) assert.equal(printFunc(parseFunc(text, new Graph())), actual, `${name}: the printed IR does not parse back to itself`);
  if (update) {
    if (!existsSync(path) || readFileSync(path, 'utf8') !== text) writeFileSync(path, text);
    return;
  }
  assert.ok(existsSync(path), `missing golden file test/golden/${name}; create it with UPDATE_GOLDEN=1 node scripts/run-tests.mjs golden-ir`);
  assert.equal(text, readFileSync(path, 'utf8'), `test/golden/${name} differs from the compiler's output (UPDATE_GOLDEN=1 rewrites it)`);
}

if (update) mkdirSync(goldenDir, { recursive: true });

for (const file of stdlibFiles()) {
  const spec = file.replace(/\.mat$/, '');
  test(`golden: stdlib/${file}`, () => {
    const p = compileProgram(readFileSync(join(repoRoot, 'stdlib', file), 'utf8'), { path: `stdlib/${file}`, verify: true });
    check(`${spec}.parse.mat`, p.stage(p.names[0] ?? '', 'parse'), false);
    // the spec's own functions (imported ones are pinned under their own file)
    const own = p.names.filter((n) => p.out.items.get(n.replace(/\.init$/, ''))?.file === p.main);
    for (const fn of own) {
      for (const stage of irStages) {
        const text = p.stage(fn, stage);
        check(`${spec}.${fn}.${stage}.ir`, text, true);
      }
    }
    specsDone++;
  });
}

test('golden: no stale files', (t) => {
  if (!existsSync(goldenDir)) return;
  // Runs after the per-spec tests above (node:test runs a file's tests in order); a spec that
  // failed did not list its files, so they would all look stale.
  if (specsDone < stdlibFiles().length) {
    t.skip('a stdlib spec failed above');
    return;
  }
  const stale = readdirSync(goldenDir).filter((f) => !expected.has(f));
  if (update) {
    for (const f of stale) unlinkSync(join(goldenDir, f));
    if (stale.length) t.diagnostic(`removed ${stale.join(', ')}`);
    return;
  }
  assert.deepEqual(stale, [], 'golden files that no stdlib function produces any more (UPDATE_GOLDEN=1 removes them)');
});
