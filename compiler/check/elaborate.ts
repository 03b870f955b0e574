// The elaborator: type-, shape- and scope-checks expressions and produces typed IR in one walk.
// Checking and lowering are one pass because every rule that decides a type (is `*` a matrix
// product, an outer product or a scale?) also decides the IR op. Each item is elaborated once
// with its own symbolic dimensions (that is the check); calls to user functions inline the
// callee's body with the caller's dimensions substituted.

import { memberOfValue } from './structures.js';
import type * as A from '../../grammar/ast.js';
import { closest, type DiagnosticBag, type Note } from '../diagnostics.js';
import { Dim, shapeEquals, shapeToString } from '../../core/dims.js';
import { Builder, shapeOf, tt } from '../ir/builder.js';
import type { Node, StatusEntry } from '../ir/node.js';
import type { Struct } from '../ir/types.js';
import { type SourceFile, type Span, joinSpans, spanText } from '../source.js';
import { Scope } from './scope.js';
import { type Val, arr, poison, describeVal, shapeLabel } from './values.js';
import { builtins } from './builtins.js';
import { elaborateArgopt, elaborateSolve, elaborateIterate } from './declarative.js';
import { elaborateComprehension, elaborateUnroll, indexCollection, indexFamily, isFamily, partialIndex } from './collections.js';
import { elaborateIf } from './branches.js';
import type { ItemEntry } from './items.js';
import { LimitExceeded, limitNote, limits } from '../limits.js';
import { callBuiltin, complexBinary, complexNeg, complexTranspose, imaginary, indexParts, mk } from './complex.js';
import { tickBudget } from '../ir/budget.js';

export interface ElabContext {
  items: Map<string, ItemEntry>;
  /** the item names a file may call (its own and what its imports give it); all when absent */
  visibleIn?(file: SourceFile): ReadonlySet<string>;
  /** the path that an import in `from` would name to reach the file defining item `name` */
  importPath?(from: SourceFile, name: string): string | undefined;
  /** called to elaborate a user function's body inline */
  inline(el: Elab, entry: ItemEntry, args: Val[], span: Span, argSpans: Span[]): Val;
  /** items on a cycle of calls (reported once as MAT0304 before elaboration): calls of them
   *  are not inlined */
  recursive: ReadonlySet<string>;
  /** expressions open in `Elab.expr`, across inlined calls and nested checks (limits.checkDepth) */
  depth: number;
  /** function bodies inlined for the item being checked (limits.inlineCount) */
  inlined: number;
}

export class Elab {
  /** dimensions in scope for the current item */
  dims = new Map<string, Dim>();
  statuses: StatusEntry[] = [];
  /** names of user functions being inlined (recursion guard) */
  inlineStack: string[] = [];
  /** prefix for status entries of inlined callees */
  statusPrefix = '';
  /** run-time conditions on dimensions (slice bounds that cannot be proved statically) */
  assertions: { dim: Dim; message: string; code?: string }[] = [];
  /** expressions already evaluated (a builtin's arguments, evaluated once by the complex
   *  dispatch in complex.ts callBuiltin and handed to the real builtin) */
  pre = new Map<A.Expr, Val>();

  constructor(
    readonly b: Builder,
    public diag: DiagnosticBag,
    readonly ctx: ElabContext,
  ) {}

  // ---- coercions ----------------------------------------------------------------------------

  /** A real array value (scalars included); literals become constants, ints are converted. */
  toArr(v: Val, span: Span, what = 'this operand'): Val & { k: 'arr' | 'error' } {
    if (v.k === 'arr' || v.k === 'error') return v;
    switch (v.k) {
      case 'cx':
        this.diag.error('MAT0290', `${what} is complex (${describeVal(v)}), but a real value is needed here`, span, {
          label: 'complex',
          suggestion: 'take real(…), imag(…) or abs(…) of it',
        });
        return poison as Val & { k: 'error' };
      case 'lit':
        return arr(this.b.const(v.value)) as Val & { k: 'arr' };
      case 'int':
        return arr(this.b.itof(v.node)) as Val & { k: 'arr' };
      default:
        this.diag.error('MAT0208', `expected a number, vector or matrix for ${what}, found ${describeVal(v)}`, span);
        return poison as Val & { k: 'error' };
    }
  }

  /** An integer value (loop indices, dimensions, integer literals). */
  toInt(v: Val, span: Span, what = 'an index'): Val & { k: 'int' | 'error' } {
    if (v.k === 'int' || v.k === 'error') return v;
    switch (v.k) {
      case 'lit':
        if (v.isInt && Math.abs(v.value) > limits.maxInt) {
          this.diag.error('MAT0211', `the integer ${v.value} is out of range for ${what} (integers are at most ${limits.maxInt})`, span);
          return poison as Val & { k: 'error' };
        }
        if (v.isInt) return { k: 'int', node: this.b.iconst(v.value), dim: Dim.const(v.value) };
        this.diag.error('MAT0211', `expected an integer for ${what}, found ${v.value}`, span);
        return poison as Val & { k: 'error' };
      default:
        this.diag.error('MAT0211', `expected an integer for ${what}, found ${describeVal(v)}`, span, {
          label: 'not an integer',
        });
        return poison as Val & { k: 'error' };
    }
  }

