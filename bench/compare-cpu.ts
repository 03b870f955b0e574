// Pairs bench/cpu.ts (matc) with bench/torch_cpu.py (PyTorch, numpy; run as installed and with
// OPENBLAS_CORETYPE=SkylakeX) into the markdown table of bench/RESULTS.md: wall ms of each, and the
// ratio "peer / matc" (above 1: matc is faster). Every peer row carries its largest relative
// difference to matc's results.
//
//   node dist/bench/compare-cpu.js MATC_JSON TORCH_JSON [TORCH_SKYLAKEX_JSON]

import { readFileSync } from 'node:fs';

interface Peer {
  ms: number;
  msMin?: number;
  relDiff: number;
}

const [matcPath, ...torchPaths] = process.argv.slice(2);
if (!matcPath || torchPaths.length === 0) {
  process.stderr.write('usage: node dist/bench/compare-cpu.js MATC_JSON TORCH_JSON [TORCH_SKYLAKEX_JSON]\n');
  process.exit(1);
}
const matc = JSON.parse(readFileSync(matcPath, 'utf8')) as { threads: number; results: { case: { name: string }; variants: Record<string, { ms: number; msMin?: number; iterations?: number[] }> }[] };
const peers = torchPaths.map((p) => JSON.parse(readFileSync(p, 'utf8')) as { torch: string; numpy: string; openblasCoretype: string; rows: { name: string; variants: Record<string, Peer | string> }[] });
const f = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
/** The fastest peer of a case: by median ('ms') or by fastest call ('msMin'), over every BLAS run. */
const bestPeer = (name: string, key: 'ms' | 'msMin'): number => {
  let best = Infinity;
  for (const p of peers) for (const x of Object.values(p.rows.find((y) => y.name === name)?.variants ?? {})) if (typeof x !== 'string' && x[key] !== undefined) best = Math.min(best, x[key]!);
  return best;
};
const lines: string[] = [];
const threadsCol = `matc ${matc.threads} threads`;
lines.push(`| case | matc 1 thread | ${threadsCol} | matc JS | reference interpreter | peer | peer ms | peer / matc (1 thread) | peer / matc (${matc.threads} threads) | rel. diff. |`);
lines.push('|---|---:|---:|---:|---:|---|---:|---:|---:|---:|');
for (const r of matc.results) {
  const v = r.variants;
  const one = v['wasm, 1 thread']?.ms;
  const many = v[`wasm, ${matc.threads} threads`]?.ms;
  const js = v['js, 1 thread']?.ms;
  const ref = v['reference interpreter']?.ms;
  let first = true;
  for (const p of peers) {
    const row = p.rows.find((x) => x.name === r.case.name);
    if (!row) continue;
    for (const [name, x] of Object.entries(row.variants)) {
      if (typeof x === 'string') continue;
      const label = `${name}${peers.length > 1 ? ` (OpenBLAS ${p.openblasCoretype})` : ''}`;
      lines.push(`| ${first ? r.case.name : ''} | ${first ? f(one) : ''} | ${first ? f(many) : ''} | ${first ? f(js) : ''} | ${first ? f(ref) : ''} | ${label} | ${f(x.ms)} | ${f(x.ms / one!)}× | ${f(x.ms / many!)}× | ${x.relDiff.toExponential(1)} |`);
      first = false;
    }
  }
}
// threads, with results into fresh arrays and into the caller's tensors (CallOptions.into)
const scal: string[] = [];
scal.push(`| case | 1 thread | ${matc.threads} threads | scaling | 1 thread, into | ${matc.threads} threads, into | scaling, into | best peer ms | best peer / matc (${matc.threads} threads, into) |`);
scal.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of matc.results) {
  const v = r.variants;
  const one = v['wasm, 1 thread']?.ms;
  const many = v[`wasm, ${matc.threads} threads`]?.ms;
  const oneI = v['wasm, 1 thread, into']?.ms;
  const manyI = v[`wasm, ${matc.threads} threads, into`]?.ms;
  if (oneI === undefined) continue;
  const best = bestPeer(r.case.name, 'ms');
  scal.push(`| ${r.case.name} | ${f(one)} | ${f(many)} | ${f(one! / many!)}× | ${f(oneI)} | ${f(manyI)} | ${f(oneI / manyI!)}× | ${f(best)} | ${f(best / manyI!)}× |`);
}
process.stdout.write(`PyTorch ${peers[0]!.torch}, numpy ${peers[0]!.numpy}; one thread for the peers; wall ms, median\n\n${lines.join('\n')}\n`);
// the fastest call of each side (this VM's speed varies ~2× between spells; the minima compare
// both sides in their fast spells, the medians above in whatever spell each side met)
const mins: string[] = [];
mins.push(`| case | matc 1 thread (min) | matc 1 thread, into (min) | matc ${matc.threads} threads, into (min) | best peer (min) | peer / matc, 1 thread | peer / matc, 1 thread, into | peer / matc, ${matc.threads} threads, into |`);
mins.push('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of matc.results) {
  const v = r.variants;
  const one = v['wasm, 1 thread']?.msMin;
  const oneI = v['wasm, 1 thread, into']?.msMin;
  const manyI = v[`wasm, ${matc.threads} threads, into`]?.msMin;
  if (one === undefined || oneI === undefined) continue;
  const best = bestPeer(r.case.name, 'msMin');
  mins.push(`| ${r.case.name} | ${f(one)} | ${f(oneI)} | ${f(manyI)} | ${f(best)} | ${f(best / one)}× | ${f(best / oneI)}× | ${f(best / manyI!)}× |`);
}
if (mins.length > 2) process.stdout.write(`\nThe fastest call of each (min over the same calls; ms)\n\n${mins.join('\n')}\n`);
if (scal.length > 2) process.stdout.write(`\nmatc's threads (${matc.threads}), results into fresh arrays and into the caller's tensors (\`into\`); wall ms, median\n\n${scal.join('\n')}\n`);
