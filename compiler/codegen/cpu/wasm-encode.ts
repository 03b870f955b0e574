// A small WebAssembly binary encoder: LEB128 numbers, the sections matc's CPU programs use
// (types, imports, functions, exports, code), and the opcodes of the scalar, bulk-memory and
// 128-bit SIMD instruction sets (WebAssembly 2.0). emit-wasm.ts writes instructions through it.

export const I32 = 0x7f;
export const F64 = 0x7c;
export const V128 = 0x7b;
export const I64 = 0x7e;
export type ValType = typeof I32 | typeof F64 | typeof V128 | typeof I64;

export function uleb(n: number, out: number[] = []): number[] {
  let v = n >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return out;
}

export function sleb(n: number, out: number[] = []): number[] {
  let v = n | 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** Signed LEB128 of a 64-bit integer (i64.const). */
export function sleb64(n: bigint, out: number[] = []): number[] {
  let v = BigInt.asIntN(64, n);
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && !(b & 0x40)) || (v === -1n && b & 0x40)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function f64Bytes(v: number): number[] {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, v, true);
  return [...b];
}

/** The parts, one after another (typed-array copies: spreading code arrays of tens of thousands
 *  of bytes into array literals made assembling a module cost more than generating it). */
function cat(parts: readonly ArrayLike<number>[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const str = (s: string): Uint8Array => cat([uleb(s.length), [...s].map((c) => c.charCodeAt(0))]);
const section = (id: number, body: Uint8Array): Uint8Array => cat([[id], uleb(body.length), body]);
const vector = (items: readonly ArrayLike<number>[]): Uint8Array => cat([uleb(items.length), ...items]);

/** Opcodes (the ones used). */
export const op = {
  unreachable: 0x00, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, brIf: 0x0d, return: 0x0f, call: 0x10,
  drop: 0x1a, select: 0x1b,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Load: 0x28, f32Load: 0x2a, f64Load: 0x2b, f32Store: 0x38, f64Store: 0x39,
  i32Const: 0x41, f64Const: 0x44,
  i32Eqz: 0x45, i32Eq: 0x46, i32Ne: 0x47, i32LtS: 0x48, i32GtS: 0x4a, i32LeS: 0x4c, i32GeS: 0x4e,
  f64Eq: 0x61, f64Ne: 0x62, f64Lt: 0x63, f64Gt: 0x64, f64Le: 0x65, f64Ge: 0x66,
  i32Add: 0x6a, i32Sub: 0x6b, i32Mul: 0x6c, i32DivS: 0x6d, i32RemS: 0x6f, i32And: 0x71, i32Or: 0x72, i32Xor: 0x73, i32Shl: 0x74,
  f64Abs: 0x99, f64Neg: 0x9a, f64Sqrt: 0x9f, f64Add: 0xa0, f64Sub: 0xa1, f64Mul: 0xa2, f64Div: 0xa3, f64Min: 0xa4, f64Max: 0xa5,
  f64ConvertI32S: 0xb7, f32DemoteF64: 0xb6, f64PromoteF32: 0xbb,
  // 64-bit integers (the binary16/bfloat16 roundings work on an f64's bits)
  i64Const: 0x42, i64LtU: 0x54, i64LeU: 0x58, i64GeU: 0x5a, i64Add: 0x7c, i64Sub: 0x7d, i64And: 0x83, i64Or: 0x84,
  i64Xor: 0x85, i64Shl: 0x86, i64ShrU: 0x88, i64ReinterpretF64: 0xbd, f64ReinterpretI64: 0xbf,
} as const;

/** SIMD opcodes (prefix 0xfd). */
export const simd = {
  v128Load: 0, v128Store: 11, v128Store64Lane: 91, v128Load64Zero: 93, f32x4DemoteF64x2Zero: 94, f64x2PromoteLowF32x4: 95, f64x2Splat: 20, f64x2ExtractLane: 33, f64x2ReplaceLane: 34,
  f64x2Eq: 71, f64x2Ne: 72, f64x2Lt: 73, f64x2Gt: 74, f64x2Le: 75, f64x2Ge: 76,
  v128And: 78, v128Bitselect: 82,
  f64x2Abs: 236, f64x2Neg: 237, f64x2Sqrt: 239, f64x2Add: 240, f64x2Sub: 241, f64x2Mul: 242, f64x2Div: 243, f64x2Min: 244, f64x2Max: 245,
} as const;

/** An instruction sequence under construction. */
export class Code {
  readonly bytes: number[] = [];
  emit(...b: number[]): this {
    for (const x of b) this.bytes.push(x);
    return this;
  }
  i32(v: number): this {
    this.bytes.push(op.i32Const);
    sleb(v, this.bytes);
    return this;
  }
  f64(v: number): this {
    this.bytes.push(op.f64Const, ...f64Bytes(v));
    return this;
  }
  i64(v: bigint): this {
    this.bytes.push(op.i64Const);
    sleb64(v, this.bytes);
    return this;
  }
  local(opc: number, i: number): this {
    this.bytes.push(opc);
    uleb(i, this.bytes);
    return this;
  }
  call(fn: number): this {
    this.bytes.push(op.call);
    uleb(fn, this.bytes);
    return this;
  }
  br(opc: number, depth: number): this {
    this.bytes.push(opc);
    uleb(depth, this.bytes);
    return this;
  }
  /** a memory access: align (log2) and offset immediates */
  mem(opc: number, align: number, offset: number): this {
    this.bytes.push(opc);
    uleb(align, this.bytes);
    uleb(offset, this.bytes);
    return this;
  }
  simd(code: number): this {
    this.bytes.push(0xfd);
    uleb(code, this.bytes);
    return this;
  }
  simdMem(code: number, align: number, offset: number): this {
    this.simd(code);
    uleb(align, this.bytes);
    uleb(offset, this.bytes);
    return this;
  }
  lane(code: number, lane: number): this {
    this.simd(code);
    this.bytes.push(lane);
    return this;
  }
  memoryCopy(): this {
    this.bytes.push(0xfc);
    uleb(10, this.bytes);
    this.bytes.push(0, 0);
    return this;
  }
}

export interface FuncType {
  params: ValType[];
  results: ValType[];
}

export interface ImportFunc {
  module: string;
  name: string;
  type: FuncType;
}

export interface DefinedFunc {
  type: FuncType;
  /** locals after the parameters, in order */
  locals: ValType[];
  code: Code;
  export?: string;
}

/** Assembles a module: imported functions come first in the function index space, then the
 *  defined ones; one imported memory (env.mem). */
export function assemble(imports: ImportFunc[], funcs: DefinedFunc[]): Uint8Array {
  const types: FuncType[] = [];
  const typeIndex = (t: FuncType): number => {
    const key = JSON.stringify(t);
    const i = types.findIndex((x) => JSON.stringify(x) === key);
    if (i >= 0) return i;
    types.push(t);
    return types.length - 1;
  };
  const importEntries = imports.map((im) => cat([str(im.module), str(im.name), [0x00], uleb(typeIndex(im.type))]));
  importEntries.push(cat([str('env'), str('mem'), [0x02, 0x00], uleb(1)]));
  const funcTypes = funcs.map((f) => uleb(typeIndex(f.type)));
  const exports = funcs.flatMap((f, i) => (f.export ? [cat([str(f.export), [0x00], uleb(imports.length + i)])] : []));
  const bodies = funcs.map((f) => {
    // run-length encoded locals
    const groups: number[][] = [];
    for (const t of f.locals) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]!++;
      else groups.push([1, t]);
    }
    const body = cat([uleb(groups.length), groups.flatMap(([n, t]) => [...uleb(n!), t!]), f.code.bytes, [op.end]]);
    return cat([uleb(body.length), body]);
  });
  const typeSec = vector(types.map((t) => [0x60, ...uleb(t.params.length), ...t.params, ...uleb(t.results.length), ...t.results]));
  return cat([
    [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    section(1, typeSec),
    section(2, vector(importEntries)),
    section(3, vector(funcTypes)),
    section(7, vector(exports)),
    section(10, vector(bodies)),
  ]);
}
