// Complex numbers (issue 13 item 1). A complex value is lowered into its real and imaginary parts
// as soon as it is checked: the checker holds it as a pair of real IR nodes (values.ts, kind
// 'cx'), every complex operation is elaborated into real IR ops on the parts, and everything after
// the checker — differentiation, the expand stage, the optimizer, the interpreter, the CPU code
// generators and the WGSL kernels — sees real IR only (docs/architecture.md, "Complex numbers").
//
//   - At a function boundary a complex parameter or result is ONE real IR tensor with a trailing
//     axis of 2 (re, im): the memory layout of numpy's complex128 and of torch.view_as_real, so an
//     input is bound without a copy; the parts are views of it (`unpack`) and a result is the
//     concatenation of the parts (`pack`).
//   - Gradients. Reverse mode over the real parts gives, for a real loss L, the pair
//     (∂L/∂Re z, ∂L/∂Im z) — read as one complex number ∂L/∂Re z + i ∂L/∂Im z, which is exactly
//     what PyTorch returns as z.grad for a real loss (twice the conjugate Wirtinger derivative
//     ∂L/∂z̄). A cotangent ḡ of a complex output o stands for the real loss Re⟨ḡ, o⟩ =
//     Σ Re ḡ Re o + Im ḡ Im o (torch's grad_output); a tangent is the R-linear directional
//     derivative (torch.func.jvp). No complex rule exists: the chain rule over the parts is it.
//   - A value whose imaginary part is known to be zero is real (`mk`): real operands cost nothing
//     extra, and a function written for real values is generic — called with complex arguments
//     its body is checked with them (items.ts inlineCall), so real and complex specs share one
//     source where the math is the same. `'` is the conjugate transpose, `.'` the transpose;
//     `dot(x, y)` = x' * y = xᴴy conjugates its first argument (numpy's vdot).
//   - Decompositions: complex `solve`, `inv`, `lstsq` and the triangular solves go through the
//     real embedding  M(A) = [[Re A, −Im A], [Im A, Re A]] , a *-homomorphism (M(AB) = M(A)M(B),
//     M(Aᴴ) = M(A)ᵀ), so expm, sqrtm, invsqrtm and polar of M(A) are M of those of A and their
//     real derivative rules are exact; `eigh` of a Hermitian matrix is its own op (`heigh`: a
//     complex Jacobi iteration, compiler/solvers/spectral.ts, with complex derivative rules,
//     compiler/diff/spectral-rules.ts), since M(A) repeats every eigenvalue.

import type * as A from '../../grammar/ast.js';
import { Dim, shapeEquals } from '../../core/dims.js';
import { type Builder, isZero, shapeOf } from '../ir/builder.js';
import type { Node } from '../ir/node.js';
import type { Struct, TensorType } from '../ir/types.js';
import { tensorT } from '../ir/types.js';
import { scaledNorm } from '../solvers/scale.js';
import { lineCol, type Span } from '../source.js';
import { pack, packedType, unpackPart } from '../ir/complex-pack.js';

export { pack, packedType, unpackPart };
import type { Scope } from './scope.js';
import { type Val, arr, describeVal, poison, shapeLabel } from './values.js';
import type { Elab } from './elaborate.js';
import { type Builtin, builtins, solved, square } from './builtins.js';
import { eighComplexOf } from '../diff/spectral-rules.js';
import { sweepOption } from './spectral-builtins.js';
import { limits } from '../limits.js';

export type CxVal = Extract<Val, { k: 'cx' }>;
type Call = Extract<A.Expr, { kind: 'call' }>;
type OpSpan = { left: A.Expr; right: A.Expr; opSpan: Span; span: Span };

export function isCx(v: Val): v is CxVal {
  return v.k === 'cx';
}

/** A value from its parts: real when the imaginary part is absent or a zero constant. The parts
 *  are brought to one shape (a scalar part is broadcast). */
export function mk(b: Builder, re: Node, im: Node | null | undefined, struct: Struct = 'general', row = false): Val {
  if (!im || isZero(im)) {
    if (im && shapeOf(im).length > shapeOf(re).length) re = b.broadcastTo(re, shapeOf(im));
    return arr(re, struct, row);
  }
  const sr = shapeOf(re);
  const si = shapeOf(im);
  if (sr.length === 0 && si.length > 0) re = b.broadcastTo(re, si);
  else if (si.length === 0 && sr.length > 0) im = b.broadcastTo(im, sr);
  return { k: 'cx', re, im, struct, row };
}

/** The real and imaginary parts of a numeric value (null: zero); null after a diagnostic. */
export interface Parts {
  re: Node;
  im: Node | null;
  struct: Struct;
  row: boolean;
}

export function parts(el: Elab, v: Val, span: Span, what = 'this operand'): Parts | null {
  if (v.k === 'cx') return { re: v.re, im: v.im, struct: v.struct, row: v.row };
  if (v.k === 'error') return null;
  const a = el.toArr(v, span, what);
  if (a.k !== 'arr') return null;
  return { re: a.node, im: null, struct: a.struct, row: a.row };
}

/** The structure a part carries on its own (zero patterns only). */
function partStruct(s: Struct): Struct {
  return s === 'diag' || s === 'tril' || s === 'triu' ? s : 'general';
}

const reVal = (p: Parts): Val & { k: 'arr' } => arr(p.re, partStruct(p.struct), p.row) as Val & { k: 'arr' };
const imVal = (b: Builder, p: Parts): Val & { k: 'arr' } => arr(p.im ?? b.zeros(shapeOf(p.re)), partStruct(p.struct), p.row) as Val & { k: 'arr' };

// ---- part arithmetic (null = 0) -------------------------------------------------------------------

const add = (b: Builder, x: Node | null, y: Node | null): Node | null => (x && y ? b.add(x, y) : x ?? y);
const sub = (b: Builder, x: Node | null, y: Node | null): Node | null => (x && y ? b.sub(x, y) : x ?? (y ? b.neg(y) : null));
const mul = (b: Builder, x: Node | null, y: Node | null): Node | null => (x && y ? b.mul(x, y) : null);
const neg = (b: Builder, x: Node | null): Node | null => (x ? b.neg(x) : null);
const z0 = (b: Builder, x: Node | null, like: Node): Node => x ?? b.zeros(shapeOf(like));

