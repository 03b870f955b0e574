#!/usr/bin/env node
// Runs every compiled test file under dist/test with node's test runner (TAP output, which CI
// reads: "# tests N / # pass N / # fail N"). Node 20 does not expand globs itself, so the files
// are listed here. Arguments filter test files by substring: `node scripts/run-tests.mjs parser`.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const dir = join(root, 'dist', 'test');
function walk(d) {
  const out = [];
  for (const name of readdirSync(d).sort()) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}
const filters = process.argv.slice(2);
const files = walk(dir).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files found under', relative(root, dir));
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
  env: { ...process.env },
});
process.exit(r.status ?? 1);