  /** A dimension known statically (for shapes, slices, zeros(m, n)). */
  toDim(v: Val, span: Span, what = 'a dimension'): Dim | null {
    const i = this.toInt(v, span, what);
    if (i.k === 'error') return null;
    if (!i.dim) {
      this.diag.error('MAT0210', `${what} must be a dimension expression, not a loop index or computed integer`, span, {
        suggestion: 'shapes are fixed per call; to select a part that moves with a loop index, use a mask such as iota(n) >= j',
      });
      return null;
    }
    return i.dim;
  }

  /** A real scalar. */
  toScalar(v: Val, span: Span, what = 'this value'): Node | null {
    const a = this.toArr(v, span, what);
    if (a.k === 'error') return null;
    if (shapeOf(a.node).length !== 0) {
      this.diag.error('MAT0208', `${what} must be a scalar, but it is ${shapeLabel(a)}`, span, {
        suggestion: shapeOf(a.node).length > 0 ? 'reduce it with sum(..), norm(..) or index it' : undefined,
      });
      return null;
    }
    return a.node;
  }

  // ---- expressions --------------------------------------------------------------------------

  expr(e: A.Expr, env: Scope): Val {
    const pre = this.pre.get(e);
    if (pre) return pre;
    const ctx = this.ctx;
    if (ctx.depth >= limits.checkDepth) {
      throw new LimitExceeded({
        code: 'MAT0701',
        severity: 'error',
        message: 'expression nested too deeply',
        span: e.span,
        label: 'the checker gives up here',
        notes: [
          { message: limitNote('nested expressions', limits.checkDepth) + ', counting the bodies of inlined calls' },
          ...(this.inlineStack.length > 1 ? [{ message: `inlined through ${this.inlineStack.join(' → ')}` }] : []),
        ],
        suggestion: 'name intermediate values with let, or write the repetition with iterate',
      });
    }
    tickBudget();
    ctx.depth++;
    try {
      return this.b.at(e.span, () => this.exprInner(e, env));
    } finally {
      ctx.depth--;
    }
  }

  private exprInner(e: A.Expr, env: Scope): Val {
    switch (e.kind) {
      case 'num':
        if (e.imag) return imaginary(this, e.value);
        return { k: 'lit', value: e.value, isInt: /^\d+$/.test(e.text), span: e.span };
      case 'bool':
        return { k: 'lit', value: e.value ? 1 : 0, isInt: false, span: e.span };
      case 'string':
        return { k: 'string', value: e.value };
      case 'name':
        return this.name(e.name, e.span, env);
      case 'call':
        return this.call(e, env);
      case 'unary':
        return this.unary(e, env);
      case 'binary':
        return this.binaryExpr(e, env);
      case 'transpose': {
        // A'''…: a loop down the chain, not a recursion
        const chain: A.Expr[] = [];
        let cur: A.Expr = e;
        while (cur.kind === 'transpose') {
          chain.push(cur);
          cur = cur.operand;
        }
        let v = this.expr(cur, env);
        for (let i = chain.length - 1; i >= 0; i--) {
          const t = chain[i] as Extract<A.Expr, { kind: 'transpose' }>;
          v = v.k === 'cx' ? complexTranspose(this, v, t.span, !t.plain) : this.transposeVal(v, t.span);
        }
        return v;
      }
      case 'index':
        return this.indexExpr(e, env);
      case 'tuple':
        return { k: 'tuple', elems: e.elems.map((x) => this.expr(x, env)) };
      case 'matrix':
        return this.matrixLit(e, env);
      case 'let':
        return this.letExpr(e, env);
      case 'if':
        return this.ifExpr(e, env);
      case 'argopt':
        return elaborateArgopt(this, e, env);
      case 'solve':
        return elaborateSolve(this, e, env);
      case 'iterate':
        return elaborateIterate(this, e, env);
      case 'unroll':
        return elaborateUnroll(this, e, env);
      case 'comprehension':
        return elaborateComprehension(this, e, env);
      case 'member':
        // structure members are resolved before elaboration (structures.ts); one left here is a
        // `.` on a value
        return memberOfValue(this.diag, e);
      case 'error':
        return poison;
    }
  }

  name(name: string, span: Span, env: Scope): Val {
    const b = env.lookup(name);
    if (b) return b.val;
    const d = this.dims.get(name);
    if (d) return { k: 'int', node: this.b.dim(d), dim: d };
    if (name === 'pi') return arr(this.b.const(Math.PI));
    if (name === 'inf') return arr(this.b.const(Infinity));
    // the imaginary unit (also written 1i)
    if (name === 'im') return imaginary(this, 1);
    // the machine epsilon of the precision the function runs in (2⁻⁵² in f64, 2⁻²³ in f32)
    if (name === 'eps') return arr(this.b.eps());
    const candidates = new Set([...env.names(), ...this.dims.keys()]);
    const sug = closest(name, candidates);
    const isFn = builtins[name] || this.ctx.items.has(name);
    this.diag.error('MAT0301', `unknown name '${name}'`, span, {
      label: isFn ? 'this is a function; call it with (...)' : 'not defined here',
      suggestion: sug ? `did you mean '${sug}'?` : undefined,
    });
    return poison;
  }

