// `matc ir --stage schedule|wgsl`: the GPU plan of a function's forward and VJP, as the WebGPU
// backend runs them. The schedule stage prints both execution models: the instance model (compiler/codegen/wgsl/instance.ts):
// one dispatch with one workgroup per problem instance, one submission, one readback; the host
// side is the layout (core/instance-layout.ts) — dimensions, scratch slots, input and output
// placement as dimension expressions that the runtime evaluates per call into a uniform table —
// and the schedule IR (core/schedule.ts) of the one launch. `schedule` prints that plan with, for
// every scratch slot, the IR value it holds (the generator's slot notes, named as in
// `--stage opt`), then the schedule; then the grid model's schedule (compiler/schedule/grid.ts):
// its launches in order, loops as schedule loops. `wgsl` prints the instance kernel (the grid
// program's module with MATC_SCHEDULE=grid).

import { Dim, parseDim } from '../../core/dims.js';
import { CompileError, type Program } from '../compile.js';
import { genInstanceKernel, type SlotNote } from '../codegen/wgsl/instance.js';
import { type InstanceKernelSpec, type KernelIO, uniformIndex } from '../../core/instance-layout.js';
import { printSchedule, verifySchedule, type ScheduleStep } from '../../core/schedule.js';
import { gridVariant } from './grid.js';
import { InternalError } from '../../core/errors.js';
import { instanceSchedule, ioWordsText } from './instance.js';
import { type Func, type Node, reachable, scopes } from '../ir/node.js';
import { printFunc } from '../ir/printer.js';

export type ScheduleStage = 'schedule' | 'wgsl';

export function scheduleText(p: Program, fn: string, stage: ScheduleStage): string {
  const forms: { label: string; f: Func | string; g: Func | string }[] = [
    { label: 'forward', f: p.forward(fn), g: p.gridForm(fn, 'forward') },
    { label: 'vjp', f: derived(() => p.vjp(fn, 'gpu')), g: derived(() => p.gridForm(fn, 'vjp')) },
  ];
  const missing = (label: string, why: string) => (stage === 'wgsl' ? '// ' : '') + `${fn} (${label}): not compiled: ${why.split('\n')[0]}`;
  const grid = typeof process !== 'undefined' && process.env.MATC_SCHEDULE === 'grid';
  if (stage === 'wgsl') return forms.map(({ label, f, g }) => (typeof f === 'string' ? missing(label, f) : grid ? gridWgslText(label, g as Func) : wgslText(label, f, genInstanceKernel(f)))).join('\n');
  return forms.map(({ label, f, g }) => (typeof f === 'string' ? missing(label, f) : `${planText(label, f)}\n${gridPlanText(g as Func)}`)).join('\n\n');
}

/** A derived form, or the reason it does not exist (a function without a reverse rule still has
 *  a forward plan worth printing). */
function derived(make: () => Func): Func | string {
  try {
    return make();
  } catch (e) {
    if (e instanceof CompileError) return e.message;
    throw e;
  }
}

function wgslText(label: string, f: Func, spec: InstanceKernelSpec): string {
  const head = [
    `// ---- ${f.name} (${label}) ----------------------------------------------------------------`,
    `// matc ir --stage wgsl: the instance kernel of the ${label}; entry point '${spec.entryPoint}', @workgroup_size(${spec.workgroupSize}),`,
    `// one workgroup per problem instance. Bindings: 0 uniform table (layout below), 1 scratch S (${spec.slots.length} slots per`,
    `// instance), 2 inputs IN (read), 3 outputs OUT. Uniforms: [batch, scratch/instance, instance base, 0], then`,
    `// dims ${spec.dims.map((d, i) => `D${i}=${d}`).join(', ') || '(none)'}; slot offsets SO0..; input (offset, stride) IO/IS; output offsets OO.`,
  ];
  return head.join('\n') + '\n' + spec.wgsl;
}

// ---- which IR value each scratch slot holds ----------------------------------------------------------

/** Generates the kernel and what each slot holds (the generator's slot notes). */
function observeKernel(f: Func): { spec: InstanceKernelSpec; uses: SlotNote[] } {
  const uses: SlotNote[] = [];
  const spec = genInstanceKernel(f, { slotNotes: uses });
  return { spec, uses };
}

// ---- IR names as printed -----------------------------------------------------------------------------

/** Each node's printed line and each region parameter's printed name, walking the function in the
 *  printer's order and reading the names off printFunc's text (so they are the `--stage opt` ones). */
