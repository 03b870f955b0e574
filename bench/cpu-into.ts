// CallOptions.into on the CPU (issue 11): an optimizer step of stdlib/spd.mat through the API,
// with and without `into` (the results of the step before the last held in the caller's tensors),
// the two alternating in one process; median of the calls after 5 warm-up ones.
//
//   node dist/bench/cpu-into.js CASE '{"d":256,"p":256,"n":128,"m":128,"T":10}' [f64|f32] [t] [reps]

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../api/module.js';
import { stdlibDir } from '../compiler/check/items.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { Rng, randomInstance } from '../runtime/random.js';
import { Tensor } from '../runtime/tensor.js';

async function main(): Promise<void> {
  const [fn = 'singd_diag', dimsJ = '{"d":256,"p":256,"n":128,"m":128,"T":10}', prec = 'f64', tv = '1', repsArg = '40'] = process.argv.slice(2);
  const dims = JSON.parse(dimsJ) as Record<string, number>;
  const path = join(stdlibDir(), 'spd.mat');
  const m = compile(readFileSync(path, 'utf8'), { path });
  const f = m.fn(fn);
  const exe = m.executable(fn, 'forward');
  const rng = new Rng(3);
  const d = new Map(Object.entries(dims));
  const inputs: Record<string, Tensor> = {};
  for (const p of exe.signature.params) {
    const shape = p.shape.map((x) => x.eval(d));
    const data = new Float64Array(shape.reduce((a, b) => a * b, 1));
    // int state (the step counter) at t: t ≡ 0 (mod T) is an update step
    if (p.int) data.fill(Number(tv));
    else data.set(randomInstance(rng, shape, p.struct as never));
    inputs[p.name] = new Tensor(shape, data);
  }
  const backend = new CpuBackend({ threads: 1, precision: prec === 'f32' ? 'f32' : 'f64' });
  const call = { backend, dims: { T: dims.T ?? 10 } };
  const times: Record<'plain' | 'into', number[]> = { plain: [], into: [] };
  let spare = (await f.forward(inputs, call)).outputs;
  let spare2 = (await f.forward(inputs, call)).outputs;
  for (let r = 0; r < Number(repsArg); r++) {
    for (const mode of ['plain', 'into'] as const) {
      const t0 = performance.now();
      const res = await f.forward(inputs, { ...call, ...(mode === 'into' ? { into: spare } : {}) });
      times[mode].push(performance.now() - t0);
      if (mode === 'into') [spare, spare2] = [spare2, res.outputs];
    }
  }
  const med = (a: number[]): number => {
    const s = a.slice(5).sort((x, y) => x - y);
    return s[Math.floor(s.length / 2)]!;
  };
  console.log(`${fn} ${dimsJ} ${prec} t=${tv}: without into ${med(times.plain).toFixed(2)} ms, with into ${med(times.into).toFixed(2)} ms, ratio ${(med(times.plain) / med(times.into)).toFixed(2)}`);
}

void main();
