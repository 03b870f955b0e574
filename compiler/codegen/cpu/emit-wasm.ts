// The WebAssembly form of a loop program (loop-ir.ts): one module per program with
//
//   imports  env.mem (the memory, provided by the host), env.exp/log/sin/cos/tanh/pow/sigm (the
//            transcendental functions, JavaScript's Math), env.oob (raises MATR107)
//   run(hdr, base, count)   instances base … base+count−1; at byte `hdr` the host writes an i32
//            table: the dimensions, then per parameter its base (an element position) and
//            per-instance stride, per result, status entry and workspace buffer its base
//
// and the routines of routines.ts assembled into the same module. f64 arithmetic throughout;
// buffers of f64 (8-byte elements) or, in the f32 precision's module, f32 (see emitWasm). Innermost loops whose body is elementwise over contiguous memory — stores and loads
// at (invariant + index), loads at invariant positions, reductions into an outer accumulator —
// are vectorized with f64x2 SIMD, two vectors (four elements) per iteration with a scalar tail;
// where two accesses to one buffer could overlap within a vector (bases one element apart) a
// run-time check takes the scalar loop. A reduction sums in another order than the scalar loop:
// results agree to rounding, which is what the tests ask of every CPU path.

import { InternalError } from '../../../core/errors.js';
import { tickBudget } from '../../ir/budget.js';
import type { Arg, Buf, Expr, FUnary, LoopProgram, Stmt, Ty } from './loop-ir.js';
import { exprKey, exprTy, readsVars, sameBuf } from './loop-ir.js';
import { ROUTINES, type RoutineDef } from './routines.js';
import { Code, F64, I32, I64, V128, assemble, op, simd, type DefinedFunc, type ImportFunc, type ValType } from './wasm-encode.js';
import { BFLOAT16, BINARY16, type LowpFormat } from '../../../core/lowp.js';

const IMPORTS: { name: string; params: ValType[]; result: ValType | null }[] = [
  { name: 'exp', params: [F64], result: F64 },
  { name: 'log', params: [F64], result: F64 },
  { name: 'sin', params: [F64], result: F64 },
  { name: 'cos', params: [F64], result: F64 },
  { name: 'tanh', params: [F64], result: F64 },
  { name: 'pow', params: [F64, F64], result: F64 },
  { name: 'atan2', params: [F64, F64], result: F64 },
  { name: 'hypot', params: [F64, F64], result: F64 },
  { name: 'sigm', params: [F64], result: F64 },
  { name: 'oob', params: [I32, I32, I32], result: null },
  // rand(normal, key, stream, e, eps) (core/philox.ts, runtime/cpu/helpers.ts rand)
  { name: 'rand', params: [I32, I32, I32, I32, F64], result: F64 },
];
const importIndex = (name: string): number => IMPORTS.findIndex((x) => x.name === name);

/** Function indices: imports, then the routines, then idiv/imod, then run. */
const ROUTINE_BASE = IMPORTS.length;
const IDIV = ROUTINE_BASE + ROUTINES.length;
const IMOD = IDIV + 1;

const vt = (t: Ty): ValType => (t === 'f' ? F64 : I32);

/** The module's bytes and the messages of its range checks (by the index env.oob receives). */
export interface WasmProgram {
  bytes: Uint8Array;
  checks: string[];
}

/** The module of a program whose buffers hold f64 (elem 8) or f32 (elem 4: the f32 precision's
 *  storage, as the JavaScript form's Float32Arrays). Arithmetic is f64 either way: an f32 element
 *  is promoted when loaded and rounded when stored (f64x2 lanes from two f32s, and back), so the
 *  f32 module computes what the JavaScript form computes on Float32Arrays, stores and all. */
export function emitWasm(p: LoopProgram, elem: Elem = 8): WasmProgram {
  const checks: string[] = [];
  const funcs: DefinedFunc[] = ROUTINES.map((r) => routineFunc(r, checks, elem));
  funcs.push(intFunc('div'), intFunc('mod'));
  funcs.push(runFunc(p, checks, elem));
  const imports: ImportFunc[] = IMPORTS.map((x) => ({ module: 'env', name: x.name, type: { params: x.params, results: x.result === null ? [] : [x.result] } }));
  return { bytes: assemble(imports, funcs), checks };
}

/** Floor division and the floored remainder, as the reference (core/intops.ts, i32): div(a, 0) = 0,
 *  mod(a, 0) = a, div(−2³¹, −1) = −2³¹. i32.div_s traps on both exceptions, so the divisor is
 *  replaced by 1 there first (which gives −2³¹ and remainder 0 for the overflow by itself). */
function intFunc(kind: 'div' | 'mod'): DefinedFunc {
  const c = new Code();
  const A = 0;
  const B = 1;
  const BB = 2;
  const R = 3;
  c.i32(1).local(op.localGet, B);
  c.local(op.localGet, B).i32(0).emit(op.i32Eq);
  c.local(op.localGet, A).i32(-2147483648).emit(op.i32Eq).local(op.localGet, B).i32(-1).emit(op.i32Eq).emit(op.i32And);
  c.emit(op.i32Or, op.select).local(op.localSet, BB);
  if (kind === 'div') {
    // q = a / bb truncated; q − 1 when the remainder is nonzero and the signs differ
    c.local(op.localGet, A).local(op.localGet, BB).emit(op.i32DivS);
    c.local(op.localGet, A).local(op.localGet, BB).emit(op.i32RemS).i32(0).emit(op.i32Ne);
    c.local(op.localGet, A).i32(0).emit(op.i32LtS).local(op.localGet, BB).i32(0).emit(op.i32LtS).emit(op.i32Ne);
    c.emit(op.i32And, op.i32Sub);
    c.i32(0).local(op.localGet, B).i32(0).emit(op.i32Ne).emit(op.select);
  } else {
    // r = a % bb; r + bb when r is nonzero and its sign differs from bb's
    c.local(op.localGet, A).local(op.localGet, BB).emit(op.i32RemS).local(op.localSet, R);
    c.local(op.localGet, R).local(op.localGet, BB).emit(op.i32Add).local(op.localGet, R);
    c.local(op.localGet, R).i32(0).emit(op.i32Ne).local(op.localGet, R).i32(0).emit(op.i32LtS).local(op.localGet, BB).i32(0).emit(op.i32LtS).emit(op.i32Ne).emit(op.i32And);
    c.emit(op.select);
    c.local(op.localGet, A).local(op.localGet, B).i32(0).emit(op.i32Ne).emit(op.select);
  }
  return { type: { params: [I32, I32], results: [I32] }, locals: kind === 'mod' ? [I32, I32] : [I32], code: c };
}

