// A CPU worker thread (runtime/cpu/threads.ts): claims chunks of a call's batch from the shared
// counter (Atomics.add on ctl[0]) and runs them on the shared inputs once they are staged
// (ctl[1] > k), writing the shared staging results, with a workspace (JS) or WebAssembly instance
// of its own kept between jobs; flags each finished chunk (ctl[2 + k] = 1) for the main thread
// to copy. Replies { id } when no chunk is
// left, or { id, error } with the error's code and message (after stopping the counter).
// A program's text comes with the first job that names its id; later jobs send the id only.

import { parentPort } from 'node:worker_threads';
import { MatcRuntimeError } from '../../core/errors.js';
import { helpers, type Arr } from './helpers.js';
import { allocWorkspace, elemOf, type Precision } from './program.js';
import { runWasmRange, type WasmModule } from './wasm.js';

type Kernel = (H: typeof helpers, D: Float64Array, IN: Arr[], INS: number[], OUT: Arr[], ST: Float64Array[], W: Arr[], base: number, count: number) => void;

interface JobMessage {
  id: number;
  /** the program's id; its text (js, and wasm/checks) comes with the first job that names it */
  prog: number;
  js?: string;
  /** the compiled WebAssembly module (cloned from the main thread) and its check messages */
  module?: WasmModule;
  checks?: string[];
  useWasm: boolean;
  outSizes: number[];
  D: Float64Array;
  IN: Arr[];
  INS: number[];
  OUT: Arr[];
  ST: Float64Array[];
  sizes: number[];
  precision: Precision;
  /** [0]: the next chunk to claim; [1]: chunks staged; [2 + k]: chunk k done */
  ctl: Int32Array;
  /** the first instance of chunk 0, instances per chunk, the batch size */
  start: number;
  chunk: number;
  total: number;
}

interface Program {
  js: string;
  kernel?: Kernel;
  wasm?: { module: WasmModule; checks: string[] };
}

const programs = new Map<number, Program>();
let workspace: { key: string; W: Arr[] } | null = null;

function program(m: JobMessage): Program {
  let p = programs.get(m.prog);
  if (!p) {
    if (m.js === undefined) throw new Error(`CPU worker: program ${m.prog} was never sent`);
    p = { js: m.js };
    if (m.module) p.wasm = { module: m.module, checks: m.checks ?? [] };
    programs.set(m.prog, p);
  }
  return p;
}

parentPort?.on('message', (m: JobMessage) => {
  const nChunks = m.ctl.length - 2;
  try {
    const p = program(m);
    let run: (base: number, count: number) => void;
    if (m.useWasm) {
      const w = p.wasm;
      if (!w) throw new Error('the WebAssembly module does not compile in this worker');
      const call = { D: m.D, sizes: m.sizes, IN: m.IN, INS: m.INS, OUT: m.OUT, outSizes: m.outSizes, ST: m.ST };
      run = (base, count) => runWasmRange(w.module, w.checks, call, base, count, elemOf(m.precision));
    } else {
      const fn = (p.kernel ??= new Function('H', 'D', 'IN', 'INS', 'OUT', 'ST', 'W', 'base', 'count', p.js) as Kernel);
      const key = `${m.precision}:${m.sizes.join(',')}`;
      if (workspace?.key !== key) workspace = { key, W: allocWorkspace(m.sizes, m.precision) };
      const W = workspace.W;
      run = (base, count) => fn(helpers, m.D, m.IN, m.INS, m.OUT, m.ST, W, base, count);
    }
    const t0 = performance.now();
    let mine = 0;
    let running = 0;
    for (;;) {
      const k = Atomics.add(m.ctl, 0, 1);
      if (k >= nChunks) break;
      // the chunk's inputs are staged once ctl[1] > k
      for (let s = Atomics.load(m.ctl, 1); s <= k; s = Atomics.load(m.ctl, 1)) Atomics.wait(m.ctl, 1, s);
      const lo = m.start + k * m.chunk;
      const t1 = performance.now();
      run(lo, Math.min(m.chunk, m.total - lo));
      running += performance.now() - t1;
      Atomics.store(m.ctl, 2 + k, 1);
      mine++;
    }
    if (process.env.MATC_TRACE === '1') console.error(`[matc trace] worker ${m.id}: ${mine} chunks in ${(performance.now() - t0).toFixed(1)} ms (running them ${running.toFixed(1)} ms)`);
    parentPort!.postMessage({ id: m.id });
  } catch (e) {
    Atomics.store(m.ctl, 0, nChunks);
    const err = e as Error;
    parentPort!.postMessage({ id: m.id, error: { message: err.message, ...(e instanceof MatcRuntimeError ? { code: e.code } : {}), internal: !(e instanceof MatcRuntimeError) } });
  }
});