/** (a + ib)(c + id) elementwise. */
function cmul(b: Builder, x: Parts, y: Parts): { re: Node; im: Node | null } {
  const re = sub(b, b.mul(x.re, y.re), mul(b, x.im, y.im))!;
  const im = add(b, mul(b, x.re, y.im), mul(b, x.im, y.re));
  return { re, im };
}

/** x / y elementwise: x ȳ / |y|². */
function cdiv(b: Builder, x: Parts, y: Parts): { re: Node; im: Node | null } {
  if (!y.im) return { re: b.div(x.re, y.re), im: x.im ? b.div(x.im, y.re) : null };
  const d = b.add(b.mul(y.re, y.re), b.mul(y.im, y.im));
  const re = b.div(add(b, b.mul(x.re, y.re), mul(b, x.im, y.im))!, d);
  const im = b.div(sub(b, mul(b, x.im, y.re), b.mul(x.re, y.im))!, d);
  return { re, im };
}

/** Elementwise functions of a complex number (x + iy). */
function cexp(b: Builder, p: Parts): { re: Node; im: Node | null } {
  const ex = b.unary('exp', p.re);
  if (!p.im) return { re: ex, im: null };
  return { re: b.mul(ex, b.unary('cos', p.im)), im: b.mul(ex, b.unary('sin', p.im)) };
}

function clog(b: Builder, p: Parts): { re: Node; im: Node } {
  const im = p.im ?? b.zeros(shapeOf(p.re));
  return { re: b.unary('log', b.binary('hypot', p.re, im)), im: b.binary('atan2', im, p.re) };
}

/** The principal square root (the branch cut on the negative real axis, Re √z ≥ 0), in the form
 *  without cancellation: t = √((|z| + |x|)/2); x ≥ 0: (t, y/(2t)); x < 0: (|y|/(2t), ±t with the
 *  sign of y). t = 0 only at z = 0, where the root is 0. */
function csqrt(b: Builder, p: Parts): { re: Node; im: Node } {
  const x = p.re;
  const y = p.im ?? b.zeros(shapeOf(x));
  const t = b.unary('sqrt', b.scale(0.5, b.add(b.binary('hypot', x, y), b.unary('abs', x))));
  const pos = b.binary('gt', t, b.const(0));
  const inv2t = b.mul(pos, b.div(b.const(0.5), b.select(pos, t, b.const(1))));
  const right = b.binary('ge', x, b.const(0));
  const re = b.select(right, t, b.mul(b.unary('abs', y), inv2t));
  const sgn = b.select(b.binary('ge', y, b.const(0)), b.const(1), b.const(-1));
  const im = b.select(right, b.mul(y, inv2t), b.mul(sgn, t));
  return { re, im };
}

/** cosh and sinh of a real part. */
function coshSinh(b: Builder, y: Node): { ch: Node; sh: Node } {
  const ep = b.unary('exp', y);
  const em = b.unary('exp', b.neg(y));
  return { ch: b.scale(0.5, b.add(ep, em)), sh: b.scale(0.5, b.sub(ep, em)) };
}

/** z/|z|, with `atZero` (0 or 1) where z = 0. */
function cunit(b: Builder, p: Parts, atZero: number): { re: Node; im: Node | null } {
  const im = p.im ?? b.zeros(shapeOf(p.re));
  const h = b.binary('hypot', p.re, im);
  const pos = b.binary('gt', h, b.const(0));
  const r = b.mul(pos, b.div(b.const(1), b.select(pos, h, b.const(1))));
  const re = b.mul(p.re, r);
  return { re: atZero ? b.add(re, b.sub(b.const(1), pos)) : re, im: p.im ? b.mul(p.im, r) : null };
}

// ---- function boundaries --------------------------------------------------------------------------

/** A packed parameter as a complex value. */
export function unpack(b: Builder, z: Node, struct: Struct): Val {
  return { k: 'cx', re: unpackPart(b, z, 0), im: unpackPart(b, z, 1), struct, row: false };
}

// ---- literals, names --------------------------------------------------------------------------------

/** `2.5i`: an imaginary literal. */
export function imaginary(el: Elab, value: number): Val {
  return mk(el.b, el.b.const(0), el.b.const(value));
}

// ---- operators ----------------------------------------------------------------------------------------

function notOrdered(el: Elab, op: string, e: OpSpan, side: Val, sideSpan: Span): Val {
  el.diag.error('MAT0290', `'${op}' is not defined for complex values`, e.opSpan, {
    label: 'needs real operands',
    notes: [{ message: `this operand is ${describeVal(side)}: complex numbers are not ordered, and && / || take truth values (reals)`, span: sideSpan }],
    suggestion: op === '&&' || op === '||' ? 'compare first: z != 0' : 'compare real(z), imag(z) or abs(z) instead',
  });
  return poison;
}

