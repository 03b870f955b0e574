// The `compile` and `bench` commands (AOT modules and timing); they live apart from matc.ts
// because they pull in the GPU code generator.

import { BENCH_HELP } from './bench.js';

export function extraHelp(cmd: string): string | undefined {
  if (cmd === 'compile')
    return [
      'usage: matc compile FILE -o DIR [--runtime SPEC]',
      '',
      "Writes DIR/<name>.js (an ES module) and DIR/<name>.d.ts. Per function the module embeds the",
      'WGSL instance kernels of the forward, VJP and JVP (plain and with subgroup reductions) and',
      'their printed IR (run by the CPU reference). Loading it needs only matc\'s runtime, imported',
      'as matc/dist/runtime/aot/index.js unless --runtime names a package, a .js specifier or a',
      'path to a matc checkout or its dist/ (written relative to DIR).',
    ].join('\n');
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
