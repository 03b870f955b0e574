// A CPU worker thread (runtime/cpu/threads.ts): runs a range of batch instances of a CPU program
// on shared input and output arrays, with a workspace of its own kept between jobs of the same
// sizes. Replies { id } when done, or { id, error } with the error's code and message.

import { parentPort } from 'node:worker_threads';
import { MatcRuntimeError } from '../../core/errors.js';
import { helpers, type Arr } from './helpers.js';
import { allocWorkspace, type Precision } from './program.js';
import { runWasmRange, wasmModule } from './wasm.js';

type Kernel = (H: typeof helpers, D: Float64Array, IN: Arr[], INS: number[], OUT: Arr[], ST: Float64Array[], W: Arr[], base: number, count: number) => void;

interface JobMessage {
  id: number;
  js: string;
  /** the WebAssembly module (base64) and its check messages, when it runs instead of the JS */
  wasm?: string;
  checks?: string[];
  outSizes: number[];
  D: Float64Array;
  IN: Arr[];
  INS: number[];
  OUT: Arr[];
  ST: Float64Array[];
  sizes: number[];
  precision: Precision;
  base: number;
  count: number;
}

const kernels = new Map<string, Kernel>();
const programs = new Map<string, { js: string; wasm: string; dims: string[]; buffers: string[] }>();
let workspace: { key: string; W: Arr[] } | null = null;

parentPort?.on('message', (m: JobMessage) => {
  try {
    if (m.wasm) {
      // one compiled module per program text; wasmModule caches it by the data object
      let data = programs.get(m.wasm);
      if (!data) programs.set(m.wasm, (data = { js: m.js, wasm: m.wasm, dims: [], buffers: [] }));
      const mod = wasmModule(data);
      if (!mod) throw new Error('the WebAssembly module does not compile in this worker');
      const t0 = performance.now();
      runWasmRange(mod, m.checks ?? [], { D: m.D, sizes: m.sizes, IN: m.IN, INS: m.INS, OUT: m.OUT, outSizes: m.outSizes, ST: m.ST }, m.base, m.count);
      if (process.env.MATC_TRACE === '1') console.error(`[matc trace] worker range of ${m.count}: ${(performance.now() - t0).toFixed(1)} ms`);
      parentPort!.postMessage({ id: m.id });
      return;
    }
    let fn = kernels.get(m.js);
    if (!fn) {
      fn = new Function('H', 'D', 'IN', 'INS', 'OUT', 'ST', 'W', 'base', 'count', m.js) as Kernel;
      kernels.set(m.js, fn);
    }
    const key = `${m.precision}:${m.sizes.join(',')}`;
    if (workspace?.key !== key) workspace = { key, W: allocWorkspace(m.sizes, m.precision) };
    fn(helpers, m.D, m.IN, m.INS, m.OUT, m.ST, workspace.W, m.base, m.count);
    parentPort!.postMessage({ id: m.id });
  } catch (e) {
    const err = e as Error;
    parentPort!.postMessage({ id: m.id, error: { message: err.message, ...(e instanceof MatcRuntimeError ? { code: e.code } : {}), internal: !(e instanceof MatcRuntimeError) } });
  }
});