  unary(e: Extract<A.Expr, { kind: 'unary' }>, env: Scope): Val {
    const v = this.expr(e.operand, env);
    if (v.k === 'error') return v;
    if (e.op === '+') return v;
    if (v.k === 'cx') {
      if (e.op === '-') return complexNeg(this, v);
      return this.toArr(v, e.operand.span, "the operand of '!'");
    }
    if (e.op === '!') {
      const a = this.toArr(v, e.operand.span);
      return a.k === 'arr' ? arr(this.b.unary('not', a.node)) : poison;
    }
    if (v.k === 'lit') return { ...v, value: -v.value, span: e.span };
    if (v.k === 'int') return { k: 'int', node: this.b.ibin('isub', this.b.iconst(0), v.node), dim: v.dim?.neg() };
    const a = this.toArr(v, e.operand.span);
    if (a.k !== 'arr') return poison;
    return arr(this.b.neg(a.node), negStruct(a.struct), a.row);
  }

  transposeVal(v: Val, span: Span): Val {
    if (v.k === 'error') return v;
    if (v.k === 'lit' || v.k === 'int') return v;
    const a = this.toArr(v, span);
    if (a.k !== 'arr') return poison;
    const r = shapeOf(a.node).length;
    if (r === 0) return a;
    if (r === 1) return { ...a, row: !a.row };
    if (r > 2) {
      this.diag.error('MAT0208', `transpose (') applies to vectors and matrices, not to a rank-${r} tensor`, span, {
        suggestion: 'use einsum to permute tensor indices',
      });
      return poison;
    }
    const st: Struct = a.struct === 'sym' || a.struct === 'spd' || a.struct === 'diag' ? a.struct : a.struct === 'tril' ? 'triu' : a.struct === 'triu' ? 'tril' : 'general';
    return arr(this.b.transpose(a.node), st);
  }

  // ---- binary operators ---------------------------------------------------------------------

  /** A chain of binary operators (a + b - c …, left-associative, so nested down the left) is
   *  elaborated by a loop over its left spine: a chain of thousands of terms is one level deep. */
  binaryExpr(e: Extract<A.Expr, { kind: 'binary' }>, env: Scope): Val {
    const spine: Extract<A.Expr, { kind: 'binary' }>[] = [];
    let cur: A.Expr = e;
    while (cur.kind === 'binary') {
      spine.push(cur);
      cur = cur.left;
    }
    let acc = this.expr(cur, env);
    for (let i = spine.length - 1; i >= 0; i--) {
      const s = spine[i]!;
      const l = acc;
      acc = this.b.at(s.span, () => {
        const r = this.expr(s.right, env);
        return this.binary(s.op, l, r, s);
      });
    }
    return acc;
  }

  /** Applies a binary operator; `e` gives spans (operands and operator). */
  binary(op: A.BinaryOp, l: Val, r: Val, e: { left: A.Expr; right: A.Expr; opSpan: Span; span: Span }): Val {
    if (l.k === 'error' || r.k === 'error') return poison;
    if (l.k === 'tuple' || r.k === 'tuple') {
      this.diag.error('MAT0208', `operator '${op}' does not apply to a tuple`, l.k === 'tuple' ? e.left.span : e.right.span, {
        suggestion: 'destructure it first: let (a, b) = ... in ...',
      });
      return poison;
    }
    if (l.k === 'cx' || r.k === 'cx') return complexBinary(this, op, l, r, e);
    // Integer arithmetic stays integer (for indices and dimensions).
    const isIntish = (v: Val) => v.k === 'int' || (v.k === 'lit' && v.isInt);
    if (isIntish(l) && isIntish(r) && (op === '+' || op === '-' || op === '*') && (l.k === 'int' || r.k === 'int')) {
      const li = this.toInt(l, e.left.span);
      const ri = this.toInt(r, e.right.span);
      if (li.k !== 'int' || ri.k !== 'int') return poison;
      const kind = op === '+' ? 'iadd' : op === '-' ? 'isub' : 'imul';
      const dim = li.dim && ri.dim ? (op === '+' ? li.dim.add(ri.dim) : op === '-' ? li.dim.sub(ri.dim) : li.dim.mul(ri.dim)) : undefined;
      return { k: 'int', node: this.b.ibin(kind, li.node, ri.node), ...(dim ? { dim } : {}) };
    }
    if (l.k === 'lit' && r.k === 'lit' && ['+', '-', '*', '/', '^', '.*', './', '.^'].includes(op)) {
      const f = { '+': l.value + r.value, '-': l.value - r.value, '*': l.value * r.value, '.*': l.value * r.value, '/': l.value / r.value, './': l.value / r.value, '^': l.value ** r.value, '.^': l.value ** r.value }[op as '+'];
      const isInt = l.isInt && r.isInt && (op === '+' || op === '*') ;
      return { k: 'lit', value: f, isInt, span: e.span };
    }
    const a = this.toArr(l, e.left.span, `the left operand of '${op}'`);
    const b = this.toArr(r, e.right.span, `the right operand of '${op}'`);
    if (a.k !== 'arr' || b.k !== 'arr') return poison;
    switch (op) {
      case '*':
        return this.product(a, b, e);
      case '/':
        if (shapeOf(b.node).length !== 0) {
          this.diag.error('MAT0204', `'/' divides by a scalar, but the right operand is ${shapeLabel(b)}`, e.opSpan, {
            label: 'matrix division is not defined',
            suggestion: "use './' for elementwise division or solve(A, b) for A⁻¹b",
          });
          return poison;
        }
        return this.elementwise('div', a, b, e);
      case '^':
        return this.matPower(a, r, e);
      case '+':
        return this.elementwise('add', a, b, e);
      case '-':
        return this.elementwise('sub', a, b, e);
      case '.*':
        return this.elementwise('mul', a, b, e);
      case './':
        return this.elementwise('div', a, b, e);
      case '.^':
        return this.elementwise('pow', a, b, e);
      case '==':
        return this.elementwise('eq', a, b, e);
      case '!=':
        return this.elementwise('ne', a, b, e);
      case '<':
        return this.elementwise('lt', a, b, e);
      case '<=':
        return this.elementwise('le', a, b, e);
      case '>':
        return this.elementwise('gt', a, b, e);
      case '>=':
        return this.elementwise('ge', a, b, e);
      case '&&':
        return this.elementwise('and', a, b, e);
      case '||':
        return this.elementwise('or', a, b, e);
    }
  }