/** Routines compiled once per process (the same in every module): those whose code adds no
 *  check message, i.e. does not depend on the module's list of checks. */
const routineCache = new Map<string, DefinedFunc>();

/** Bytes of a buffer element: f64 or f32 storage. */
export type Elem = 8 | 4;

/** A program the f32 module cannot hold (its program then has no f32 module: the JavaScript form
 *  runs the f32 precision). */
export class MixedElements extends Error {}

function routineFunc(r: RoutineDef, checks: string[], elem: Elem): DefinedFunc {
  const key = `${elem}:${r.name}`;
  const cached = routineCache.get(key);
  if (cached) return cached;
  const own: string[] = [];
  const f = compileRoutine(r, own, elem);
  if (own.length === 0) {
    routineCache.set(key, f);
    return f;
  }
  return compileRoutine(r, checks, elem);
}

function compileRoutine(r: RoutineDef, checks: string[], elem: Elem): DefinedFunc {
  const fc = new FnCompiler(r.params.map((x) => x.name), r.params.map((x) => vt(x.ty)), checks, 'routine', elem);
  fc.stmts(r.body);
  if (r.result) fc.code.local(op.localGet, fc.local(r.result.name, vt(r.result.ty)));
  return { type: { params: r.params.map((x) => vt(x.ty)), results: r.result ? [vt(r.result.ty)] : [] }, locals: fc.locals, code: fc.code };
}

function runFunc(p: LoopProgram, checks: string[], elem: Elem): DefinedFunc {
  const fc = new FnCompiler(['hdr', 'base', 'count'], [I32, I32, I32], checks, 'run', elem, p.ints);
  const c = fc.code;
  // the header table
  let slot = 0;
  const read = (name: string): void => {
    c.local(op.localGet, 0).mem(op.i32Load, 2, 4 * slot++).local(op.localSet, fc.local(name, I32));
  };
  p.dims.forEach((_, i) => read(`d${i}`));
  // the machine epsilon of the storage precision (2⁻⁵², or 2⁻²³ for f32 storage: the JavaScript
  // form's D[last])
  c.f64(elem === 8 ? 2 ** -52 : 2 ** -23).local(op.localSet, fc.local('eps', F64));
  for (let i = 0; i < p.params; i++) {
    read(`in${i}`);
    read(`is${i}`);
  }
  p.results.forEach((_, i) => read(`out${i}`));
  for (let i = 0; i < p.status; i++) read(`st${i}`);
  p.buffers.forEach((_, i) => read(`w${i}`));
  // what every instance would compute alike, once (splitInstanceInvariant)
  fc.stmts(p.prologue);
  // for (inst = base; inst < base + count; inst++) { io_i = inst · is_i; body }
  const inst = fc.local('inst', I32);
  const end = fc.local('inst_end', I32);
  c.local(op.localGet, 1).local(op.localSet, inst);
  c.local(op.localGet, 1).local(op.localGet, 2).emit(op.i32Add).local(op.localSet, end);
  c.emit(op.block, 0x40, op.loop, 0x40);
  c.local(op.localGet, inst).local(op.localGet, end).emit(op.i32GeS).br(op.brIf, 1);
  for (let i = 0; i < p.params; i++) c.local(op.localGet, inst).local(op.localGet, fc.local(`is${i}`, I32)).emit(op.i32Mul).local(op.localSet, fc.local(`io${i}`, I32));
  fc.labels.push('run');
  fc.labels.push('run');
  fc.stmts(p.body);
  fc.labels.pop();
  fc.labels.pop();
  c.local(op.localGet, inst).i32(1).emit(op.i32Add).local(op.localSet, inst);
  c.br(op.br, 0).emit(op.end, op.end);
  return { type: { params: [I32, I32, I32], results: [] }, locals: fc.locals, code: c, export: 'run' };
}

/** How an innermost loop is vectorized (see `vecPlan`). */
interface VecPlan {
  /** variables declared in the body: one vector local per unrolled copy */
  temps: Set<string>;
  /** accumulators: acc = op(acc, x) with acc declared outside */
  reductions: { name: string; op: 'add' | 'max' | 'min' }[];
  /** pairs of base expressions on one buffer, at least one of a store, that must not be one element apart */
  hazards: [Expr, Expr][];
}

class FnCompiler {
  readonly code = new Code();
  readonly locals: ValType[] = [];
  private names = new Map<string, number>();
  private nparams: number;
  /** the enclosing blocks: 'exit' of a loop (a break target), 'loop', 'if', or blocks of run */
  readonly labels: string[] = [];
  private tmp = 0;

  constructor(
    params: string[],
    types: ValType[],
    private checks: string[],
    private kind: 'routine' | 'run',
    /** bytes of a buffer element (f64 or f32 storage) */
    private elem: Elem = 8,
    /** the int parameters and results, whose buffers hold f64 in every precision */
    private ints: { params: number[]; results: number[] } = { params: [], results: [] },
  ) {
    params.forEach((n, i) => this.names.set(n, i));
    this.nparams = params.length;
    void types;
  }

  /** Bytes of an element of buf: the module's, or 8 for the buffer of an int parameter or
   *  result (f64 in every precision). */
  private elemOf(buf: Buf): Elem {
    if (this.elem === 8) return 8;
    if (buf.k === 'in' && this.ints.params.includes(buf.i)) return 8;
    if (buf.k === 'out' && this.ints.results.includes(buf.i)) return 8;
    return this.elem;
  }

  /** log2 of buf's element size: element index → byte address */
  private shift(buf: Buf): number {
    return this.elemOf(buf) === 8 ? 3 : 2;
  }

