// PMaF's LESS table reproduced (issue 9 item 6; seeds-math §1.2): every solver variant of the
// authors' table set (bench/less-table.mat: PGD, RM, DW, BLS, BLSOne, TWD and their combinations,
// with PMaF's |Δf| < 1e-7 stop and 100 iterations), matc's default `less` and `less_bls`, and
// PMaF's baseline SciPy SLSQP (bench/less_scipy.py), on the same random problems A, b ~ N(0, 1).
// Per method and size it reports PMaF's statistics —
//   failures: runs that did not stop before 100 iterations (matc: status not converged; SciPy:
//             success false), split by whether the centre ‖A⁺b‖ lies inside or outside the sphere;
//   bett:     runs whose loss ≤ SciPy's, both rounded to 6 significant digits;
//   gap:      the mean relative gap (f − f_scipy)/f_scipy in %
// — and, beyond the paper, the distance to the global minimum f* from the secular equation
// (test/oracles/less-exact.ts, independent of matc and SciPy): runs within 1e-9 relative of f*, the
// mean and largest relative gap to f*, the mean iterations, the time per problem. CPU, f64, the
// compiled program on one thread, each method over the whole batch of a size in one call.
//
// "converged but off f*" counts the runs whose status says converged although f − f* > 1e-6 f*:
// answers that would pass silently (PMaF's |Δf| rule stops on slow progress, not at a minimum).
//
//   node dist/bench/less-table.js [--sizes 2x2:1000,64x32:1000] [--seed 1] [--python python3]
//                                 [--json out.json]
// (the python needs numpy and scipy: on the development machine, the pyenv python3 on PATH)

import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compile } from '../api/module.js';
import { Tensor } from '../runtime/tensor.js';
import { CpuBackend } from '../runtime/cpu/cpu-backend.js';
import { lessExact } from '../test/oracles/less-exact.js';
import { centreDistance, lessF } from '../test/util/less-ref.js';

const METHODS = [
  'proj',
  'proj_dirweight',
  'proj_rieman',
  'proj_rieman_backtrack',
  'proj_rieman_backtrack_dirweight',
  'proj_rieman_backtrack_etaone',
  'proj_rieman_backtrack_etaone_dirweight',
  'proj_rieman_tandecay',
  'proj_rieman_tandecay_dirweight',
  'less_bls',
  'less',
];

/** PMaF's labels (viz_dict) for the table's method names. */
const LABEL: Record<string, string> = {
  proj: 'PGD',
  proj_dirweight: 'PGD + DW',
  proj_rieman: 'RM',
  proj_rieman_backtrack: 'RM + BLS',
  proj_rieman_backtrack_dirweight: 'RM + BLS + DW',
  proj_rieman_backtrack_etaone: 'RM + BLSOne',
  proj_rieman_backtrack_etaone_dirweight: 'RM + BLSOne + DW',
  proj_rieman_tandecay: 'RM + TWD',
  proj_rieman_tandecay_dirweight: 'RM + TWD + DW',
  less_bls: 'matc `less_bls` (BLS + TWD, safeguarded, KKT stop)',
  less: 'matc `less` (default: RCG, sphere-curvature step, KKT stop, polish)',
  scipy: 'SciPy SLSQP (PMaF baseline)',
};

