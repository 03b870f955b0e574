// The instance model as a schedule: the whole function is one kernel (compiler/codegen/wgsl/
// instance.ts) run by one workgroup per problem instance, so its schedule is one launch of B
// workgroups over four buffers — the uniform table of the kernel's layout, per-instance scratch,
// the packed inputs and the packed outputs — and one readback.

import { Dim, parseDim } from '../../core/dims.js';
import type { VariantData, VariantWhen } from '../../core/executable.js';
import { instanceBindings, type InstanceKernelSpec, type KernelIO } from '../../core/instance-layout.js';
import type { Schedule } from '../../core/schedule.js';
import { genInstanceKernel } from '../codegen/wgsl/instance.js';
import type { Func } from '../ir/node.js';

const sum = (texts: readonly string[]): string => texts.reduce((acc, t) => acc.add(parseDim(t)), Dim.const(0)).toString();

/** The 32-bit words an input or output takes per instance (a 16-bit one: ⌈n / 2⌉; ioWords). */
export function ioWordsText(io: KernelIO): string {
  return io.half ? Dim.floorDiv(parseDim(io.size).add(Dim.const(1)), Dim.const(2)).toString() : io.size;
}

/** The one-launch schedule of an instance kernel. */
export function instanceSchedule(spec: InstanceKernelSpec): Schedule {
  return {
    model: 'instance',
    buffers: [
      { name: 'uni', kind: 'uniform', elems: '0', perInstance: false },
      { name: 'scratch', kind: 'scratch', elems: sum(spec.slots), perInstance: true },
      { name: 'in', kind: 'input', elems: sum(spec.inputs.map(ioWordsText)), perInstance: true },
      { name: 'out', kind: 'output', elems: sum(spec.outputs.map(ioWordsText)), perInstance: true },
    ],
    steps: [
      {
        k: 'launch',
        kernel: 'inst',
        bindings: instanceBindings(),
        grid: ['B', '1', '1'],
      },
      { k: 'readback', buffers: ['out'] },
    ],
  };
}

/** The instance-model variant of a function for these code-generation options. */
export function instanceVariant(f: Func, when: VariantWhen): VariantData {
  const spec = genInstanceKernel(f, when);
  return { when, schedule: instanceSchedule(spec), kernels: { inst: spec } };
}
