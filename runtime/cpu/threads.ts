// A batch split over worker threads (Node's worker_threads, SharedArrayBuffer). The main thread
// runs the first instance alone and times it; when the rest of the batch would take long enough
// to pay for the hand-off (THRESHOLD_MS), it is cut into one range per thread: the workers run
// theirs while the main thread runs its own, each with its own workspace, all writing into
// shared output arrays. Results are the same numbers as a single-threaded run: every instance is
// computed by the same program on the same data, only elsewhere.
//
// Workers are started on first need and `unref`'d, so an idle pool never keeps a process alive;
// `dispose()` ends them. Outside Node (no worker_threads) every call runs in the calling thread.

import { MatcRuntimeError, InternalError } from '../../core/errors.js';
import type { CpuProgramData } from '../../core/executable.js';
import type { Binding } from '../bind.js';
import type { NodeStatus } from '../executable.js';
import type { Signature } from '../signature.js';
import type { Tensor } from '../tensor.js';
import type { Arr } from './helpers.js';
import { allocWorkspace, compileProgram, engineFor, finishCall, prepareCall, runRange, sharedArray, type Engine, type Precision, type ProgramCall } from './program.js';
import { wasmModule } from './wasm.js';

/** Splitting is worth it when the rest of the batch takes at least this long in one thread. */
const THRESHOLD_MS = 4;

interface WorkerLike {
  postMessage(m: unknown): void;
  on(ev: 'message', f: (m: unknown) => void): void;
  on(ev: 'error', f: (e: Error) => void): void;
  ref(): void;
  unref(): void;
  terminate(): Promise<number>;
}

interface Job {
  resolve: () => void;
  reject: (e: Error) => void;
}

class PoolWorker {
  private jobs = new Map<number, Job>();
  private next = 0;
  constructor(readonly w: WorkerLike) {
    w.unref();
    w.on('message', (m) => {
      const msg = m as { id: number; error?: { code?: string; message: string; internal: boolean } };
      const job = this.jobs.get(msg.id);
      if (!job) return;
      this.jobs.delete(msg.id);
      if (this.jobs.size === 0) this.w.unref();
      if (msg.error) job.reject(msg.error.code && !msg.error.internal ? new MatcRuntimeError(msg.error.code, msg.error.message) : new InternalError(msg.error.message));
      else job.resolve();
    });
    w.on('error', (e) => {
      for (const j of this.jobs.values()) j.reject(new InternalError(`CPU worker thread failed: ${e.message}`));
      this.jobs.clear();
    });
  }

  run(payload: object): Promise<void> {
    const id = this.next++;
    if (this.jobs.size === 0) this.w.ref();
    return new Promise<void>((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      this.w.postMessage({ id, ...payload });
    });
  }
}

/** Copies a typed array into shared memory (or returns it when it already is shared), reusing
 *  the pool's staging arrays of the same size between calls. */
function shared(a: Arr, staging: Map<string, Arr[]>, used: Map<string, number>): Arr {
  if (typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer) return a;
  const f32 = a instanceof Float32Array;
  const key = `${f32 ? 'f32' : 'f64'}:${a.length}`;
  const k = used.get(key) ?? 0;
  used.set(key, k + 1);
  let list = staging.get(key);
  if (!list) staging.set(key, (list = []));
  if (!list[k]) list[k] = sharedArray(a.length, f32);
  const s = list[k]!;
  s.set(a);
  return s;
}

export class ThreadPool {
  private workers: PoolWorker[] = [];
  private starting: Promise<void> | null = null;
  private main: Map<string, Arr[]> = new Map();
  /** shared copies of inputs, by type and length, reused by later calls */
  private staging: Map<string, Arr[]> = new Map();

  constructor(readonly threads: number) {}

  /** workers started so far (0 until a batch was worth splitting) */
  get workerCount(): number {
    return this.workers.length;
  }