/** A binary operator with a complex operand. */
export function complexBinary(el: Elab, op: A.BinaryOp, l: Val, r: Val, e: OpSpan): Val {
  const b = el.b;
  if (op === '<' || op === '<=' || op === '>' || op === '>=' || op === '&&' || op === '||') {
    return isCx(l) ? notOrdered(el, op, e, l, e.left.span) : notOrdered(el, op, e, r, e.right.span);
  }
  const x = parts(el, l, e.left.span, `the left operand of '${op}'`);
  const y = parts(el, r, e.right.span, `the right operand of '${op}'`);
  if (!x || !y) return poison;
  const sx = shapeOf(x.re);
  const sy = shapeOf(y.re);
  // shape and orientation diagnostics: the real parts go through the real operator's checks
  const check = (rop: 'add' | 'sub' | 'mul' | 'div' | 'eq'): Val => el.elementwise(rop, reVal(x), reVal(y), e);
  switch (op) {
    case '+':
    case '-': {
      const c = check(op === '+' ? 'add' : 'sub');
      if (c.k !== 'arr') return poison;
      const im = op === '+' ? add(b, x.im, y.im) : sub(b, x.im, y.im);
      return mk(b, c.node, im, combine(x.struct, y.struct, sx.length === 0, sy.length === 0), c.row);
    }
    case '.*': {
      const c = check('mul');
      if (c.k !== 'arr') return poison;
      const p = cmul(b, x, y);
      return mk(b, p.re, p.im, scaled(x, y, sx, sy), c.row);
    }
    case './': {
      const c = check('div');
      if (c.k !== 'arr') return poison;
      const p = cdiv(b, x, y);
      return mk(b, p.re, p.im, sy.length === 0 ? scaled(x, y, sx, sy) : 'general', c.row);
    }
    case '/': {
      if (sy.length !== 0) return el.binary('/', reVal(x), reVal(y), e); // the real operator's MAT0204
      const p = cdiv(b, x, y);
      return mk(b, p.re, p.im, scaled(x, y, sx, sy), x.row);
    }
    case '*': {
      if (sx.length === 0 || sy.length === 0) {
        const p = cmul(b, x, y);
        return mk(b, p.re, p.im, scaled(x, y, sx, sy), sx.length === 0 ? y.row : x.row);
      }
      // (A + iB)(C + iD) = (AC − BD) + i(AD + BC): the real product's checks on each pair
      const P = (u: Val & { k: 'arr' }, v: Val & { k: 'arr' }): Node | null => {
        const t = el.product(u, v, e);
        return t.k === 'arr' ? t.node : null;
      };
      const rr = P(reVal(x), reVal(y));
      if (!rr) return poison;
      const ii = x.im && y.im ? P(imVal(b, x), imVal(b, y)) : null;
      const ri = y.im ? P(reVal(x), imVal(b, y)) : null;
      const ir = x.im ? P(imVal(b, x), reVal(y)) : null;
      const row = sx.length === 1 && sy.length === 2;
      return mk(b, sub(b, rr, ii)!, add(b, ri, ir), productStruct(x.struct, y.struct), row);
    }
    case '^':
    case '.^':
      return complexPower(el, op, x, y, l, r, e);
    case '==':
    case '!=': {
      const c = check('eq');
      if (c.k !== 'arr') return poison;
      const reEq = c.node;
      const imEq = b.binary('eq', z0(b, x.im, x.re), z0(b, y.im, y.re));
      const both = b.mul(reEq, imEq);
      return arr(op === '==' ? both : b.sub(b.const(1), both), 'general', c.row);
    }
  }
  return poison;
}

/** Structure of a sum (Hermitian ± Hermitian, triangles, diagonals). */
function combine(a: Struct, c: Struct, aScalar: boolean, cScalar: boolean): Struct {
  if (aScalar || cScalar) return 'general';
  if (a === c && (a === 'sym' || a === 'diag' || a === 'tril' || a === 'triu')) return a;
  const hermish = (s: Struct) => s === 'sym' || s === 'spd' || s === 'diag';
  if (hermish(a) && hermish(c)) return a === 'diag' && c === 'diag' ? 'diag' : 'sym';
  return 'general';
}

/** Structure of a scalar multiple: a real scalar keeps Hermitian (spd → Hermitian), a complex
 *  one only zero patterns. */
function scaled(x: Parts, y: Parts, sx: readonly Dim[], sy: readonly Dim[]): Struct {
  const [s, m] = sx.length === 0 ? [x, y] : sy.length === 0 ? [y, x] : [null, null];
  if (!s || !m) return 'general';
  const zeroPattern = m.struct === 'diag' || m.struct === 'tril' || m.struct === 'triu';
  if (zeroPattern) return m.struct;
  if (!s.im && (m.struct === 'sym' || m.struct === 'spd')) return 'sym';
  return 'general';
}

function productStruct(a: Struct, c: Struct): Struct {
  if (a === c && (a === 'diag' || a === 'tril' || a === 'triu')) return a;
  return 'general';
}

/** z ^ w and z .^ w. A scalar or elementwise power with an integer exponent known when checked
 *  is repeated squaring (exact for Gaussian integers, finite at z = 0); any other exponent is
 *  exp(w log z) on the principal branch. A square complex matrix to an integer power known when
 *  checked is repeated squaring of the complex product. */
function complexPower(el: Elab, op: '^' | '.^', x: Parts, y: Parts, l: Val, r: Val, e: OpSpan): Val {
  const b = el.b;
  const sx = shapeOf(x.re);
  const k = r.k === 'lit' && r.isInt ? r.value : r.k === 'int' ? r.dim?.constValue() : r.k === 'lit' && Number.isInteger(r.value) ? r.value : undefined;
  if (op === '^' && sx.length === 2) {
    if (y.im || k === undefined || !Number.isInteger(k) || k < 0 || k > limits.maxInt) {
      el.diag.error('MAT0250', `the exponent of a matrix power must be an integer from 0 to ${limits.maxInt} known when the function is checked`, e.right.span, {
        label: y.im ? 'a complex exponent' : 'this exponent',
        suggestion: "use '.^' for elementwise powers, or expm(w * logm) by hand",
      });
      return poison;
    }
    if (!sx[0]!.equals(sx[1]!)) return el.binary('^', reVal(x), r, e); // the real MAT0204
    let acc: Parts | null = null;
    let sq: Parts = x;
    const mm = (u: Parts, v: Parts): Parts => {
      const re = sub(b, b.matmul(u.re, v.re), u.im && v.im ? b.matmul(u.im, v.im) : null)!;
      const im = add(b, v.im ? b.matmul(u.re, v.im) : null, u.im ? b.matmul(u.im, v.re) : null);
      return { re, im, struct: 'general', row: false };
    };
    if (k === 0) return arr(b.eye(sx[0]!), 'diag');
    for (let rest = k; ; ) {
      if (rest % 2 === 1) acc = acc ? mm(acc, sq) : sq;
      rest = Math.floor(rest / 2);
      if (rest === 0) break;
      sq = mm(sq, sq);
    }
    return mk(b, acc!.re, acc!.im, x.struct === 'sym' && !x.im ? 'sym' : 'general');
  }
  if (op === '^' && sx.length !== 0) return el.binary('^', reVal(x), r, e); // the real MAT0204
  const c = el.elementwise('pow', reVal(x), reVal(y), e);
  if (c.k !== 'arr') return poison;
  if (k !== undefined && !y.im && Number.isInteger(k) && Math.abs(k) <= 64) {
    // integer exponent: repeated squaring (k < 0: the reciprocal)
    let acc: { re: Node; im: Node | null } = { re: b.fill(sx, 1), im: null };
    let sq: { re: Node; im: Node | null } = { re: x.re, im: x.im };
    for (let rest = Math.abs(k); rest > 0; rest = Math.floor(rest / 2)) {
      if (rest % 2 === 1) acc = cmul(b, { ...acc, struct: 'general', row: false }, { ...sq, struct: 'general', row: false });
      if (rest > 1) sq = cmul(b, { ...sq, struct: 'general', row: false }, { ...sq, struct: 'general', row: false });
    }
    if (k < 0) acc = cdiv(b, { re: b.fill(sx, 1), im: null, struct: 'general', row: false }, { ...acc, struct: 'general', row: false });
    return mk(b, acc.re, acc.im, 'general', c.row);
  }
  void l;
  const lg = clog(b, x);
  const w = cmul(b, y, { re: lg.re, im: lg.im, struct: 'general', row: false });
  const p = cexp(b, { re: w.re, im: w.im, struct: 'general', row: false });
  return mk(b, p.re, p.im, 'general', c.row);
}