  private operandNote(side: A.Expr, v: Val): Note[] {
    if (side.kind !== 'name') return [];
    return [{ message: `${side.name} is ${shapeLabel(v)}` }];
  }

  elementwise(
    op: 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'and' | 'or',
    a: Val & { k: 'arr' },
    b: Val & { k: 'arr' },
    e: { left: A.Expr; right: A.Expr; opSpan: Span; span: Span },
  ): Val {
    const sa = shapeOf(a.node);
    const sb = shapeOf(b.node);
    const sym = { add: '+', sub: '-', mul: '.*', div: './', pow: '.^', eq: '==', ne: '!=', lt: '<', le: '<=', gt: '>', ge: '>=', and: '&&', or: '||' }[op];
    if (sa.length > 0 && sb.length > 0 && !shapeEquals(sa, sb)) {
      const lt = spanText(e.left.span);
      const rt = spanText(e.right.span);
      let suggestion: string | undefined;
      if (sa.length === 2 && sb.length === 2 && sa[0]!.equals(sb[1]!) && sa[1]!.equals(sb[0]!)) suggestion = `did you mean ${lt} ${sym} ${rt}'?`;
      this.diag.error('MAT0204', `shape mismatch in '${sym}'`, e.span, {
        label: `${short(lt)} is ${shapeLabel(a)} but ${short(rt)} is ${shapeLabel(b)}`,
        notes: [{ message: `elementwise operators need equal shapes (or a scalar on one side)` }],
        suggestion,
      });
      return poison;
    }
    if (sa.length === 1 && sb.length === 1 && a.row !== b.row) {
      this.diag.error('MAT0212', `cannot combine a row vector and a column vector with '${sym}'`, e.span, {
        label: `${short(spanText(e.left.span))} is a ${a.row ? 'row' : 'column'} vector, ${short(spanText(e.right.span))} a ${b.row ? 'row' : 'column'} vector`,
        suggestion: "transpose one of them with '",
      });
      return poison;
    }
    const node = this.b.binary(op, a.node, b.node);
    const row = sa.length === 1 ? a.row : sb.length === 1 ? b.row : false;
    let st: Struct = 'general';
    if (op === 'add' || op === 'sub') st = combineStruct(a.struct, b.struct, sa.length === 0, sb.length === 0);
    else if (op === 'mul' || op === 'div') {
      if (sa.length === 0) st = scaleStruct(b.struct);
      else if (sb.length === 0) st = scaleStruct(a.struct);
    }
    return arr(node, st, row);
  }

  /** `*`: scale, matrix product, matrix–vector, inner or outer product, by operand ranks. */
  product(a: Val & { k: 'arr' }, b: Val & { k: 'arr' }, e: { left: A.Expr; right: A.Expr; opSpan: Span; span: Span }): Val {
    const sa = shapeOf(a.node);
    const sb = shapeOf(b.node);
    const lt = short(spanText(e.left.span));
    const rt = short(spanText(e.right.span));
    if (sa.length === 0 || sb.length === 0) return this.elementwise('mul', a, b, e);
    const mismatch = (inner: [Dim, Dim], suggestion?: string): Val => {
      this.diag.error('MAT0203', 'shape mismatch in matrix product', e.span, {
        label: `${lt} is ${describeShape(a)} but ${rt} is ${describeShape(b)}`,
        notes: [{ message: `the inner dimensions ${inner[0]} and ${inner[1]} must agree` }, ...this.operandNote(e.left, a).slice(0, 0)],
        suggestion,
      });
      return poison;
    };
    if (sa.length > 2 || sb.length > 2) {
      this.diag.error('MAT0208', "'*' multiplies vectors and matrices; tensors need einsum", e.span, {
        suggestion: 'write the contraction with einsum("...", A, B)',
      });
      return poison;
    }
    if (sa.length === 2 && sb.length === 2) {
      if (!sa[1]!.equals(sb[0]!)) {
        let s: string | undefined;
        if (sa[0]!.equals(sb[0]!)) s = `did you mean ${lt}' * ${rt}?`;
        else if (sa[1]!.equals(sb[1]!)) s = `did you mean ${lt} * ${rt}'?`;
        return mismatch([sa[1]!, sb[0]!], s);
      }
      return arr(this.b.matmul(a.node, b.node), productStruct(a.struct, b.struct));
    }
    if (sa.length === 2 && sb.length === 1) {
      if (b.row) {
        this.diag.error('MAT0212', 'a matrix times a row vector is not defined', e.span, {
          label: `${rt} is a row vector`,
          suggestion: `did you mean ${lt} * ${rt}' ?`,
        });
        return poison;
      }
      if (!sa[1]!.equals(sb[0]!)) return mismatch([sa[1]!, sb[0]!], sa[0]!.equals(sb[0]!) ? `did you mean ${lt}' * ${rt}?` : undefined);
      return arr(this.b.matvec(a.node, b.node));
    }
    if (sa.length === 1 && sb.length === 2) {
      if (!a.row) {
        this.diag.error('MAT0212', 'a column vector times a matrix is not defined', e.span, {
          label: `${lt} is a column vector`,
          suggestion: `did you mean ${lt}' * ${rt}?`,
        });
        return poison;
      }
      if (!sa[0]!.equals(sb[0]!)) return mismatch([sa[0]!, sb[0]!]);
      return arr(this.b.vecmat(a.node, b.node), 'general', true);
    }
    // vector · vector
    if (a.row && !b.row) {
      if (!sa[0]!.equals(sb[0]!)) return mismatch([sa[0]!, sb[0]!]);
      return arr(this.b.dot(a.node, b.node));
    }
    if (!a.row && b.row) return arr(this.b.outer(a.node, b.node));
    this.diag.error('MAT0212', `both operands of '*' are ${a.row ? 'row' : 'column'} vectors`, e.span, {
      label: `${lt} and ${rt} are ${shapeLabel(a)} and ${shapeLabel(b)}`,
      suggestion: a.row ? `did you mean ${lt} * ${rt}'?` : `use ${lt}' * ${rt} for the inner product, ${lt} * ${rt}' for the outer product, or .* elementwise`,
    });
    return poison;
  }

