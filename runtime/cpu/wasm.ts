// Runs the WebAssembly form of a CPU program (compiler/codegen/cpu/emit-wasm.ts). The module is
// compiled once per program; each thread keeps one instance with its own memory, grown as calls
// need. A call lays out memory as
//
//   [header: i32 table] [workspace buffers] [shared inputs] [per chunk: batched inputs, results, statuses]
//
// and runs the batch in chunks whose data stays under CHUNK_BYTES, copying each chunk's inputs in
// and its results out (memory speed; the kernel itself reads only its own memory). Buffers hold
// f64, or f32 for the f32 precision (the program's f32 module, `wasm32`: 4-byte elements).

import { fromBase64 } from '../../core/base64.js';
import type { CpuProgramData } from '../../core/executable.js';
import { InternalError, MatcRuntimeError } from '../../core/errors.js';
import type { Arr } from './helpers.js';
import { oob, rand, sigm } from './helpers.js';

const CHUNK_BYTES = 64 * 2 ** 20;
const PAGE = 65536;
/** The largest memory a module may use (wasm32 addresses; V8's limit is 4 GiB). */
const MAX_BYTES = 2 ** 31;

interface WasmRun {
  (hdr: number, base: number, count: number): void;
}

/** The parts of the WebAssembly JS API used here (typed locally: the project's lib has no DOM,
 *  and these types must not leak into the declarations consumers read). */
export interface WasmModule {
  readonly __wasmModule?: never;
}
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (m: WasmModule, imports: object) => { exports: Record<string, unknown> };
  Memory: new (d: { initial: number; maximum: number }) => WasmMemory;
}
const WA = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** Bytes of a buffer element in a module's memory: f64, or f32 (the f32 precision's module). */
export type WasmElem = 8 | 4;

const modules = { 8: new WeakMap<CpuProgramData, WasmModule | null>(), 4: new WeakMap<CpuProgramData, WasmModule | null>() };

/** The compiled module of a program for f64 (elem 8) or f32 (4) buffers, or null (no
 *  WebAssembly, no SIMD, or no module embedded). */
export function wasmModule(p: CpuProgramData, elem: WasmElem = 8): WasmModule | null {
  const cache = modules[elem];
  if (cache.has(p)) return cache.get(p)!;
  let m: WasmModule | null = null;
  const bytes = elem === 8 ? p.wasm : p.wasm32;
  if (bytes && WA) {
    try {
      m = new WA.Module(fromBase64(bytes));
    } catch {
      m = null;
    }
  }
  cache.set(p, m);
  return m;
}

interface Instance {
  memory: WasmMemory;
  run: WasmRun;
}

const instances = new WeakMap<WasmModule, Instance>();

/** This thread's instance of a module (one memory per module and thread). */
export function wasmInstance(m: WasmModule, checks: readonly string[]): Instance {
  let inst = instances.get(m);
  if (!inst) {
    const memory = new WA!.Memory({ initial: 1, maximum: MAX_BYTES / PAGE });
    const env = {
      mem: memory,
      exp: Math.exp,
      log: Math.log,
      sin: Math.sin,
      cos: Math.cos,
      tanh: Math.tanh,
      pow: Math.pow,
      atan2: Math.atan2,
      hypot: Math.hypot,
      sigm,
      rand,
      oob: (k: number, i: number, n: number) => oob(checks[k] ?? 'an index', i, n),
    };
    const i = new WA!.Instance(m, { env });
    inst = { memory, run: i.exports.run as WasmRun };
    instances.set(m, inst);
  }
  return inst;
}

/** What a WebAssembly call needs: evaluated dimensions and buffer sizes, the inputs (per
 *  parameter: data and per-instance size, 0 when shared by the batch), and outputs to fill. */
export interface WasmCall {
  D: ArrayLike<number>;
  sizes: readonly number[];
  IN: readonly Arr[];
  INS: readonly number[];
  OUT: readonly Arr[];
  outSizes: readonly number[];
  ST: readonly Float64Array[];
}

const align = (n: number): number => Math.ceil(n / 16) * 16;

