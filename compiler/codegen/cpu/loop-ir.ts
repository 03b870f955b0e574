// The loop IR of the CPU code generator: what an IR function becomes before it is printed as
// JavaScript (emit-js.ts) or assembled into WebAssembly (emit-wasm.ts). It is the instance
// kernel's model written out as statements: i32 loop indices and dimensions, f64 scalars, loops
// over elements that load and store buffers, and calls of routines (products, LU, triangular
// solves). Lowering (lower.ts) decides what is fused and what is materialized; the passes here
// are the ones both targets share (loop-invariant code motion). Buffers are addressed in elements.
//
// Semantics follow the reference interpreter (runtime/cpu/kernels.ts): comparisons give 0/1,
// integer division floors, the remainder is non-negative, `sgn` of NaN is 0.

/** 'f': f64; 'i': i32 (indices, dimensions, booleans of comparisons). */
export type Ty = 'f' | 'i';

/** A buffer: workspace k (its binding may be swapped with another workspace buffer), parameter
 *  i, result i, status entry i (3 values per instance), or — in routines — memory itself, indexed
 *  by absolute element position. */
export type Buf = { k: 'w'; id: number } | { k: 'in'; i: number } | { k: 'out'; i: number } | { k: 'st'; i: number } | { k: 'mem' };

export type FUnary = 'neg' | 'abs' | 'sqrt' | 'exp' | 'log' | 'sin' | 'cos' | 'tanh' | 'sigm' | 'sgn' | 'rf16' | 'rbf16';
export type FBinary = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min' | 'atan2' | 'hypot';
export type Cmp = 'lt' | 'le' | 'gt' | 'ge' | 'eq' | 'ne';
export type IBinary = 'add' | 'sub' | 'mul' | 'min' | 'max' | 'div' | 'mod';

export type Expr =
  | { k: 'f'; v: number }
  | { k: 'i'; v: number }
  | { k: 'var'; name: string; ty: Ty }
  /** D[i], an i32 read once per call */
  | { k: 'dim'; i: number }
  | { k: 'load'; buf: Buf; at: Expr }
  | { k: 'fun'; op: FUnary; a: Expr }
  | { k: 'fbin'; op: FBinary; a: Expr; b: Expr }
  | { k: 'ibin'; op: IBinary; a: Expr; b: Expr }
  /** comparison of two values of type `ty`: an i32 0/1 */
  | { k: 'cmp'; op: Cmp; ty: Ty; a: Expr; b: Expr }
  /** logical and/or/not of i32 booleans */
  | { k: 'and' | 'or'; a: Expr; b: Expr }
  | { k: 'not'; a: Expr }
  /** c (an i32 boolean) ? a : b */
  | { k: 'sel'; ty: Ty; c: Expr; a: Expr; b: Expr }
  /** i32 → f64 */
  | { k: 'itof'; a: Expr }
  /** floor(f64) → i32, saturated; NaN → 0 */
  | { k: 'ftoi'; a: Expr }
  /** a routine returning a value */
  | { k: 'call'; fn: Routine; args: Arg[]; ty: Ty }
  /** element e of a seeded random stream (core/philox.ts: rand, or randn when `normal`): f64 */
  | { k: 'rand'; normal: boolean; key: Expr; stream: Expr; e: Expr };

/** A routine argument: a value, or an array position (a buffer and an element index in it). */
export type Arg = { k: 'val'; e: Expr } | { k: 'ptr'; buf: Buf; at: Expr };

export type Routine = 'gemm' | 'gemv' | 'dot' | 'lu' | 'trisolve' | 'householder' | 'gemmacc';

export type Stmt =
  | { k: 'decl'; name: string; ty: Ty; init: Expr }
  | { k: 'assign'; name: string; value: Expr }
  | { k: 'store'; buf: Buf; at: Expr; value: Expr }
  /** for (v = lo; v < hi; v++) */
  | { k: 'for'; v: string; lo: Expr; hi: Expr; body: Stmt[] }
  | { k: 'if'; c: Expr; then: Stmt[]; else: Stmt[] }
  /** leaves the innermost `for` */
  | { k: 'break' }
  | { k: 'call'; fn: Routine; args: Arg[] }
  /** exchange the bindings of two workspace buffers */
  | { k: 'swap'; a: number; b: number }
  /** dst[dstAt + t] = src[srcAt + t] for t < n */
  | { k: 'copy'; dst: Buf; dstAt: Expr; src: Buf; srcAt: Expr; n: Expr }
  /** raises MATR107 unless 0 ≤ i < n */
  | { k: 'check'; what: string; i: Expr; n: Expr };