  matPower(a: Val & { k: 'arr' }, r: Val, e: { left: A.Expr; right: A.Expr; opSpan: Span; span: Span }): Val {
    const sa = shapeOf(a.node);
    if (sa.length === 0) {
      const b = this.toArr(r, e.right.span);
      return b.k === 'arr' ? this.elementwise('pow', a, b, e) : poison;
    }
    if (sa.length === 2 && sa[0]!.equals(sa[1]!)) {
      // the exponent: an integer known when the function is checked (a literal, or a constant
      // dimension), 0 … 2³¹ − 1 (issue 10: `A ^ 1024` was refused by a limit of 64 that the
      // message did not state)
      const k = r.k === 'lit' ? (r.isInt ? r.value : undefined) : r.k === 'int' ? r.dim?.constValue() : undefined;
      if (k === undefined || !Number.isInteger(k) || k < 0 || k > limits.maxInt) {
        const what = r.k === 'lit' ? `${r.value}` : r.k === 'int' ? 'an integer known only at run time' : describeVal(r);
        this.diag.error('MAT0250', `the exponent of a matrix power must be an integer from 0 to ${limits.maxInt} known when the function is checked, not ${what}`, e.right.span, {
          label: 'this exponent',
          suggestion:
            r.k === 'lit' && r.value < 0
              ? `use inv(A) ^ ${-r.value} (or solve(A, B) for A⁻¹B)`
              : r.k === 'int'
                ? 'write the repeated product with iterate (…) for i in 0..k => …'
                : "use '.^' for elementwise powers",
        });
        return poison;
      }
      if (k === 0) return arr(this.b.eye(sa[0]!), a.struct === 'sym' || a.struct === 'spd' ? 'sym' : 'general');
      // Binary exponentiation: with k = Σ_{i ∈ bits(k)} 2^i, A^k = Π_{i ∈ bits(k)} A^(2^i), where
      // A^(2^(i+1)) = A^(2^i) A^(2^i): ⌊log₂ k⌋ squarings and popcount(k) − 1 products, at most
      // 2⌊log₂ k⌋ products in all (62 for k = 2³¹ − 1) instead of k − 1. Powers of one matrix
      // commute, so the order of the factors does not matter in exact arithmetic.
      let rest = k;
      let sq = a.node;
      let acc: Node | undefined;
      for (;;) {
        if (rest % 2 === 1) acc = acc ? this.b.matmul(acc, sq) : sq;
        rest = Math.floor(rest / 2);
        if (rest === 0) break;
        sq = this.b.matmul(sq, sq);
      }
      return arr(acc!, a.struct === 'sym' || a.struct === 'spd' ? 'sym' : 'general');
    }
    this.diag.error('MAT0204', "'^' is a scalar power or a square matrix to an integer power", e.opSpan, {
      label: `the left operand is ${shapeLabel(a)}`,
      suggestion: "use '.^' for elementwise powers",
    });
    return poison;
  }

  // ---- indexing -----------------------------------------------------------------------------

