// Re-creates a node through the smart constructors, so that rebuilding a graph after a
// substitution re-applies the local simplifications (zero/identity folding, constant folding,
// transpose algebra) to the new operands.

import type { Builder } from '../ir/builder.js';
import type { Attrs, Node, Region } from '../ir/node.js';
import { elementwiseBinary, elementwiseUnary, intBinary, type OpKind, type BinaryKind, type UnaryKind, type IntBinaryKind } from '../ir/ops.js';
import type { Dim } from '../../core/dims.js';

const unarySet = new Set<string>(elementwiseUnary);
const binarySet = new Set<string>(elementwiseBinary);
const intSet = new Set<string>(intBinary);

export function rebuild(b: Builder, op: OpKind, args: Node[], attrs: Attrs, regions: Region[]): Node {
  if (unarySet.has(op)) return b.unary(op as UnaryKind, args[0]!);
  if (binarySet.has(op)) return b.binary(op as BinaryKind, args[0]!, args[1]!);
  if (intSet.has(op)) return b.ibin(op as IntBinaryKind, args[0]!, args[1]!);
  switch (op) {
    case 'itof':
      return b.itof(args[0]!);
    case 'select':
      return b.select(args[0]!, args[1]!, args[2]!);
    case 'transpose':
      return b.transpose(args[0]!);
    case 'matmul':
      return b.matmul(args[0]!, args[1]!);
    case 'matvec':
      return b.matvec(args[0]!, args[1]!);
    case 'dot':
      return b.dot(args[0]!, args[1]!);
    case 'outer':
      return b.outer(args[0]!, args[1]!);
    case 'sum':
      return b.sum(args[0]!, attrs.axis as number);
    case 'diag':
      return b.diag(args[0]!);
    case 'diagvec':
      return b.diagvec(args[0]!);
    case 'tril':
      return b.tril(args[0]!, attrs.k as number);
    case 'triu':
      return b.triu(args[0]!, attrs.k as number);
    case 'reshape':
      return b.reshape(args[0]!, attrs.shape as Dim[]);
    case 'slice':
      return b.slice(args[0]!, attrs.start as Dim[], attrs.size as Dim[]);
    case 'pad':
      return b.pad(args[0]!, attrs.start as Dim[], attrs.shape as Dim[]);
    case 'concat':
      return b.concat(args, attrs.axis as number);
    case 'getcol':
      return b.getcol(args[0]!, args[1]!);
    case 'getrow':
      return b.getrow(args[0]!, args[1]!);
    case 'trisolve':
      return b.trisolve(args[0]!, args[1]!, attrs as { lower: boolean; trans: boolean; unit: boolean; left: boolean });
    case 'nograd':
      return b.nograd(args[0]!);
    case 'const':
      return b.const(attrs.value as number);
    case 'iconst':
      return b.iconst(attrs.value as number);
    case 'dim':
      return b.dim(attrs.dim as Dim);
    case 'fill':
      return b.fill(attrs.shape as Dim[], attrs.value as number);
    default:
      return b.raw(op, args, attrs, regions);
  }
}
