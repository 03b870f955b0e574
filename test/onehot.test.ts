// The one-hot algebra of the smart constructors (compiler/ir/builder.ts, oneHotOf): reads through
// e_j = eq(iota(N), itof(j)) become column, row and element reads with a range guard. Each rule is
// checked against the dense spelling of the same expression (built with raw nodes, so no rewrite
// fires) on the reference interpreter, for indices inside, at the edges of, and outside [0, N) —
// where e_j is the zero vector and every read through it must be zero too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Builder, oneHotOf } from '../compiler/ir/builder.js';
import type { Func, Node } from '../compiler/ir/node.js';
import { tensorT, scalarT } from '../compiler/ir/types.js';
import { Dim } from '../core/dims.js';
import { bindInputs } from '../runtime/bind.js';
import { runCpu } from '../runtime/cpu/backend.js';
import { Tensor } from '../runtime/tensor.js';
import { Rng } from '../runtime/random.js';

const M = 5;
const N = 4;

interface Case {
  name: string;
  /** the expression with one-hot rewrites (smart constructors) */
  smart: (b: Builder, e: Node, A: Node, x: Node, j: Node) => Node;
  /** the same expression spelled densely (raw nodes) */
  dense: (b: Builder, e: Node, A: Node, x: Node, j: Node) => Node;
  /** the rewritten form must not contain these ops */
  gone: string[];
}

const d = (n: number) => Dim.const(n);

const cases: Case[] = [
  {
    name: 'A e_j = guarded column',
    smart: (b, e, A) => b.matvec(A, e),
    dense: (b, e, A) => b.raw('matvec', [A, e]),
    gone: ['matvec'],
  },
  {
    name: 'Aᵀ e_i = guarded row',
    smart: (b, _e, A, _x, j) => b.vecmat(b.oneHot(d(M), j), A),
    dense: (b, _e, A, _x, j) => b.raw('matvec', [b.raw('transpose', [A]), b.raw('eq', [b.iota(d(M)), b.itof(j)])]),
    gone: ['matvec'],
  },
  {
    name: 'xᵀ e_j and e_jᵀ x = guarded element',
    smart: (b, e, _A, x) => b.add(b.dot(x, e), b.dot(e, x)),
    dense: (b, e, _A, x) => b.raw('add', [b.raw('dot', [x, e]), b.raw('dot', [e, x])]),
    gone: ['dot'],
  },
  {
    name: 'e_iᵀ e_j',
    smart: (b, e, _A, _x, j) => b.dot(e, b.oneHot(d(N), b.ibin('isub', j, b.iconst(1)))),
    dense: (b, e, _A, _x, j) => b.raw('dot', [e, b.raw('eq', [b.iota(d(N)), b.itof(b.ibin('isub', j, b.iconst(1)))])]),
    gone: ['dot'],
  },
  {
    name: 'sum(e_j)',
    smart: (b, e) => b.sum(e),
    dense: (b, e) => b.raw('sum', [e], { axis: -1 }),
    gone: ['sum'],
  },
  {
    name: 'slice(e_j, 1, 2) = e_{j−1}',
    smart: (b, e) => b.slice(e, [d(1)], [d(2)]),
    dense: (b, e) => b.raw('slice', [e], { start: [d(1)], size: [d(2)] }),
    gone: ['slice'],
  },
  {
    name: 'reshape(slice(e_j, 3, 1), []) = [j = 3]',
    smart: (b, e) => b.reshape(b.slice(e, [d(3)], [d(1)]), []),
    dense: (b, e) => b.raw('reshape', [b.raw('slice', [e], { start: [d(3)], size: [d(1)] })], { shape: [] }),
    gone: ['reshape', 'slice'],
  },
  {
    name: 'A · reshape(e_j, [2, 2]) (row-major) = rank-1',
    smart: (b, e, A) => b.matmul(b.slice(A, [d(0), d(0)], [d(M), d(2)]), b.reshape(e, [d(2), d(2)])),
    dense: (b, e, A) => b.raw('matmul', [b.raw('slice', [A], { start: [d(0), d(0)], size: [d(M), d(2)] }), b.raw('reshape', [e], { shape: [d(2), d(2)] })]),
    gone: ['reshape'],
  },
];

function func(b: Builder, name: string, params: Node[], out: Node): Func {
  return {
    name,
    kind: 'fn',
    params: params.map((p) => ({ name: p.attrs.name as string, node: p, differentiable: true })),
    results: [{ name: 'y', node: out }],
    status: [],
    intParams: [],
    derivedDims: [],
  };
}

function ops(root: Node): Set<string> {
  const seen = new Set<Node>();
  const st = [root];
  while (st.length) {
    const n = st.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    st.push(...n.args);
  }
  return new Set([...seen].map((n) => n.op));
}

test('one-hot algebra: every read through e_j equals the dense product, in and out of range', () => {
  const rng = new Rng(7);
  const A = new Tensor([M, N], Array.from({ length: M * N }, () => rng.normal()));
  const x = new Tensor([N], Array.from({ length: N }, () => rng.normal()));
  for (const c of cases) {
    const b = new Builder();
    const pA = b.g.param('A', tensorT([d(M), d(N)]));
    const px = b.g.param('x', tensorT([d(N)]));
    const ps = b.g.param('s', scalarT);
    const j = b.ftoi(ps);
    const e = b.oneHot(d(N), j);
    assert.ok(oneHotOf(e), 'e_j is recognised');
    const smart = c.smart(b, e, pA, px, j);
    const dense = c.dense(b, e, pA, px, j);
    assert.notEqual(smart, dense, `${c.name}: the rewrite fired`);
    for (const op of c.gone) assert.ok(!ops(smart).has(op), `${c.name}: ${op} is gone from the rewritten form`);
    const fs = func(b, 'smart', [pA, px, ps], smart);
    const fd = func(b, 'dense', [pA, px, ps], dense);
    for (const s of [-3, -1, 0, 1, 2, N - 1, N, N + 2, 40]) {
      const inputs = { A, x, s };
      const ys = runCpu(fs, bindInputs(fs, inputs)).outputs.y!.data;
      const yd = runCpu(fd, bindInputs(fd, inputs)).outputs.y!.data;
      assert.equal(ys.length, yd.length);
      for (let i = 0; i < ys.length; i++) assert.ok(Math.abs(ys[i]! - yd[i]!) <= 1e-14 * (1 + Math.abs(yd[i]!)), `${c.name}, j = ${s}: element ${i} is ${ys[i]}, dense ${yd[i]}`);
    }
  }
});
