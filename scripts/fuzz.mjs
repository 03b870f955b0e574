#!/usr/bin/env node
// The long fuzz run (`npm run fuzz`, after a build): `node scripts/fuzz.mjs [SEED] [COUNT]
// [--derive N]`. Runs COUNT cases (default 100,000) from test/fuzz-gen through checkSource, and
// the forward, VJP, JVP and `ir --stage expand` of up to N (default 3,000) clean mutants through compileProgram. Prints
// each distinct crash once, with its seed, case index, input and a minimized repro; exit 1 if any.
// The CI-sized version of the same checks is test/fuzz.test.ts.

import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { CompileError, checkSource, compileProgram } from '../dist/compiler/compile.js';
import { render, renderAll } from '../dist/compiler/diagnostics.js';
import { stdlibDir } from '../dist/compiler/check/items.js';
import { fuzzCase, loadCorpus, minimize } from '../dist/test/fuzz-gen.js';

const root = new URL('..', import.meta.url).pathname;
if (!existsSync(join(root, 'dist', 'test', 'fuzz-gen.js'))) {
  console.error('dist/ is missing; build first (npm run fuzz does)');
  process.exit(2);
}

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  args.splice(i, 2);
  return v;
};
const deriveMax = flag('--derive', 3000);
const seed = Number(args[0] ?? Date.now() % 1e9);
const count = Number(args[1] ?? 100000);
if (!Number.isFinite(seed) || !Number.isInteger(count) || count < 0) {
  console.error('usage: node scripts/fuzz.mjs [SEED] [COUNT] [--derive N]');
  process.exit(2);
}

const PATH = 'fuzz.mat';
const stdlib = new Map();
for (const f of readdirSync(stdlibDir())) if (f.endsWith('.mat')) stdlib.set(join(stdlibDir(), f), readFileSync(join(stdlibDir(), f), 'utf8'));
// Imports see the standard library only: results do not depend on the disk around the checkout.
const loader = { read: (p) => stdlib.get(p) };
const corpus = loadCorpus(root);

function describe(e) {
  if (!(e instanceof Error)) return { sig: String(e), text: String(e) };
  const frames = (e.stack ?? '').split('\n').filter((l) => l.trimStart().startsWith('at ')).slice(0, 4);
  const first = e.message.split('\n')[0];
  return { sig: `${e.name}: ${first.replace(/\d+/g, 'N')} @ ${frames[0]?.trim() ?? ''}`, text: `${e.name}: ${first}\n${frames.join('\n')}` };
}

function malformed(d, text) {
  if (typeof d.code !== 'string' || !/^MAT\d{4}$/.test(d.code)) return `bad code ${JSON.stringify(d.code)}`;
  if (typeof d.message !== 'string' || d.message.trim() === '') return `${d.code} has no message`;
  if (!d.span) return `${d.code} has no span`;
  const len = d.span.file.path === PATH ? text.length : d.span.file.text.length;
  if (!(d.span.start >= 0 && d.span.start <= d.span.end && d.span.end <= len)) return `${d.code} span outside the file`;
  render(d);
  return null;
}

/** → { failure: {sig, text} | null, clean } */
function checkCase(text) {
  let ds;
  try {
    ds = checkSource(text, { path: PATH, loader });
  } catch (e) {
    const d = describe(e);
    return { failure: { sig: `checkSource: ${d.sig}`, text: `checkSource threw ${d.text}` }, clean: false };
  }
  try {
    for (const d of ds) {
      const bad = malformed(d, text);
      if (bad) return { failure: { sig: `diagnostic: ${bad.replace(/\d+/g, 'N')}`, text: bad }, clean: false };
    }
    renderAll(ds);
  } catch (e) {
    const d = describe(e);
    return { failure: { sig: `render: ${d.sig}`, text: `render threw ${d.text}` }, clean: false };
  }
  return { failure: null, clean: !ds.some((d) => d.severity === 'error') };
}

function deriveCase(text) {
  let program;
  try {
    program = compileProgram(text, { path: PATH, loader });
  } catch (e) {
    if (e instanceof CompileError) return null;
    const d = describe(e);
    return { sig: `compileProgram: ${d.sig}`, text: `compileProgram threw ${d.text}` };
  }
  for (const name of program.names) {
    for (const mode of ['forward', 'vjp', 'jvp']) {
      try {
        program[mode](name);
      } catch (e) {
        if (e instanceof CompileError) continue;
        const d = describe(e);
        return { sig: `${mode}: ${d.sig}`, text: `${mode}(${name}) threw ${d.text}` };
      }
    }
    // `matc ir --stage expand` runs the solver expansion outside forward()'s error handling.
    try {
      program.stage(name, 'expand');
    } catch (e) {
      if (e instanceof CompileError) continue;
      const d = describe(e);
      return { sig: `stage expand: ${d.sig}`, text: `stage(${name}, 'expand') threw ${d.text}` };
    }
  }
  return null;
}

const crashes = new Map(); // sig → { count, first }
function record(stage, c, failure, rerun) {
  const prev = crashes.get(failure.sig);
  if (prev) {
    prev.count++;
    return;
  }
  const small = minimize(c.text, (t) => rerun(t)?.sig === failure.sig, 3000);
  crashes.set(failure.sig, { count: 1, first: { stage, c, failure, small } });
  console.log(`\n[${stage}] case ${c.index} (seed ${seed}, ${c.kind}): ${failure.text}\ninput:     ${JSON.stringify(c.text)}\nminimized: ${JSON.stringify(small)}`);
}

const t0 = performance.now();
const slow = [];
let clean = 0;
let derived = 0;
for (let i = 0; i < count; i++) {
  const c = fuzzCase(seed, i, corpus);
  // Timed without the minimizer, which reruns a crashing case thousands of times.
  let s = performance.now();
  const r = checkCase(c.text);
  let ms = performance.now() - s;
  if (r.failure) record('check', c, r.failure, (t) => checkCase(t).failure);
  else if (r.clean) {
    clean++;
    if (c.kind === 'mutant' && derived < deriveMax) {
      derived++;
      s = performance.now();
      const f = deriveCase(c.text);
      ms += performance.now() - s;
      if (f) record('derive', c, f, deriveCase);
    }
  }
  if (ms > 2000) slow.push({ index: i, ms, text: c.text });
  if ((i + 1) % 10000 === 0) process.stderr.write(`  ${i + 1}/${count} cases, ${clean} clean, ${derived} derived, ${crashes.size} distinct crashes, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
}

const secs = ((performance.now() - t0) / 1000).toFixed(1);
console.log(`\nfuzz seed ${seed}: ${count} cases (${clean} clean, ${derived} derived) in ${secs} s`);
for (const s of slow) console.log(`slow: case ${s.index} took ${s.ms.toFixed(0)} ms: ${JSON.stringify(s.text)}`);
if (crashes.size === 0) {
  console.log('no crashes');
  process.exit(0);
}
console.log(`${crashes.size} distinct crash${crashes.size > 1 ? 'es' : ''}:`);
for (const [sig, { count: n, first }] of crashes) console.log(`  ${n}× ${sig}\n     repro (case ${first.c.index}): ${JSON.stringify(first.small)}`);
process.exit(1);