  indexExpr(e: Extract<A.Expr, { kind: 'index' }>, env: Scope): Val {
    // n[i] of a dimension family, xs[i] of a compile-time collection or tuple (collections.ts)
    if (e.target.kind === 'name' && !env.lookup(e.target.name) && !this.dims.has(e.target.name) && isFamily(this, e.target.name)) return indexFamily(this, e.target.name, e, env);
    const t = this.expr(e.target, env);
    if (t.k === 'error') return t;
    if (t.k === 'list' || t.k === 'tuple') return indexCollection(this, t, e, env);
    // a complex value: the same index plan applied to both parts (complex.ts)
    const a = t.k === 'cx' ? (arr(t.re, 'general', t.row) as Val & { k: 'arr' }) : this.toArr(t, e.target.span, 'indexing');
    if (a.k !== 'arr') return poison;
    const sh = shapeOf(a.node);
    if (e.indices.length !== sh.length) {
      this.diag.error('MAT0210', `${short(spanText(e.target.span))} has ${sh.length} dimension${sh.length === 1 ? '' : 's'} but ${e.indices.length} ${e.indices.length === 1 ? 'index was' : 'indices were'} given`, e.span, {
        label: `it is ${shapeLabel(a)}`,
      });
      return poison;
    }
    // Static slices first, then dynamic single indices.
    const starts: Dim[] = [];
    const sizes: Dim[] = [];
    const dyn: { axis: number; node: Node }[] = [];
    const dynConst = new Map<number, number>();
    let bad = false;
    e.indices.forEach((ix, axis) => {
      if (ix.kind === 'all') {
        starts.push(Dim.const(0));
        sizes.push(sh[axis]!);
      } else if (ix.kind === 'range') {
        const lo = this.toDim(this.expr(ix.lo, env), ix.lo.span, 'a slice bound');
        const hi = this.toDim(this.expr(ix.hi, env), ix.hi.span, 'a slice bound');
        if (!lo || !hi) {
          bad = true;
          return;
        }
        const size = hi.sub(lo);
        const c = size.constValue();
        const over = sh[axis]!.sub(hi).constValue();
        if ((c !== undefined && c < 0) || (over !== undefined && over < 0) || (lo.constValue() ?? 0) < 0) {
          this.diag.error('MAT0210', `slice ${lo}:${hi} does not fit a dimension of size ${sh[axis]}`, ix.span, {
            notes: [{ message: 'slices are lo:hi with 0 <= lo <= hi <= size; indices start at 0' }],
          });
          bad = true;
          return;
        }
        if (c === undefined) this.assertions.push({ dim: size, message: `slice ${lo}:${hi} needs ${lo} <= ${hi}` });
        if (over === undefined) this.assertions.push({ dim: sh[axis]!.sub(hi), message: `slice ${lo}:${hi} needs ${hi} <= ${sh[axis]}` });
        starts.push(lo);
        sizes.push(size);
      } else {
        const v = this.toInt(this.expr(ix.index, env), ix.index.span);
        if (v.k !== 'int') {
          bad = true;
          return;
        }
        const c = v.dim?.constValue();
        const lim = sh[axis]!.constValue();
        // an index given as a dimension is out of range when size − index is provably ≤ 0
        // (x[n] of a vec[n]); other indices are checked where they run (MATR107)
        const room = v.dim ? sh[axis]!.sub(v.dim).constValue() : undefined;
        if ((c !== undefined && (c < 0 || (lim !== undefined && c >= lim))) || (room !== undefined && room <= 0)) {
          this.diag.error('MAT0210', `index ${c ?? v.dim} is out of range for a dimension of size ${sh[axis]}`, ix.span, {
            notes: [{ message: 'indices start at 0' }],
          });
          bad = true;
          return;
        }
        starts.push(Dim.const(0));
        sizes.push(sh[axis]!);
        dyn.push({ axis, node: v.node });
        if (c !== undefined) dynConst.set(axis, c);
      }
    });
    if (bad) return poison;
    const build = (target: Node, row: boolean): Val => {
      const node = this.b.slice(target, starts, sizes);
      if (dyn.length === 0) return arr(node, 'general', row);
      if (sh.length === 1) return arr(this.b.index(node, [dyn[0]!.node]));
      if (sh.length === 2) {
        if (dyn.length === 2) return arr(this.b.index(node, [dyn[0]!.node, dyn[1]!.node]));
        if (dyn[0]!.axis === 1) return arr(this.b.getcol(node, dyn[0]!.node));
        return arr(this.b.getrow(node, dyn[0]!.node), 'general', true);
      }
      if (dyn.length === sh.length) return arr(this.b.index(node, dyn.map((d) => d.node)));
      // partial indexing of rank-3+ tensors (T[i, :, :], T[:, j, :]): collections.ts
      if (dyn.length > 0) return partialIndex(this, node, dyn.map((d) => ({ ...d, c: dynConst.get(d.axis) })));
      this.diag.error('MAT0210', 'tensors of rank 3 or more can be indexed by all indices or sliced, not partly indexed', e.span, {
        suggestion: 'use slices (lo:hi) or einsum',
      });
      return poison;
    };
    return t.k === 'cx' ? indexParts(this, t, build) : build(a.node, a.row);
  }

  // ---- literals and bindings ------------------------------------------------------------------

  matrixLit(e: Extract<A.Expr, { kind: 'matrix' }>, env: Scope): Val {
    if (e.rows.length === 0 || e.rows.some((r) => r.length === 0)) {
      this.diag.error('MAT0208', 'a matrix literal needs at least one entry in every row', e.span, {
        suggestion: 'write [a, b; c, d]; for an empty or zero matrix use zeros(m, n)',
      });
      return poison;
    }
    // complex blocks: the literal of the real parts and that of the imaginary parts (complex.ts)
    const blocks = e.rows.map((row) => row.map((x) => this.expr(x, env)));
    if (blocks.some((row) => row.some((v) => v.k === 'cx'))) {
      const part = (k: 're' | 'im') => blocks.map((row) => row.map((v): Val => (v.k === 'cx' ? arr(v[k], 'general', v.row) : k === 're' || v.k === 'error' ? v : v.k === 'arr' ? arr(this.b.zeros(shapeOf(v.node)), 'general', v.row) : v.k === 'lit' || v.k === 'int' ? arr(this.b.const(0)) : v)));
      const re = this.matrixBlocks(e, part('re'));
      if (re.k !== 'arr') return poison;
      const im = this.matrixBlocks(e, part('im'));
      if (im.k !== 'arr') return poison;
      return mk(this.b, re.node, im.node, 'general', re.row);
    }
    return this.matrixBlocks(e, blocks);
  }

