// The cost of SINGD's block-diagonal and hierarchical classes (issue 15, item 1): the compiled,
// optimized step of stdlib/spd.mat's singd_block30 and singd_hierarchical (every node, the factor
// update's branch included) read at concrete sizes through the IR's own shapes — no tensor of
// p × p or d × d entries anywhere, and the multiply–adds of the products linear in p (O(p·30²) and
// O(p·30·d) with the d × p gradient), where the dense instance, as a control, has p² tensors and
// p³ work. Before the blocks were packed, singd_block30 formed p × p masks and dense forms.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileProgram } from '../compiler/compile.js';
import { shapeOf } from '../compiler/ir/builder.js';
import { reachable, type Func } from '../compiler/ir/node.js';
import { irCost } from './util/ir-cost.js';

const prog = compileProgram('import "spd.mat"', { path: 'blocks-cost.mat', verify: true });

/** The largest tensor any node of the function (regions included) holds, at these sizes. */
function largest(f: Func, dims: Record<string, number>): { size: number; what: string } {
  const roots = [...f.results.map((r) => r.node), ...f.params.map((p) => p.node)];
  let best = { size: 0, what: '' };
  for (const n of reachable(roots)) {
    if (n.type.kind !== 'tensor') continue;
    const sh = shapeOf(n);
    const size = sh.map((d) => d.eval(dims)).reduce((a, x) => a * x, 1);
    if (size > best.size) best = { size, what: `${n.op} [${sh.map((d) => d.toString()).join(', ')}]` };
  }
  return best;
}

const at = (p: number, d: number): Record<string, number> => ({ p, d, n: 5, m: 5, T: 1 });

test('singd_block30 and singd_hierarchical: no p×p or d×d tensor in the compiled step, products linear in p (dense as the control)', () => {
  const N = 3000;
  const report: string[] = [];
  for (const name of ['singd_block30', 'singd_hierarchical', 'singd_dense']) {
    const f = prog.forward(name);
    // one big factor at a time, the other side small: W, G and the momentum are N × 7
    const big = [largest(f, at(N, 7)), largest(f, at(7, N))];
    const [c1, c2] = [irCost(f, at(N, 7)).flops, irCost(f, at(2 * N, 7)).flops];
    report.push(`${name}: largest ${big.map((b) => `${b.size} (${b.what})`).join(', ')}; multiply–adds ${c1.toExponential(2)} at p = ${N}, ×${(c2 / c1).toFixed(2)} at p = ${2 * N}`);
    if (name === 'singd_dense') {
      // the control: the check sees a p × p factor and p³ work when they are there
      assert.ok(big[0]!.size >= N * N && big[1]!.size >= N * N, 'the dense control has n × n tensors');
      assert.ok(c2 / c1 > 7, 'the dense control is cubic');
      continue;
    }
    // the largest legitimate tensors: the blocks [⌈N/30⌉, 30, 30] or N × 31 storage, the N × 7
    // gradient (padded to 30⌈N/30⌉ rows) — 31·N, against N² = 9·10⁶ for a dense factor
    for (const b of big) assert.ok(b.size <= 31 * N, `${name}: ${b.what} has ${b.size} entries`);
    // O(p·30²) + O(p·30·d): doubling p doubles the work (the padding to whole blocks aside)
    assert.ok(c2 / c1 < 2.05 && c2 / c1 > 1.9, `${name}: multiply–adds ${c1} → ${c2}`);
    assert.ok(c1 < 4 * N * 30 * 30, `${name}: ${c1} multiply–adds at p = ${N}`);
  }
  console.log(`# ${report.join('; ')}`);
});