/** Unary minus. */
export function complexNeg(el: Elab, v: CxVal): Val {
  const s = v.struct === 'sym' || v.struct === 'diag' || v.struct === 'tril' || v.struct === 'triu' ? v.struct : 'general';
  return mk(el.b, el.b.neg(v.re), el.b.neg(v.im), s, v.row);
}

/** `'` (conjugate transpose, conj = true) and `.'` (transpose). */
export function complexTranspose(el: Elab, v: CxVal, span: Span, conj: boolean): Val {
  const re = el.transposeVal(arr(v.re, partStruct(v.struct), v.row), span);
  if (re.k !== 'arr') return poison;
  const imT = el.transposeVal(arr(v.im, partStruct(v.struct), v.row), span);
  if (imT.k !== 'arr') return poison;
  const r = shapeOf(v.re).length;
  // the transpose of a Hermitian matrix is Hermitian (its conjugate), of a unitary one unitary
  const st: Struct = v.struct === 'sym' || v.struct === 'spd' || v.struct === 'diag' || v.struct === 'orth' ? v.struct : v.struct === 'tril' ? 'triu' : v.struct === 'triu' ? 'tril' : 'general';
  return mk(el.b, re.node, conj ? el.b.neg(imT.node) : imT.node, r === 2 ? st : v.struct, re.row);
}

// ---- indexing, matrix literals, branches and loops ---------------------------------------------------

/** Applies one index plan to both parts. */
export function indexParts(el: Elab, v: CxVal, apply: (node: Node, row: boolean) => Val): Val {
  const re = apply(v.re, v.row);
  const im = apply(v.im, v.row);
  if (re.k !== 'arr' || im.k !== 'arr') return poison;
  return mk(el.b, re.node, im.node, 'general', re.row);
}

// ---- builtins -------------------------------------------------------------------------------------------

type Handler = (el: Elab, e: Call, env: Scope, vals: Val[], bi: Builtin | undefined) => Val;

/** Runs `f` with the call's argument expressions already evaluated to `vals` (Elab.pre), so that
 *  a real builtin elaborates what the complex one hands it without evaluating anything twice. */
function withPre(el: Elab, e: Call, vals: Val[], f: () => Val): Val {
  const saved = e.args.map((a) => el.pre.get(a.value));
  e.args.forEach((a, i) => el.pre.set(a.value, vals[i]!));
  try {
    return f();
  } finally {
    e.args.forEach((a, i) => {
      const s = saved[i];
      if (s) el.pre.set(a.value, s);
      else el.pre.delete(a.value);
    });
  }
}

/** The real part, or the imaginary part (zeros of a real value), of an argument. */
function rePartVal(v: Val): Val {
  return v.k === 'cx' ? arr(v.re, partStruct(v.struct), v.row) : v;
}
function imPartVal(el: Elab, v: Val): Val {
  if (v.k === 'cx') return arr(v.im, partStruct(v.struct), v.row);
  if (v.k === 'arr') return arr(el.b.zeros(shapeOf(v.node)), 'diag', v.row);
  if (v.k === 'lit') return { ...v, value: 0 };
  if (v.k === 'int') return arr(el.b.const(0));
  return v;
}

/** A builtin that is (jointly) linear in the arguments at `positions` (negative: from the end):
 *  f(re) + i f(im). */
function linear(positions: number[]): Handler {
  return (el, e, env, vals, bi) => {
    const pos = new Set(positions.map((p) => (p < 0 ? vals.length + p : p)));
    const r = withPre(el, e, vals.map((v, i) => (pos.has(i) ? rePartVal(v) : v)), () => bi!.elaborate(el, e, env));
    if (r.k !== 'arr') return r;
    const im = withPre(el, e, vals.map((v, i) => (pos.has(i) ? imPartVal(el, v) : v)), () => bi!.elaborate(el, e, env));
    if (im.k !== 'arr') return poison;
    return mk(el.b, r.node, im.node, partStruct(r.struct), r.row);
  };
}

function cxArg(el: Elab, e: Call, vals: Val[], i: number, ranks?: number[]): Parts | null {
  const p = parts(el, vals[i]!, e.args[i]!.value.span, `argument ${i + 1} of ${e.callee.name}`);
  if (!p) return null;
  const r = shapeOf(p.re).length;
  if (ranks && !ranks.includes(r)) {
    const want = ranks.map((k) => ['a scalar', 'a vector', 'a matrix'][k] ?? `a rank-${k} tensor`).join(' or ');
    el.diag.error('MAT0208', `argument ${i + 1} of ${e.callee.name} must be ${want}, but it is ${shapeLabel(vals[i]!)}`, e.args[i]!.value.span);
    return null;
  }
  return p;
}

function arity(el: Elab, e: Call, vals: Val[], min: number, max = min): boolean {
  const named = e.args.find((a) => a.name);
  if (named) {
    el.diag.error('MAT0307', `${e.callee.name} takes no named arguments`, named.name!.span);
    return false;
  }
  if (vals.length < min || vals.length > max) {
    const want = min === max ? `${min}` : `${min} to ${max}`;
    el.diag.error('MAT0303', `${e.callee.name} takes ${want} argument${max === 1 ? '' : 's'}, got ${vals.length}`, e.span, {
      suggestion: `${e.callee.name}: ${builtins[e.callee.name]?.sig ?? complexSigs[e.callee.name] ?? ''}`,
    });
    return false;
  }
  return !vals.some((v) => v.k === 'error');
}