  local(name: string, t: ValType): number {
    let i = this.names.get(name);
    if (i === undefined) {
      i = this.nparams + this.locals.length;
      this.locals.push(t);
      this.names.set(name, i);
    } else if (i >= this.nparams && this.locals[i - this.nparams] !== t) {
      // one name, one local: a second declaration of another type would reuse it wrongly
      throw new InternalError(`WebAssembly: the local ${name} is declared with two types`);
    }
    return i;
  }

  private scratch(t: ValType): number {
    return this.local(`#t${this.tmp++}`, t);
  }

  private varIndex(name: string): number {
    const i = this.names.get(name);
    if (i === undefined) throw new InternalError(`WebAssembly: variable ${name} read before it is declared`);
    return i;
  }

  // ---- addresses ----------------------------------------------------------------------------------

  /** Pushes the element position of buf[at] (an i32); a constant part is returned apart. */
  private position(buf: Buf, at: Expr): number {
    const terms: Expr[] = [];
    let konst = 0;
    const flatten = (e: Expr): void => {
      if (e.k === 'ibin' && e.op === 'add') {
        flatten(e.a);
        flatten(e.b);
      } else if (e.k === 'i') konst += e.v;
      else terms.push(e);
    };
    flatten(at);
    const base = this.baseName(buf);
    let pushed = false;
    if (base !== null) {
      this.code.local(op.localGet, this.varIndex(base));
      pushed = true;
    }
    for (const t of terms) {
      this.expr(t);
      if (pushed) this.code.emit(op.i32Add);
      pushed = true;
    }
    if (!pushed) {
      this.code.i32(konst < 0 ? konst : 0);
      return konst < 0 ? 0 : konst;
    }
    if (konst < 0) {
      this.code.i32(konst).emit(op.i32Add);
      return 0;
    }
    return konst;
  }

  private baseName(buf: Buf): string | null {
    switch (buf.k) {
      case 'mem':
        return null;
      case 'w':
        return `w${buf.id}`;
      case 'in':
        return `in${buf.i}`;
      case 'out':
        return `out${buf.i}`;
      case 'st':
        return `st${buf.i}`;
    }
  }

  /** Pushes the byte address of buf[at]; returns the constant byte offset for the immediate. */
  private address(buf: Buf, at: Expr): number {
    const k = this.position(buf, at);
    this.code.i32(this.shift(buf)).emit(op.i32Shl);
    return k * this.elemOf(buf);
  }

  // ---- scalar expressions -------------------------------------------------------------------------

  expr(e: Expr): void {
    const c = this.code;
    switch (e.k) {
      case 'f':
        c.f64(e.v);
        return;
      case 'i':
        c.i32(e.v);
        return;
      case 'var':
        c.local(op.localGet, this.varIndex(e.name));
        return;
      case 'dim':
        c.local(op.localGet, this.varIndex(`d${e.i}`));
        return;
      case 'load': {
        const off = this.address(e.buf, e.at);
        if (this.elemOf(e.buf) === 4) c.mem(op.f32Load, 2, off).emit(op.f64PromoteF32);
        else c.mem(op.f64Load, 3, off);
        return;
      }
      case 'fun':
        return this.unary(e.op, e.a);
      case 'fbin': {
        if (e.op === 'pow' || e.op === 'atan2' || e.op === 'hypot') {
          this.expr(e.a);
          this.expr(e.b);
          c.call(importIndex(e.op));
          return;
        }
        this.expr(e.a);
        this.expr(e.b);
        c.emit({ add: op.f64Add, sub: op.f64Sub, mul: op.f64Mul, div: op.f64Div, max: op.f64Max, min: op.f64Min }[e.op]);
        return;
      }
      case 'ibin': {
        if (e.op === 'min' || e.op === 'max') {
          const a = this.scratch(I32);
          const b = this.scratch(I32);
          this.expr(e.a);
          c.local(op.localSet, a);
          this.expr(e.b);
          c.local(op.localSet, b);
          c.local(op.localGet, a).local(op.localGet, b).local(op.localGet, a).local(op.localGet, b).emit(e.op === 'min' ? op.i32LtS : op.i32GtS, op.select);
          return;
        }
        this.expr(e.a);
        this.expr(e.b);
        if (e.op === 'div') c.call(IDIV);
        else if (e.op === 'mod') c.call(IMOD);
        else c.emit({ add: op.i32Add, sub: op.i32Sub, mul: op.i32Mul }[e.op]);
        return;
      }
      case 'cmp':
        this.expr(e.a);
        this.expr(e.b);
        if (e.ty === 'f') c.emit({ lt: op.f64Lt, le: op.f64Le, gt: op.f64Gt, ge: op.f64Ge, eq: op.f64Eq, ne: op.f64Ne }[e.op]);
        else c.emit({ lt: op.i32LtS, le: op.i32LeS, gt: op.i32GtS, ge: op.i32GeS, eq: op.i32Eq, ne: op.i32Ne }[e.op]);
        return;
      case 'and':
      case 'or':
        this.expr(e.a);
        this.expr(e.b);
        c.emit(e.k === 'and' ? op.i32And : op.i32Or);
        return;
      case 'not':
        this.expr(e.a);
        c.emit(op.i32Eqz);
        return;
      case 'sel':
        this.expr(e.a);
        this.expr(e.b);
        this.expr(e.c);
        c.emit(op.select);
        return;
      case 'itof':
        this.expr(e.a);
        c.emit(op.f64ConvertI32S);
        return;
      case 'ftoi':
        // floor, then the saturating conversion (NaN → 0)
        this.expr(e.a);
        c.emit(0x9c /* f64.floor */, 0xfc, 0x02 /* i32.trunc_sat_f64_s */);
        return;
      case 'call':
        this.callRoutine(e.fn, e.args);
        return;
      case 'rand':
        // the storage precision's form (its eps), as the JavaScript form
        c.i32(e.normal ? 1 : 0);
        this.expr(e.key);
        this.expr(e.stream);
        this.expr(e.e);
        c.f64(this.elem === 8 ? 2 ** -52 : 2 ** -23);
        c.call(importIndex('rand'));
        return;
    }
  }