/** Runs instances base … base+count−1 of a call through the module. */
export function runWasmRange(m: WasmModule, checks: readonly string[], call: WasmCall, base: number, count: number, elem: WasmElem = 8): void {
  const inst = wasmInstance(m, checks);
  const nIn = call.IN.length;
  const nD = call.D.length - 1; // the last entry is the machine epsilon (JavaScript's)
  const headerInts = nD + 2 * nIn + call.OUT.length + call.ST.length + call.sizes.length;
  let at = align(headerInts * 4);
  const wBase = call.sizes.map((s) => {
    const b = at;
    at = align(at + s * elem);
    return b;
  });
  // bytes of an element of each input and output: the module's, but an int's buffer holds f64 in
  // every precision (its array is a Float64Array; emit-wasm.ts elemOf)
  const eIn = call.IN.map((x) => (x instanceof Float64Array ? 8 : elem));
  const eOut = call.OUT.map((x) => (x instanceof Float64Array ? 8 : elem));
  const shared = call.IN.map((_, i) => {
    if (call.INS[i] !== 0) return -1;
    const b = at;
    at = align(at + call.IN[i]!.length * eIn[i]!);
    return b;
  });
  const fixed = at;
  const perInstance = call.INS.reduce((a, b, i) => a + b * eIn[i]!, 0) + call.outSizes.reduce((a, b, i) => a + b * eOut[i]!, 0) + 3 * elem * call.ST.length + 16 * (nIn + call.OUT.length + call.ST.length);
  if (fixed + perInstance > MAX_BYTES) throw new MatcRuntimeError('MATR131', `one problem instance needs ${fixed + perInstance} bytes of memory, more than WebAssembly's ${MAX_BYTES}`);
  const chunk = Math.max(1, Math.min(count, Math.floor((Math.max(CHUNK_BYTES, fixed + perInstance) - fixed) / perInstance)));
  const need = fixed + perInstance * chunk;
  const have = inst.memory.buffer.byteLength;
  if (need > have) inst.memory.grow(Math.ceil((need - have) / PAGE));
  const buf = inst.memory.buffer;
  const f64 = new Float64Array(buf);
  const f32 = new Float32Array(buf);
  const view = (e: number) => (e === 8 ? f64 : f32);
  const mem = view(elem);
  const i32 = new Int32Array(buf);
  // shared inputs once
  call.IN.forEach((x, i) => {
    if (shared[i]! >= 0) view(eIn[i]!).set(x, shared[i]! / eIn[i]!);
  });
  for (let c0 = base; c0 < base + count; c0 += chunk) {
    const n = Math.min(chunk, base + count - c0);
    let p = fixed;
    const inBase = call.IN.map((x, i) => {
      if (shared[i]! >= 0) return shared[i]!;
      const size = call.INS[i]!;
      const b = p;
      view(eIn[i]!).set(x.subarray(c0 * size, (c0 + n) * size), b / eIn[i]!);
      p = align(p + n * size * eIn[i]!);
      return b;
    });
    const outBase = call.outSizes.map((s, i) => {
      const b = p;
      p = align(p + n * s * eOut[i]!);
      return b;
    });
    const stBase = call.ST.map(() => {
      const b = p;
      p = align(p + n * 3 * elem);
      return b;
    });
    let h = 0;
    for (let i = 0; i < nD; i++) i32[h++] = call.D[i]!;
    for (let i = 0; i < nIn; i++) {
      i32[h++] = inBase[i]! / eIn[i]!;
      i32[h++] = call.INS[i]!;
    }
    outBase.forEach((b, i) => (i32[h++] = b / eOut[i]!));
    for (const b of stBase) i32[h++] = b / elem;
    for (const b of wBase) i32[h++] = b / elem;
    try {
      inst.run(0, 0, n);
    } catch (e) {
      if (e instanceof MatcRuntimeError) throw e;
      throw new InternalError(`WebAssembly CPU program failed: ${(e as Error).message}`);
    }
    call.OUT.forEach((o, i) => {
      const e = eOut[i]!;
      o.set(view(e).subarray(outBase[i]! / e, outBase[i]! / e + n * call.outSizes[i]!), c0 * call.outSizes[i]!);
    });
    call.ST.forEach((s, i) => s.set(mem.subarray(stBase[i]! / elem, stBase[i]! / elem + n * 3), c0 * 3));
  }
}