function printedNames(f: Func): { line: Map<Node, string>; name: Map<Node, string> } {
  const text = printFunc(f).split('\n');
  const nodeLines = text.map((l) => l.trim()).filter((l) => /^%[^:\s]+: .+ = [a-z]+/.test(l));
  const regionLines = text.map((l) => l.trim()).filter((l) => /^region \d+ \(.*\) \{$/.test(l));
  const roots = [...f.results.map((r) => r.node), ...f.status.flatMap((s) => [s.iterations, s.converged, ...(s.residual ? [s.residual] : [])])];
  const sc = scopes(roots);
  const order: Node[] = [];
  const regionParams: Node[][] = [];
  const walk = (r: Parameters<typeof sc.body.get>[0]): void => {
    for (const n of sc.body.get(r) ?? []) {
      if (n.op === 'param') continue;
      order.push(n);
      for (const reg of n.regions) {
        regionParams.push([...reg.params]);
        walk(reg);
      }
    }
  };
  walk(null);
  const line = new Map<Node, string>();
  const name = new Map<Node, string>();
  if (order.length === nodeLines.length && order.every((n, i) => nodeLines[i]!.includes(` = ${n.op}`))) {
    order.forEach((n, i) => {
      line.set(n, nodeLines[i]!);
      name.set(n, nodeLines[i]!.slice(0, nodeLines[i]!.indexOf(':')));
    });
  }
  if (regionParams.length === regionLines.length) {
    regionParams.forEach((ps, i) => {
      const inner = /^region \d+ \((.*)\) \{$/.exec(regionLines[i]!)![1]!;
      const names = inner ? inner.split(/, (?=%)/).map((s) => s.slice(0, s.indexOf(':'))) : [];
      if (names.length === ps.length) ps.forEach((p, k) => name.set(p, names[k]!));
    });
  }
  for (const p of f.params) name.set(p.node, `%${String(p.node.attrs.name)}`);
  return { line, name };
}

// ---- the plan ----------------------------------------------------------------------------------------

function clip(s: string, n = 110): string {
  return s.length <= n ? s : s.slice(0, n - 1) + '…';
}

function total(dims: string[]): string {
  if (dims.length === 0) return '0';
  return dims.map((d) => parseDim(d)).reduce((a, b) => a.add(b)).toString();
}

function planText(label: string, f: Func): string {
  const { spec, uses } = observeKernel(f);
  const { line, name } = printedNames(f);
  const ref = (n: Node): string => name.get(n) ?? `#${n.id} (${n.op})`;
  const u = uniformIndex(spec);
  const nUni = u.outBase + spec.outputs.length;
  const out: string[] = [];
  out.push(`schedule ${f.name} (${label})`);
  out.push(`  kernel     1 instance kernel per call, entry '${spec.entryPoint}': one dispatch, one submission, one readback`);
  out.push(`  grid       one workgroup per problem instance: x = min(batch, maxComputeWorkgroupsPerDimension), y = ⌈batch / x⌉`);
  out.push(`             (batches past the device's buffer limits run as several such dispatches)`);
  out.push(`  workgroup  ${spec.workgroupSize} threads; workgroup memory red: array<f32, ${spec.workgroupSize}>, redi: array<i32, ${spec.workgroupSize}>, wflag: i32`);
  out.push(`  dims       ${spec.dims.length ? spec.dims.map((d, i) => `D${i} = ${d}`).join(', ') : '(none: every size is a constant)'}`);
  out.push(`  scratch    ${spec.slots.length} slot${spec.slots.length === 1 ? '' : 's'}, ${total(spec.slots)} f32 per instance (binding 1, S[inst * scratch + offset + i])`);
  const w = Math.min(16, Math.max(4, ...spec.slots.map((s) => s.length)));
  spec.slots.forEach((size, k) => {
    const use = uses[k];
    let what: string;
    if (!use) what = 'scratch (no IR value identified)';
    else if (use.role === 'LU factors') what = `LU factors (pivoted, in place) for ${clip(line.get(use.node) ?? `${ref(use.node)} = solve`)}`;
    else if (use.role === 'QR workspace') what = `blocked QR workspace (factors, reflectors, T, Vᵀ X) for ${clip(line.get(use.node) ?? `${ref(use.node)} = householder`)}`;
    else if (use.role === 'step temporary') what = `step temporary of loop ${ref(use.node)} (a new carry value, written before the carries are)`;
    else if (use.role === 'loop carry') {
      const loop = findLoop(f, use.node);
      what = `${ref(use.node)}: loop carry${loop ? ` of ${ref(loop)} (${String(loop.attrs.label ?? 'loop')})` : ''}`;
    } else {
      const l = line.get(use.node);
      what = `${clip(l ?? `${ref(use.node)} = ${use.node.op}`)}${use.role !== 'value' ? `   [${use.role}]` : ''}`;
    }
    out.push(`    S${String(k).padEnd(3)} ${size.padEnd(w)}  ${what}`);
    // values that take the slot over once the earlier ones are dead (liveness planning)
    for (const later of use?.also ?? []) out.push(`    ${''.padEnd(4)} ${''.padEnd(w)}  then ${clip(line.get(later.node) ?? `${ref(later.node)} = ${later.node.op}`)}${later.role !== 'value' ? `   [${later.role}]` : ''}`);
  });
  out.push(`  inputs     binding 2 (read), per input an offset and a per-instance stride (0 = shared by the batch):`);
  const iw = Math.max(4, ...spec.inputs.map((x) => x.name.length));
  const half = (x: KernelIO): string => (x.half ? `, ${x.half === 'f16' ? 'binary16' : 'bfloat16'} (${ioWordsText(x)} words: 16-bit storage)` : '');
  spec.inputs.forEach((x, i) => out.push(`    IN${String(i).padEnd(2)} ${x.name.padEnd(iw)}  [${(x.shape ?? []).join(', ')}]  ${x.size} per instance${half(x)}`));
  out.push(`  outputs    binding 3, instance-major per output:`);
  const ow = Math.max(4, ...spec.outputs.map((x) => x.name.length));
  spec.outputs.forEach((x, i) =>
    out.push(`    OUT${String(i).padEnd(2)} ${x.name.padEnd(ow)}  ${x.kind === 'result' ? `[${(x.shape ?? []).join(', ')}]  ${x.size} per instance${half(x)}` : 'status, 1 per instance'}`),
  );
  out.push(
    `  uniforms   ${nUni} i32 (binding 0): [0..3] batch, scratch per instance, instance base, 0; ` +
      `[${u.dimBase}..] dims; [${u.slotBase}..] slot offsets; [${u.inBase}..] input (offset, stride); [${u.outBase}..] output offsets`,
  );
  const sched = instanceSchedule(spec);
  const problems = verifySchedule(sched, ['inst']);
  if (problems.length) throw new InternalError(`the schedule of ${f.name} does not verify: ${problems.join('; ')}`);
  out.push(...printSchedule(sched).split('\n').map((l) => `  ${l}`));
  return out.join('\n');
}

/** The grid model's schedule of a function: its launches in order (loops as schedule loops). */
function gridPlanText(f: Func): string {
  const v = gridVariant(f, { workgroupSize: 256, subgroups: false, model: 'grid' });
  const problems = verifySchedule(v.schedule, ['grid']);
  if (problems.length) throw new InternalError(`the grid schedule of ${f.name} does not verify: ${problems.join('; ')}`);
  const spec = v.kernels.grid!;
  return [
    `  grid model (when the cost model or MATC_SCHEDULE=grid picks it): one module of ${countEntries(v.schedule.steps)} kernels over the same`,
    `  buffers, ${spec.slots.length} slots (${total(spec.slots)} f32 per instance); 'elements' launches run ⌈N / 256⌉ × B workgroups`,
    ...printSchedule(v.schedule).split('\n').map((l) => `  ${l}`),
  ].join('\n');
}

function countEntries(steps: readonly ScheduleStep[]): number {
  let n = 0;
  for (const st of steps) n += st.k === 'launch' ? 1 : st.k === 'loop' ? countEntries(st.body) : 0;
  return n;
}

function gridWgslText(label: string, f: Func): string {
  const spec = gridVariant(f, { workgroupSize: 256, subgroups: false, model: 'grid' }).kernels.grid!;
  return `// ---- ${f.name} (${label}), grid model: one entry point per launch of its schedule ----\n${spec.wgsl}`;
}

function findLoop(f: Func, param: Node): Node | null {
  const roots = [...f.results.map((r) => r.node), ...f.status.flatMap((s) => [s.iterations, s.converged, ...(s.residual ? [s.residual] : [])])];
  for (const n of reachable(roots)) if (n.op === 'loop' && n.regions.some((r) => r.params.includes(param))) return n;
  return null;
}
