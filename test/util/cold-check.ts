// A worker for test/hardening.test.ts: checks one spec in a fresh thread, so that the parser and
// the checker run cold — V8's largest frames — on the small stack the test gives the worker (the
// passes after them are iterative). Posts the error codes, or 'threw …'.

import { parentPort, workerData } from 'node:worker_threads';
import { checkSource } from '../../compiler/compile.js';

const { src } = workerData as { src: string };
try {
  const ds = checkSource(src, { path: 'cold.mat' });
  parentPort!.postMessage([...new Set(ds.filter((d) => d.severity === 'error').map((d) => d.code))].join(','));
} catch (e) {
  parentPort!.postMessage(`threw ${(e as Error).name}: ${(e as Error).message} ${(e as Error).stack?.split('\n')[1] ?? ''}`);
}
