// Functions with their own derivative rule (issue 10, item 2):
//
//   fn f(x: vec[n], A: mat[n, n]) -> y: vec[n] = BODY
//     grad (dy) => x: EXPR, A: EXPR
//
// A call of such a function (and the function itself, when it is the entry point) becomes one
// `custom` IR node instead of its inlined body: region 0 is the body over the call's arguments,
// region 1 the rule over (arguments, results, cotangents). Reverse mode uses the rule
// (compiler/diff/custom.ts); forward mode and `gradRules: false` differentiate the body; the
// expand pass inlines the body afterwards, so the forward is the body's own code. The rule sees
// the parameters and the results under their names and the cotangents of the results under the
// names in parentheses, as the grad clause of a declarative node sees its solution.
//
// Statuses of solvers and loops inside the body are carried out of the node as extra results, so
// the call reports them as an inlined body would.

import type * as A from '../../grammar/ast.js';
import { closest } from '../diagnostics.js';
import { shapeOf } from '../ir/builder.js';
import type { Node, StatusEntry } from '../ir/node.js';
import { tensorT, tupleT, type IrType } from '../ir/types.js';
import { lineCol, type Span } from '../source.js';
import type { Elab } from './elaborate.js';
import { Scope } from './scope.js';
import { type Val, arr, poison } from './values.js';
import { pack, packedType, unpack } from './complex.js';
import type { TensorType } from '../ir/types.js';

/** A parameter of the function as the call binds it: an array or an integer value (int
 *  parameters that are dimensions are not values: they live in the elaborator's dimensions). */
export interface BoundParam {
  name: string;
  val: Val & { k: 'arr' | 'int' | 'cx' };
  span?: Span;
}

// Complex parameters and results (issue 13). The node carries a complex value packed (…, 2), as at
// a function boundary (compiler/check/complex.ts): each region unpacks its complex parameters, the
// body packs its complex results, and a complex result's cotangent is bound in the rule as the
// complex ḡ = ḡ_re + i ḡ_im. The rule is written in PyTorch's convention — the cotangent of a
// complex parameter z is ∂L/∂Re z + i ∂L/∂Im z for the real loss L = Re Σ conj(ḡ) o — which is
// exactly the pair of real cotangents of the packed parts, so the rule's value is packed as it is
// (a real parameter takes the real part of a complex rule value).

/** The IR node a parameter is passed as (complex: packed). */
function passed(b: Elab['b'], v: BoundParam['val']): Node {
  return v.k === 'cx' ? pack(b, v.re, v.im) : v.node;
}

function plain(t: IrType): IrType {
  return t.kind === 'tensor' ? tensorT(t.shape, t.dtype) : t;
}