/** An elementwise function of one complex argument. */
function unary(f: (b: Builder, p: Parts) => { re: Node; im: Node | null }, realToo = false): Handler {
  return (el, e, env, vals, bi) => {
    if (!arity(el, e, vals, 1)) return poison;
    if (!isCx(vals[0]!) && !realToo && bi) return withPre(el, e, vals, () => bi.elaborate(el, e, env));
    const p = cxArg(el, e, vals, 0);
    if (!p) return poison;
    const r = f(el.b, p);
    return mk(el.b, r.re, r.im, 'general', p.row);
  };
}

/** A real-valued elementwise function of one complex argument. */
function realUnary(f: (b: Builder, p: Parts) => Node): Handler {
  return (el, e, _env, vals) => {
    if (!arity(el, e, vals, 1)) return poison;
    const p = cxArg(el, e, vals, 0);
    if (!p) return poison;
    // the real part of a Hermitian matrix is symmetric; real and imaginary parts keep zero patterns
    const name = e.callee.name;
    const st: Struct = name === 'real' && (p.struct === 'sym' || p.struct === 'spd') ? 'sym' : name === 'real' || name === 'imag' ? partStruct(p.struct) : 'general';
    return arr(f(el.b, p), st, p.row);
  };
}

/** Hermitian / skew-Hermitian part (A ± Aᴴ)/2. */
function hermPart(sign: 1 | -1): Handler {
  return (el, e, _env, vals) => {
    if (!arity(el, e, vals, 1)) return poison;
    const p = cxArg(el, e, vals, 0, [2]);
    if (!p || !square(el, e, reVal(p), 0)) return poison;
    const b = el.b;
    const sym = (x: Node) => b.scale(0.5, b.add(x, b.transpose(x)));
    const skew = (x: Node) => b.scale(0.5, b.sub(x, b.transpose(x)));
    // (A + Aᴴ)/2 = sym(Re A) + i skew(Im A);  (A − Aᴴ)/2 = skew(Re A) + i sym(Im A)
    const re = sign === 1 ? sym(p.re) : skew(p.re);
    const im = p.im ? (sign === 1 ? skew(p.im) : sym(p.im)) : null;
    return mk(b, re, im, sign === 1 ? 'sym' : 'general');
  };
}

/** The real embedding M(A) = [[Re A, −Im A], [Im A, Re A]] of a complex matrix. */
export function embed(b: Builder, re: Node, im: Node | null): Node {
  const i = z0(b, im, re);
  return b.concat([b.concat([re, b.neg(i)], 1), b.concat([i, re], 1)], 0);
}

/** [Re B; Im B]: a complex right-hand side as a real one of M(A). */
function stack(b: Builder, re: Node, im: Node | null): Node {
  return b.concat([re, z0(b, im, re)], 0);
}

/** The complex matrix whose embedding holds X in its first block column ([Re; Im] stacked). */
function unstack(b: Builder, X: Node): { re: Node; im: Node } {
  const s = shapeOf(X);
  const n = s[0]!.div(Dim.const(2));
  const start = (r: Dim) => [r, ...s.slice(1).map(() => Dim.const(0))];
  const size = [n, ...s.slice(1)];
  return { re: b.slice(X, start(Dim.const(0)), size), im: b.slice(X, start(n), size) };
}

/** The left half of the columns of an embedded result M(F): F's parts. */
function leftBlocks(b: Builder, X: Node, rows: Dim, cols: Dim): { re: Node; im: Node } {
  return { re: b.slice(X, [Dim.const(0), Dim.const(0)], [rows, cols]), im: b.slice(X, [rows, Dim.const(0)], [rows, cols]) };
}

/** A builtin applied to the real embedding of its (matrix) argument, whose result is the
 *  embedding of the complex result: expm, sqrtm, invsqrtm, polar. */
function viaEmbedding(what: string): Handler {
  return (el, e, env, vals, bi) => {
    const pos = e.args.map((a, i) => (a.name ? -1 : i)).filter((i) => i >= 0);
    if (pos.length !== 1) return withPre(el, e, vals, () => bi!.elaborate(el, e, env));
    const p = cxArg(el, e, vals, pos[0]!, [2]);
    if (!p) return poison;
    const [m, n] = shapeOf(p.re) as [Dim, Dim];
    const M = arr(embed(el.b, p.re, p.im));
    const out = withPre(el, e, vals.map((v, i) => (i === pos[0] ? M : v)), () => bi!.elaborate(el, e, env));
    if (out.k !== 'arr') return poison;
    const r = leftBlocks(el.b, out.node, m, n);
    void what;
    return mk(el.b, r.re, r.im, out.struct === 'sym' ? 'sym' : e.callee.name === 'polar' && m.equals(n) ? 'orth' : 'general');
  };
}

/** Complex solve, inv and lstsq through the real embedding: M(A) [Re X; Im X] = [Re B; Im B]
 *  (‖M(A) v‖ = ‖A x‖ for v = [Re x; Im x], so least squares and minimum norm carry over). */
function solveVia(kind: 'solve' | 'inv' | 'lstsq' | 'tri'): Handler {
  return (el, e, env, vals, bi) => {
    const b = el.b;
    if (!arity(el, e, vals, kind === 'inv' ? 1 : 2)) return poison;
    const a = cxArg(el, e, vals, 0, [2]);
    const rhs = kind === 'inv' ? null : cxArg(el, e, vals, 1, [1, 2]);
    if (!a || (kind !== 'inv' && !rhs)) return poison;
    const [m, n] = shapeOf(a.re) as [Dim, Dim];
    if (kind !== 'lstsq' && !square(el, e, reVal(a), 0)) return poison;
    if (rhs && !shapeOf(rhs.re)[0]!.equals(m)) {
      el.diag.error('MAT0203', `shape mismatch in ${e.callee.name}`, e.span, { label: `A is ${shapeLabel(vals[0]!)} but B is ${shapeLabel(vals[1]!)}` });
      return poison;
    }
    const M = embed(b, a.re, a.im);
    if (kind === 'tri') {
      // a complex triangular system through the (full) embedding: LU of M(A), reported as this
      // call's linear solve
      const X = solved(el, e, b.solve(M, stack(b, rhs!.re, rhs!.im)));
      const r = unstack(b, X);
      return mk(b, r.re, r.im);
    }
    if (kind === 'inv') {
      const X = withPre(el, e, [arr(M)], () => bi!.elaborate(el, e, env));
      if (X.k !== 'arr') return poison;
      const r = leftBlocks(b, X.node, n, n);
      return mk(b, r.re, r.im);
    }
    const X = withPre(el, e, [arr(M), arr(stack(b, rhs!.re, rhs!.im))], () => bi!.elaborate(el, e, env));
    if (X.k !== 'arr') return poison;
    const r = unstack(b, X.node);
    return mk(b, r.re, r.im);
  };
}