/** A lowered function: the body run once per instance (`inst` is the instance index, `io<i>` the
 *  offset of parameter i's instance), with its dimensions and workspace sizes (texts the host
 *  evaluates). */
export interface LoopProgram {
  /** statements whose effect is the same for every instance (splitInstanceInvariant): run once
   *  per call of the program, before the instance loop */
  prologue: Stmt[];
  body: Stmt[];
  dims: string[];
  buffers: string[];
  params: number;
  results: { size: Expr }[];
  status: number;
  /** the int parameters and results (scalars): their buffers hold f64 in every precision (the
   *  f32 precision's arrays keep ints in f64, exact beyond f32's 2²⁴) */
  ints?: { params: number[]; results: number[] };
}

// ---- constructors ------------------------------------------------------------------------------------

export const F = (v: number): Expr => ({ k: 'f', v });
export const I = (v: number): Expr => ({ k: 'i', v });
export const V = (name: string, ty: Ty): Expr => ({ k: 'var', name, ty });

export function iadd(a: Expr, b: Expr): Expr {
  if (a.k === 'i' && a.v === 0) return b;
  if (b.k === 'i' && b.v === 0) return a;
  if (a.k === 'i' && b.k === 'i') return I((a.v + b.v) | 0);
  return { k: 'ibin', op: 'add', a, b };
}

export function isub(a: Expr, b: Expr): Expr {
  if (b.k === 'i' && b.v === 0) return a;
  if (a.k === 'i' && b.k === 'i') return I((a.v - b.v) | 0);
  return { k: 'ibin', op: 'sub', a, b };
}

export function imul(a: Expr, b: Expr): Expr {
  if (a.k === 'i' && a.v === 1) return b;
  if (b.k === 'i' && b.v === 1) return a;
  if ((a.k === 'i' && a.v === 0) || (b.k === 'i' && b.v === 0)) return I(0);
  if (a.k === 'i' && b.k === 'i') return I(Math.imul(a.v, b.v));
  return { k: 'ibin', op: 'mul', a, b };
}

export const ibin = (op: IBinary, a: Expr, b: Expr): Expr => (op === 'add' ? iadd(a, b) : op === 'sub' ? isub(a, b) : op === 'mul' ? imul(a, b) : { k: 'ibin', op, a, b });
export function fbin(op: FBinary, a: Expr, b: Expr): Expr {
  // constants fold (exactly as the operation would at run time)
  if (a.k === 'f' && b.k === 'f') {
    const x = a.v;
    const y = b.v;
    switch (op) {
      case 'add': return F(x + y);
      case 'sub': return F(x - y);
      case 'mul': return F(x * y);
      case 'div': return F(x / y);
      case 'max': return F(Math.max(x, y));
      case 'min': return F(Math.min(x, y));
      case 'pow':
      case 'atan2':
      case 'hypot':
        break;
    }
  }
  return { k: 'fbin', op, a, b };
}
export const fun = (op: FUnary, a: Expr): Expr => ({ k: 'fun', op, a });
export const cmp = (op: Cmp, ty: Ty, a: Expr, b: Expr): Expr => ({ k: 'cmp', op, ty, a, b });
/** An i32 boolean as the f64 0/1 of the language's comparisons. */
export const b2f = (c: Expr): Expr => ({ k: 'sel', ty: 'f', c, a: F(1), b: F(0) });
export const sel = (ty: Ty, c: Expr, a: Expr, b: Expr): Expr => ({ k: 'sel', ty, c, a, b });
export const load = (buf: Buf, at: Expr): Expr => ({ k: 'load', buf, at });

// ---- traversal ---------------------------------------------------------------------------------------

