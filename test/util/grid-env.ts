// The grid-model test files run every call on the grid model (MATC_SCHEDULE=grid) and restore the
// environment variables they change, then release the shared GPU, when the file ends.

import { after, before } from 'node:test';
import { releaseSharedGpu } from '../gpu-available.js';

/** Registers the file's before/after hooks: MATC_SCHEDULE=grid during the file; `restore` names
 *  the other variables its tests may set (restored as they were). */
export function useGridSchedule(restore: string[] = []): void {
  const names = ['MATC_SCHEDULE', ...restore];
  const saved = new Map(names.map((k) => [k, process.env[k]]));
  before(() => {
    process.env.MATC_SCHEDULE = 'grid';
  });
  after(async () => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await releaseSharedGpu();
  });
}
