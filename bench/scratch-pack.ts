// Scratch per problem instance of every stdlib instance kernel, with and without the liveness
// planning of compiler/codegen/wgsl/slot-pack.ts (issue 8 item 2): f32 words per instance at the
// given sizes, forward and VJP, and the largest batch that fits one 2 GiB storage binding
// (maxStorageBufferBindingSize on the H100's Dawn adapter) either way. Compile-time figures: no GPU
// needed; the time the packing saves or costs on a GPU is `PACK_AB=1 bash bench/run-device.sh`.
//
// With `--model grid`, the same for the grid model's programs (compiler/codegen/wgsl/grid.ts),
// whose liveness runs over the launch sequence (a launch boundary is a global barrier).
//
//   node dist/bench/scratch-pack.js [--m 32] [--n 32] [--model instance|grid] [--json FILE]

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compileProgram } from '../compiler/compile.js';
import { stdlibDir } from '../compiler/check/items.js';
import { genInstanceKernel } from '../compiler/codegen/wgsl/instance.js';
import { genGridProgram } from '../compiler/codegen/wgsl/grid.js';
import { parseDim } from '../core/dims.js';
import type { Func } from '../compiler/ir/node.js';

const FILES = ['qr.mat', 'ied.mat', 'less.mat', 'spectral.mat', 'projunn.mat', 'spd.mat'];
const BINDING = 2 ** 31; // bytes

function words(slots: string[], env: Record<string, number>): number {
  return slots.reduce((s, d) => s + parseDim(d).eval(env), 0);
}

function main(): void {
  const { values } = parseArgs({ options: { m: { type: 'string', default: '32' }, n: { type: 'string', default: '32' }, model: { type: 'string', default: 'instance' }, json: { type: 'string' } } });
  const grid = values.model === 'grid';
  const gen = (f: Func, packScratch: boolean) => (grid ? genGridProgram(f, { packScratch }).spec : genInstanceKernel(f, { packScratch }));
  const m = Number(values.m);
  const n = Number(values.n);
  // one size for every dimension name the stdlib uses (square problems at m = n)
  const env: Record<string, number> = { m, n, k: 4, p: n, d: n, r: 4, c: 8, N: m, q: 8, T: 10, init_steps: 100, warm_steps: 500, d1: n, d2: n, nbatch: 8 };
  const rows: { fn: string; form: string; plain: number; packed: number; slotsPlain: number; slotsPacked: number }[] = [];
  const seen = new Set<string>(); // a function imported by several files is counted once
  for (const file of FILES) {
    const path = join(stdlibDir(), file);
    const p = compileProgram(readFileSync(path, 'utf8'), { path });
    for (const name of p.names) {
      if (name.includes('.') && !name.endsWith('.init')) continue; // structure members: helpers
      if (seen.has(name)) continue;
      seen.add(name);
      for (const form of ['forward', 'vjp'] as const) {
        let f: Func;
        try {
          f = form === 'forward' ? p.forward(name) : p.vjp(name, 'gpu');
        } catch {
          continue; // generic (static parameters), or no VJP (ints only)
        }
        let a, b;
        try {
          a = gen(f, false);
          b = gen(f, true);
        } catch {
          continue;
        }
        const plain = words(a.slots, env);
        const packed = words(b.slots, env);
        if (!Number.isFinite(plain) || plain === 0) continue;
        rows.push({ fn: name, form, plain, packed, slotsPlain: a.slots.length, slotsPacked: b.slots.length });
      }
    }
  }
  rows.sort((x, y) => y.plain - x.plain);
  const lines = [`| function | form | slots | f32 per instance (m = ${m}, n = ${n}) | packed / plain | batch per 2 GiB binding |`, '|---|---|---|---|---|---|'];
  for (const r of rows) {
    const cap = (w: number) => Math.floor(BINDING / (4 * w)).toLocaleString('en');
    lines.push(`| ${r.fn} | ${r.form} | ${r.slotsPlain} → ${r.slotsPacked} | ${r.plain.toLocaleString('en')} → ${r.packed.toLocaleString('en')} | ${(r.packed / r.plain).toFixed(2)} | ${cap(r.plain)} → ${cap(r.packed)} |`);
  }
  const total = rows.reduce((s, r) => [s[0]! + r.plain, s[1]! + r.packed], [0, 0]);
  const ratios = rows.map((r) => r.packed / r.plain).sort((a, b) => a - b);
  console.log(lines.join('\n'));
  console.log(`\n${rows.length} ${grid ? 'grid programs' : 'kernels'}; packed / plain: median ${ratios[Math.floor(ratios.length / 2)]!.toFixed(2)}, best ${ratios[0]!.toFixed(2)}, sum over kernels ${(total[1]! / total[0]!).toFixed(2)}`);
  if (values.json) writeFileSync(values.json, JSON.stringify({ m, n, model: grid ? 'grid' : 'instance', env, rows }, null, 1));
}

main();