/** Variables an expression reads. */
export function readsVars(e: Expr, out: Set<string> = new Set()): Set<string> {
  switch (e.k) {
    case 'var':
      out.add(e.name);
      break;
    case 'load':
      readsVars(e.at, out);
      break;
    case 'fun':
    case 'not':
    case 'itof':
    case 'ftoi':
      readsVars(e.a, out);
      break;
    case 'fbin':
    case 'ibin':
    case 'cmp':
    case 'and':
    case 'or':
      readsVars(e.a, out);
      readsVars(e.b, out);
      break;
    case 'sel':
      readsVars(e.c, out);
      readsVars(e.a, out);
      readsVars(e.b, out);
      break;
    case 'call':
      for (const a of e.args) readsVars(a.k === 'val' ? a.e : a.at, out);
      break;
    case 'rand':
      readsVars(e.key, out);
      readsVars(e.stream, out);
      readsVars(e.e, out);
      break;
    case 'f':
    case 'i':
    case 'dim':
      break;
    default:
      e satisfies never;
  }
  return out;
}

/** The variables a statement declares, assigns or reads (nested statements included). */
export function mentionsVars(s: Stmt, out: Set<string>): void {
  switch (s.k) {
    case 'decl':
      out.add(s.name);
      readsVars(s.init, out);
      return;
    case 'assign':
      out.add(s.name);
      readsVars(s.value, out);
      return;
    case 'store':
      readsVars(s.at, out);
      readsVars(s.value, out);
      return;
    case 'for':
      out.add(s.v);
      readsVars(s.lo, out);
      readsVars(s.hi, out);
      for (const x of s.body) mentionsVars(x, out);
      return;
    case 'if':
      readsVars(s.c, out);
      for (const x of [...s.then, ...s.else]) mentionsVars(x, out);
      return;
    case 'call':
      for (const a of s.args) readsVars(a.k === 'val' ? a.e : a.at, out);
      return;
    case 'copy':
      readsVars(s.dstAt, out);
      readsVars(s.srcAt, out);
      readsVars(s.n, out);
      return;
    case 'check':
      readsVars(s.i, out);
      readsVars(s.n, out);
      return;
    case 'break':
    case 'swap':
      return;
    default:
      s satisfies never;
  }
}

/** Does the expression read memory (a load, or a routine)? */
export function readsMemory(e: Expr): boolean {
  switch (e.k) {
    case 'load':
    case 'call':
      return true;
    case 'fun':
    case 'not':
    case 'itof':
    case 'ftoi':
      return readsMemory(e.a);
    case 'fbin':
    case 'ibin':
    case 'cmp':
    case 'and':
    case 'or':
      return readsMemory(e.a) || readsMemory(e.b);
    case 'sel':
      return readsMemory(e.c) || readsMemory(e.a) || readsMemory(e.b);
    case 'rand':
      return readsMemory(e.key) || readsMemory(e.stream) || readsMemory(e.e);
    default:
      return false;
  }
}

/** Buffers an expression loads from. */
export function loadsFrom(e: Expr, out: Buf[] = []): Buf[] {
  switch (e.k) {
    case 'load':
      out.push(e.buf);
      loadsFrom(e.at, out);
      break;
    case 'fun':
    case 'not':
    case 'itof':
    case 'ftoi':
      loadsFrom(e.a, out);
      break;
    case 'fbin':
    case 'ibin':
    case 'cmp':
    case 'and':
    case 'or':
      loadsFrom(e.a, out);
      loadsFrom(e.b, out);
      break;
    case 'sel':
      loadsFrom(e.c, out);
      loadsFrom(e.a, out);
      loadsFrom(e.b, out);
      break;
    case 'call':
      for (const a of e.args) if (a.k === 'ptr') out.push(a.buf);
      break;
    case 'rand':
      loadsFrom(e.key, out);
      loadsFrom(e.stream, out);
      loadsFrom(e.e, out);
      break;
    default:
  }
  return out;
}

export const sameBuf = (a: Buf, b: Buf): boolean => a.k === b.k && (a.k === 'mem' || (a.k === 'w' ? a.id === (b as { id: number }).id : (a as { i: number }).i === (b as { i: number }).i));

