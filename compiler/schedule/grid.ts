// The grid model as a schedule (core/schedule.ts): the kernels of a grid program
// (compiler/codegen/wgsl/grid.ts) launched in order over the instance model's four buffers, with
// `iterate` loops as schedule loops, then one readback. All launches go into one submission.

import type { VariantData, VariantWhen } from '../../core/executable.js';
import type { Schedule } from '../../core/schedule.js';
import { genGridProgram } from '../codegen/wgsl/grid.js';
import type { Func } from '../ir/node.js';
import { instanceSchedule } from './instance.js';

/** The grid-model variant of a function for these code-generation options. */
export function gridVariant(f: Func, when: VariantWhen): VariantData {
  const prog = genGridProgram(f, { workgroupSize: when.workgroupSize, subgroups: when.subgroups });
  const base = instanceSchedule(prog.spec);
  // launches inside branch regions dispatch by counts that the branches' select kernels write
  const indirect = prog.indirect ? [{ name: 'disp', kind: 'indirect' as const, elems: `${4 * prog.indirect}`, perInstance: false }] : [];
  const schedule: Schedule = { model: 'grid', buffers: [...base.buffers, ...indirect], steps: [...prog.steps, { k: 'readback', buffers: ['out'] }] };
  return { when, schedule, kernels: { grid: prog.spec } };
}
