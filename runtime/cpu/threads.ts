// A batch split over worker threads (Node's worker_threads, SharedArrayBuffer). The main thread
// runs the first instances alone and times them; when the rest of the batch would take long
// enough to pay for the hand-off (THRESHOLD_MS), the rest is cut into chunks that the main thread
// and the workers claim from one shared counter (Atomics.add) until none are left, so a thread
// that is slower, busier or started later simply takes fewer chunks.
//
// Memory (issue 11's scaling target; see bench/RESULTS.md for what each part cost):
// - The main thread reads the caller's inputs and writes the call's results directly.
// - Workers read shared copies of the inputs and write shared staging results; both are kept by
//   the pool and reused by the next call of the same sizes. The inputs are copied chunk by chunk
//   after the workers were sent off, so a worker starts on the first chunk while the main thread
//   copies the rest (ctl[1] counts the chunks staged; a worker waits on it with Atomics.wait). Fresh shared memory is expensive:
//   every 4 KiB page faults on first touch (about 12 µs each on the development VM, 24 ms per
//   8 MiB), which had cost more than the second thread gained.
// - Results of SHARED_RESULT_MIN elements or more are allocated in shared memory when the call
//   may be split: every thread writes its chunks in place, so their first-touch page faults are
//   spread over the threads and nothing is copied. The results are then SharedArrayBuffer-backed
//   Float64Arrays; passed back as inputs or as `into` tensors (a training loop), they are read and
//   written in place too. Inputs already in shared memory are not copied either.
// - Other results (a caller's `into` arrays in unshared memory): while it runs its own chunks, the
//   main thread copies chunks the workers have finished from staging into them (a per-chunk flag,
//   set with Atomics.store after the chunk's stores), and the rest after the workers are done.
//   The serial part of a call is binding, the copy of unshared inputs and that copy-out.
// Results are the same numbers as a single-threaded run: every instance is computed by the same
// program on the same data, only elsewhere.
//
// Workers are started on first need and `unref`'d, so an idle pool never keeps a process alive;
// `dispose()` ends them. A worker receives a program's text once and keeps it compiled by id.
// Outside Node (no worker_threads) every call runs in the calling thread.

import { MatcRuntimeError, InternalError } from '../../core/errors.js';
import type { CpuProgramData } from '../../core/executable.js';
import type { Binding } from '../bind.js';
import type { NodeStatus } from '../executable.js';
import type { Signature } from '../signature.js';
import type { Tensor } from '../tensor.js';
import type { Arr } from './helpers.js';
import { allocWorkspace, compileProgram, elemOf, engineFor, finishCall, plainArray, prepareCall, runRange, sharedArray, type Engine, type Precision } from './program.js';
import { wasmModule } from './wasm.js';

/** Splitting is worth it when the rest of the batch takes at least this long in one thread. */
const THRESHOLD_MS = 4;
/** Chunks per thread when the batch is split (the last chunks even out the threads' finish). */
const CHUNKS_PER_THREAD = 16;
/** A chunk takes at least this long (per-chunk overhead: a wasm call's set-up, one flag). */
const MIN_CHUNK_MS = 0.25;
/** Results of at least this many elements of a call that may be split are allocated in shared
 *  memory (smaller ones cost more as a SharedArrayBuffer than their copy does). */
const SHARED_RESULT_MIN = 16384;
/** Staging (shared copies of inputs and results) larger than this is not kept between calls. */
const KEEP_STAGING_BYTES = 512 * 2 ** 20;

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
  /** ids of the programs this worker has been sent */
  readonly programs = new Set<number>();
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

/** Shared arrays by type and length, reused between calls: `take` hands out the arrays of the
 *  last call first, `settle` drops what this call did not use. */
class Staging {
  private last = new Map<string, Arr[]>();
  private now = new Map<string, Arr[]>();

