// The host-side description of an instance kernel: which uniform entries it reads (batch,
// per-instance scratch size, dimensions, slot offsets, input and output placement), all as
// dimension expressions the runtime evaluates at call time. It is plain JSON, so AOT modules
// embed it and need no compiler to run the kernel.

import { Dim, parseDim } from './dims.js';
import type { StorageFormat } from './lowp.js';

export interface KernelIO {
  name: string;
  /** elements per instance, as dimension text */
  size: string;
  /** a result (or an input), one field of a status entry, or the kernel's run-time index checks
   *  (three values per instance: the failed check's number in `checks` counting from 1, or 0;
   *  the index; the size it had to be below), or (grid programs) the 'stopped' flags of the
   *  `until` loops, one per loop per instance, which the runtime reads between iterations to end a
   *  loop early */
  kind: 'result' | 'status' | 'check' | 'flags';
  /** for results: the instance shape as dimension texts */
  shape?: string[];
  /** for status fields: the index of the entry in the function's status list, and the field */
  status?: number;
  field?: 'iterations' | 'converged' | 'residual';
  /** an int input or result (an optimizer's int state): its i32 bits travel in the f32 buffer
   *  (bitcast), so every int is exact */
  int?: boolean;
  /** a 16-bit input or result (compiler/opt/lowp-storage.ts): two values to a word of the f32
   *  buffer, the first in the low half, each instance starting on a word; `size` counts values */
  half?: StorageFormat;
}

export interface InstanceKernelSpec {
  wgsl: string;
  entryPoint: string;
  workgroupSize: number;
  /** device features the WGSL needs (e.g. 'subgroups') */
  features?: string[];
  /** uniform entries 4.. hold these dimensions, in order */
  dims: string[];
  /** scratch slots (tensor temporaries), sizes in f32 elements */
  slots: string[];
  inputs: KernelIO[];
  outputs: KernelIO[];
  /** what each run-time index check tests ("a column index"), for the MATR107 message */
  checks?: string[];
}

/** The four bindings of a kernel over the instance layout (an instance kernel, and every kernel
 *  of a grid program): 0 the uniform table, 1 per-instance scratch, 2 the packed inputs (read),
 *  3 the packed outputs. `names` renames the buffers (a plan with one set per chunk). */
export function instanceBindings(names: { uni?: string; scratch?: string; in?: string; out?: string } = {}): { binding: number; buffer: string; access: 'uniform' | 'read' | 'read_write' }[] {
  return [
    { binding: 0, buffer: names.uni ?? 'uni', access: 'uniform' },
    { binding: 1, buffer: names.scratch ?? 'scratch', access: 'read_write' },
    { binding: 2, buffer: names.in ?? 'in', access: 'read' },
    { binding: 3, buffer: names.out ?? 'out', access: 'read_write' },
  ];
}

/** Uniform layout: [batch, scratch/instance, instance base, 0], dims…, slot offsets…,
 *  (input offset, input stride)…, output offsets…. */
export function uniformIndex(spec: { dims: unknown[]; slots: unknown[]; inputs: unknown[] }) {
  const dimBase = 4;
  const slotBase = dimBase + spec.dims.length;
  const inBase = slotBase + spec.slots.length;
  const outBase = inBase + 2 * spec.inputs.length;
  return { dimBase, slotBase, inBase, outBase };
}

export interface KernelArgs {
  uniforms: Int32Array;
  scratchPerInstance: number;
  /** buffer elements (32-bit words) of each input and output per instance */
  inputSizes: number[];
  outputSizes: number[];
  /** values of each per instance (the words, except for a 16-bit one: two values a word) */
  inputValues: number[];
  outputValues: number[];
}

/** 32-bit words that n values of an input or output take (KernelIO.half: two a word). */
export function ioWords(io: KernelIO, n: number): number {
  return io.half ? Math.ceil(n / 2) : n;
}

/** Evaluates the layout for concrete dimensions and a chunk of instances. */
export function kernelArgs(spec: InstanceKernelSpec, dims: ReadonlyMap<string, number>, chunk: { count: number; base: number; batched: boolean[] }): KernelArgs {
  const ev = (t: string): number => {
    const v = parseDim(t).eval(dims);
    if (!Number.isFinite(v)) throw new Error(`cannot evaluate dimension ${t}`);
    return v;
  };
  const { dimBase, slotBase, inBase, outBase } = uniformIndex(spec);
  const n = outBase + spec.outputs.length;
  const u = new Int32Array(Math.ceil(n / 4) * 4 + 4);
  const slotSizes = spec.slots.map(ev);
  let off = 0;
  slotSizes.forEach((s, i) => {
    u[slotBase + i] = off;
    off += s;
  });
  const scratch = Math.max(off, 1);
  u[0] = chunk.count;
  u[1] = scratch;
  u[2] = chunk.base;
  spec.dims.forEach((d, i) => (u[dimBase + i] = ev(d)));
  const inputValues = spec.inputs.map((x) => ev(x.size));
  const inputSizes = inputValues.map((n, i) => ioWords(spec.inputs[i]!, n));
  let ioff = 0;
  inputSizes.forEach((s, i) => {
    const batched = chunk.batched[i] ?? false;
    u[inBase + 2 * i] = ioff;
    u[inBase + 2 * i + 1] = batched ? s : 0;
    ioff += batched ? s * chunk.count : s;
  });
  const outputValues = spec.outputs.map((x) => ev(x.size));
  const outputSizes = outputValues.map((n, i) => ioWords(spec.outputs[i]!, n));
  let ooff = 0;
  outputSizes.forEach((s, i) => {
    u[outBase + i] = ooff;
    ooff += s * chunk.count;
  });
  return { uniforms: u, scratchPerInstance: scratch, inputSizes, outputSizes, inputValues, outputValues };
}

export { Dim };