  private unary(o: FUnary, a: Expr): void {
    const c = this.code;
    if (o === 'neg' || o === 'abs' || o === 'sqrt') {
      this.expr(a);
      c.emit(o === 'neg' ? op.f64Neg : o === 'abs' ? op.f64Abs : op.f64Sqrt);
      return;
    }
    if (o === 'rf16' || o === 'rbf16') return this.roundLowp(o === 'rf16' ? BINARY16 : BFLOAT16, a);
    if (o === 'sgn') {
      // x > 0 ? 1 : x < 0 ? −1 : 0 (NaN → 0, as the reference)
      const t = this.scratch(F64);
      this.expr(a);
      c.local(op.localSet, t);
      c.f64(1).f64(-1).f64(0).local(op.localGet, t).f64(0).emit(op.f64Lt, op.select);
      c.local(op.localGet, t).f64(0).emit(op.f64Gt, op.select);
      return;
    }
    this.expr(a);
    c.call(importIndex(o));
  }

  /** x rounded to a format of p significand bits (core/lowp.ts's roundTo), on the f64's bits: with
   *  a = |bits|, E its exponent field and k the bits below the format's spacing (53 − p in the
   *  normal range, one more per binade below 2^emin), a + (2^(k−1) − 1) + (the kept multiple's
   *  parity: bit k of a, the implicit one at k = 52), cut to a multiple of 2^k, is round to
   *  nearest, ties to even (a carry moves into the exponent as it should). Apart: NaN and ±∞ (returned), a ≥ the midpoint above the largest finite value (±∞),
   *  a ≤ half the smallest subnormal (±0, the tie going to the even 0), a below the smallest
   *  subnormal (it). Selects, no branches. */
  private roundLowp(fmt: LowpFormat, x: Expr): void {
    const c = this.code;
    const bitsOf = (v: number): bigint => {
      const dv = new DataView(new ArrayBuffer(8));
      dv.setFloat64(0, v);
      return dv.getBigUint64(0);
    };
    const SIGN = 1n << 63n;
    const ABS = SIGN - 1n;
    const EXPALL = 0x7ffn << 52n;
    const kN = BigInt(53 - fmt.p);
    const eMinField = BigInt(1023 + fmt.emin);
    const minSub = bitsOf(2 ** (fmt.emin - fmt.p + 1));
    const tMin = bitsOf(2 ** (fmt.emin - fmt.p));
    const tOver = bitsOf((2 - 2 ** -fmt.p) * 2 ** fmt.emax);
    const [lb, ls, la, lk, lr] = [this.scratch(I64), this.scratch(I64), this.scratch(I64), this.scratch(I64), this.scratch(I64)];
    this.expr(x);
    c.emit(op.i64ReinterpretF64).local(op.localSet, lb);
    c.local(op.localGet, lb).i64(SIGN).emit(op.i64And).local(op.localSet, ls);
    c.local(op.localGet, lb).i64(ABS).emit(op.i64And).local(op.localSet, la);
    // k = kN, or kN + (1023 + emin − E) below the normal range
    c.i64(kN);
    c.i64(kN + eMinField).local(op.localGet, la).i64(52n).emit(op.i64ShrU, op.i64Sub);
    c.local(op.localGet, la).i64(52n).emit(op.i64ShrU).i64(eMinField).emit(op.i64GeU);
    c.emit(op.select).local(op.localSet, lk);
    // r = (a + 2^(k−1) − 1 + ((a >> k) & 1)) & ~(2^k − 1)
    c.local(op.localGet, la);
    c.i64(1n).local(op.localGet, lk).i64(1n).emit(op.i64Sub, op.i64Shl).i64(1n).emit(op.i64Sub, op.i64Add);
    // the parity of the kept multiple: bit k of a, or the implicit leading one when k = 52 (the
    // lowest binade of subnormals, where bit 52 is the exponent field's)
    c.i64(1n);
    c.local(op.localGet, la).local(op.localGet, lk).emit(op.i64ShrU).i64(1n).emit(op.i64And);
    c.local(op.localGet, lk).i64(52n).emit(op.i64GeU, op.select, op.i64Add);
    c.i64(1n).local(op.localGet, lk).emit(op.i64Shl).i64(1n).emit(op.i64Sub).i64(-1n).emit(op.i64Xor, op.i64And);
    c.local(op.localSet, lr);
    // NaN/∞ ? bits : a ≥ tOver ? ±∞ : a ≤ tMin ? ±0 : a < minSub ? ±minSub : s | r
    c.local(op.localGet, lb);
    c.local(op.localGet, ls).i64(EXPALL).emit(op.i64Or);
    c.local(op.localGet, ls);
    c.local(op.localGet, ls).i64(minSub).emit(op.i64Or);
    c.local(op.localGet, ls).local(op.localGet, lr).emit(op.i64Or);
    c.local(op.localGet, la).i64(minSub).emit(op.i64LtU, op.select);
    c.local(op.localGet, la).i64(tMin).emit(op.i64LeU, op.select);
    c.local(op.localGet, la).i64(tOver).emit(op.i64GeU, op.select);
    c.local(op.localGet, la).i64(EXPALL).emit(op.i64GeU, op.select);
    c.emit(op.f64ReinterpretI64);
  }

  private callRoutine(fn: string, args: readonly Arg[]): void {
    for (const a of args) {
      if (a.k === 'val') this.expr(a.e);
      else {
        const k = this.position(a.buf, a.at);
        if (k) this.code.i32(k).emit(op.i32Add);
      }
    }
    const i = ROUTINES.findIndex((r) => r.name === fn);
    if (i < 0) throw new InternalError(`WebAssembly: no routine ${fn}`);
    this.code.call(ROUTINE_BASE + i);
  }

  // ---- statements ---------------------------------------------------------------------------------

  stmts(body: readonly Stmt[]): void {
    for (const s of body) this.stmt(s);
  }

