#!/usr/bin/env node
// The matc command line: check, ir, run, compile, bench. The --json output of `run` and `bench`
// is a contract scripts rely on (DESIGN §4): extend it, don't break it. Exit codes: 0 success,
// 1 user errors (diagnostics, bad input data), 2 internal errors.

// This entry holds argument parsing and help only; each command's module is loaded when it runs,
// so `matc --help` starts without the compiler.

import { parseArgs } from 'node:util';
import { MatcRuntimeError, InternalError } from '../core/errors.js';
import { UserErrors, renderAll } from '../compiler/diagnostics.js';
import { runCompileCommand, runBenchCommand } from './commands.js';
import { help, extraHelp, VERSION } from './help.js';
import { exitAfterFlush, fail } from './exit.js';
import { setQuietAdapterProbe } from '../runtime/webgpu/device.js';

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(help.main + '\n');
    return cmd ? 0 : 1;
  }
  if (cmd === '--version' || cmd === '-v') {
    process.stdout.write(VERSION + '\n');
    return 0;
  }
  const spec = {
    fn: { type: 'string' as const },
    stage: { type: 'string' as const, default: 'lower' },
    inputs: { type: 'string' as const },
    random: { type: 'boolean' as const },
    seed: { type: 'string' as const },
    batch: { type: 'string' as const },
    dims: { type: 'string' as const },
    set: { type: 'string' as const, multiple: false },
    grad: { type: 'boolean' as const },
    cotangent: { type: 'string' as const },
    'check-grad': { type: 'boolean' as const },
    backend: { type: 'string' as const },
    precision: { type: 'string' as const },
    threads: { type: 'string' as const },
    reference: { type: 'boolean' as const },
    json: { type: 'boolean' as const },
    out: { type: 'string' as const, short: 'o' },
    help: { type: 'boolean' as const, short: 'h' },
    reps: { type: 'string' as const },
    runtime: { type: 'string' as const },
    static: { type: 'string' as const },
  };
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: spec, allowPositionals: true, strict: true });
  } catch (e) {
    fail(1, `matc ${cmd}: ${(e as Error).message}\n\n${help[cmd] ?? extraHelp(cmd) ?? help.main}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write((help[cmd] ?? extraHelp(cmd) ?? help.main) + '\n');
    return 0;
  }
  switch (cmd) {
    case 'check':
      return (await import('./run-commands.js')).cmdCheck(positionals);
    case 'ir':
      if (positionals.length !== 1) fail(1, `matc ir: expected one FILE\n\n${help.ir}`);
      return (await import('./run-commands.js')).cmdIr(positionals[0]!, values.fn, values.stage ?? 'lower');
    case 'run':
      if (positionals.length !== 1) fail(1, `matc run: expected one FILE\n\n${help.run}`);
      return (await import('./run-commands.js')).cmdRun(positionals[0]!, values as Record<string, string | boolean | undefined>);
    case 'compile':
      return runCompileCommand(positionals, values as Record<string, string | boolean | undefined>);
    case 'bench':
      return runBenchCommand(positionals, values as Record<string, string | boolean | undefined>);
    default:
      fail(1, `matc: unknown command '${cmd}'\n\n${help.main}`);
  }
}

// Dawn's adapter-probe warnings are noise on the command line (MATC_VERBOSE=1 shows them).
setQuietAdapterProbe(true);

main(process.argv.slice(2)).then(
  (code) => exitAfterFlush(code),
  (e: unknown) => {
    if (e instanceof UserErrors) {
      if (e.diagnostics.length) process.stderr.write(renderAll(e.diagnostics) + '\n');
      exitAfterFlush(1);
      return;
    }
    if (e instanceof MatcRuntimeError) fail(1, `error[${e.code}]: ${e.message}`);
    // sizes that cannot be allocated (--dims, --batch, or what the inputs imply) are the user's
    // request, not a bug in matc
    if (e instanceof RangeError && /Array buffer allocation failed|Invalid typed array length|Invalid array length/.test(e.message)) {
      fail(1, `error[MATR109]: not enough memory for the tensors of this call (${e.message}); use smaller --dims or --batch`);
    }
    if (e instanceof InternalError) fail(2, `internal error: ${e.message}\nThis is a bug in matc; please report it with the spec that triggered it.`);
    fail(2, `internal error: ${(e as Error)?.stack ?? String(e)}\nThis is a bug in matc; please report it with the spec that triggered it.`);
  },
);