/** Standard normal draws from a 32-bit LCG (Box–Muller): reproducible without a library. */
function normals(seed: number, k: number): Float64Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const u = () => ((s = (Math.imul(1664525, s) + 1013904223) >>> 0) + 0.5) / 4294967296;
  const out = new Float64Array(k);
  for (let i = 0; i < k; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    out[i] = r * Math.cos(t);
    if (i + 1 < k) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

const sig6 = (v: number) => Number(v.toPrecision(6));

interface Row {
  method: string;
  label: string;
  failIn: number;
  failOut: number;
  bett: number | null;
  gapScipyPct: number | null;
  global: number;
  /** reported converged, yet above f* by more than 1e-6 relative: a silent wrong answer */
  silent: number;
  gapExactMeanPct: number;
  gapExactMaxPct: number;
  meanIter: number;
  msPerProblem: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '2x2:1000,4x3:1000,6x4:1000,64x32:1000,1024x256:200' },
      seed: { type: 'string', default: '1' },
      python: { type: 'string', default: process.env.PYTHON ?? 'python3' },
      json: { type: 'string' },
    },
  });
  const sizes = values.sizes!.split(',').map((s) => {
    const [mn, k] = s.split(':');
    const [m, n] = mn!.split('x').map(Number);
    return { m: m!, n: n!, count: Number(k ?? 1000) };
  });
  const seed0 = Number(values.seed);
  const mod = compile(readFileSync(join(import.meta.dirname, '..', '..', 'bench', 'less-table.mat'), 'utf8'), { path: 'less-table.mat' });
  const backend = new CpuBackend({ threads: 1 });
  const problems = sizes.map(({ m, n, count }, si) => {
    const A: Float64Array[] = [];
    const b: Float64Array[] = [];
    for (let k = 0; k < count; k++) {
      const z = normals(seed0 * 1_000_003 + si * 100_003 + k, m * n + m);
      A.push(z.subarray(0, m * n));
      b.push(z.subarray(m * n));
    }
    return { m, n, count, A, b };
  });
  // SciPy first (one process for every size)
  const dir = mkdtempSync(join(tmpdir(), 'less-table-'));
  // the problems as raw little-endian f64 (1024 × 256 × 200 would not fit a JSON string)
  problems.forEach((p, si) => {
    // problem by problem (1,000 problems of 1024 × 256 are 2 GB)
    const dump = (file: string, xs: Float64Array[]) => {
      const fd = openSync(join(dir, file), 'w');
      for (const x of xs) writeSync(fd, new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
      closeSync(fd);
    };
    dump(`A${si}.f64`, p.A);
    dump(`b${si}.f64`, p.b);
  });
  writeFileSync(join(dir, 'problems.json'), JSON.stringify({ sizes: problems.map((p, si) => ({ m: p.m, n: p.n, count: p.count, A: `A${si}.f64`, b: `b${si}.f64` })) }));
  execFileSync(values.python!, [join(import.meta.dirname, '..', '..', 'bench', 'less_scipy.py'), join(dir, 'problems.json'), join(dir, 'scipy.json')], {
    stdio: 'inherit',
    // one thread, as matc's side
    env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
  });
  const scipy = JSON.parse(readFileSync(join(dir, 'scipy.json'), 'utf8')) as { scipy: string; numpy: string; sizes: { f: number[]; iterations: number[]; success: boolean[]; ms: number }[] };
  const report: { m: number; n: number; count: number; rows: Row[]; hardCases: number; centreInside: number }[] = [];
  for (const [si, p] of problems.entries()) {
    const { m, n, count } = p;
    const exact = p.A.map((A, k) => lessExact(A, p.b[k]!, m, n));
    const inside = p.A.map((A, k) => centreDistance({ A, b: p.b[k]!, m, n }) < 1);
    const sp = scipy.sizes[si]!;
    const rows: Row[] = [];
    const stats = (method: string, f: number[], failed: boolean[], iters: number[], ms: number, vsScipy: boolean): Row => {
      let failIn = 0;
      let failOut = 0;
      let bett = 0;
      let gapS = 0;
      let global = 0;
      let silent = 0;
      let gapE = 0;
      let gapEmax = 0;
      for (let k = 0; k < count; k++) {
        if (failed[k]) inside[k] ? failIn++ : failOut++;
        if (sig6(f[k]!) <= sig6(sp.f[k]!)) bett++;
        gapS += (f[k]! - sp.f[k]!) / sp.f[k]!;
        const fe = exact[k]!.f;
        const g = (f[k]! - fe) / Math.max(fe, 1e-300);
        if (f[k]! - fe <= 1e-9 * Math.max(1, fe)) global++;
        if (!failed[k] && f[k]! - fe > 1e-6 * Math.max(1, fe)) silent++;
        gapE += g;
        gapEmax = Math.max(gapEmax, g);
      }
      return {
        method,
        label: LABEL[method]!,
        failIn,
        failOut,
        bett: vsScipy ? bett : null,
        gapScipyPct: vsScipy ? (100 * gapS) / count : null,
        global,
        silent,
        gapExactMeanPct: (100 * gapE) / count,
        gapExactMaxPct: 100 * gapEmax,
        meanIter: iters.reduce((s, x) => s + x, 0) / count,
        msPerProblem: ms / count,
      };
    };
    rows.push(stats('scipy', sp.f, sp.success.map((s) => !s), sp.iterations, sp.ms, false));
    // batches of at most CHUNK problems per call (1,000 × 1024 × 256 in one tensor is 2 GB)
    const CHUNK = Math.max(1, Math.floor(2 ** 25 / (m * n)));
    const cat = (xs: Float64Array[], len: number) => {
      const out = new Float64Array(xs.length * len);
      xs.forEach((x, k) => out.set(x, k * len));
      return out;
    };
    for (const method of METHODS) {
      const fn = mod.fn(method);
      await fn.forward({ A: new Tensor([1, m, n], p.A[0]!), b: new Tensor([1, m], p.b[0]!) }, { backend }); // compile outside the timing
      let ms = 0;
      const f: number[] = [];
      const failed: boolean[] = [];
      const iters: number[] = [];
      for (let k0 = 0; k0 < count; k0 += CHUNK) {
        const k1 = Math.min(count, k0 + CHUNK);
        const A = new Tensor([k1 - k0, m, n], cat(p.A.slice(k0, k1), m * n));
        const b = new Tensor([k1 - k0, m], cat(p.b.slice(k0, k1), m));
        const t0 = performance.now();
        const r = await fn.forward({ A, b }, { backend });
        ms += performance.now() - t0;
        const x = r.outputs.x!.data;
        const st = r.status.nodes.find((s) => s.kind === 'solver')!; // the argmin's (not `start`'s lstsq)
        for (let k = k0; k < k1; k++) f.push(lessF({ A: p.A[k]!, b: p.b[k]!, m, n }, x.subarray((k - k0) * n, (k - k0 + 1) * n)));
        failed.push(...st.converged.map((c) => !c));
        iters.push(...st.iterations);
      }
      rows.push(stats(method, f, failed, iters, ms, true));
    }
    const hardCases = exact.filter((e) => e.hardCase).length;
    report.push({ m, n, count, rows, hardCases, centreInside: inside.filter(Boolean).length });
    console.log(`\n### ${m} × ${n}, ${count} problems (centre inside the sphere: ${inside.filter(Boolean).length}; hard cases: ${hardCases})\n`);
    console.log('| method | not converged (centre in / out) | bett (≤ SciPy) | gap to SciPy (mean %) | global minimum (≤ 1e-9) | converged but off f* (> 1e-6) | gap to f* (mean / max %) | iterations (mean) | ms / problem |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      const pct = (v: number) => (Math.abs(v) < 1e-4 ? v.toExponential(1) : v.toFixed(4));
      console.log(`| ${r.label} | ${r.failIn + r.failOut} (${r.failIn} / ${r.failOut}) | ${r.bett ?? '—'} | ${r.gapScipyPct === null ? '—' : pct(r.gapScipyPct)} | ${r.global} | ${r.silent} | ${pct(r.gapExactMeanPct)} / ${pct(r.gapExactMaxPct)} | ${r.meanIter.toFixed(1)} | ${r.msPerProblem.toFixed(3)} |`);
    }
  }
  if (values.json) writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), seed: seed0, scipy: scipy.scipy, numpy: scipy.numpy, report }, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