/** The value of `item`'s body applied to `params`, as a `custom` node carrying its grad rule. */
export function elaborateWithRule(el: Elab, item: A.FnItem, params: BoundParam[], span: Span): Val {
  const rule = item.grad!;
  const b = el.b;
  const fname = item.name.name;
  const bindParams = (scope: Scope): Node[] =>
    params.map((p) => {
      const v = p.val;
      if (v.k === 'cx') {
        const node = b.regionParam(p.name, packedType(v.re.type as TensorType));
        const u = unpack(b, node, v.struct);
        scope.define(p.name, { val: u, ...(p.span ? { span: p.span } : {}), what: 'parameter' });
        return node;
      }
      const node = b.regionParam(p.name, v.node.type);
      scope.define(p.name, { val: { ...v, node } as Val, ...(p.span ? { span: p.span } : {}), what: 'parameter' });
      return node;
    });

  // ---- region 0: the body ------------------------------------------------------------------
  const bodyScope = new Scope();
  const ps = bindParams(bodyScope);
  const before = el.statuses.length;
  const val = el.expr(item.body, bodyScope);
  const inner = el.statuses.splice(before);
  if (val.k === 'error') return poison;
  const elems = item.results.length === 1 && !item.tupleResults ? [val] : val.k === 'tuple' ? val.elems : [val];
  if (elems.length !== item.results.length) {
    el.diag.error('MAT0209', `${fname} declares ${item.results.length} result${item.results.length === 1 ? '' : 's'} but its body gives ${elems.length}`, item.body.span);
    return poison;
  }
  const results: (Val & { k: 'arr' })[] = [];
  const cxResult: (false | Extract<Val, { k: 'cx' }>['struct'])[] = [];
  for (const e of elems) {
    if (e.k === 'list' || e.k === 'tuple') {
      el.diag.error('MAT0312', `${fname} has a grad rule and a collection result: rules on functions of collections are not supported`, rule.span, {
        suggestion: 'give the rule to a function of the elements, or let matc derive the VJP (remove the rule)',
      });
      return poison;
    }
    if (e.k === 'cx') {
      // packed (…, 2); the struct is the complex one (herm, unitary, …)
      results.push(arr(pack(b, e.re, e.im)) as Val & { k: 'arr' });
      cxResult.push(e.struct);
      continue;
    }
    const a = el.toArr(e, item.body.span, `a result of ${fname}`);
    if (a.k !== 'arr') return poison;
    results.push(a);
    cxResult.push(false);
  }
  const nres = results.length;
  const statusNodes: Node[] = [];
  const layout = inner.map((s) => {
    const at = statusNodes.length;
    statusNodes.push(s.iterations, s.converged, ...(s.residual ? [s.residual] : []), ...(s.extra ?? []).map((x) => x.node));
    return at;
  });

  // ---- region 1: the rule --------------------------------------------------------------------
  const names = item.results.map((r, i) => r.name?.name ?? (item.results.length === 1 ? 'out' : `out${i}`));
  if (rule.cotangents.length !== nres) {
    el.diag.error('MAT0310', `the grad rule of ${fname} names ${rule.cotangents.length} cotangent${rule.cotangents.length === 1 ? '' : 's'} but ${fname} has ${nres} result${nres === 1 ? '' : 's'}`, rule.span, {
      suggestion: `one name per result, in order: grad (${names.map((n) => `d${n}`).join(', ')}) => …`,
    });
    return poison;
  }
  const ruleScope = new Scope();
  const ps2 = bindParams(ruleScope);
  const rs = results.map((r, i) => {
    const node = b.regionParam(names[i]!, r.node.type);
    const cx = cxResult[i];
    ruleScope.define(names[i]!, { val: cx !== false ? unpack(b, node, cx!) : arr(node, r.struct), what: 'result' });
    return node;
  });
  const cs = results.map((r, i) => {
    const c = rule.cotangents[i]!;
    const node = b.regionParam(c.name, plain(r.node.type));
    ruleScope.define(c.name, { val: cxResult[i] !== false ? unpack(b, node, 'general') : arr(node), span: c.span, what: 'cotangent' });
    return node;
  });
  const targets: number[] = [];
  const grads: Node[] = [];
  let ok = true;
  const ruleBefore = el.statuses.length;
  for (const t of rule.targets) {
    const i = params.findIndex((p) => p.name === t.target.name);
    if (i < 0 || params[i]!.val.k === 'int') {
      const real = params.filter((p) => p.val.k !== 'int').map((p) => p.name);
      const sug = closest(t.target.name, real);
      el.diag.error('MAT0311', `grad rule target '${t.target.name}' is not a real parameter of ${fname}`, t.target.span, {
        label: i >= 0 ? 'an integer parameter has no cotangent' : 'not a parameter',
        suggestion: sug ? `did you mean '${sug}'?` : `the rule gives cotangents of ${real.length ? real.join(', ') : 'no parameter (this function has no real parameters)'}`,
      });
      ok = false;
      continue;
    }
    if (targets.includes(i)) {
      el.diag.error('MAT0311', `grad rule target '${t.target.name}' is given twice`, t.target.span);
      ok = false;
      continue;
    }
    const pv = params[i]!.val;
    const v = el.expr(t.value, ruleScope);
    const chk = el.checkAgainst(v, { shape: shapeOf(pv.k === 'cx' ? pv.re : pv.node) }, t.value.span, `the cotangent of ${t.target.name}`, params[i]!.span);
    if (chk.k === 'cx') {
      targets.push(i);
      // a real parameter's cotangent is the real part of a complex rule value
      grads.push(pv.k === 'cx' ? pack(b, chk.re, chk.im) : chk.re);
      continue;
    }
    if (chk.k !== 'arr') {
      ok = false;
      continue;
    }
    targets.push(i);
    grads.push(pv.k === 'cx' ? pack(b, chk.node, null) : chk.node);
  }
  // solves inside the rule have one value per backward evaluation: not reported
  el.statuses.splice(ruleBefore);
  if (!ok) return poison;

  const { line, col } = lineCol(span.file, span.start);
  const node = b.at(span, () =>
    b.raw(
      'custom',
      params.map((p) => passed(b, p.val)),
      {
        fn: fname,
        results: nres,
        targets,
        label: `${el.statusPrefix}${fname}@${line}:${col}`,
        resultType: tupleT([...results.map((r) => r.node.type), ...statusNodes.map((s) => s.type)]),
      },
      [
        { params: ps, results: [...results.map((r) => r.node), ...statusNodes] },
        { params: [...ps2, ...rs, ...cs], results: grads },
      ],
    ),
  );
  inner.forEach((s, q) => {
    let at = nres + layout[q]!;
    const next = (): Node => b.proj(node, at++);
    const entry: StatusEntry = { ...s, iterations: next(), converged: next() };
    if (s.residual) entry.residual = next();
    if (s.extra) entry.extra = s.extra.map((x) => ({ name: x.name, node: next() }));
    el.statuses.push(entry);
  });
  const outs = results.map((r, j) => {
    const cx = cxResult[j];
    return cx !== false ? unpack(b, b.proj(node, j), cx!) : arr(b.proj(node, j), r.struct);
  });
  return outs.length === 1 && !item.tupleResults ? outs[0]! : { k: 'tuple', elems: outs };
}
