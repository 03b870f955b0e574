// Which GPU execution model a call runs on (core/schedule.ts): the instance model (one workgroup
// per problem instance) or the grid model (kernels over tiles of large operands). A cost model over
// the call's bound dimensions and batch size, overridable with MATC_SCHEDULE=instance|grid.
//
// The instance model keeps a whole problem in one workgroup: no launch overhead and every
// intermediate close by, so it wins as long as there are enough instances to fill the device and
// each fits one workgroup's share of it. It loses when a few large instances leave most of the
// device idle while one workgroup walks each O(n²) operand with 128–256 invocations. The grid
// model spreads every O(n²) step over ⌈n²/WG⌉ workgroups at the price of a launch per step (a few
// µs each). So: grid when the batch cannot fill the device (fewer than FILL instances) and the
// largest operand of an instance is large (at least LARGE elements, 128²); instance otherwise.
// The thresholds are estimates until a GPU measurement sets them (bench/RESULTS.md, issue 8).

import { Dim, parseDim } from '../core/dims.js';
import type { Signature } from './signature.js';

export interface ScheduleChoice {
  model: 'instance' | 'grid';
  /** why: the rule that decided, with the numbers it read */
  reason: string;
}

/** Instances that fill a large GPU with one workgroup each (an H100 has 132 SMs). */
export const FILL = 128;
/** Elements of an operand from which one workgroup per instance is slow. */
export const LARGE = 128 * 128;

/** The largest tensor (parameter or result) of one instance, in elements. */
type Shaped = { shape: readonly (Dim | string)[] };
export function largestOperand(sig: Pick<Signature, 'params' | 'results'> | { params: readonly Shaped[]; results: readonly Shaped[] }, dims: ReadonlyMap<string, number>): number {
  let big = 0;
  for (const x of [...sig.params, ...sig.results] as Shaped[]) {
    let n = 1;
    for (const d of x.shape) n *= (d instanceof Dim ? d : parseDim(d)).eval(dims);
    if (Number.isFinite(n)) big = Math.max(big, n);
  }
  return big;
}

export function chooseSchedule(largest: number, batch: number, env: string | undefined = typeof process !== 'undefined' ? process.env.MATC_SCHEDULE : undefined): ScheduleChoice {
  if (env === 'instance' || env === 'grid') return { model: env, reason: `MATC_SCHEDULE=${env}` };
  if (batch < FILL && largest >= LARGE) return { model: 'grid', reason: `batch ${batch} < ${FILL} and an operand of ${largest} ≥ ${LARGE} elements per instance` };
  return { model: 'instance', reason: batch >= FILL ? `batch ${batch} ≥ ${FILL} fills the device` : `operands ≤ ${largest} < ${LARGE} elements per instance` };
}