/** einsum with complex operands: the product expanded over the parts of the complex operands
 *  (2^k real contractions for k complex operands), i^(number of imaginary factors) each. */
const einsumC: Handler = (el, e, env, vals, bi) => {
  const b = el.b;
  if (vals[0]?.k !== 'string') return withPre(el, e, vals, () => bi!.elaborate(el, e, env));
  const cxIdx = vals.map((v, i) => (i > 0 && isCx(v) ? i : -1)).filter((i) => i > 0);
  if (cxIdx.length > 4) {
    el.diag.error('MAT0293', `einsum of more than 4 complex operands is not supported (it expands into 2^${cxIdx.length} real contractions)`, e.span, { suggestion: 'contract in steps' });
    return poison;
  }
  // the real einsum checks the spec and shapes once, on the real parts
  const first = withPre(el, e, vals.map(rePartVal), () => bi!.elaborate(el, e, env));
  if (first.k !== 'arr') return poison;
  let re: Node | null = first.node;
  let im: Node | null = null;
  const spec = (vals[0] as { value: string }).value.replace(/\s+/g, '');
  for (let mask = 1; mask < 1 << cxIdx.length; mask++) {
    const ops = vals.slice(1).map((v, j) => {
      const k = cxIdx.indexOf(j + 1);
      if (k >= 0 && mask & (1 << k)) return (v as CxVal).im;
      return v.k === 'cx' ? v.re : v.k === 'arr' ? v.node : b.const((v as { value: number }).value);
    });
    const t = b.einsum(spec, ops);
    const bits = [...cxIdx.keys()].filter((k) => mask & (1 << k)).length;
    // i^bits: 1, i, −1, −i
    switch (bits % 4) {
      case 0: re = add(b, re, t); break;
      case 1: im = add(b, im, t); break;
      case 2: re = sub(b, re, t); break;
      case 3: im = sub(b, im, t); break;
    }
  }
  return mk(b, re!, im);
};

/** sum(xs) of a collection with complex elements. */
function sumOf(el: Elab, e: Call, env: Scope, vals: Val[], bi: Builtin | undefined): Val {
  const v0 = vals[0];
  if (vals.length === 1 && v0 && (v0.k === 'list' || v0.k === 'tuple') && v0.elems.some(isCx)) {
    let acc: Parts | null = null;
    for (const x of v0.elems) {
      const p = parts(el, x, e.args[0]!.value.span, 'an element of the collection');
      if (!p) return poison;
      if (acc && shapeOf(acc.re).length && shapeOf(p.re).length && !shapeEquals(shapeOf(acc.re), shapeOf(p.re))) {
        el.diag.error('MAT0245', 'sum of a collection whose elements differ in shape', e.args[0]!.value.span);
        return poison;
      }
      acc = acc ? { re: el.b.add(acc.re, p.re), im: add(el.b, acc.im, p.im), struct: 'general', row: acc.row } : p;
    }
    return mk(el.b, acc!.re, acc!.im, 'general', acc!.row);
  }
  return linear([0])(el, e, env, vals, bi);
}

/** eigh of a complex matrix: the Hermitian part's eigendecomposition, values real ascending,
 *  vectors unitary, each oriented so that its entry of largest magnitude is real and positive. */
const eighC: Handler = (el, e, env, vals, bi) => {
  const positional = e.args.map((a, i) => (a.name ? -1 : i)).filter((i) => i >= 0);
  if (positional.length !== 1) return withPre(el, e, vals, () => bi!.elaborate(el, e, env));
  const maxSweeps = sweepOption(el, e, true);
  const p = cxArg(el, e, vals, positional[0]!, [2]);
  if (!p || maxSweeps === null || !square(el, e, reVal(p), positional[0]!)) return poison;
  const { line, col } = lineCol(e.span.file, e.span.start);
  const label = `${el.statusPrefix}${e.callee.name}@${line}:${col}`;
  const { lam, Vr, Vi, node } = eighComplexOf(el.b, p.re, p.im ?? el.b.zeros(shapeOf(p.re)), label, maxSweeps);
  el.statuses.push({ name: label, kind: 'solver', iterations: el.b.proj(node, 4), converged: el.b.proj(node, 5), residual: el.b.proj(node, 6), span: e.span });
  return { k: 'tuple', elems: [arr(lam), mk(el.b, Vr, Vi, 'orth')] };
};

const complexSigs: Record<string, string> = {
  conj: 'conj(z): the complex conjugate (elementwise)',
  real: 'real(z): the real part (elementwise)',
  imag: 'imag(z): the imaginary part (elementwise)',
  angle: 'angle(z): the argument atan2(imag(z), real(z)) ∈ (−π, π] (elementwise)',
  complex: 'complex(x[, y]): x + i y from real parts (elementwise)',
  phase: 'phase(z): z / abs(z), and 1 where z = 0 (±1 for reals)',
  herm: "herm(A) = (A + A')/2, the Hermitian part (sym of a real matrix)",
  transpose: "transpose(A) = A.', the transpose without conjugation",
  hypot: 'hypot(a, b) = sqrt(a^2 + b^2) without overflow (elementwise, reals)',
  atan2: 'atan2(y, x): the angle of (x, y) in (−π, π] (elementwise, reals)',
};

/** Builtins that take complex arguments, and those only the complex numbers bring (conj, real,
 *  imag, angle, complex, phase, herm, transpose; hypot and atan2 are real). */