  /** A matrix literal from its evaluated blocks. */
  private matrixBlocks(e: Extract<A.Expr, { kind: 'matrix' }>, blocks: Val[][]): Val {
    const rows: { node: Node; span: Span }[][] = [];
    let scalarsOnly = true;
    let allColumns = true;
    for (let ri = 0; ri < e.rows.length; ri++) {
      const row = e.rows[ri]!;
      const out: { node: Node; span: Span }[] = [];
      for (let ci = 0; ci < row.length; ci++) {
        const x = row[ci]!;
        const v = this.toArr(blocks[ri]![ci]!, x.span, 'a matrix block');
        if (v.k !== 'arr') return poison;
        const s = shapeOf(v.node);
        if (s.length > 2) {
          this.diag.error('MAT0208', 'matrix blocks must be scalars, vectors or matrices', x.span);
          return poison;
        }
        if (s.length !== 0) scalarsOnly = false;
        if (!(s.length === 1 && !v.row) && s.length !== 0) allColumns = false;
        const block =
          s.length === 0 ? this.b.reshape(v.node, [Dim.const(1), Dim.const(1)]) : s.length === 1 ? this.b.reshape(v.node, v.row ? [Dim.const(1), s[0]!] : [s[0]!, Dim.const(1)]) : v.node;
        out.push({ node: block, span: x.span });
      }
      rows.push(out);
    }
    const rowNodes: Node[] = [];
    for (const row of rows) {
      const h = shapeOf(row[0]!.node)[0]!;
      for (const blk of row) {
        if (!shapeOf(blk.node)[0]!.equals(h)) {
          this.diag.error('MAT0204', 'blocks in one row of a matrix literal must have the same number of rows', blk.span, {
            label: `${shapeOf(blk.node)[0]} rows, the first block has ${h}`,
          });
          return poison;
        }
      }
      rowNodes.push(this.b.concat(row.map((r) => r.node), 1));
    }
    const w = shapeOf(rowNodes[0]!)[1]!;
    for (let i = 1; i < rowNodes.length; i++) {
      if (!shapeOf(rowNodes[i]!)[1]!.equals(w)) {
        this.diag.error('MAT0204', 'rows of a matrix literal must have the same number of columns', e.span, {
          label: `row ${i + 1} has ${shapeOf(rowNodes[i]!)[1]} columns, row 1 has ${w}`,
        });
        return poison;
      }
    }
    const m = this.b.concat(rowNodes, 0);
    const [r, c] = shapeOf(m);
    if (c!.constValue() === 1 && (scalarsOnly || allColumns) && e.rows.every((row) => row.length === 1)) return arr(this.b.reshape(m, [r!]));
    if (r!.constValue() === 1 && scalarsOnly && e.rows.length === 1) return arr(this.b.reshape(m, [c!]), 'general', true);
    return arr(m);
  }

  bindPattern(bd: A.LetBinding, v: Val, env: Scope, what: string): void {
    if (!bd.tuple && bd.names.length === 1) {
      env.define(bd.names[0]!.name, { val: v, span: bd.names[0]!.span, what });
      return;
    }
    const elems = v.k === 'tuple' || v.k === 'list' ? v.elems : v.k === 'error' ? bd.names.map(() => poison) : null;
    if (!elems || elems.length !== bd.names.length) {
      if (v.k !== 'error') {
        this.diag.error('MAT0205', `cannot bind ${bd.names.length} names to ${v.k === 'tuple' ? `a tuple of ${v.elems.length}` : describeVal(v)}`, bd.span, {
          label: 'pattern and value differ in size',
        });
      }
      for (const n of bd.names) env.define(n.name, { val: poison, span: n.span, what });
      return;
    }
    bd.names.forEach((n, i) => env.define(n.name, { val: elems[i]!, span: n.span, what }));
  }

  letExpr(e: Extract<A.Expr, { kind: 'let' }>, env: Scope): Val {
    let scope = env;
    for (const bd of e.bindings) {
      const v = this.expr(bd.value, scope);
      scope = scope.nextLet(env, bd.names);
      this.bindPattern(bd, v, scope, 'let');
    }
    return this.expr(e.body, scope);
  }

  /** `if c then a else b`: a `select` of cheap sides, a real branch (`cond`) of sides that do
   *  work or give ints (compiler/check/branches.ts). */
  ifExpr(e: Extract<A.Expr, { kind: 'if' }>, env: Scope): Val {
    return elaborateIf(this, e, env);
  }

  // ---- calls --------------------------------------------------------------------------------

