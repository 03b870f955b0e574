// The run-time checks that code generators emit (compiler/codegen/index-checks.ts, the maxloc and
// minloc emitters) and that every backend raises the same way — the reference interpreter, the
// compiled CPU program (JavaScript and WebAssembly) and the WebGPU kernels, whose check output
// the runtime reads after the call:
//   - an index outside its dimension: MATR107;
//   - maxloc/minloc of an empty vector: MATR170 (issue 10: empty dimensions are legal, but an
//     empty vector has no index to return; max/min of it are −∞/+∞, the identities of max/min).

import { MatcRuntimeError } from './errors.js';

/** The label of the check that maxloc(x) / minloc(x) has an entry. */
export function emptyArgCheck(op: 'maxloc' | 'minloc'): string {
  return `${op} of an empty vector`;
}

const EMPTY_ARG = /^(maxloc|minloc) of an empty vector$/;

/** The error of a failed check `0 ≤ i < n` labelled `what` (`where` names the batch instance). */
export function runCheckError(what: string, i: number, n: number, where = ''): MatcRuntimeError {
  if (EMPTY_ARG.test(what)) return new MatcRuntimeError('MATR170', `${what}: it has no entries, so there is no index to return${where}`);
  return new MatcRuntimeError('MATR107', `${what}: index ${i} is out of range for a dimension of size ${n} (valid: 0 … ${n - 1})${where}`);
}
