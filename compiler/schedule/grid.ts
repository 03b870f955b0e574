// The grid model as a schedule (core/schedule.ts): the kernels of a grid program
// (compiler/codegen/wgsl/grid.ts) launched in order over the instance model's four buffers, with
// `iterate` loops as schedule loops, then one readback. All launches go into one submission.

import type { VariantData, VariantWhen } from '../../core/executable.js';
import type { Schedule } from '../../core/schedule.js';
import { genGridProgram, staticIntDim } from '../codegen/wgsl/grid.js';
import { envOff } from '../codegen/wgsl/instance.js';
import { type Func, type Node, freeParams, funcRoots, reachable } from '../ir/node.js';
import type { Builder } from '../ir/builder.js';
import { expandSpectralNode } from '../solvers/spectral.js';
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

/** The primitive ops the grid model runs as routines of its own, so the expand stage keeps them
 *  in the grid's form of a function (Program.gridForm): `householder`, blocked Householder QR
 *  (MATC_GRID_QR=0 lowers it to the loops every other back end runs, for A/B runs). */
export function gridKeptOps(): ReadonlySet<string> {
  return envOff('MATC_GRID_QR') ? new Set() : new Set(['householder']);
}

/** The kept routines (gridKeptOps) that would land in a segment — inside a loop whose trip count
 *  is known only at run time (staticIntDim), where the grid runs instance code that has no
 *  routine — are lowered to their loops like on every other back end. */
export function lowerKeptInSegments(b: Builder, f: Func, keep: ReadonlySet<string>): Func {
  for (let guard = 0; guard < 10000; guard++) {
    const roots = funcRoots(f);
    const all = reachable(roots);
    // the parameters of the regions that run as segments: those of loops with run-time bounds,
    // then of every region inside them (a node there depends on one of them)
    const seg = new Set<Node>();
    const inSeg = new Set<Node>();
    let grew = true;
    while (grew) {
      grew = false;
      for (const n of all) {
        if (!n.regions.length || inSeg.has(n)) continue;
        const dynamic = n.op === 'loop' && !(staticIntDim(n.args[0]!) && staticIntDim(n.args[1]!));
        if (!dynamic && ![...freeParams(n)].some((p) => seg.has(p))) continue;
        inSeg.add(n);
        for (const r of n.regions) for (const p of r.params) seg.add(p);
        grew = true;
      }
    }
    const target = all.find((n) => keep.has(n.op) && [...freeParams(n)].some((p) => seg.has(p)));
    if (!target) return f;
    f = expandSpectralNode(b, f, roots, target);
  }
  return f;
}
