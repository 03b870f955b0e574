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
import { allocWorkspace, compileProgram, finishCall, prepareCall, runRange, type Precision, type ProgramCall } from './program.js';

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

/** Copies a typed array into shared memory (or returns it when it already is shared). */
function shared(a: Arr): Arr {
  if (typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer) return a;
  const s = a instanceof Float32Array ? new Float32Array(new SharedArrayBuffer(a.length * 4)) : new Float64Array(new SharedArrayBuffer(a.length * 8));
  s.set(a);
  return s as Arr;
}

export class ThreadPool {
  private workers: PoolWorker[] = [];
  private starting: Promise<void> | null = null;
  private main: Map<string, Arr[]> = new Map();

  constructor(readonly threads: number) {}

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

  async run(p: CpuProgramData, sig: Signature, bind: Binding, precision: Precision): Promise<{ outputs: Record<string, Tensor>; nodes: NodeStatus[] }> {
    const c = compileProgram(p);
    const B = bind.batchSize;
    let call = prepareCall(c, sig, bind, precision);
    const W = this.workspace(call.sizes, precision);
    if (B < 2 || this.threads < 2) {
      runRange(c, call, W, 0, B, p.js);
      return finishCall(sig, bind, call);
    }
    // the first instance alone, timed: is the rest worth splitting?
    const t0 = performance.now();
    runRange(c, call, W, 0, 1, p.js);
    const per = performance.now() - t0;
    if (per * (B - 1) < THRESHOLD_MS || !(await this.start())) {
      runRange(c, call, W, 1, B - 1, p.js);
      return finishCall(sig, bind, call);
    }
    call = shareCall(call);
    const parts = Math.min(this.threads, this.workers.length + 1, B - 1);
    const rest = B - 1;
    const ranges: [number, number][] = [];
    for (let k = 0; k < parts; k++) {
      const lo = 1 + Math.floor((rest * k) / parts);
      const hi = 1 + Math.floor((rest * (k + 1)) / parts);
      if (hi > lo) ranges.push([lo, hi - lo]);
    }
    const [mine, ...theirs] = ranges;
    const jobs = theirs.map(([base, count], k) =>
      this.workers[k]!.run({ js: p.js, D: call.D, IN: call.IN, INS: call.INS, OUT: call.OUT, ST: call.ST, sizes: call.sizes, precision, base, count }),
    );
    let mainError: unknown = null;
    try {
      if (mine) runRange(c, call, W, mine[0], mine[1], p.js);
    } catch (e) {
      mainError = e;
    }
    const settled = await Promise.allSettled(jobs);
    if (mainError) throw mainError;
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
    return finishCall(sig, bind, call);
  }

  dispose(): void {
    for (const w of this.workers) void w.w.terminate();
    this.workers = [];
    this.starting = null;
    this.main.clear();
  }
}

/** The call's arrays in shared memory (the outputs the first instance wrote are kept). */
function shareCall(call: ProgramCall): ProgramCall {
  return { ...call, IN: call.IN.map(shared), OUT: call.OUT.map(shared), ST: call.ST.map((s) => shared(s) as Float64Array) };
}
