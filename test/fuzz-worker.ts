// A worker of the fuzz pool (test/fuzz-pool.ts): runs the cases it is sent through the pipeline
// (test/fuzz-run.ts) and reports each stage as it starts, so that the pool's watchdog can name
// the stage of a case that never finishes. Its stack is as small as the main thread's, so a
// stack overflow found here is one a user would meet.

import { parentPort } from 'node:worker_threads';
import { runCase, type RunOptions } from './fuzz-run.js';

interface Job {
  id: number;
  text: string;
  opts: Omit<RunOptions, 'onStage'>;
}

parentPort!.on('message', (job: Job) => {
  void runCase(job.text, { ...job.opts, onStage: (stage) => parentPort!.postMessage({ id: job.id, stage }) }).then((result) => parentPort!.postMessage({ id: job.id, result }));
});