  private stmt(s: Stmt): void {
    tickBudget();
    const c = this.code;
    switch (s.k) {
      case 'decl':
        this.expr(s.init);
        c.local(op.localSet, this.local(s.name, vt(s.ty)));
        return;
      case 'assign':
        this.expr(s.value);
        c.local(op.localSet, this.varIndex(s.name));
        return;
      case 'store': {
        const off = this.address(s.buf, s.at);
        this.expr(s.value);
        if (this.elemOf(s.buf) === 4) c.emit(op.f32DemoteF64).mem(op.f32Store, 2, off);
        else c.mem(op.f64Store, 3, off);
        return;
      }
      case 'for':
        return this.forLoop(s);
      case 'if':
        this.expr(s.c);
        c.emit(op.if, 0x40);
        this.labels.push('if');
        this.stmts(s.then);
        if (s.else.length) {
          c.emit(op.else);
          this.stmts(s.else);
        }
        this.labels.pop();
        c.emit(op.end);
        return;
      case 'break': {
        const d = this.labels.lastIndexOf('exit');
        if (d < 0) throw new InternalError('WebAssembly: break outside a loop');
        c.br(op.br, this.labels.length - 1 - d);
        return;
      }
      case 'call': {
        this.callRoutine(s.fn, s.args);
        const r = ROUTINES.find((x) => x.name === s.fn)!;
        if (r.result) c.emit(op.drop);
        return;
      }
      case 'swap': {
        const t = this.scratch(I32);
        const a = this.varIndex(`w${s.a}`);
        const b = this.varIndex(`w${s.b}`);
        c.local(op.localGet, a).local(op.localSet, t).local(op.localGet, b).local(op.localSet, a).local(op.localGet, t).local(op.localSet, b);
        return;
      }
      case 'copy': {
        // memory.copy(dst, src, bytes)
        if (this.elemOf(s.dst) !== this.elemOf(s.src)) throw new MixedElements('a copy between an int buffer (f64) and an f32 one');
        const d = this.address(s.dst, s.dstAt);
        if (d) c.i32(d).emit(op.i32Add);
        const r = this.address(s.src, s.srcAt);
        if (r) c.i32(r).emit(op.i32Add);
        this.expr(s.n);
        c.i32(this.shift(s.dst)).emit(op.i32Shl).memoryCopy();
        return;
      }
      case 'check': {
        // unless 0 ≤ i < n: env.oob(message, i, n), which throws
        const i = this.scratch(I32);
        const n = this.scratch(I32);
        this.expr(s.i);
        c.local(op.localSet, i);
        this.expr(s.n);
        c.local(op.localSet, n);
        c.local(op.localGet, i).i32(0).emit(op.i32LtS).local(op.localGet, i).local(op.localGet, n).emit(op.i32GeS, op.i32Or);
        c.emit(op.if, 0x40);
        let k = this.checks.indexOf(s.what);
        if (k < 0) k = this.checks.push(s.what) - 1;
        c.i32(k).local(op.localGet, i).local(op.localGet, n).call(importIndex('oob'));
        c.emit(op.end);
        return;
      }
      default:
        s satisfies never;
    }
  }

  private forLoop(s: Extract<Stmt, { k: 'for' }>): void {
    const c = this.code;
    const v = this.local(s.v, I32);
    const hi = this.scratch(I32);
    this.expr(s.lo);
    c.local(op.localSet, v);
    this.expr(s.hi);
    c.local(op.localSet, hi);
    const plan = vecPlan(s);
    if (plan) this.vectorLoop(s, plan, v, hi);
    this.scalarLoop(s.body, v, hi);
    if (plan) this.reductionEpilogue(plan);
  }

  private scalarLoop(body: readonly Stmt[], v: number, hi: number): void {
    const c = this.code;
    c.emit(op.block, 0x40, op.loop, 0x40);
    this.labels.push('exit', 'loop');
    c.local(op.localGet, v).local(op.localGet, hi).emit(op.i32GeS).br(op.brIf, 1);
    this.stmts(body);
    c.local(op.localGet, v).i32(1).emit(op.i32Add).local(op.localSet, v);
    c.br(op.br, 0);
    this.labels.pop();
    this.labels.pop();
    c.emit(op.end, op.end);
  }

  // ---- vector loops -------------------------------------------------------------------------------

  /** f64x2 locals holding the splats of a vector loop's invariant scalars (while it is emitted) */
  private splats: Map<string, number> | null = null;

  private vecLocal(name: string, copy: number): number {
    return this.local(`${name}#v${copy}`, V128);
  }

  private vectorLoop(s: Extract<Stmt, { k: 'for' }>, plan: VecPlan, v: number, hi: number): void {
    const c = this.code;
    for (const r of plan.reductions) {
      const id = r.op === 'add' ? 0 : r.op === 'max' ? -Infinity : Infinity;
      for (const k of [0, 1]) c.f64(id).simd(simd.f64x2Splat).local(op.localSet, this.vecLocal(r.name, k));
    }
    // hazards: two accesses one element apart → the scalar loop does it all
    let guarded = false;
    if (plan.hazards.length) {
      for (const [i, [a, b]] of plan.hazards.entries()) {
        const d = this.scratch(I32);
        this.expr(a);
        this.expr(b);
        c.emit(op.i32Sub).local(op.localSet, d);
        c.local(op.localGet, d).i32(1).emit(op.i32Eq).local(op.localGet, d).i32(-1).emit(op.i32Eq, op.i32Or);
        if (i > 0) c.emit(op.i32Or);
      }
      c.emit(op.i32Eqz, op.if, 0x40);
      this.labels.push('if');
      guarded = true;
    }
    // invariant scalars are splatted once, before the loop (a GEMM's row coefficients: 16 per
    // iteration otherwise)
    this.splats = new Map();
    for (const name of invariantScalars(s, plan)) {
      const l = this.local(`${name}#splat`, V128);
      c.local(op.localGet, this.varIndex(name)).simd(simd.f64x2Splat).local(op.localSet, l);
      this.splats.set(name, l);
    }
    c.emit(op.block, 0x40, op.loop, 0x40);
    this.labels.push('vexit', 'vloop');
    c.local(op.localGet, v).i32(4).emit(op.i32Add).local(op.localGet, hi).emit(op.i32GtS).br(op.brIf, 1);
    for (const copy of [0, 1]) this.vectorBody(s, plan, copy);
    this.splats = null;
    c.local(op.localGet, v).i32(4).emit(op.i32Add).local(op.localSet, v);
    c.br(op.br, 0);
    this.labels.pop();
    this.labels.pop();
    c.emit(op.end, op.end);
    if (guarded) {
      this.labels.pop();
      c.emit(op.end);
    }
  }

