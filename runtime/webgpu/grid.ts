// Runs grid-model variants (core/schedule.ts, model 'grid'): the schedule's launches and loops are
// expanded for the call's dimensions into one GpuPlan per chunk of instances — every launch in one
// submission, over the same four buffers as an instance kernel (so binding, packing and unpacking
// are the instance model's, runtime/webgpu/backend.ts).

import { parseDim } from '../../core/dims.js';
import { MatcRuntimeError } from '../../core/errors.js';
import type { PlanBuffer, PlanLaunch } from '../../core/gpu-plan.js';
import type { ScheduleStep } from '../../core/schedule.js';

/** The plan buffer of a grid schedule's indirect launches (4 u32 per entry: x, y, z, 0). */
export const INDIRECT_BUFFER = 'disp';

/** The plan buffer for a chunk's indirect launches, when the schedule has any. */
export function indirectBuffers(bytes: number, name = INDIRECT_BUFFER): PlanBuffer[] {
  return bytes > 0 ? [{ name, bytes, kind: 'indirect' }] : [];
}

/** Launches one plan may hold: a loop of 10⁵ iterations × 10 kernels is already a long
 *  submission; past this the call is refused rather than left to exhaust the driver. */
export const MAX_GRID_LAUNCHES = 2_000_000;

/** A point between launches where the runtime reads the flags of an `until` loop: when every
 *  instance has stopped, the launches up to `skipTo` (the end of this run of the loop) are left out. */
export interface GridCheck {
  /** the index of the first launch after the check */
  at: number;
  skipTo: number;
  /** the loop's flag (its index within an instance's 'loop flags') */
  flag: number;
}

/** The launches of a grid schedule for these dimensions and a chunk of `count` instances. */
export function expandGridSteps(steps: readonly ScheduleStep[], dims: ReadonlyMap<string, number>, count: number, workgroupSize: number, maxGrid: number): PlanLaunch[] {
  return expandGridSchedule(steps, dims, count, workgroupSize, maxGrid).launches;
}

/** The launches and the flag checks of a grid schedule for these dimensions and a chunk of
 *  `count` instances. */
export function expandGridSchedule(steps: readonly ScheduleStep[], dims: ReadonlyMap<string, number>, count: number, workgroupSize: number, maxGrid: number): { launches: PlanLaunch[]; checks: GridCheck[]; indirectBytes: number } {
  const out: PlanLaunch[] = [];
  const checks: GridCheck[] = [];
  let indirect = 0;
  const env = new Map(dims);
  env.set('B', count);
  const ev = (t: string): number => {
    const v = parseDim(t).eval(env);
    if (!Number.isFinite(v)) throw new MatcRuntimeError('MATR225', `grid schedule: cannot evaluate '${t}' for these dimensions`);
    return v;
  };
  const walk = (xs: readonly ScheduleStep[]): void => {
    for (const st of xs) {
      if (st.k === 'launch') {
        let workgroups: [number, number, number];
        if (st.span === 'tiles') {
          const tile = st.tile ?? 64;
          const tiles = Math.ceil(ev(st.grid[0]) / tile) * Math.ceil(ev(st.grid[1]) / tile);
          workgroups = [Math.max(1, Math.min(tiles, maxGrid)), count, 1];
        } else if (st.span === 'elements') {
          const elems = ev(st.grid[0]);
          workgroups = [Math.max(1, Math.min(Math.ceil(elems / workgroupSize), maxGrid)), count, 1];
        } else if (st.span === 'once') {
          workgroups = [1, 1, 1];
        } else {
          const gx = Math.min(count, maxGrid);
          workgroups = [gx, Math.ceil(count / gx), 1];
        }
        if (st.indirect !== undefined) indirect = Math.max(indirect, st.indirect + 1);
        out.push({
          kernel: st.entry ?? st.kernel,
          bindings: st.bindings,
          workgroups,
          ...(st.indirect !== undefined ? { indirect: { buffer: INDIRECT_BUFFER, offset: 16 * st.indirect } } : {}),
          ...(st.label ? { label: st.label } : {}),
        });
      } else if (st.k === 'loop') {
        const n = Math.max(0, ev(st.count));
        const mine: GridCheck[] = [];
        for (let i = 0; i < n; i++) {
          walk(st.body);
          if (out.length > MAX_GRID_LAUNCHES) throw new MatcRuntimeError('MATR225', `grid schedule: more than ${MAX_GRID_LAUNCHES} kernel launches for these dimensions (a loop of ${n} iterations); run it with MATC_SCHEDULE=instance or on the CPU`);
          if (st.until && st.check && (i + 1) % st.check.every === 0 && i + 1 < n) {
            const c = { at: out.length, skipTo: -1, flag: st.until.index };
            mine.push(c);
            checks.push(c);
          }
        }
        for (const c of mine) c.skipTo = out.length;
      }
    }
  };
  walk(steps);
  checks.sort((a, b) => a.at - b.at);
  return { launches: out, checks, indirectBytes: 16 * indirect };
}

/** The entry points a grid schedule launches. */
export function gridEntries(steps: readonly ScheduleStep[], out = new Set<string>()): Set<string> {
  for (const st of steps) {
    if (st.k === 'launch') out.add(st.entry ?? st.kernel);
    else if (st.k === 'loop') gridEntries(st.body, out);
  }
  return out;
}