/** A structural key of an expression (for common subexpressions and equality of indices). */
export function exprKey(e: Expr): string {
  switch (e.k) {
    case 'f':
      return Object.is(e.v, -0) ? 'f-0' : `f${e.v}`;
    case 'i':
      return `i${e.v}`;
    case 'var':
      return `$${e.name}`;
    case 'dim':
      return `d${e.i}`;
    case 'load':
      return `L(${bufKey(e.buf)},${exprKey(e.at)})`;
    case 'fun':
      return `${e.op}(${exprKey(e.a)})`;
    case 'fbin':
      return `F${e.op}(${exprKey(e.a)},${exprKey(e.b)})`;
    case 'ibin':
      return `I${e.op}(${exprKey(e.a)},${exprKey(e.b)})`;
    case 'cmp':
      return `C${e.op}${e.ty}(${exprKey(e.a)},${exprKey(e.b)})`;
    case 'and':
    case 'or':
      return `${e.k}(${exprKey(e.a)},${exprKey(e.b)})`;
    case 'not':
      return `!(${exprKey(e.a)})`;
    case 'sel':
      return `?${e.ty}(${exprKey(e.c)},${exprKey(e.a)},${exprKey(e.b)})`;
    case 'itof':
      return `itof(${exprKey(e.a)})`;
    case 'ftoi':
      return `ftoi(${exprKey(e.a)})`;
    case 'call':
      return `${e.fn}(${e.args.map((a) => (a.k === 'val' ? exprKey(a.e) : `&${bufKey(a.buf)}+${exprKey(a.at)}`)).join(',')})`;
    case 'rand':
      return `rand${e.normal ? 'n' : ''}(${exprKey(e.key)},${exprKey(e.stream)},${exprKey(e.e)})`;
  }
}

export const bufKey = (b: Buf): string => (b.k === 'w' ? `w${b.id}` : b.k === 'mem' ? 'mem' : `${b.k}${b.i}`);

/** Calls f on every statement of a list, nested ones included, each before those inside it. */
export function eachStmt(body: readonly Stmt[], f: (s: Stmt) => void): void {
  for (const s of body) {
    f(s);
    if (s.k === 'for') eachStmt(s.body, f);
    else if (s.k === 'if') {
      eachStmt(s.then, f);
      eachStmt(s.else, f);
    }
  }
}

/** Every routine a statement list calls, with its pointer arguments in order: call statements and
 *  calls inside expressions (`let rc = lu(…)` solves into its right-hand side). */
function routineCalls(body: readonly Stmt[]): { fn: Routine; bufs: Buf[] }[] {
  const out: { fn: Routine; bufs: Buf[] }[] = [];
  const ptrs = (args: readonly Arg[]) => args.flatMap((a) => (a.k === 'ptr' ? [a.buf] : []));
  const inExpr = (e: Expr): Expr => {
    if (e.k === 'call') out.push({ fn: e.fn, bufs: ptrs(e.args) });
    return mapChildren(e, inExpr);
  };
  eachStmt(body, (s) => {
    if (s.k === 'call') out.push({ fn: s.fn, bufs: ptrs(s.args) });
    mapStmts([s], inExpr, false);
  });
  return out;
}

/** Which pointer arguments of each routine it writes (by position among its pointers); the
 *  others it only reads. */
const ROUTINE_WRITES: Record<Routine, readonly number[] | 'all'> = {
  gemm: [2],
  gemmacc: [2],
  gemv: [2],
  dot: [],
  trisolve: [1],
  lu: [0, 1],
  householder: 'all',
};

const routineWrites = (fn: Routine, i: number): boolean => {
  const w = ROUTINE_WRITES[fn];
  return w === 'all' || w.includes(i);
};

/** Buffers a statement list writes: stores, copies' destinations, swapped bindings, and the
 *  pointers of the routines it calls that `written` says the routine writes. */
function writes(body: readonly Stmt[], written: (fn: Routine, i: number) => boolean, out: Buf[] = []): Buf[] {
  eachStmt(body, (s) => {
    if (s.k === 'store') out.push(s.buf);
    else if (s.k === 'copy') out.push(s.dst);
    else if (s.k === 'swap') out.push({ k: 'w', id: s.a }, { k: 'w', id: s.b });
  });
  for (const c of routineCalls(body)) {
    c.bufs.forEach((b, i) => {
      if (written(c.fn, i)) out.push(b);
    });
  }
  return out;
}

/** Buffers a statement list stores into (directly, by routines — every pointer of a routine
 *  counted as written —, copies or swaps). */
export function storesTo(body: readonly Stmt[], out: Buf[] = []): Buf[] {
  return writes(body, () => true, out);
}

/** Variables a statement list assigns or declares. */
export function assignsVars(body: readonly Stmt[], out: Set<string> = new Set()): Set<string> {
  for (const s of body) {
    switch (s.k) {
      case 'decl':
      case 'assign':
        out.add(s.name);
        break;
      case 'for':
        out.add(s.v);
        assignsVars(s.body, out);
        break;
      case 'if':
        assignsVars(s.then, out);
        assignsVars(s.else, out);
        break;
      default:
    }
  }
  return out;
}

