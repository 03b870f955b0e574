// Side-by-side table of a matc GPU benchmark run and the PyTorch run taken in the same command on
// the same machine (bench/run-device.sh). Ratios are matc throughput over PyTorch throughput
// (= PyTorch ms / matc ms): 1.0 means parity, above 1 means matc is faster.
//   node dist/bench/compare.js matc.json torch.json [--markdown out.md]

import { readFileSync, writeFileSync } from 'node:fs';

interface Row {
  name: string;
  kind: string;
  medianMs: number;
  gbps: number;
  gflops: number;
  relErr?: number;
}
interface Doc {
  device?: string;
  details?: string;
  results: Row[];
}

export interface Paired {
  name: string;
  matcMs: number;
  torchMs: number;
  /** GB/s for copies, GFLOP/s otherwise. */
  unit: 'GB/s' | 'GFLOP/s';
  matc: number;
  torch: number;
  ratio: number;
}

export function pair(matc: Doc, torch: Doc): Paired[] {
  const t = new Map(torch.results.map((r) => [r.name, r] as const));
  const out: Paired[] = [];
  for (const m of matc.results) {
    const p = t.get(m.name);
    if (p === undefined) continue;
    const unit = m.kind === 'copy' ? 'GB/s' : 'GFLOP/s';
    const a = unit === 'GB/s' ? m.gbps : m.gflops;
    const b = unit === 'GB/s' ? p.gbps : p.gflops;
    out.push({ name: m.name, matcMs: m.medianMs, torchMs: p.medianMs, unit, matc: a, torch: b, ratio: p.medianMs / m.medianMs });
  }
  return out;
}

export function markdown(rows: Paired[]): string {
  const lines = ['| case | matc ms | PyTorch ms | matc | PyTorch | matc / PyTorch |', '|---|---:|---:|---:|---:|---:|'];
  for (const r of rows) {
    lines.push(`| ${r.name} | ${r.matcMs.toFixed(4)} | ${r.torchMs.toFixed(4)} | ${r.matc.toFixed(1)} ${r.unit} | ${r.torch.toFixed(1)} ${r.unit} | ${(100 * r.ratio).toFixed(1)} % |`);
  }
  return lines.join('\n');
}

function main(): void {
  const args = process.argv.slice(2);
  const md = args.indexOf('--markdown');
  const mdFile = md >= 0 ? args[md + 1] : undefined;
  const files = args.filter((_, i) => i !== md && i !== md + 1);
  if (files.length !== 2) {
    console.error('usage: node dist/bench/compare.js matc.json torch.json [--markdown out.md]');
    process.exit(2);
  }
  const matc = JSON.parse(readFileSync(files[0]!, 'utf8')) as Doc;
  const torch = JSON.parse(readFileSync(files[1]!, 'utf8')) as Doc;
  const rows = pair(matc, torch);
  const text = `matc: ${matc.details ?? matc.device ?? '?'}\nPyTorch: ${torch.device ?? '?'}\n\n${markdown(rows)}\n`;
  console.log(text);
  if (mdFile !== undefined) writeFileSync(mdFile, text);
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) main();