const handlers: Record<string, { run: Handler; always?: boolean }> = {
  // linear in their data arguments
  sum: { run: sumOf },
  colsum: { run: linear([0]) },
  rowsum: { run: linear([0]) },
  mean: { run: linear([0]) },
  trace: { run: linear([0]) },
  diag: { run: linear([0]) },
  tril: { run: linear([0]) },
  triu: { run: linear([0]) },
  col: { run: linear([0]) },
  row: { run: linear([0]) },
  setcol: { run: linear([0, 2]) },
  setrow: { run: linear([0, 2]) },
  set: { run: linear([0, -1]) },
  reshape: { run: linear([0]) },
  vec: { run: linear([0]) },
  unfold: { run: linear([0]) },
  stop_gradient: { run: linear([0]) },
  size: { run: (el, e, env, vals, bi) => withPre(el, e, vals.map(rePartVal), () => bi!.elaborate(el, e, env)) },
  modeprod: {
    run: (el, e, env, vals, bi) => {
      // bilinear in (T, M): (Tr + iTi) ×ₖ (Mr + iMi)
      if (!arity(el, e, vals, 3)) return poison;
      const T = vals[0]!;
      const M = vals[1]!;
      const go = (t: Val, m: Val): Val => withPre(el, e, [t, m, ...vals.slice(2)], () => bi!.elaborate(el, e, env));
      const rr = go(rePartVal(T), rePartVal(M));
      if (rr.k !== 'arr') return poison;
      const b = el.b;
      const ii = isCx(T) && isCx(M) ? go(imPartVal(el, T), imPartVal(el, M)) : null;
      const ri = isCx(M) ? go(rePartVal(T), imPartVal(el, M)) : null;
      const ir = isCx(T) ? go(imPartVal(el, T), rePartVal(M)) : null;
      const n = (v: Val | null) => (v && v.k === 'arr' ? v.node : null);
      return mk(b, sub(b, rr.node, n(ii))!, add(b, n(ri), n(ir)));
    },
  },
  einsum: { run: einsumC },

  // elementwise functions
  exp: { run: unary(cexp) },
  log: { run: unary(clog) },
  sqrt: { run: unary(csqrt) },
  sin: {
    run: unary((b, p) => {
      if (!p.im) return { re: b.unary('sin', p.re), im: null };
      const { ch, sh } = coshSinh(b, p.im);
      return { re: b.mul(b.unary('sin', p.re), ch), im: b.mul(b.unary('cos', p.re), sh) };
    }),
  },
  cos: {
    run: unary((b, p) => {
      if (!p.im) return { re: b.unary('cos', p.re), im: null };
      const { ch, sh } = coshSinh(b, p.im);
      return { re: b.mul(b.unary('cos', p.re), ch), im: b.neg(b.mul(b.unary('sin', p.re), sh)) };
    }),
  },
  // tanh(x + iy) = (sinh 2x + i sin 2y) / (cosh 2x + cos 2y)
  tanh: {
    run: unary((b, p) => {
      if (!p.im) return { re: b.unary('tanh', p.re), im: null };
      const { ch, sh } = coshSinh(b, b.scale(2, p.re));
      const d = b.add(ch, b.unary('cos', b.scale(2, p.im)));
      return { re: b.div(sh, d), im: b.div(b.unary('sin', b.scale(2, p.im)), d) };
    }),
  },
  abs: { run: (el, e, env, vals, bi) => (isCx(vals[0] ?? poison) ? realUnary((b, p) => b.binary('hypot', p.re, z0(b, p.im, p.re)))(el, e, env, vals, bi) : withPre(el, e, vals, () => bi!.elaborate(el, e, env))) },
  // sign(z) = z/|z| (0 at 0), as numpy's
  sign: { run: unary((b, p) => cunit(b, p, 0)) },
  // a complex number stored in a low-precision format: both parts rounded (core/lowp.ts)
  f16: { run: unary((b, p) => ({ re: b.unary('half', p.re), im: p.im && b.unary('half', p.im) })) },
  bf16: { run: unary((b, p) => ({ re: b.unary('bfloat', p.re), im: p.im && b.unary('bfloat', p.im) })) },
  phase: {
    always: true,
    run: (el, e, _env, vals) => {
      if (!arity(el, e, vals, 1)) return poison;
      const p = cxArg(el, e, vals, 0);
      if (!p) return poison;
      const b = el.b;
      // real: 2 (x ≥ 0) − 1, the sign with +1 at 0 (the form stdlib qr.mat's reflector always had)
      if (!p.im) return arr(b.sub(b.mul(b.const(2), b.binary('ge', p.re, b.const(0))), b.const(1)), 'general', p.row);
      const r = cunit(b, p, 1);
      return mk(b, r.re, r.im, 'general', p.row);
    },
  },
  conj: {
    always: true,
    run: (el, e, _env, vals) => {
      if (!arity(el, e, vals, 1)) return poison;
      const p = cxArg(el, e, vals, 0);
      if (!p) return poison;
      return mk(el.b, p.re, neg(el.b, p.im), p.struct, p.row);
    },
  },
  real: { always: true, run: realUnary((_b, p) => p.re) },
  imag: { always: true, run: realUnary((b, p) => z0(b, p.im, p.re)) },
  angle: { always: true, run: realUnary((b, p) => b.binary('atan2', z0(b, p.im, p.re), p.re)) },
  complex: {
    always: true,
    run: (el, e, _env, vals) => {
      if (!arity(el, e, vals, 1, 2)) return poison;
      const x = el.toArr(vals[0]!, e.args[0]!.value.span, `argument 1 of ${e.callee.name}`);
      const y = vals[1] ? el.toArr(vals[1], e.args[1]!.value.span, `argument 2 of ${e.callee.name}`) : null;
      if (x.k !== 'arr' || (y && y.k !== 'arr')) return poison;
      if (y && y.k === 'arr') {
        const sx = shapeOf(x.node);
        const sy = shapeOf(y.node);
        if (sx.length && sy.length && (!shapeEquals(sx, sy) || x.row !== y.row)) {
          el.diag.error('MAT0204', 'the real and imaginary parts of complex(x, y) differ in shape', e.span, { label: `${shapeLabel(x)} and ${shapeLabel(y)}` });
          return poison;
        }
      }
      return mk(el.b, x.node, y && y.k === 'arr' ? y.node : null, 'general', x.row || (y?.k === 'arr' && y.row));
    },
  },
  herm: { always: true, run: hermPart(1) },
  sym: { run: hermPart(1) },
  skew: { run: hermPart(-1) },
  transpose: {
    always: true,
    run: (el, e, _env, vals) => {
      if (!arity(el, e, vals, 1)) return poison;
      const v = vals[0]!;
      if (isCx(v)) return complexTranspose(el, v, e.span, false);
      return el.transposeVal(v, e.span);
    },
  },
  hypot: {
    always: true,
    run: (el, e, _env, vals) => realBinary(el, e, vals, 'hypot'),
  },
  atan2: {
    always: true,
    run: (el, e, _env, vals) => realBinary(el, e, vals, 'atan2'),
  },

  // reductions and products
  sumsq: {
    run: realUnary((b, p) => b.add(b.sumsq(p.re), p.im ? b.sumsq(p.im) : b.const(0))),
  },
  norm: {
    run: realUnary((b, p) => scaledNorm(b, p.im ? [p.re, p.im] : [p.re])),
  },
  normalize: {
    run: (el, e, _env, vals) => {
      if (!arity(el, e, vals, 1)) return poison;
      const p = cxArg(el, e, vals, 0, [1, 2]);
      if (!p) return poison;
      const b = el.b;
      const n = scaledNorm(b, p.im ? [p.re, p.im] : [p.re]);
      return mk(b, b.div(p.re, n), p.im ? b.div(p.im, n) : null, shapeOf(p.re).length === 1 ? 'sphere' : 'general', p.row);
    },
  },
  // dot(x, y) = x' * y = xᴴ y: conjugates its first argument (numpy.vdot, torch.vdot, Julia's dot)
  dot: {
    run: (el, e, _env, vals) => {
      if (!arity(el, e, vals, 2)) return poison;
      const x = cxArg(el, e, vals, 0, [1]);
      const y = cxArg(el, e, vals, 1, [1]);
      if (!x || !y) return poison;
      if (!shapeOf(x.re)[0]!.equals(shapeOf(y.re)[0]!)) {
        el.diag.error('MAT0203', 'shape mismatch in dot', e.span, { label: `${shapeLabel(vals[0]!)} and ${shapeLabel(vals[1]!)}` });
        return poison;
      }
      const b = el.b;
      const d = (u: Node | null, v: Node | null) => (u && v ? b.dot(u, v) : null);
      return mk(b, add(b, d(x.re, y.re), d(x.im, y.im))!, sub(b, d(x.re, y.im), d(x.im, y.re)));
    },
  },
  // outer(x, y) = x * y' = x yᴴ
  outer: {
    run: (el, e, _env, vals) => {
      if (!arity(el, e, vals, 2)) return poison;
      const x = cxArg(el, e, vals, 0, [1]);
      const y = cxArg(el, e, vals, 1, [1]);
      if (!x || !y) return poison;
      const b = el.b;
      const o = (u: Node | null, v: Node | null) => (u && v ? b.outer(u, v) : null);
      return mk(b, add(b, o(x.re, y.re), o(x.im, y.im))!, sub(b, o(x.im, y.re), o(x.re, y.im)));
    },
  },

  // solves and decompositions
  solve: { run: solveVia('solve') },
  inv: { run: solveVia('inv') },
  lstsq: { run: solveVia('lstsq') },
  tril_solve: { run: solveVia('tri') },
  triu_solve: { run: solveVia('tri') },
  eigh: { run: eighC },
  expm: { run: viaEmbedding('expm') },
  sqrtm: { run: viaEmbedding('sqrtm') },
  invsqrtm: { run: viaEmbedding('invsqrtm') },
  polar: { run: viaEmbedding('polar') },
};

