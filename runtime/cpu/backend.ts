// The CPU backend: runs an IR function over a batch, one instance at a time, in f64 (or with
// f32 rounding), and stacks the results. Solver statuses are gathered per instance.

import { MatcRuntimeError } from '../../core/errors.js';
import type { Func } from '../../compiler/ir/node.js';
import type { TensorType } from '../../compiler/ir/types.js';
import type { Binding } from '../bind.js';
import type { Executable, NodeStatus } from '../executable.js';
import { Tensor } from '../tensor.js';
import { Evaluator } from './interp.js';
import type { T, V } from './kernels.js';
import { referenceForced, runProgram, type Engine, type Precision } from './program.js';

export type { NodeStatus };

export interface RawResult {
  outputs: Record<string, Tensor>;
  status: NodeStatus[];
}

export interface CpuRunOptions {
  /** the reference interpreter, rounding every intermediate to f32 (its prediction of GPU results) */
  f32?: boolean;
  /** the reference interpreter instead of the compiled CPU program */
  reference?: boolean;
  /** storage precision of the compiled CPU program (default f64) */
  precision?: Precision;
  /** its form: WebAssembly (the default for f64 where available) or JavaScript */
  engine?: Engine;
}

/** Runs an executable on the CPU: its compiled program, or the reference interpreter when asked
 *  for (or when the code generator could not handle the function). */
export function runExecutableCpu(exe: Executable, bind: Binding, opts: CpuRunOptions = {}): { outputs: Record<string, Tensor>; nodes: NodeStatus[] } {
  const prog = opts.reference || opts.f32 || (!opts.engine && referenceForced()) ? undefined : exe.cpu();
  if (prog) return runProgram(prog, exe.signature, bind, opts.precision ?? 'f64', opts.engine);
  let r: RawResult;
  try {
    r = runCpu(exe.func(), bind, opts);
  } catch (e) {
    // an intermediate larger than a typed array may be (2³² elements or the heap's limit): the
    // compiled program's MATR131, not a RangeError with a stack trace
    if (e instanceof RangeError && /typed array length|Array buffer allocation failed|Invalid array length/i.test(e.message)) {
      throw new MatcRuntimeError('MATR131', `${exe.signature.name}: one problem instance needs more memory than a JavaScript array may hold on the reference interpreter (${e.message})`);
    }
    throw e;
  }
  return { outputs: r.outputs, nodes: r.status };
}

const evaluators = new WeakMap<Func, Map<string, Evaluator>>();

function evaluatorFor(func: Func, f32: boolean): Evaluator {
  let m = evaluators.get(func);
  if (!m) evaluators.set(func, (m = new Map()));
  const key = f32 ? 'f32' : 'f64';
  let e = m.get(key);
  if (!e) m.set(key, (e = new Evaluator(func, { f32 })));
  return e;
}

export function runCpu(func: Func, bind: Binding, opts: { f32?: boolean } = {}): RawResult {
  const ev = evaluatorFor(func, !!opts.f32);
  const B = bind.batchSize;
  const outShapes = func.results.map((r) => (r.node.type as TensorType).shape.map((d) => d.eval(bind.dims)));
  const outSizes = outShapes.map((s) => s.reduce((a, b) => a * b, 1));
  const outData = outSizes.map((s) => new Float64Array(s * B));
  const status: NodeStatus[] = func.status.map((s) => ({
    name: s.name,
    kind: s.kind,
    iterations: new Array<number>(B),
    converged: new Array<boolean>(B),
    ...(s.residual ? { residual: new Array<number>(B) } : {}),
    ...(s.estimate ? { residualEstimate: true } : {}),
  }));
  for (let b = 0; b < B; b++) {
    const params: V[] = bind.inputs.map((inp) => {
      const size = inp.shape.reduce((x, y) => x * y, 1);
      const off = inp.batched ? b * size : 0;
      // an int value (int state) is a number in the interpreter
      if (inp.param.int) return inp.tensor.data[off]!;
      return { shape: inp.shape, data: Float64Array.from(inp.tensor.data.subarray(off, off + size)) } as T;
    });
    const r = ev.run(params, bind.dims);
    r.results.forEach((v, i) => {
      if (typeof v === 'number') outData[i]![b] = v;
      else outData[i]!.set((v as T).data, b * outSizes[i]!);
    });
    r.status.forEach((s, i) => {
      status[i]!.iterations[b] = s.iterations;
      status[i]!.converged[b] = s.converged !== 0;
      if (status[i]!.residual) status[i]!.residual![b] = s.residual ?? NaN;
    });
  }
  const outputs: Record<string, Tensor> = {};
  func.results.forEach((r, i) => {
    outputs[r.name] = new Tensor([...bind.batch, ...outShapes[i]!], outData[i]!);
  });
  return { outputs, status };
}
