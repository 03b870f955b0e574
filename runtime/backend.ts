// The backend interface: something that runs an IR function over a bound batch. The CPU
// reference runs in-process (runtime/cpu); the WebGPU backend (runtime/webgpu) compiles the
// function's kernel plan and runs it with one submission and one readback.

import type { Func } from '../compiler/ir/node.js';
import type { Binding } from './bind.js';
import type { NodeStatus } from './cpu/backend.js';
import type { Tensor } from './tensor.js';

export interface Backend {
  readonly kind: 'cpu' | 'webgpu';
  /** a one-line description for the CLI ("cpu (f64 reference)", "webgpu (nvidia hopper)") */
  describe(): string;
  run(f: Func, bind: Binding): Promise<{ outputs: Record<string, Tensor>; nodes: NodeStatus[] }>;
  dispose?(): void;
}