// ---- loop-invariant code motion --------------------------------------------------------------------

/**
 * Hoists the invariant parts of innermost loops' expressions in front of the loop: a
 * subexpression that reads no variable the loop assigns (its index included), loads from no
 * buffer the loop writes, and is worth a local (an operation or a load, not a constant or a
 * variable) is computed once. Loads are hoisted only from buffers the loop does not write, so the
 * motion never changes what a load reads. Applied to every loop, innermost first.
 */
export function hoistInvariants(body: Stmt[], fresh: () => string): Stmt[] {
  const out: Stmt[] = [];
  for (const s of body) {
    if (s.k === 'for') {
      const inner = hoistInvariants(s.body, fresh);
      const assigned = assignsVars(inner);
      assigned.add(s.v);
      const written = storesTo(inner);
      const hoisted: Stmt[] = [];
      const memo = new Map<string, Expr>();
      const invariant = (e: Expr): boolean => {
        for (const v of readsVars(e)) if (assigned.has(v)) return false;
        for (const b of loadsFrom(e)) if (written.some((w) => sameBuf(w, b))) return false;
        return !(e.k === 'call');
      };
      const worth = (e: Expr): boolean => !(e.k === 'f' || e.k === 'i' || e.k === 'var' || e.k === 'dim');
      const lift = (e: Expr): Expr => {
        if (worth(e) && invariant(e)) {
          const key = exprKey(e);
          let v = memo.get(key);
          if (!v) {
            const name = fresh();
            const ty = exprTy(e);
            hoisted.push({ k: 'decl', name, ty, init: e });
            v = V(name, ty);
            memo.set(key, v);
          }
          return v;
        }
        return mapChildren(e, lift);
      };
      const rewritten = mapStmts(inner, lift, false);
      out.push(...hoisted, { ...s, body: rewritten });
    } else if (s.k === 'if') out.push({ ...s, then: hoistInvariants(s.then, fresh), else: hoistInvariants(s.else, fresh) });
    else out.push(s);
  }
  return out;
}

/**
 * Skips scaled updates by an exact zero: a loop whose every statement is an in-place update
 * `b[at] = b[at] ± h·e` (or `± e·h`) with one scale h that the loop does not assign runs only when
 * h ≠ 0. For finite e the skipped loop would have stored b[at] − (±0), which is b[at]; this is the
 * rank-1 update X ← X − 2 v wᵀ of a Householder reflection, whose rows above the reflector's
 * start have v = 0, so the reflection touches only the trailing rows (the GEMV of wᵀ = vᵀX
 * already skips zero coefficients). Like that GEMV, a non-finite e in a skipped row is not
 * propagated (0·∞ would have been NaN). Applied to every loop, the innermost first.
 */
export function skipZeroUpdates(body: Stmt[]): Stmt[] {
  return body.map((s): Stmt => {
    if (s.k === 'if') return { ...s, then: skipZeroUpdates(s.then), else: skipZeroUpdates(s.else) };
    if (s.k !== 'for') return s;
    const loop: Stmt = { ...s, body: skipZeroUpdates(s.body) };
    const h = zeroScale(loop);
    return h ? { k: 'if', c: { k: 'cmp', op: 'ne', ty: 'f', a: h, b: F(0) }, then: [loop], else: [] } : loop;
  });
}

/** The common scale h of a loop of in-place updates b[at] = b[at] ± h·e (see skipZeroUpdates). */
function zeroScale(loop: Extract<Stmt, { k: 'for' }>): Expr | null {
  if (loop.body.length === 0) return null;
  const assigned = assignsVars(loop.body);
  assigned.add(loop.v);
  let scale: Expr | null = null;
  for (const st of loop.body) {
    if (st.k !== 'store' || st.value.k !== 'fbin' || (st.value.op !== 'add' && st.value.op !== 'sub')) return null;
    const { a, b } = st.value;
    if (a.k !== 'load' || !sameBuf(a.buf, st.buf) || exprKey(a.at) !== exprKey(st.at) || b.k !== 'fbin' || b.op !== 'mul') return null;
    const h = [b.a, b.b].find((x) => x.k === 'var' && x.ty === 'f' && !assigned.has(x.name));
    if (!h || (scale && exprKey(scale) !== exprKey(h))) return null;
    scale = h;
  }
  return scale;
}

