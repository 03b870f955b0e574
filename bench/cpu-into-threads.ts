// CallOptions.into and threads (issue 11): batched QR forward (stdlib/qr.mat, B × n×n), one and
// two threads, with and without `into` (the results of the call before the last held in the
// caller's tensors), alternating in one process; median of the calls after 2 warm-up ones.
// Results of a large batch land in fresh memory otherwise, whose first-touch page faults cost as
// much as the arithmetic on the development VM. Pause other work on the machine first.
//
//   node dist/bench/cpu-into-threads.js [B (default 4096)] [n (default 32)] [reps (default 12)]

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { stdlibDir } from '../compiler/check/items.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { Rng, randomInstance } from '../runtime/random.js';
import { Tensor } from '../runtime/tensor.js';

async function main(): Promise<void> {
  const [B, n, reps] = [Number(process.argv[2] ?? 4096), Number(process.argv[3] ?? 32), Number(process.argv[4] ?? 12)];
  const path = join(stdlibDir(), 'qr.mat');
  const f = compile(readFileSync(path, 'utf8'), { path }).fn('qr');
  const rng = new Rng(1);
  const A = new Float64Array(B * n * n);
  for (let b = 0; b < B; b++) A.set(randomInstance(rng, [n, n], undefined as never), b * n * n);
  const X = new Tensor([B, n, n], A);
  const med = (a: number[]): number => {
    const s = a.slice(2).sort((x, y) => x - y);
    return s[Math.floor(s.length / 2)]!;
  };
  const ms: Record<string, number> = {};
  for (const threads of [1, 2]) {
    const backend = new CpuBackend({ threads });
    let [s1, s2] = [(await f.forward({ A: X }, { backend })).outputs, (await f.forward({ A: X }, { backend })).outputs];
    const t: Record<'plain' | 'into', number[]> = { plain: [], into: [] };
    for (let r = 0; r < reps; r++) {
      for (const mode of ['plain', 'into'] as const) {
        const t0 = performance.now();
        const o = await f.forward({ A: X }, { backend, ...(mode === 'into' ? { into: s1 } : {}) });
        t[mode].push(performance.now() - t0);
        if (mode === 'into') [s1, s2] = [s2, o.outputs];
      }
    }
    ms[`plain${threads}`] = med(t.plain);
    ms[`into${threads}`] = med(t.into);
  }
  for (const mode of ['plain', 'into']) {
    console.log(`qr forward ${B} × ${n}×${n}, ${mode === 'into' ? 'with into' : 'without into'}: 1 thread ${ms[`${mode}1`]!.toFixed(1)} ms, 2 threads ${ms[`${mode}2`]!.toFixed(1)} ms, scaling ${(ms[`${mode}1`]! / ms[`${mode}2`]!).toFixed(2)}×`);
  }
  process.exit(0);
}

void main();