  take(n: number, f32: boolean): Arr {
    const key = `${f32 ? 'f32' : 'f64'}:${n}`;
    const a = this.last.get(key)?.pop() ?? sharedArray(n, f32);
    let list = this.now.get(key);
    if (!list) this.now.set(key, (list = []));
    list.push(a);
    return a;
  }

  /** A shared copy of an input (the input itself when it already is shared). */
  copy(a: Arr): Arr {
    if (typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer) return a;
    const s = this.take(a.length, a instanceof Float32Array);
    s.set(a);
    return s;
  }

  settle(): void {
    let bytes = 0;
    for (const list of this.now.values()) for (const a of list) bytes += a.byteLength;
    this.last = bytes <= KEEP_STAGING_BYTES ? this.now : new Map();
    this.now = new Map();
  }

  clear(): void {
    this.last.clear();
    this.now.clear();
  }
}

let nextProgramId = 1;
const programIds = new WeakMap<CpuProgramData, number>();
const f32ProgramIds = new WeakMap<CpuProgramData, number>();

export class ThreadPool {
  private workers: PoolWorker[] = [];
  private starting: Promise<void> | null = null;
  private main: Map<string, Arr[]> = new Map();
  private staging = new Staging();
  private queue: Promise<unknown> = Promise.resolve();

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

  /** Calls run one after another: a call's staging arrays are in use until its workers finish. */
  run(p: CpuProgramData, sig: Signature, bind: Binding, precision: Precision, engine?: Engine): Promise<{ outputs: Record<string, Tensor>; nodes: NodeStatus[] }> {
    const r = this.queue.then(() => this.runOne(p, sig, bind, precision, engine));
    this.queue = r.catch(() => undefined);
    return r;
  }

