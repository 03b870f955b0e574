// The `compile` and `bench` commands (AOT modules and timing); they live apart from matc.ts
// because they pull in the GPU code generator.

import { BENCH_HELP } from './bench.js';

export function extraHelp(cmd: string): string | undefined {
  if (cmd === 'compile') return 'usage: matc compile FILE -o DIR\n\nWrites DIR/<name>.js (an ES module) and DIR/<name>.d.ts with every function\'s WGSL kernels, host\nschedule and CPU reference IR embedded. Loading it needs only matc\'s runtime.';
  if (cmd === 'bench') return BENCH_HELP;
  return undefined;
}

export async function runCompileCommand(positionals: string[], values: Record<string, string | boolean | undefined>): Promise<number> {
  const m = await import('./aot.js');
  return m.compileCommand(positionals, values);
}

export async function runBenchCommand(positionals: string[], values: Record<string, string | boolean | undefined>): Promise<number> {
  const m = await import('./bench.js');
  return m.benchCommand(positionals, values);
}
