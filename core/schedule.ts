// The schedule IR: how a function's kernels run on a GPU, as plain data. The compiler makes a
// schedule (compiler/schedule/), AOT modules embed it, and the WebGPU runtime turns it into GPU
// plans (core/gpu-plan.ts) once the dimensions of a call are known. Everything symbolic is a
// dimension expression (core/dims.ts) over the function's dimension names and `B`, the number
// of problem instances a launch covers (the runtime splits a batch into chunks that fit the
// device's limits, so B is the chunk, not the whole batch).
//
// Buffers are sized in f32 elements, per instance when `perInstance` is set. Steps are launches,
// loops over steps (a convergence flag the device writes, checked by a periodic readback or by
// indirect dispatch) and readbacks. Today's instance model is the one-launch case: a uniform
// table, per-instance scratch, the packed inputs and outputs, one launch of B workgroups, one
// readback.

import { parseDim } from './dims.js';

/** 'indirect': workgroup counts (4 u32 per entry: x, y, z, 0) that launches with `indirect`
 *  dispatch by, written on the device by the kernels that decide them (a branch's select kernel,
 *  compiler/codegen/wgsl/grid.ts) */
export type BufferKind = 'uniform' | 'input' | 'output' | 'scratch' | 'indirect';

export interface ScheduleBuffer {
  name: string;
  kind: BufferKind;
  /** size in f32 elements (a dimension expression); `uniform` buffers are sized by their kernel's layout */
  elems: string;
  /** the size is per problem instance (multiplied by B) */
  perInstance: boolean;
}

export interface ScheduleBinding {
  binding: number;
  buffer: string;
  access: 'read' | 'read_write' | 'uniform';
}

export type ScheduleStep =
  | {
      k: 'launch';
      kernel: string;
      /** the entry point of the kernel's module, when it has several (grid programs) */
      entry?: string;
      bindings: ScheduleBinding[];
      /** workgroups, or with `span: 'elements'`, grid[0] counts elements per instance: the runtime
       *  launches ⌈grid[0] / workgroup size⌉ workgroups (capped; kernels stride over the rest), or
       *  with `span: 'tiles'`, grid = (rows, cols, B) of a product computed in `tile`×`tile` blocks:
       *  ⌈rows/tile⌉·⌈cols/tile⌉ workgroups (capped; kernels stride over the rest) per instance */
      grid: [string, string, string];
      /** 'once': one workgroup for the whole chunk (grid 1 × 1 × 1) */
      span?: 'elements' | 'tiles' | 'once';
      tile?: number;
      /** dispatched indirectly by entry `indirect` of the plan's 'indirect' buffer (its workgroup
       *  counts, zero where no instance of the chunk needs the launch); `grid` says the counts
       *  the entry holds otherwise */
      indirect?: number;
      label?: string;
    }
  | {
      k: 'loop';
      /** the most iterations (a dimension expression) */
      count: string;
      body: ScheduleStep[];
      /** the buffer and element holding a nonzero 'done' flag after an iteration */
      until?: { buffer: string; index: number };
      /** how the host learns the flag: a readback every `every` iterations */
      check?: { every: number };
    }
  | { k: 'readback'; buffers: string[] };

export interface Schedule {
  /** 'instance': one workgroup per problem instance; 'grid': kernels over tiles of large operands */
  model: 'instance' | 'grid';
  buffers: ScheduleBuffer[];
  steps: ScheduleStep[];
}

export class ScheduleError extends Error {}

/** Checks that every name resolves and every expression reads as a dimension; returns the
 *  problems found (empty when the schedule is well formed). */