  private reductionEpilogue(plan: VecPlan): void {
    const c = this.code;
    for (const r of plan.reductions) {
      const opv = r.op === 'add' ? simd.f64x2Add : r.op === 'max' ? simd.f64x2Max : simd.f64x2Min;
      const ops = r.op === 'add' ? op.f64Add : r.op === 'max' ? op.f64Max : op.f64Min;
      const t = this.scratch(V128);
      c.local(op.localGet, this.vecLocal(r.name, 0)).local(op.localGet, this.vecLocal(r.name, 1)).simd(opv).local(op.localSet, t);
      const acc = this.varIndex(r.name);
      c.local(op.localGet, acc);
      c.local(op.localGet, t).lane(simd.f64x2ExtractLane, 0).local(op.localGet, t).lane(simd.f64x2ExtractLane, 1).emit(ops);
      c.emit(ops).local(op.localSet, acc);
    }
  }

  private vectorBody(s: Extract<Stmt, { k: 'for' }>, plan: VecPlan, copy: number): void {
    const c = this.code;
    const red = new Map(plan.reductions.map((r) => [r.name, r]));
    for (const st of s.body) {
      switch (st.k) {
        case 'decl':
          this.vexpr(st.init, s.v, plan, copy);
          c.local(op.localSet, this.vecLocal(st.name, copy));
          break;
        case 'assign': {
          const r = red.get(st.name)!;
          const x = st.value as Extract<Expr, { k: 'fbin' }>;
          const other = x.a.k === 'var' && x.a.name === st.name ? x.b : x.a;
          c.local(op.localGet, this.vecLocal(st.name, copy));
          this.vexpr(other, s.v, plan, copy);
          c.simd(r.op === 'add' ? simd.f64x2Add : r.op === 'max' ? simd.f64x2Max : simd.f64x2Min);
          c.local(op.localSet, this.vecLocal(st.name, copy));
          break;
        }
        case 'store': {
          const off = this.vAddress(st.buf, st.at, s.v, copy);
          this.vexpr(st.value, s.v, plan, copy);
          // f32 storage: both lanes rounded into the low 64 bits, which are stored
          if (this.elemOf(st.buf) === 4) c.simd(simd.f32x4DemoteF64x2Zero).simdMem(simd.v128Store64Lane, 3, off).emit(0);
          else c.simdMem(simd.v128Store, 3, off);
          break;
        }
        default:
          throw new InternalError(`WebAssembly: ${st.k} in a vector loop`);
      }
    }
  }

  /** Byte address of buf[base + v + 2·copy] for a contiguous access. */
  private vAddress(buf: Buf, at: Expr, v: string, copy: number): number {
    const base = contiguousBase(at, v)!;
    const k = this.position(buf, { k: 'ibin', op: 'add', a: base, b: { k: 'var', name: v, ty: 'i' } });
    this.code.i32(this.shift(buf)).emit(op.i32Shl);
    return (k + 2 * copy) * this.elemOf(buf);
  }

  /** Pushes the f64x2 of an expression at lanes (v + 2·copy, v + 2·copy + 1); comparisons and
   *  logic push lane masks. */
  private vexpr(e: Expr, v: string, plan: VecPlan, copy: number): void {
    const c = this.code;
    if (isInvariant(e, v, plan)) {
      const splat = e.k === 'var' ? this.splats?.get(e.name) : undefined;
      if (splat !== undefined) {
        c.local(op.localGet, splat);
        return;
      }
      // a value of every lane alike
      this.expr(exprTy(e) === 'i' ? { k: 'itof', a: e } : e);
      c.simd(simd.f64x2Splat);
      return;
    }
    switch (e.k) {
      case 'var':
        if (e.name === v) return this.vindex(v, copy);
        c.local(op.localGet, this.vecLocal(e.name, copy));
        return;
      case 'load': {
        const off = this.vAddress(e.buf, e.at, v, copy);
        // f32 storage: two f32s (64 bits) promoted to the two f64 lanes
        if (this.elemOf(e.buf) === 4) c.simdMem(simd.v128Load64Zero, 3, off).simd(simd.f64x2PromoteLowF32x4);
        else c.simdMem(simd.v128Load, 3, off);
        return;
      }
      case 'fun':
        this.vexpr(e.a, v, plan, copy);
        c.simd(e.op === 'neg' ? simd.f64x2Neg : e.op === 'abs' ? simd.f64x2Abs : simd.f64x2Sqrt);
        return;
      case 'fbin':
        this.vexpr(e.a, v, plan, copy);
        this.vexpr(e.b, v, plan, copy);
        c.simd({ add: simd.f64x2Add, sub: simd.f64x2Sub, mul: simd.f64x2Mul, div: simd.f64x2Div, max: simd.f64x2Max, min: simd.f64x2Min, pow: -1, atan2: -1, hypot: -1 }[e.op]);
        return;
      case 'ibin':
      case 'itof':
        // integer lanes as exact f64 (indices: far below 2^53)
        this.vint(e.k === 'itof' ? e.a : e, v, plan, copy);
        return;
      case 'cmp':
        if (e.ty === 'f') {
          this.vexpr(e.a, v, plan, copy);
          this.vexpr(e.b, v, plan, copy);
        } else {
          this.vint(e.a, v, plan, copy);
          this.vint(e.b, v, plan, copy);
        }
        c.simd({ lt: simd.f64x2Lt, le: simd.f64x2Le, gt: simd.f64x2Gt, ge: simd.f64x2Ge, eq: simd.f64x2Eq, ne: simd.f64x2Ne }[e.op]);
        return;
      case 'and':
      case 'or':
      case 'not':
        return this.vmask(e, v, plan, copy);
      case 'sel':
        // bitselect(a, b, mask): a where the mask is set
        this.vexpr(e.a, v, plan, copy);
        this.vexpr(e.b, v, plan, copy);
        this.vmask(e.c, v, plan, copy);
        c.simd(simd.v128Bitselect);
        return;
      default:
        throw new InternalError(`WebAssembly: ${e.k} in a vector expression`);
    }
  }

