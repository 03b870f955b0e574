// STTP on the CPU (issue 14), matc's side: one STTP layer, W·X without forming W, forward + VJP
// (one VJP call), d_out = 512, d_in = 256·3·3 = 2304, r = 32, c = 256 columns, f64, compiled
// WebAssembly backend on one thread — as `sttp_apply` (one call, frames computed one after
// another) and as `sttpVjp` (frames batched per shape, api/sttp-batched.ts). PyTorch's side is
// `python3 bench/torch_sttp.py --layer-only --threads 1 [--f64]` (materialise W from the same
// parameterisation, then multiply, autograd), on the same machine.
//
//   node dist/bench/sttp-cpu.js [--reps N] [--c N]
//
// Timing: wall time of whole calls, two warm-up calls, median of --reps.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compile } from '../api/module.js';
import { stdlibDir } from '../compiler/check/items.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { sttpParamShapes, sttpShape } from '../api/sttp.js';
import { sttpVjp } from '../api/sttp-batched.js';
import { Tensor } from '../runtime/tensor.js';
import { Rng } from '../runtime/random.js';
import { median } from '../cli/bench.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { reps: { type: 'string', default: '15' }, c: { type: 'string', default: '256' } } });
  const reps = Number(values.reps);
  const c = Number(values.c);
  const path = join(stdlibDir(), 'sttp.mat');
  const mod = compile(readFileSync(path, 'utf8'), { path });
  const backend = new CpuBackend({ threads: 1, engine: 'wasm' });
  const s = sttpShape(512, 256, 32, { kernel: 3 });
  const rng = new Rng(1);
  const ps = sttpParamShapes(s, 'learned');
  const T = (sh: number[], k = 0.5) => new Tensor(sh, rng.normals(sh.reduce((a, x) => a * x, 1)).map((v) => v * k));
  const p = { PL: ps.PL.map((x) => T(x)), Pm: T(ps.Pm), Pv: T(ps.Pv), PR: ps.PR.map((x) => T(x)), S: T(ps.S!) };
  const X = T([s.dIn, c], 1);
  const dY = T([s.dOut, c], 1);
  const f = mod.fn('sttp_apply');
  const variants: [string, () => Promise<unknown>][] = [
    ['sttp_apply forward', () => f.forward({ ...p, X }, { dims: s.dims, backend })],
    ['sttp_apply fwd+bwd (VJP)', () => f.vjp({ ...p, X }, { Y: dY }, { dims: s.dims, backend })],
    ['sttpVjp, frames batched per shape, fwd+bwd', () => sttpVjp(mod, p, X, dY, s, { backend })],
  ];
  for (const [name, run] of variants) {
    await run();
    await run();
    const ts: number[] = [];
    for (let k = 0; k < reps; k++) {
      const t = performance.now();
      await run();
      ts.push(performance.now() - t);
    }
    console.log(`${name} ${s.dOut}×${s.dIn} r=${s.rank} c=${c}: median ${median(ts).toFixed(1)} ms, min ${Math.min(...ts).toFixed(1)} ms (${reps} reps, wasm f64, 1 thread)`);
  }
  backend.dispose?.();
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
