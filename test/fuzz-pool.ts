// Fuzz cases run in worker threads with a watchdog (issue 12): a stage of a case (checking,
// compiling a form, running it) that does not finish within the time limit — or a case that
// takes more than six times it in all — is a hang: its worker is terminated (which stops even a
// synchronous loop) and replaced, and the report names the stage. Used by the CI sample
// (test/fuzz.test.ts) and the long campaign (scripts/fuzz.mjs).

import { Worker } from 'node:worker_threads';
import type { CaseResult, RunOptions, Stage } from './fuzz-run.js';

/** The watchdog's tick (ms). */
const TICK_MS = 250;

/** A stage with no result after this many times its limit in wall time is a hang even if it
 *  computed nothing meanwhile (a wait that never ends); the limit itself counts computation. */
const WALL_FACTOR = 60;

/** The watchdog's credit for one tick: the wall time since the last, at most 2 × TICK_MS (a
 *  process stopped with SIGSTOP, or a pool thread blocked, is not charged for the pause), and at
 *  most this process's CPU time over the tick shared among its busy workers, so that a worker
 *  starved by other work on the machine (a campaign at nice 19 beside test suites) is charged for
 *  the computing it did, not for the time it waited for a core. A case that computes without end
 *  is charged about its wall time. */
export function tickCredit(wallMs: number, cpuMs: number, busyWorkers: number): number {
  return Math.max(0, Math.min(wallMs, 2 * TICK_MS, cpuMs / Math.max(1, busyWorkers)));
}

export interface PoolResult extends Partial<Omit<CaseResult, 'verdict'>> {
  verdict: 'ok' | 'crash' | 'hang';
  /** for hangs: the stage that was running when the watchdog fired */
  stage?: Stage;
  wallMs: number;
}

interface Slot {
  worker: Worker;
  busy: boolean;
}

/** CPU time of this process (every thread: the pool's workers included), in ms. */
function cpuMsNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export class FuzzPool {
  private slots: Slot[] = [];
  private queue: (() => void)[] = [];
  private nextId = 0;

  constructor(
    readonly size: number,
    /** the watchdog: milliseconds one stage of a case may take */
    readonly timeoutMs: number,
    /** the worker's stack, in MB (V8's main-thread default is just under 1) */
    readonly stackSizeMb = 1,
  ) {
    for (let i = 0; i < size; i++) this.slots.push({ worker: this.spawn(), busy: false });
  }

  private spawn(): Worker {
    // a heap limit per worker, so that a case that eats memory kills its worker (a reported
    // crash with the case) rather than the campaign (the machine's OOM killer took it at 24 GB)
    const w = new Worker(new URL('./fuzz-worker.js', import.meta.url), { resourceLimits: { stackSizeMb: this.stackSizeMb, maxOldGenerationSizeMb: 4096 } });
    w.unref();
    return w;
  }

  private async acquire(): Promise<Slot> {
    for (;;) {
      const free = this.slots.find((s) => !s.busy);
      if (free) {
        free.busy = true;
        return free;
      }
      await new Promise<void>((r) => this.queue.push(r));
    }
  }

  private release(slot: Slot): void {
    slot.busy = false;
    this.queue.shift()?.();
  }

  /** Runs one case under the watchdog; `runTimeoutMs` (default: the same) bounds the stages that
   *  run a function, for specs that ask for very long runs. */
  async run(text: string, opts: Omit<RunOptions, 'onStage'> = {}, timeoutMs = this.timeoutMs, runTimeoutMs = timeoutMs): Promise<PoolResult> {
    const slot = await this.acquire();
    const id = this.nextId++;
    const t0 = performance.now();
    return new Promise<PoolResult>((resolve) => {
      let stage: Stage = 'check';
      const done = (r: PoolResult) => {
        clearInterval(timer);
        slot.worker.off('message', onMessage);
        slot.worker.off('error', onError);
        this.release(slot);
        resolve(r);
      };
      const onMessage = (m: { id: number; stage?: Stage; result?: CaseResult }) => {
        if (m.id !== id) return;
        if (m.stage) {
          stage = m.stage;
          arm(stage.startsWith('run') ? runTimeoutMs : timeoutMs);
        }
        if (m.result) done({ ...m.result, wallMs: performance.now() - t0 });
      };
      // an error the worker did not catch (out of memory, an uncaught exception): a crash
      const onError = (e: Error) => {
        slot.worker = this.spawn();
        done({ verdict: 'crash', stage, sig: `${stage}: worker died: ${e.name}: ${e.message.split('\n')[0]!.replace(/\d+/g, 'N')}`, text: String(e.stack ?? e), wallMs: performance.now() - t0 });
      };
      // The watchdog counts the computing the case could do (tickCredit): a process that was
      // stopped (SIGSTOP while a benchmark ran) or a worker starved by other work is not charged
      // for the time it had no CPU; a case that computes without end is stopped within about a
      // tick of its limit, and one that waits without end after WALL_FACTOR times it.
      let credit = 0;
      let last = performance.now();
      let lastCpu = cpuMsNow();
      let limit = timeoutMs;
      let armedAt = last;
      let wallLimit = WALL_FACTOR * timeoutMs;
      const timer = setInterval(() => {
        const now = performance.now();
        const cpu = cpuMsNow();
        credit += tickCredit(now - last, cpu - lastCpu, this.slots.filter((s) => s.busy).length);
        last = now;
        lastCpu = cpu;
        if (credit < limit && now - armedAt < wallLimit) return;
        const old = slot.worker;
        slot.worker = this.spawn();
        void old.terminate();
        const total = performance.now() - t0;
        done({ verdict: 'hang', stage, sig: `hang in ${stage}`, text: `stage ${stage} gave no result within ${(stage.startsWith('run') ? runTimeoutMs : timeoutMs)} ms (${total.toFixed(0)} ms into the case, ${credit.toFixed(0)} ms of it counted)`, wallMs: total });
      }, TICK_MS);
      const arm = (ms: number) => {
        limit = Math.min(credit + Math.max(0, ms), 6 * timeoutMs);
        armedAt = performance.now();
        wallLimit = WALL_FACTOR * Math.max(0, ms);
      };
      slot.worker.on('message', onMessage);
      slot.worker.on('error', onError);
      slot.worker.postMessage({ id, text, opts });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots = [];
  }
}