  /** Lane masks (all ones where true) of an i32 boolean expression. */
  private vmask(e: Expr, v: string, plan: VecPlan, copy: number): void {
    const c = this.code;
    if (isInvariant(e, v, plan)) {
      // the same truth in every lane: 1.0 or 0.0, compared with 0
      c.f64(1).f64(0);
      this.expr(e);
      c.emit(op.select).simd(simd.f64x2Splat);
      c.f64(0).simd(simd.f64x2Splat).simd(simd.f64x2Ne);
      return;
    }
    switch (e.k) {
      case 'cmp':
        return this.vexpr(e, v, plan, copy);
      case 'and':
      case 'or':
        this.vmask(e.a, v, plan, copy);
        this.vmask(e.b, v, plan, copy);
        c.simd(e.k === 'and' ? simd.v128And : 80 /* v128.or */);
        return;
      case 'not':
        this.vmask(e.a, v, plan, copy);
        c.simd(77 /* v128.not */);
        return;
      default:
        throw new InternalError(`WebAssembly: ${e.k} as a vector condition`);
    }
  }

  /** Integer lanes (v + 2·copy + lane) of an index expression, as f64. */
  private vint(e: Expr, v: string, plan: VecPlan, copy: number): void {
    const c = this.code;
    if (isInvariant(e, v, plan)) {
      this.expr(e);
      c.emit(op.f64ConvertI32S).simd(simd.f64x2Splat);
      return;
    }
    if (e.k === 'var' && e.name === v) return this.vindex(v, copy);
    if (e.k === 'ibin' && (e.op === 'add' || e.op === 'sub' || e.op === 'mul')) {
      this.vint(e.a, v, plan, copy);
      this.vint(e.b, v, plan, copy);
      c.simd(e.op === 'add' ? simd.f64x2Add : e.op === 'sub' ? simd.f64x2Sub : simd.f64x2Mul);
      return;
    }
    throw new InternalError(`WebAssembly: integer ${e.k} in a vector expression`);
  }

  private vindex(v: string, copy: number): void {
    const c = this.code;
    const vi = this.varIndex(v);
    c.local(op.localGet, vi).i32(2 * copy).emit(op.i32Add, op.f64ConvertI32S).simd(simd.f64x2Splat);
    c.local(op.localGet, vi).i32(2 * copy + 1).emit(op.i32Add, op.f64ConvertI32S).lane(simd.f64x2ReplaceLane, 1);
  }
}

// ---- the vectorizer's analysis ---------------------------------------------------------------------

/** The base of a contiguous access at `base + v` (base not reading v), or null. */
function contiguousBase(at: Expr, v: string): Expr | null {
  const terms: Expr[] = [];
  const flatten = (e: Expr): void => {
    if (e.k === 'ibin' && e.op === 'add') {
      flatten(e.a);
      flatten(e.b);
    } else terms.push(e);
  };
  flatten(at);
  const mine = terms.filter((t) => t.k === 'var' && t.name === v);
  if (mine.length !== 1) return null;
  const rest = terms.filter((t) => !(t.k === 'var' && t.name === v));
  if (rest.some((t) => readsVars(t).has(v))) return null;
  return rest.length === 0 ? { k: 'i', v: 0 } : rest.reduce((a, b) => ({ k: 'ibin', op: 'add', a, b }));
}

function isInvariant(e: Expr, v: string, plan: VecPlan): boolean {
  for (const x of readsVars(e)) if (x === v || plan.temps.has(x) || plan.reductions.some((r) => r.name === x)) return false;
  return true;
}

/** Can `for v …` be vectorized, and how? Its body must be declarations of f64 temporaries,
 *  reductions into outer accumulators and stores, all contiguous or invariant in v, with
 *  operations that have f64x2 forms. */
