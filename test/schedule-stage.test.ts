// `matc ir --stage schedule|wgsl` (compiler/schedule/text.ts): for the forward and the VJP of
// LESS and IED (and loops that need solver workspaces and step temporaries) the schedule names the
// kernel, workgroup size, dims, inputs, outputs and every scratch slot with its size and the IR
// value it holds — the value as printed by `--stage opt`, so the two views cross-reference — and
// the wgsl stage prints both kernels, each with its header.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { compileProgram, type Program } from '../compiler/compile.js';
import { genInstanceKernel } from '../compiler/codegen/wgsl/instance.js';
import { printFunc } from '../compiler/ir/printer.js';
import type { Func } from '../compiler/ir/node.js';
import { scheduleText } from '../compiler/schedule/text.js';
import { repoRoot } from './gen/paths.js';

function stdlib(name: string): Program {
  const path = join(repoRoot, 'stdlib', name);
  return compileProgram(readFileSync(path, 'utf8'), { path });
}

const LOOPS = `
fn swap(x: vec[n], y: vec[n]) -> (a: vec[n], b: vec[n]) =
  iterate (a = x, b = y) for i in 0..3 => (b, a + b)
`;

/** The block of the schedule text that describes one form ("(forward)" or "(vjp)"). */
function section(text: string, f: Func, label: string): string {
  const head = `schedule ${f.name} (${label})`;
  const at = text.indexOf(head);
  assert.ok(at >= 0, `no '${head}' section`);
  const next = text.indexOf('\nschedule ', at + head.length);
  return text.slice(at, next < 0 ? undefined : next);
}

function checkPlan(text: string, f: Func, label: string, quotes = true): void {
  const s = section(text, f, label);
  const spec = genInstanceKernel(f);
  const printed = printFunc(f);
  assert.match(s, /1 instance kernel per call/);
  assert.match(s, new RegExp(`workgroup +${spec.workgroupSize} threads`));
  for (const [i, d] of spec.dims.entries()) assert.ok(s.includes(`D${i} = ${d}`), `${f.name}: dim D${i} = ${d}`);
  const slotLines = s.split('\n').filter((l) => /^ {4}S\d+ /.test(l));
  assert.equal(slotLines.length, spec.slots.length, `${f.name} (${label}): one line per slot`);
  let quotedLines = 0;
  spec.slots.forEach((size, k) => {
    const line = slotLines[k]!;
    assert.ok(line.startsWith(`    S${k} `), `slot ${k} in order`);
    assert.ok(line.includes(` ${size} `) || line.includes(` ${size}  `), `${f.name} S${k}: size ${size} in '${line}'`);
    assert.ok(!line.includes('no IR value identified'), `${f.name} (${label}) S${k} is attributed: ${line}`);
    // a slot that holds an IR value quotes its line of the printed IR (clipped lines by prefix)
    const m = /(%[^\s:]+: .+ = [a-z]+.*?)(?: {3}\[[a-z 0-9]+\])?$/.exec(line);
    if (m && !line.includes('LU factors')) {
      const quoted = m[1]!.endsWith('…') ? m[1]!.slice(0, -1) : m[1]!;
      assert.ok(printed.split('\n').some((l) => l.trim().startsWith(quoted)), `${f.name} S${k} quotes the printed IR: ${quoted}`);
      quotedLines++;
    }
  });
  if (quotes && spec.slots.length > 0) assert.ok(quotedLines > 0, `${f.name} (${label}): slot lines quote the printed IR`);
  for (const inp of spec.inputs) assert.match(s, new RegExp(`IN\\d+ +${inp.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `), `input ${inp.name}`);
  for (const out of spec.outputs) assert.ok(s.includes(` ${out.name} `), `output ${out.name}`);
  assert.match(s, /uniforms +\d+ i32/);
  // the schedule IR of the one launch, verified and printed
  assert.match(s, /schedule instance\n +buffer uni: uniform/);
  assert.match(s, /launch inst grid \(B, 1, 1\) bindings 0=uni, 1=scratch, 2=in \(read\), 3=out\n +readback out/);
}

for (const [file, fn] of [
  ['less.mat', 'less'],
  ['less.mat', 'less_bls'],
  ['ied.mat', 'ied'],
] as const) {
  test(`schedule stage: ${fn} forward and VJP, every slot with its size and IR value`, () => {
    const p = stdlib(file);
    const text = scheduleText(p, fn, 'schedule');
    checkPlan(text, p.forward(fn), 'forward');
    checkPlan(text, p.vjp(fn, 'gpu'), 'vjp'); // the kernels' form (compiler/diff/options.ts)
  });

  test(`wgsl stage: ${fn} forward then VJP, each with its header and @compute`, () => {
    const p = stdlib(file);
    const text = scheduleText(p, fn, 'wgsl');
    const fwd = genInstanceKernel(p.forward(fn)).wgsl;
    const vjp = genInstanceKernel(p.vjp(fn, 'gpu')).wgsl;
    assert.equal(text.match(/@compute/g)?.length, 2);
    assert.ok(text.indexOf(fwd) >= 0 && text.indexOf(vjp) > text.indexOf(fwd), 'forward kernel, then the VJP kernel, verbatim');
    assert.match(text, /^\/\/ ---- .* \(forward\)/m);
    assert.match(text, /^\/\/ ---- .* \(vjp\)/m);
    assert.match(text, /@workgroup_size\(\d+\)/);
  });
}

test('schedule stage: LU workspaces of solves and step temporaries of loops are named', () => {
  const less = stdlib('less.mat');
  assert.match(scheduleText(less, 'less', 'schedule'), /LU factors \(pivoted, in place\) for %\d+: \(f\[n\], f\[\]\) = solve/);
  const p = compileProgram(LOOPS, { path: 'loops.mat' });
  const text = scheduleText(p, 'swap', 'schedule');
  checkPlan(text, p.forward('swap'), 'forward', false);
  assert.match(text, /step temporary of loop %\d+/);
  assert.match(text, /%a: loop carry of %\d+/);
  // the VJP through the loop (issue 10): its plan holds the backward loop's cotangent carries
  checkPlan(text, p.vjp('swap', 'gpu'), 'vjp', false);
  assert.match(text, /schedule swap\.vjp \(vjp\)/);
  assert.match(text, /%ct\.a(\.\d+)?: loop carry of %\d+ \(swap\/iterate@3:3\/reverse\)/);
  assert.equal(scheduleText(p, 'swap', 'wgsl').match(/@compute/g)?.length, 2, 'forward and VJP kernels');
});

test('matc ir --stage schedule|wgsl on the command line', () => {
  const cli = join(repoRoot, 'dist', 'cli', 'matc.js');
  const file = join(repoRoot, 'stdlib', 'less.mat');
  const s = spawnSync(process.execPath, [cli, 'ir', file, '--fn', 'less', '--stage', 'schedule'], { encoding: 'utf8' });
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /^schedule less \(forward\)/);
  assert.match(s.stdout, /^schedule less\.vjp \(vjp\)/m);
  const w = spawnSync(process.execPath, [cli, 'ir', file, '--fn', 'less', '--stage', 'wgsl'], { encoding: 'utf8' });
  assert.equal(w.status, 0, w.stderr);
  assert.equal(w.stdout.match(/@compute/g)?.length, 2);
});
