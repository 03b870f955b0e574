// The `compile` and `bench` commands (AOT modules and timing); they live apart from matc.ts
// because they pull in the GPU code generator.



export async function runCompileCommand(positionals: string[], values: Record<string, string | boolean | undefined>): Promise<number> {
  const m = await import('./aot.js');
  return m.compileCommand(positionals, values);
}

export async function runBenchCommand(positionals: string[], values: Record<string, string | boolean | undefined>): Promise<number> {
  const m = await import('./bench.js');
  return m.benchCommand(positionals, values);
}