  call(e: Extract<A.Expr, { kind: 'call' }>, env: Scope): Val {
    const name = e.callee.name;
    const local = env.lookup(name);
    if (local) {
      this.diag.error('MAT0302', `'${name}' is a value, not a function`, e.callee.span, {
        notes: local.span ? [{ message: `${name} is defined here`, span: local.span }] : [],
      });
      return poison;
    }
    const user = this.ctx.items.get(name);
    if (user && this.ctx.visibleIn && !this.ctx.visibleIn(e.callee.span.file).has(name)) {
      // defined in a loaded file but not given to this one by its imports (issue 10)
      const base = this.ctx.importPath?.(e.callee.span.file, name) ?? user.file.path.split(/[\\/]/).pop()!;
      const mine = this.ctx.visibleIn(e.callee.span.file);
      const sug = closest(name, [...Object.keys(builtins), ...mine]);
      this.diag.error('MAT0301', `unknown name '${name}'`, e.callee.span, {
        label: 'not imported into this file',
        notes: [{ message: `'${name}' is defined in ${base} but was not imported here`, span: user.item.name.span }],
        suggestion: sug ? `import it (import { ${name} } from "${base}" or import "${base}"), or did you mean '${sug}'?` : `import it: import { ${name} } from "${base}" (or import "${base}")`,
      });
      for (const a of e.args) this.expr(a.value, env);
      return poison;
    }
    if (user) {
      const named = e.args.find((a) => a.name);
      if (named) {
        this.diag.error('MAT0307', `named arguments are only for solver options; '${named.name!.name}' passed to ${name}`, named.name!.span);
        return poison;
      }
      const args = e.args.map((a) => this.expr(a.value, env));
      if (args.some((a) => a.k === 'error')) return poison;
      if (this.ctx.recursive.has(name)) return poison; // MAT0304, reported once for the cycle
      if (this.inlineStack.includes(name)) {
        this.diag.error('MAT0304', `recursive call to '${name}'`, e.callee.span, {
          notes: [{ message: `call chain: ${[...this.inlineStack, name].join(' → ')}` }],
          suggestion: 'write the repetition with iterate (...) for i in 0..n => ...',
        });
        return poison;
      }
      return this.ctx.inline(this, user, args, e.span, e.args.map((a) => a.value.span));
    }
    const viaBuiltin = callBuiltin(this, e, env, name);
    if (viaBuiltin) return viaBuiltin;
    const sug = closest(name, [...Object.keys(builtins), ...(this.ctx.visibleIn?.(e.callee.span.file) ?? this.ctx.items.keys())]);
    this.diag.error('MAT0302', `unknown function '${name}'`, e.callee.span, {
      label: 'not a builtin or a function in this file or its imports',
      suggestion: sug ? `did you mean '${sug}'?` : undefined,
    });
    for (const a of e.args) this.expr(a.value, env);
    return poison;
  }

  /** Checks that a value matches a declared type (results, carries, updates). */
  checkAgainst(v: Val, want: { shape: readonly Dim[] | null; isInt?: boolean }, span: Span, what: string, declSpan?: Span): Val {
    if (v.k === 'error') return v;
    if (want.isInt) return this.toInt(v, span, what);
    if (v.k === 'cx') {
      const got = shapeOf(v.re);
      if (want.shape && !shapeEquals(got, want.shape)) {
        this.diag.error('MAT0209', `${what} has shape ${shapeToString(got)} but ${shapeToString(want.shape)} was declared`, span, {
          label: `this is ${shapeLabel(v)}`,
          notes: declSpan ? [{ message: 'declared here', span: declSpan }] : [],
        });
        return poison;
      }
      return v;
    }
    const a = this.toArr(v, span, what);
    if (a.k !== 'arr' || !want.shape) return a;
    const got = shapeOf(a.node);
    if (!shapeEquals(got, want.shape)) {
      if (got.length === 0 && (v.k === 'lit' || v.k === 'int')) return arr(this.b.broadcastTo(a.node, want.shape));
      this.diag.error('MAT0209', `${what} has shape ${shapeToString(got)} but ${shapeToString(want.shape)} was declared`, span, {
        label: `this is ${shapeLabel(a)}`,
        notes: declSpan ? [{ message: 'declared here', span: declSpan }] : [],
      });
      return poison;
    }
    return a;
  }
}

function short(s: string): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > 24 ? one.slice(0, 21) + '...' : one;
}

function describeShape(v: Val & { k: 'arr' }): string {
  const s = shapeOf(v.node);
  if (s.length === 1) return `${shapeToString(s)}${v.row ? ' (a row vector)' : ''}`;
  return shapeToString(s);
}

function negStruct(s: Struct): Struct {
  return s === 'sym' || s === 'diag' || s === 'tril' || s === 'triu' ? s : 'general';
}

function scaleStruct(s: Struct): Struct {
  return s === 'sym' || s === 'diag' || s === 'tril' || s === 'triu' ? s : s === 'spd' ? 'sym' : 'general';
}

function combineStruct(a: Struct, b: Struct, aScalar: boolean, bScalar: boolean): Struct {
  if (aScalar || bScalar) return 'general';
  if (a === b && (a === 'sym' || a === 'diag' || a === 'tril' || a === 'triu')) return a;
  const symish = (s: Struct) => s === 'sym' || s === 'spd' || s === 'diag';
  if (symish(a) && symish(b)) return 'sym';
  return 'general';
}

function productStruct(a: Struct, b: Struct): Struct {
  if (a === b && (a === 'diag' || a === 'tril' || a === 'triu')) return a;
  return 'general';
}

export { joinSpans, tt };