function realBinary(el: Elab, e: Call, vals: Val[], op: 'hypot' | 'atan2'): Val {
  if (!arity(el, e, vals, 2)) return poison;
  const a = el.toArr(vals[0]!, e.args[0]!.value.span, `argument 1 of ${e.callee.name}`);
  const c = el.toArr(vals[1]!, e.args[1]!.value.span, `argument 2 of ${e.callee.name}`);
  if (a.k !== 'arr' || c.k !== 'arr') return poison;
  const sa = shapeOf(a.node);
  const sc = shapeOf(c.node);
  if (sa.length && sc.length && !shapeEquals(sa, sc)) {
    el.diag.error('MAT0204', `shape mismatch in ${e.callee.name}`, e.span, { label: `${shapeLabel(a)} and ${shapeLabel(c)}` });
    return poison;
  }
  return arr(el.b.binary(op, a.node, c.node), 'general', sa.length ? a.row : c.row);
}

/** The names a call may use: the builtins plus the complex ones. */
export const complexBuiltinNames: readonly string[] = Object.keys(handlers).filter((k) => handlers[k]!.always);

export function complexBuiltinSig(name: string): string | undefined {
  return complexSigs[name];
}

/** A call of a builtin: its arguments are evaluated here once; a complex argument (or a builtin
 *  only the complex numbers bring) goes to the complex handler, anything else to the real
 *  builtin with the evaluated arguments (Elab.pre). */
export function callBuiltin(el: Elab, e: Call, env: Scope, name: string): Val | null {
  const bi = builtins[name];
  const h = handlers[name];
  if (!bi && !h?.always) return null;
  const vals = e.args.map((a) => el.expr(a.value, env));
  const cx = vals.findIndex(isCx);
  if (cx < 0 && !h?.always) return withPre(el, e, vals, () => bi!.elaborate(el, e, env));
  if (!h) {
    el.diag.error('MAT0290', `${name} is not defined for complex values`, e.args[cx]!.value.span, {
      label: `argument ${cx + 1} is ${describeVal(vals[cx]!)}`,
      notes: [{ message: `${name} takes real arguments (${bi!.sig})` }],
      suggestion: 'apply it to real(z), imag(z) or abs(z)',
    });
    return poison;
  }
  return h.run(el, e, env, vals, bi);
}

/** MAT0291: a complex value where the declared type is real. */
export function complexForReal(el: Elab, v: CxVal, span: Span, what: string, declSpan?: Span): Val {
  el.diag.error('MAT0291', `${what} is complex (${describeVal(v)}), but a real value was declared`, span, {
    notes: declSpan ? [{ message: 'declared here', span: declSpan }] : [],
    suggestion: 'declare it complex (complex, cvec, cmat, herm, unitary, …) or take real(…), imag(…) or abs(…)',
  });
  return poison;
}