export function vecPlan(s: Extract<Stmt, { k: 'for' }>): VecPlan | null {
  const v = s.v;
  const temps = new Set<string>();
  const reductions: VecPlan['reductions'] = [];
  const stores: { buf: Buf; base: Expr }[] = [];
  const loads: { buf: Buf; base: Expr | null }[] = [];
  for (const st of s.body) {
    if (st.k === 'decl') {
      if (st.ty !== 'f') return null;
      temps.add(st.name);
    } else if (st.k === 'assign') {
      const x = st.value;
      if (temps.has(st.name) || x.k !== 'fbin' || (x.op !== 'add' && x.op !== 'max' && x.op !== 'min')) return null;
      const self = (y: Expr) => y.k === 'var' && y.name === st.name;
      if (self(x.a) === self(x.b)) return null;
      if (reductions.some((r) => r.name === st.name)) return null;
      reductions.push({ name: st.name, op: x.op });
    } else if (st.k === 'store') {
      const base = contiguousBase(st.at, v);
      if (!base) return null;
      stores.push({ buf: st.buf, base });
    } else return null;
  }
  if (stores.length === 0 && reductions.length === 0) return null;
  const plan: VecPlan = { temps, reductions, hazards: [] };
  // accumulators are read only by their own update
  for (const st of s.body) {
    const exprs = st.k === 'decl' ? [st.init] : st.k === 'store' ? [st.at, st.value] : st.k === 'assign' ? [st.value] : [];
    for (const e of exprs) {
      for (const r of reductions) {
        const reads = readsVars(e).has(r.name);
        const own = st.k === 'assign' && st.name === r.name;
        if (reads && !own) return null;
      }
    }
  }
  const ok = (e: Expr): boolean => {
    if (isInvariant(e, v, plan)) {
      if (e.k === 'load' || containsLoad(e)) collectLoads(e, v, loads, true);
      return !containsCall(e);
    }
    switch (e.k) {
      case 'var':
        return e.name === v || temps.has(e.name);
      case 'load': {
        const base = contiguousBase(e.at, v);
        if (!base) return false;
        loads.push({ buf: e.buf, base });
        return true;
      }
      case 'fun':
        return (e.op === 'neg' || e.op === 'abs' || e.op === 'sqrt') && ok(e.a);
      case 'fbin':
        return e.op !== 'pow' && e.op !== 'atan2' && e.op !== 'hypot' && ok(e.a) && ok(e.b);
      case 'cmp':
        return e.ty === 'f' ? ok(e.a) && ok(e.b) : intOk(e.a) && intOk(e.b);
      case 'and':
      case 'or':
        return maskOk(e.a) && maskOk(e.b);
      case 'not':
        return maskOk(e.a);
      case 'sel':
        return e.ty === 'f' && maskOk(e.c) && ok(e.a) && ok(e.b);
      case 'itof':
        return intOk(e.a);
      case 'ibin':
        return false;
      default:
        return false;
    }
  };
  const maskOk = (e: Expr): boolean => {
    if (isInvariant(e, v, plan)) return !containsLoad(e) && !containsCall(e);
    if (e.k === 'cmp') return ok(e);
    if (e.k === 'and' || e.k === 'or') return maskOk(e.a) && maskOk(e.b);
    if (e.k === 'not') return maskOk(e.a);
    return false;
  };
  const intOk = (e: Expr): boolean => {
    if (isInvariant(e, v, plan)) return !containsLoad(e) && !containsCall(e);
    if (e.k === 'var') return e.name === v;
    if (e.k === 'ibin' && (e.op === 'add' || e.op === 'sub')) return intOk(e.a) && intOk(e.b);
    if (e.k === 'ibin' && e.op === 'mul') return (intOk(e.a) && isInvariant(e.b, v, plan)) || (intOk(e.b) && isInvariant(e.a, v, plan));
    return false;
  };
  for (const st of s.body) {
    if (st.k === 'decl' && !ok(st.init)) return null;
    if (st.k === 'store' && !ok(st.value)) return null;
    if (st.k === 'assign') {
      const x = st.value as Extract<Expr, { k: 'fbin' }>;
      const other = x.a.k === 'var' && x.a.name === st.name ? x.b : x.a;
      if (!ok(other)) return null;
    }
  }
  // memory hazards between accesses of one buffer, at least one of them a store
  for (const [i, a] of stores.entries()) {
    for (const l of loads) {
      if (!sameBuf(a.buf, l.buf)) continue;
      if (l.base === null) return null; // an invariant position in a buffer the loop writes
      if (exprKey(l.base) !== exprKey(a.base)) plan.hazards.push([a.base, l.base]);
    }
    for (const b of stores.slice(i + 1)) if (sameBuf(a.buf, b.buf) && exprKey(a.base) !== exprKey(b.base)) plan.hazards.push([a.base, b.base]);
  }
  return plan;
}

/** The f64 variables a vector loop reads as invariant values (in the value positions vexpr
 *  splats: operands of arithmetic, comparisons of f64 and selects; not masks or indices). */
function invariantScalars(s: Extract<Stmt, { k: 'for' }>, plan: VecPlan): string[] {
  const out = new Set<string>();
  const walk = (e: Expr): void => {
    if (isInvariant(e, s.v, plan)) {
      if (e.k === 'var' && e.ty === 'f') out.add(e.name);
      return;
    }
    switch (e.k) {
      case 'fun':
        walk(e.a);
        break;
      case 'fbin':
        walk(e.a);
        walk(e.b);
        break;
      case 'cmp':
        if (e.ty === 'f') {
          walk(e.a);
          walk(e.b);
        }
        break;
      case 'sel':
        walk(e.a);
        walk(e.b);
        break;
      default:
    }
  };
  for (const st of s.body) {
    if (st.k === 'decl') walk(st.init);
    else if (st.k === 'store') walk(st.value);
    else if (st.k === 'assign' && st.value.k === 'fbin') {
      const x = st.value;
      walk(x.a.k === 'var' && x.a.name === st.name ? x.b : x.a);
    }
  }
  return [...out];
}

function containsLoad(e: Expr): boolean {
  switch (e.k) {
    case 'load':
      return true;
    case 'rand':
      return containsLoad(e.key) || containsLoad(e.stream) || containsLoad(e.e);
    case 'fun':
    case 'not':
    case 'itof':
      return containsLoad(e.a);
    case 'fbin':
    case 'ibin':
    case 'cmp':
    case 'and':
    case 'or':
      return containsLoad(e.a) || containsLoad(e.b);
    case 'sel':
      return containsLoad(e.c) || containsLoad(e.a) || containsLoad(e.b);
    case 'call':
      return true;
    default:
      return false;
  }
}

function containsCall(e: Expr): boolean {
  switch (e.k) {
    case 'call':
    case 'rand':
      return true;
    case 'fun':
      return e.op === 'exp' || e.op === 'log' || e.op === 'sin' || e.op === 'cos' || e.op === 'tanh' || e.op === 'sigm' || e.op === 'rf16' || e.op === 'rbf16' || containsCall(e.a);
    case 'not':
    case 'itof':
      return containsCall(e.a);
    case 'load':
      return containsCall(e.at);
    case 'fbin':
      return e.op === 'pow' || e.op === 'atan2' || e.op === 'hypot' || containsCall(e.a) || containsCall(e.b);
    case 'ibin':
      return e.op === 'div' || e.op === 'mod' || containsCall(e.a) || containsCall(e.b);
    case 'cmp':
    case 'and':
    case 'or':
      return containsCall(e.a) || containsCall(e.b);
    case 'sel':
      return containsCall(e.c) || containsCall(e.a) || containsCall(e.b);
    default:
      return false;
  }
}

/** Records the loads of an invariant expression (their positions are fixed: base null). */
function collectLoads(e: Expr, v: string, out: { buf: Buf; base: Expr | null }[], _inv: boolean): void {
  const walk = (x: Expr): void => {
    if (x.k === 'load') out.push({ buf: x.buf, base: null });
    switch (x.k) {
      case 'load':
        walk(x.at);
        break;
      case 'fun':
      case 'not':
      case 'itof':
        walk(x.a);
        break;
      case 'fbin':
      case 'ibin':
      case 'cmp':
      case 'and':
      case 'or':
        walk(x.a);
        walk(x.b);
        break;
      case 'sel':
        walk(x.c);
        walk(x.a);
        walk(x.b);
        break;
      default:
    }
  };
  walk(e);
  void v;
}