  private async runOne(p: CpuProgramData, sig: Signature, bind: Binding, precision: Precision, engine?: Engine): Promise<{ outputs: Record<string, Tensor>; nodes: NodeStatus[] }> {
    const c = compileProgram(p);
    const B = bind.batchSize;
    // large results of a call that may be split live in shared memory: the workers write their
    // chunks in place (no staging, no copy on the main thread) and touch their pages themselves
    const share = B >= 2 && this.threads >= 2 && typeof SharedArrayBuffer !== 'undefined';
    const call = prepareCall(c, sig, bind, precision, share ? (n, f32) => (n >= SHARED_RESULT_MIN ? sharedArray(n, f32) : plainArray(n, f32)) : undefined);
    const useWasm = engineFor(p, precision, engine) === 'wasm';
    const elem = elemOf(precision);
    const wasm = useWasm ? { module: wasmModule(p, elem)!, checks: p.checks ?? [], elem } : undefined;
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
    const rest = B - done;
    const threads = Math.min(this.threads, this.workers.length + 1);
    const chunk = Math.max(1, Math.ceil(rest / (threads * CHUNKS_PER_THREAD)), Math.ceil(MIN_CHUNK_MS / Math.max(per, 1e-6)));
    const nChunks = Math.ceil(rest / chunk);
    // [0]: the next chunk to claim; [1]: chunks whose inputs are staged; flags[k] (ctl[2 + k]): 1
    // once a worker has finished chunk k
    const ctl = new Int32Array(new SharedArrayBuffer(4 * (2 + nChunks)));
    const flags = ctl.subarray(2);
    const f32 = precision === 'f32';
    // batched inputs are staged chunk by chunk after the workers were sent off (a worker waits
    // only for the chunk it claimed); inputs shared by the batch, at once
    const isShared = (x: Arr) => typeof SharedArrayBuffer !== 'undefined' && x.buffer instanceof SharedArrayBuffer;
    const later = call.IN.map((x, i) => call.INS[i] !== 0 && !isShared(x));
    const IN = call.IN.map((x, i) => (later[i] ? this.staging.take(x.length, x instanceof Float32Array) : this.staging.copy(x)));
    if (!later.some((x) => x)) ctl[1] = nChunks;
    // results (and status arrays) in shared memory are written in place, the rest staged
    const OUT = call.OUT.map((o, i) => (isShared(o) ? o : this.staging.take(o.length, f32 && !sig.results[i]!.int)));
    const ST = call.ST.map((s) => (isShared(s) ? s : (this.staging.take(s.length, false) as Float64Array)));
    this.staging.settle();
    const t2 = performance.now();
    // the f32 module is a program of its own to the workers (they keep one module per id)
    const ids = useWasm && elem === 4 ? f32ProgramIds : programIds;
    const id = ids.get(p) ?? nextProgramId++;
    ids.set(p, id);
    const workers = this.workers.slice(0, threads - 1);
    const jobs = workers.map((w) => {
      const first = !w.programs.has(id);
      w.programs.add(id);
      return w.run({
        prog: id,
        // the compiled WebAssembly.Module itself, not its bytes: the worker runs the code the main
        // thread compiled instead of compiling the module again (baseline code first)
        ...(first ? { js: p.js, ...(useWasm ? { module: wasm!.module, checks: p.checks ?? [] } : {}) } : {}),
        useWasm,
        D: call.D, IN, INS: call.INS, OUT, ST, outSizes: call.outSizes, sizes: call.sizes, precision,
        ctl, start: done, chunk, total: B,
      });
    });
    if (later.some((x) => x)) {
      for (let k = 0; k < nChunks; k++) {
        const lo = done + k * chunk;
        const hi = Math.min(B, lo + chunk);
        call.IN.forEach((x, i) => {
          if (!later[i]) return;
          const s = call.INS[i]!;
          IN[i]!.set(x.subarray(lo * s, hi * s), lo * s);
        });
        Atomics.store(ctl, 1, k + 1);
        Atomics.notify(ctl, 1);
      }
    }
    const t2b = performance.now();
    // copies a chunk a worker finished from staging into the results
    const copied = new Uint8Array(nChunks);
    let low = 0;
    const collect = (): void => {
      for (let k = low; k < nChunks; k++) {
        if (copied[k] || Atomics.load(flags, k) !== 1) continue;
        copied[k] = 1;
        const lo = done + k * chunk;
        const n = Math.min(chunk, B - lo);
        call.OUT.forEach((o, i) => {
          if (OUT[i] === o) return;
          const s = call.outSizes[i]!;
          o.set(OUT[i]!.subarray(lo * s, (lo + n) * s), lo * s);
        });
        call.ST.forEach((st, i) => ST[i] !== st && st.set(ST[i]!.subarray(3 * lo, 3 * (lo + n)), 3 * lo));
      }
      while (low < nChunks && copied[low]) low++;
    };
    let mainError: unknown = null;
    let mine = 0;
    try {
      for (;;) {
        const k = Atomics.add(ctl, 0, 1);
        if (k >= nChunks) break;
        copied[k] = 1; // the main thread's own chunks are written in place
        const lo = done + k * chunk;
        runRange(c, call, W, lo, Math.min(chunk, B - lo), p.js, wasm);
        mine++;
        collect();
      }
    } catch (e) {
      mainError = e;
      Atomics.store(ctl, 0, nChunks); // the workers claim nothing more
    }
    const t3 = performance.now();
    const settled = await Promise.allSettled(jobs);
    const t4 = performance.now();
    if (mainError) throw mainError;
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
    collect();
    if (low < nChunks) throw new InternalError(`CPU threads: chunk ${low} of ${nChunks} was not computed`);
    if (tr) console.error(`[matc trace] threads: ${threads}, ${nChunks} chunks of ${chunk} (${mine} on the main thread); stage ${(t2 - t1).toFixed(1)} + ${(t2b - t2).toFixed(1)} ms, main ${(t3 - t2).toFixed(1)} ms, wait ${(t4 - t3).toFixed(1)} ms, copy ${(performance.now() - t4).toFixed(1)} ms`);
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