  private async start(): Promise<boolean> {
    if (this.workers.length >= this.threads - 1) return this.workers.length > 0;
    if (!this.starting) {
      this.starting = (async () => {
        let wt: { Worker: new (url: URL) => WorkerLike } | null = null;
        try {
          const spec = 'node:worker_threads';
          wt = (await import(spec)) as unknown as { Worker: new (url: URL) => WorkerLike };
        } catch {
          return;
        }
        const url = new URL('./worker.js', import.meta.url);
        while (this.workers.length < this.threads - 1) this.workers.push(new PoolWorker(new wt.Worker(url)));
      })();
    }
    await this.starting;
    return this.workers.length > 0;
  }

  /** The main thread's workspace for these sizes (kept for calls of the same sizes). */
  private workspace(sizes: number[], precision: Precision): Arr[] {
    const key = `${precision}:${sizes.join(',')}`;
    let w = this.main.get(key);
    if (!w) {
      this.main.clear();
      w = allocWorkspace(sizes, precision);
      this.main.set(key, w);
    }
    return w;
  }

  async run(p: CpuProgramData, sig: Signature, bind: Binding, precision: Precision, engine?: Engine): Promise<{ outputs: Record<string, Tensor>; nodes: NodeStatus[] }> {
    const c = compileProgram(p);
    const B = bind.batchSize;
    // results in shared memory from the start when worker threads may write them
    let call = prepareCall(c, sig, bind, precision, B > 2 && this.threads > 1 ? sharedArray : undefined);
    const useWasm = engineFor(p, precision, engine) === 'wasm';
    const wasm = useWasm ? { module: wasmModule(p)!, checks: p.checks ?? [] } : undefined;
    const W = useWasm ? [] : this.workspace(call.sizes, precision);
    if (B < 2 || this.threads < 2) {
      runRange(c, call, W, 0, B, p.js, wasm);
      return finishCall(sig, bind, call);
    }
    // the first instance alone, timed: is the rest worth splitting? (a first call also compiles;
    // the timing of a second instance says what one costs)
    runRange(c, call, W, 0, 1, p.js, wasm);
    let done = 1;
    let per = Infinity;
    if (B > 2) {
      const t0 = performance.now();
      runRange(c, call, W, 1, 1, p.js, wasm);
      per = performance.now() - t0;
      done = 2;
    }
    if (per * (B - done) < THRESHOLD_MS || !(await this.start())) {
      runRange(c, call, W, done, B - done, p.js, wasm);
      return finishCall(sig, bind, call);
    }
    const tr = typeof process !== 'undefined' && process.env.MATC_TRACE === '1';
    const t1 = performance.now();
    const used = new Map<string, number>();
    call = { ...call, IN: call.IN.map((x) => shared(x, this.staging, used)) };
    const t2 = performance.now();
    const parts = Math.min(this.threads, this.workers.length + 1, B - done);
    const rest = B - done;
    const ranges: [number, number][] = [];
    for (let k = 0; k < parts; k++) {
      const lo = done + Math.floor((rest * k) / parts);
      const hi = done + Math.floor((rest * (k + 1)) / parts);
      if (hi > lo) ranges.push([lo, hi - lo]);
    }
    const [mine, ...theirs] = ranges;
    const jobs = theirs.map(([base, count], k) =>
      this.workers[k]!.run({
        js: p.js,
        ...(useWasm ? { wasm: p.wasm, checks: p.checks ?? [] } : {}),
        D: call.D, IN: call.IN, INS: call.INS, OUT: call.OUT, ST: call.ST, outSizes: call.outSizes, sizes: call.sizes, precision, base, count,
      }),
    );
    let mainError: unknown = null;
    try {
      if (mine) runRange(c, call, W, mine[0], mine[1], p.js, wasm);
    } catch (e) {
      mainError = e;
    }
    const t3 = performance.now();
    const settled = await Promise.allSettled(jobs);
    if (tr) console.error(`[matc trace] threads: share ${(t2 - t1).toFixed(1)} ms, main range ${(t3 - t2).toFixed(1)} ms, wait ${(performance.now() - t3).toFixed(1)} ms`);
    if (mainError) throw mainError;
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
    return finishCall(sig, bind, call);
  }

  dispose(): void {
    for (const w of this.workers) void w.w.terminate();
    this.workers = [];
    this.starting = null;
    this.main.clear();
    this.staging.clear();
  }
}