export function verifySchedule(s: Schedule, kernels: readonly string[]): string[] {
  const problems: string[] = [];
  const bufs = new Map<string, ScheduleBuffer>();
  for (const b of s.buffers) {
    if (bufs.has(b.name)) problems.push(`buffer '${b.name}' is declared twice`);
    bufs.set(b.name, b);
    if (b.kind !== 'uniform') checkDim(b.elems, `buffer '${b.name}'`, problems);
  }
  const walk = (steps: readonly ScheduleStep[]): void => {
    for (const st of steps) {
      switch (st.k) {
        case 'launch': {
          if (!kernels.includes(st.kernel)) problems.push(`launch of unknown kernel '${st.kernel}'`);
          const seen = new Set<number>();
          for (const bd of st.bindings) {
            const b = bufs.get(bd.buffer);
            if (!b) problems.push(`launch of '${st.kernel}' binds unknown buffer '${bd.buffer}'`);
            else if ((b.kind === 'uniform') !== (bd.access === 'uniform')) problems.push(`launch of '${st.kernel}': buffer '${bd.buffer}' (${b.kind}) bound as ${bd.access}`);
            else if (b.kind === 'input' && bd.access !== 'read') problems.push(`launch of '${st.kernel}' writes input buffer '${bd.buffer}'`);
            if (seen.has(bd.binding)) problems.push(`launch of '${st.kernel}' uses binding ${bd.binding} twice`);
            seen.add(bd.binding);
          }
          st.grid.forEach((g, i) => checkDim(g, `grid dimension ${i} of '${st.kernel}'`, problems));
          if (st.indirect !== undefined) {
            if (!Number.isInteger(st.indirect) || st.indirect < 0) problems.push(`launch of '${st.kernel}' has indirect entry ${st.indirect}`);
            if (!s.buffers.some((b) => b.kind === 'indirect')) problems.push(`launch of '${st.kernel}' is indirect but the schedule has no indirect buffer`);
          }
          for (const bd of st.bindings) {
            const b = bufs.get(bd.buffer);
            if (b?.kind === 'indirect' && bd.access !== 'read_write') problems.push(`launch of '${st.kernel}' binds indirect buffer '${bd.buffer}' as ${bd.access}`);
          }
          break;
        }
        case 'loop':
          checkDim(st.count, 'loop count', problems);
          if (st.until && !bufs.has(st.until.buffer)) problems.push(`loop flag in unknown buffer '${st.until.buffer}'`);
          walk(st.body);
          break;
        case 'readback':
          for (const n of st.buffers) {
            const b = bufs.get(n);
            if (!b) problems.push(`readback of unknown buffer '${n}'`);
            else if (b.kind !== 'output') problems.push(`readback of '${n}', which is ${b.kind}, not output`);
          }
          break;
        default:
          st satisfies never;
      }
    }
  };
  walk(s.steps);
  if (!s.steps.some(function hasReadback(x): boolean {
    return x.k === 'readback' || (x.k === 'loop' && x.body.some(hasReadback));
  }) && s.buffers.some((b) => b.kind === 'output')) problems.push('outputs are never read back');
  return problems;
}

function checkDim(text: string, what: string, problems: string[]): void {
  try {
    parseDim(text);
  } catch (e) {
    problems.push(`${what}: '${text}' is not a dimension expression (${(e as Error).message})`);
  }
}

/** The text `matc ir --stage schedule` prints. */
export function printSchedule(s: Schedule): string {
  const out = [`schedule ${s.model}`];
  for (const b of s.buffers) {
    const size = b.kind === 'uniform' ? 'layout of its kernel' : `${b.elems}${b.perInstance ? ' per instance' : ''} (${b.kind === 'indirect' ? 'u32' : 'f32'})`;
    out.push(`  buffer ${b.name}: ${b.kind}, ${size}`);
  }
  const steps = (xs: readonly ScheduleStep[], ind: string): void => {
    for (const st of xs) {
      if (st.k === 'launch') {
        const binds = st.bindings.map((b) => `${b.binding}=${b.buffer}${b.access === 'read' ? ' (read)' : ''}`).join(', ');
        const what = st.entry ? `${st.kernel}.${st.entry}` : st.kernel;
        const grid = st.span === 'elements' ? `elements ${st.grid[0]} × ${st.grid[1]}` : st.span === 'tiles' ? `tiles of ${st.tile}² over ${st.grid[0]} × ${st.grid[1]} × ${st.grid[2]}` : st.span === 'once' ? 'once (one workgroup)' : `grid (${st.grid.join(', ')})`;
        const ind2 = st.indirect !== undefined ? ` indirect #${st.indirect}` : '';
        out.push(`${ind}launch ${what} ${grid}${ind2} bindings ${binds}${st.label ? `  // ${st.label}` : ''}`);
      } else if (st.k === 'loop') {
        const until = st.until ? ` until ${st.until.buffer}[${st.until.index}] != 0${st.check ? ` (read back every ${st.check.every})` : ''}` : '';
        out.push(`${ind}loop at most ${st.count}${until} {`);
        steps(st.body, ind + '  ');
        out.push(`${ind}}`);
      } else out.push(`${ind}readback ${st.buffers.join(', ')}`);
    }
  };
  steps(s.steps, '  ');
  return out.join('\n');
}
