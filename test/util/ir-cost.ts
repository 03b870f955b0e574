// Work and memory of an IR function at concrete sizes, for the einsum-path tests: multiply–adds
// of every contraction (matmul m·k·n, matvec m·k, dot k, outer m·n, einsum the product of all its
// index sizes, sums and copies their operand's size) and the largest tensor a contraction or a
// one-operand einsum (a copy) produces. Nodes inside regions are counted once.

import type { Func, Node } from '../../compiler/ir/node.js';
import { reachable } from '../../compiler/ir/node.js';
import { parseEinsum } from '../../compiler/ir/ops.js';
import { shapeOf } from '../../compiler/ir/builder.js';

export interface IrCost {
  flops: number;
  /** the largest tensor produced by a contraction (matmul, matvec, outer, einsum) */
  maxTensor: number;
  /** every contraction node with its flops and output size */
  nodes: { node: Node; flops: number; size: number }[];
}

export function irCost(f: Func, dims: Record<string, number>): IrCost {
  const roots = [...f.results.map((r) => r.node), ...f.params.map((p) => p.node)];
  const ev = (n: Node): number[] => shapeOf(n).map((d) => d.eval(dims));
  const numel = (n: Node): number => ev(n).reduce((a, x) => a * x, 1);
  let flops = 0;
  let maxTensor = 0;
  const nodes: IrCost['nodes'] = [];
  for (const n of reachable(roots)) {
    if (n.type.kind !== 'tensor') continue;
    let fl = 0;
    switch (n.op) {
      case 'matmul': {
        const [m, k] = ev(n.args[0]!);
        fl = m! * k! * ev(n.args[1]!)[1]!;
        break;
      }
      case 'matvec': {
        const [m, k] = ev(n.args[0]!);
        fl = m! * k!;
        break;
      }
      case 'dot':
        fl = numel(n.args[0]!);
        break;
      case 'outer':
        fl = numel(n);
        break;
      case 'einsum': {
        const { inputs } = parseEinsum(String(n.attrs.spec));
        const size = new Map<string, number>();
        inputs.forEach((ix, k) => [...ix].forEach((c, q) => size.set(c, ev(n.args[k]!)[q]!)));
        fl = [...size.values()].reduce((a, x) => a * x, 1);
        break;
      }
      case 'sum':
        fl = numel(n.args[0]!);
        break;
      default:
        continue;
    }
    flops += fl;
    const size = numel(n);
    maxTensor = Math.max(maxTensor, size);
    nodes.push({ node: n, flops: fl, size });
  }
  return { flops, maxTensor, nodes };
}