/** The type of an expression. */
export function exprTy(e: Expr): Ty {
  switch (e.k) {
    case 'f':
    case 'load':
    case 'fun':
    case 'fbin':
    case 'itof':
    case 'rand':
      return 'f';
    case 'i':
    case 'dim':
    case 'ibin':
    case 'cmp':
    case 'and':
    case 'or':
    case 'not':
    case 'ftoi':
      return 'i';
    case 'var':
    case 'sel':
    case 'call':
      return e.ty;
  }
}

/** Rebuilds an expression with `f` applied to its direct children. */
export function mapChildren(e: Expr, f: (x: Expr) => Expr): Expr {
  switch (e.k) {
    case 'load':
      return { ...e, at: f(e.at) };
    case 'fun':
    case 'not':
    case 'itof':
    case 'ftoi':
      return { ...e, a: f(e.a) } as Expr;
    case 'fbin':
    case 'ibin':
    case 'cmp':
    case 'and':
    case 'or':
      return { ...e, a: f(e.a), b: f(e.b) } as Expr;
    case 'sel':
      return { ...e, c: f(e.c), a: f(e.a), b: f(e.b) };
    case 'call':
      return { ...e, args: e.args.map((a) => (a.k === 'val' ? { k: 'val', e: f(a.e) } : { ...a, at: f(a.at) })) };
    case 'rand':
      return { ...e, key: f(e.key), stream: f(e.stream), e: f(e.e) };
    default:
      return e;
  }
}

/** Applies `f` to every top-level expression of the statements (`deep`: also inside nested
 *  loops and branches). */
export function mapStmts(body: readonly Stmt[], f: (e: Expr) => Expr, deep = true): Stmt[] {
  return body.map((s): Stmt => {
    switch (s.k) {
      case 'decl':
        return { ...s, init: f(s.init) };
      case 'assign':
        return { ...s, value: f(s.value) };
      case 'store':
        return { ...s, at: f(s.at), value: f(s.value) };
      case 'for':
        return { ...s, lo: f(s.lo), hi: f(s.hi), body: deep ? mapStmts(s.body, f, deep) : s.body };
      case 'if':
        return { ...s, c: f(s.c), then: deep ? mapStmts(s.then, f, deep) : s.then, else: deep ? mapStmts(s.else, f, deep) : s.else };
      case 'call':
        return { ...s, args: s.args.map((a) => (a.k === 'val' ? { k: 'val', e: f(a.e) } : { ...a, at: f(a.at) })) };
      case 'copy':
        return { ...s, dstAt: f(s.dstAt), srcAt: f(s.srcAt), n: f(s.n) };
      case 'check':
        return { ...s, i: f(s.i), n: f(s.n) };
      default:
        return s;
    }
  });
}

// ---- instance-invariant statements -------------------------------------------------------------------

/** Buffers a statement list loads from (expressions, copies' sources, routines' pointers, swapped
 *  bindings). */
function loadsFromStmts(body: readonly Stmt[]): Buf[] {
  const out: Buf[] = [];
  mapStmts(body, (e) => (loadsFrom(e, out), e));
  eachStmt(body, (s) => {
    if (s.k === 'call') {
      for (const a of s.args) if (a.k === 'ptr') out.push(a.buf);
    } else if (s.k === 'copy') out.push(s.src);
    else if (s.k === 'swap') out.push({ k: 'w', id: s.a }, { k: 'w', id: s.b });
  });
  return out;
}

/** Names a statement list declares, in order (decls and loop indices, nested ones included). */
export function declaredNames(body: readonly Stmt[], out: string[] = []): string[] {
  eachStmt(body, (s) => {
    if (s.k === 'decl') out.push(s.name);
    else if (s.k === 'for') out.push(s.v);
  });
  return out;
}

/** Variables both emitters define before the instance loop. */
const HEADER_VARS: ReadonlySet<string> = new Set(['eps']);

/** A statement the prologue cannot take: it leaves a loop, exchanges buffers per instance, or
 *  calls a routine that writes memory (`dot` only reads). */
