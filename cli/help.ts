// The CLI's help texts, apart from everything a command runs: `matc --help`, `--version` and
// `matc CMD --help` load only this module and the argument parser.

import { CPU_OPTIONS_HELP } from './cpu-options.js';

export const VERSION = '0.1.0';

export const help: Record<string, string> = {
  main: `matc ${VERSION} — a compiler for declarative matrix calculus

usage: matc <command> [options]

commands:
  check FILE...        check specs; diagnostics on stderr
  ir FILE --fn NAME    print a function's IR after a stage
  run FILE --fn NAME   run a function (forward, gradients, gradient check)
  compile FILE -o DIR  write an ES module + .d.ts with the WGSL embedded
  bench FILE --fn NAME time a function on the chosen backend

options: --help (per command), --version
exit codes: 0 ok, 1 user errors, 2 internal errors`,
  check: `usage: matc check FILE...

Parses and checks each file (and its imports). Prints diagnostics with code frames on stderr.
Exit 0 when clean (warnings allowed), 1 when any file has errors.`,
  ir: `usage: matc ir FILE --fn NAME [--stage STAGE]

Prints the function after a pipeline stage:
  parse    the program as read (AST printed back as source)
  check    the function's signature with inferred types and dimensions
  lower    typed IR after elaboration (declarative nodes intact)
  diff     the VJP: the function plus gradients of every input (before solver expansion)
  jvp      the JVP (forward mode)
  expand   declarative nodes expanded into solver loops
  opt      the optimized forward and VJP as they are executed
  schedule the GPU kernel plan (per-instance / tiled kernels)
  wgsl     the generated WGSL`,
  run: `usage: matc run FILE --fn NAME [options]

inputs:
  --inputs FILE        JSON {NAME: {"shape": [...], "data": [...]}} (data flat, row-major,
                       batch dimensions leading)
  --random             seeded random inputs respecting declared structure (sym, spd, sphere, ...)
  --seed N             random seed (default 1)
  --batch B            leading batch dimension for random inputs (default: none)
  --dims m=64,n=32     dimension sizes for random inputs and int parameters (default 4 each)
  --set NAME=VALUE     a scalar input (e.g. lr=0.1) or a solver option for every declarative
                       node that has it (e.g. tol=1e-10, max_iter=500)
gradients:
  --grad               VJP of the outputs with a cotangent (default: seeded random)
  --cotangent FILE     cotangents in the same JSON form
  --check-grad         compare the VJP with central finite differences in f64
execution:
  --backend B          auto (WebGPU when an adapter exists, else CPU), cpu or webgpu
${CPU_OPTIONS_HELP}
  --json               one JSON object on stdout:
                       { backend, fn, dims, outputs, status, gradients, gradCheck, timings }`,
};

export const BENCH_HELP = `usage: matc bench FILE --fn NAME [--batch B] [--dims m=64,n=32] [--backend auto|cpu|webgpu]
                  [--precision f64|f32] [--threads N] [--reference]
                  [--reps N] [--seed S] [--set tol=1e-7,max_iter=100] [--json]

Times the forward and the backward (VJP) of a function on seeded random inputs:
  gpu ms   GPU time of the instance kernel by timestamp queries on device-resident buffers
           (no upload, no readback), median of N runs after >= 250 ms of warm-up
  wall ms  one full call end to end (bind, upload, one submission, one readback), median of N
           calls after one warm-up call; on the CPU backend the compiled program's call
The backward is the VJP kernel: it re-runs the forward solver, then the implicit backward.

inputs: random with the declared structure; a sym[m] parameter gets PMaF's IED data (entries
|N(0,1)|, then X + Xᵀ: a dominant eigenvalue with a large gap), cotangents are N(0,1).

options:
  --batch B         leading batch dimension (default 1, no batch dimension)
  --dims m=64,n=32  dimension sizes (default 4 each)
  --backend B       auto (WebGPU when an adapter exists, else CPU), cpu or webgpu
  --precision P     the CPU backend's storage precision: f64 (default) or f32
  --threads N       worker threads for large batches on the CPU (default: every core)
  --reference       time the CPU reference interpreter instead of the compiled program
  --reps N          timed repetitions per phase (default 20; fewer when they would take
                    over ~2 s, at least 1)
  --set K=V         solver options for every declarative node (tol, max_iter, ...)
  --json            one JSON object on stdout:
                    { backend, fn, dims, batch, forward: { gpuMsMedian, wallMsMedian, ... },
                      backward: { ... }, reps, inputs, status }`;

export function extraHelp(cmd: string): string | undefined {
  if (cmd === 'compile')
    return [
      'usage: matc compile FILE -o DIR [--runtime SPEC] [--static K=4,5]',
      '',
      "Writes DIR/<name>.js (an ES module) and DIR/<name>.d.ts. Per function the module embeds the",
      'WGSL instance kernels of the forward, VJP and JVP (plain and with subgroup reductions) and',
      'their printed IR (run by the CPU reference). Loading it needs only matc\'s runtime, imported',
      'as matc/dist/runtime/aot/index.js unless --runtime names a package, a .js specifier or a',
      'path to a matc checkout or its dist/ (written relative to DIR).',
      '',
      'Generic functions (static int parameters) are embedded per specialisation, named NAME[K=4]:',
      'those of --static (K=4,5 compiles K = 4 and K = 5; K=4,5,N=2,3 every combination) and those',
      'at the defaults of their static parameters.',
    ].join('\n');
  if (cmd === 'bench') return BENCH_HELP;
  return undefined;
}