function immovable(s: Stmt): boolean {
  let bad = false;
  eachStmt([s], (x) => {
    if (x.k === 'break' || x.k === 'swap') bad = true;
  });
  return bad || routineCalls([s]).some((c) => c.bufs.some((_, i) => routineWrites(c.fn, i)));
}

/**
 * Splits a program's body into a prologue — the top-level statements whose effect is the same for
 * every instance — and the rest. The prologue runs once per call of the program (per chunk of
 * instances), before the instance loop; the rest runs per instance. Such statements are what the
 * optimizer leaves where a function builds a tensor from its dimensions alone: the probe vectors
 * cos(2.4 j + φ) of a residual estimate (compiler/solvers/problem.ts), iota, constant matrices.
 * A statement moves when
 *   - it reads no parameter, result, status or instance variable (`inst`, `io<i>`): the variables
 *     it reads are declared by earlier prologue statements (or are its own), and it assigns none
 *     declared elsewhere; a declaration moves only if nothing else assigns its name;
 *   - the workspace buffers it loads from are written before it only by prologue statements (at
 *     least one), and no statement after it writes them;
 *   - the buffers it writes are workspace buffers that no statement after it writes and that no
 *     statement before it, left in the body, reads or writes;
 *   - it calls no routine but `dot` (which only reads) and has no `break` or `swap` (a swap
 *     exchanges buffers per instance).
 * Then every instance sees what the statement computed, as before. The program is called with at
 * least one instance (runtime/cpu: the batch loop never calls it for none), so a range check the
 * prologue raises would have been raised by the first instance.
 */
export function splitInstanceInvariant(body: readonly Stmt[]): { prologue: Stmt[]; body: Stmt[] } {
  const n = body.length;
  const reads = body.map((s) => loadsFromStmts([s]).map(bufKey));
  const written = body.map((s) => writes([s], routineWrites).map(bufKey));
  const declared = body.map((s) => new Set(declaredNames([s])));
  const assigned = body.map((s) => assignsVars([s]));
  // how many top-level statements assign (or declare) each name
  const assigners = new Map<string, number>();
  for (const a of assigned) for (const v of a) assigners.set(v, (assigners.get(v) ?? 0) + 1);
  const moved = new Array<boolean>(n).fill(false);
  const inv = new Set<string>();
  // per buffer, in one pass each (the checks below ran over every statement for every buffer
  // of every statement: quadratic, 1.6 s of a 200-term chain's CPU compile): the last statement
  // that writes it, whether an earlier statement wrote it, whether an earlier statement that
  // stays in the body wrote it or touched it at all
  const lastWriter = new Map<string, number>();
  written.forEach((w, j) => w.forEach((b) => lastWriter.set(b, j)));
  const writtenBefore = new Set<string>();
  const unmovedWriterBefore = new Set<string>();
  const unmovedTouchBefore = new Set<string>();
  const writtenAfter = (b: string, i: number): boolean => (lastWriter.get(b) ?? -1) > i;
  for (let i = 0; i < n; i++) {
    const s = body[i]!;
    const decide = (): boolean => {
      if (immovable(s)) return false;
      const mentioned = new Set<string>();
      mentionsVars(s, mentioned);
      const own = declared[i]!;
      if ([...assigned[i]!].some((v) => !own.has(v))) return false;
      if ([...own].some((v) => (assigners.get(v) ?? 0) > 1)) return false;
      if ([...mentioned].some((v) => !own.has(v) && !inv.has(v) && !HEADER_VARS.has(v))) return false;
      // every buffer it reads was written before, only by moved statements, and never again
      const okRead = reads[i]!.every((b) => b.startsWith('w') && !writtenAfter(b, i) && writtenBefore.has(b) && !unmovedWriterBefore.has(b));
      if (!okRead) return false;
      // every buffer it writes is written never again and touched before only by moved statements
      return written[i]!.every((b) => b.startsWith('w') && !writtenAfter(b, i) && !unmovedTouchBefore.has(b));
    };
    moved[i] = decide();
    if (moved[i] && s.k === 'decl') inv.add(s.name);
    for (const b of written[i]!) {
      writtenBefore.add(b);
      if (!moved[i]) unmovedWriterBefore.add(b);
    }
    if (!moved[i]) for (const b of [...reads[i]!, ...written[i]!]) unmovedTouchBefore.add(b);
  }
  return { prologue: body.filter((_, i) => moved[i]), body: body.filter((_, i) => !moved[i]) };
}
