// Reads the text printFunc writes back into a graph, so that golden files and hand-written IR
// can be loaded in tests and `print(parse(print(f))) = print(f)` pins the printer as a faithful,
// complete view of the IR. The text is read in two steps: lines into a tree (a node line owns
// the region blocks indented under it), then the tree into nodes. Two steps because a node that
// owns regions is printed before its region bodies but can only be created after them: its
// type and its hash-cons key depend on the region results.
//
// What the text does not carry, and the parser therefore cannot restore: spans, parameter
// defaults and int-parameter defaults, `differentiable` flags (taken as "real-valued"), status
// `extra` entries, and the sign of a zero attribute (-0 prints as 0; hash-consing does not tell
// them apart either).

import { type Dim, parseDim } from '../../core/dims.js';
import { type AttrValue, type Attrs, type Func, type FuncParam, type FuncResult, type Graph, type Node, type Region, type StatusEntry, type StatusKind, statusKinds } from './node.js';
import { type OpKind, opSpecs } from './ops.js';
import { type IrType, type Struct, tensorT, tupleT, typeToString } from './types.js';

export class IrParseError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`IR text line ${line}: ${message}`);
    this.name = 'IrParseError';
  }
}

const structs: ReadonlySet<string> = new Set<Struct>(['general', 'sym', 'spd', 'diag', 'tril', 'triu', 'orth', 'stiefel', 'sphere']);

/** Splits at commas that are not inside (), [] or {}. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) {
      out.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = s.slice(start).trim();
  if (last !== '' || out.length > 0) out.push(last);
  return out;
}

/** Parses the printed form of a type: `f[m, n]{sym}`, `i[]`, `(f[n], i[], f[])`. */
export function parseType(text: string): IrType {
  const s = text.trim();
  if (s.startsWith('(')) {
    if (!s.endsWith(')')) throw new Error(`bad type '${text}'`);
    return tupleT(splitTop(s.slice(1, -1)).map(parseType));
  }
  const m = /^([fi])\[(.*)\](?:\{(\w+)\})?$/.exec(s);
  if (!m) throw new Error(`bad type '${text}'`);
  const shape = splitTop(m[2]!).map(parseDim);
  const st = m[3];
  if (st !== undefined && !structs.has(st)) throw new Error(`unknown structure '${st}' in type '${text}'`);
  return tensorT(shape, m[1] as 'f' | 'i', st as Struct | undefined);
}

/** Inverts the printer's attribute encoding: `{"$dim": ...}`, `{"$type": ...}` and `{"$num": ...}`
 *  (a number JSON cannot spell) objects. */
function reviveAttr(v: unknown): AttrValue {
  if (v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map(reviveAttr) as AttrValue;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === '$dim' && typeof o.$dim === 'string') return parseDim(o.$dim);
    if (keys.length === 1 && keys[0] === '$type' && typeof o.$type === 'string') return parseType(o.$type);
    if (keys.length === 1 && keys[0] === '$num' && typeof o.$num === 'string') return Number(o.$num);
    const out: Record<string, AttrValue> = {};
    for (const k of keys) out[k] = reviveAttr(o[k]);
    return out;
  }
  throw new Error(`unsupported attribute value ${String(v)}`);
}

// ---- lines into a tree ---------------------------------------------------------------------------

interface NodeLine {
  line: number;
  name: string;
  type: string;
  op: string;
  args: string[];
  attrs: string;
  regions: RegionBlock[];
}

interface RegionBlock {
  line: number;
  params: { name: string; type: string }[];
  body: NodeLine[];
  yields: string[];
}

const NAME = '[A-Za-z0-9_.]+';
const nodeRe = new RegExp(`^%(${NAME}): (.+?) = ([a-z]+)((?: %${NAME})*)(?: (\\{.*\\}))?$`);
const regionRe = /^region (\d+) \((.*)\) \{$/;

function paramDecl(text: string, line: number): { name: string; type: string } {
  const m = new RegExp(`^%(${NAME}): (.+)$`).exec(text);
  if (!m) throw new IrParseError(`expected '%name: type', found '${text}'`, line);
  return { name: m[1]!, type: m[2]! };
}

function refs(text: string, line: number, sep: RegExp): string[] {
  const t = text.trim();
  if (t === '') return [];
  return t.split(sep).map((r) => {
    const m = new RegExp(`^%(${NAME})$`).exec(r.trim());
    if (!m) throw new IrParseError(`expected a value reference '%name', found '${r}'`, line);
    return m[1]!;
  });
}

class Lines {
  i = 0;
  constructor(readonly lines: string[]) {}
  get done(): boolean {
    return this.i >= this.lines.length;
  }
  peek(): string {
    return this.lines[this.i]!.trim();
  }
  get lineNo(): number {
    return this.i + 1;
  }
}

/** Node lines up to (not including) a line that is not a node or region header. */
function readBody(ls: Lines): NodeLine[] {
  const out: NodeLine[] = [];
  while (!ls.done && ls.peek().startsWith('%')) {
    const line = ls.lineNo;
    const m = nodeRe.exec(ls.peek());
    if (!m) throw new IrParseError(`cannot read node line '${ls.peek()}'`, line);
    ls.i++;
    const n: NodeLine = { line, name: m[1]!, type: m[2]!, op: m[3]!, args: refs(m[4]!, line, / +/), attrs: m[5] ?? '', regions: [] };
    while (!ls.done && ls.peek().startsWith('region ')) n.regions.push(readRegion(ls));
    out.push(n);
  }
  return out;
}

function readRegion(ls: Lines): RegionBlock {
  const line = ls.lineNo;
  const m = regionRe.exec(ls.peek());
  if (!m) throw new IrParseError(`cannot read region header '${ls.peek()}'`, line);
  ls.i++;
  const params = splitTop(m[2]!).map((p) => paramDecl(p, line));
  const body = readBody(ls);
  if (ls.done || !ls.peek().startsWith('yield')) throw new IrParseError(`expected 'yield' closing the region opened at line ${line}`, ls.lineNo);
  const yields = refs(ls.peek().slice('yield'.length), ls.lineNo, /,/);
  ls.i++;
  if (ls.done || ls.peek() !== '}') throw new IrParseError(`expected '}' after yield`, ls.lineNo);
  ls.i++;
  return { line, params, body, yields };
}

// ---- the tree into nodes ---------------------------------------------------------------------------

class Reader {
  readonly values = new Map<string, Node>();
  constructor(readonly g: Graph) {}

  define(name: string, n: Node, line: number): void {
    if (this.values.has(name)) throw new IrParseError(`%${name} is defined twice`, line);
    this.values.set(name, n);
  }

  ref(name: string, line: number): Node {
    const n = this.values.get(name);
    if (!n) throw new IrParseError(`%${name} is used before it is defined`, line);
    return n;
  }

  type(text: string, line: number): IrType {
    try {
      return parseType(text);
    } catch (e) {
      throw new IrParseError((e as Error).message, line);
    }
  }

  body(lines: NodeLine[]): void {
    for (const l of lines) this.node(l);
  }

  region(r: RegionBlock): Region {
    const params = r.params.map((p) => {
      const n = this.g.regionParam(paramName(p.name), this.type(p.type, r.line));
      this.define(p.name, n, r.line);
      return n;
    });
    this.body(r.body);
    return { params, results: r.yields.map((y) => this.ref(y, r.line)) };
  }

  node(l: NodeLine): void {
    if (!(l.op in opSpecs) || l.op === 'param') throw new IrParseError(`unknown op '${l.op}'`, l.line);
    const op = l.op as OpKind;
    const printed = this.type(l.type, l.line);
    let attrs: Attrs = {};
    if (l.attrs) {
      let json: unknown;
      try {
        json = JSON.parse(l.attrs);
      } catch (e) {
        throw new IrParseError(`bad attributes ${l.attrs}: ${(e as Error).message}`, l.line);
      }
      try {
        attrs = reviveAttr(json) as Attrs;
      } catch (e) {
        throw new IrParseError((e as Error).message, l.line);
      }
    }
    // The printer leaves out the result type of declarative nodes: it is the node's own type.
    if (op === 'opt' || op === 'root' || op === 'custom') attrs = { ...attrs, resultType: printed };
    const args = l.args.map((a) => this.ref(a, l.line));
    const regions = l.regions.map((r) => this.region(r));
    let n: Node;
    try {
      n = this.g.node(op, args, attrs, regions);
    } catch (e) {
      throw new IrParseError((e as Error).message, l.line);
    }
    if (typeToString(n.type) !== typeToString(printed)) {
      throw new IrParseError(`%${l.name}: ${op} gives ${typeToString(n.type)} but the text says ${typeToString(printed)}`, l.line);
    }
    this.define(l.name, n, l.line);
  }
}

/** The printer disambiguates repeated parameter names as `x.1`, `x.2`; the node's name is `x`. */
function paramName(printed: string): string {
  return printed.replace(/\.\d+$/, '');
}

const headerRe = /^(fn|layer|optimizer|vjp|jvp) ([^\s(]+)\((.*)\)(?: \[(.*): int\])? \{$/;
const statusRe = new RegExp(`^status "(.*)" (\\w+) iterations = %(${NAME}), converged = %(${NAME})(?:, residual = %(${NAME})( \\(estimate\\))?)?$`);

/** Parses one function as printed by printFunc, building its nodes in `g`. */
export function parseFunc(text: string, g: Graph): Func {
  const raw = text.split('\n');
  while (raw.length && raw[raw.length - 1]!.trim() === '') raw.pop();
  const ls = new Lines(raw);
  while (!ls.done && ls.peek() === '') ls.i++;
  if (ls.done) throw new IrParseError('empty text', 1);
  const hm = headerRe.exec(ls.peek());
  if (!hm) throw new IrParseError(`expected a function header 'kind name(params) {', found '${ls.peek()}'`, ls.lineNo);
  const headerLine = ls.lineNo;
  ls.i++;
  const b = new Reader(g);
  const params: FuncParam[] = splitTop(hm[3]!).map((p) => {
    const d = paramDecl(p, headerLine);
    const type = b.type(d.type, headerLine);
    const node = g.param(paramName(d.name), type);
    b.define(d.name, node, headerLine);
    return { name: paramName(d.name), node, differentiable: type.kind === 'tensor' && type.dtype === 'f' };
  });
  const intParams = hm[4] !== undefined ? splitTop(hm[4]).map((name) => ({ name })) : [];
  const derivedDims: { name: string; value: Dim }[] = [];
  while (!ls.done && ls.peek().startsWith('where ')) {
    const m = /^where (\w+) = (.+)$/.exec(ls.peek());
    if (!m) throw new IrParseError(`cannot read '${ls.peek()}'`, ls.lineNo);
    try {
      derivedDims.push({ name: m[1]!, value: parseDim(m[2]!) });
    } catch (e) {
      throw new IrParseError((e as Error).message, ls.lineNo);
    }
    ls.i++;
  }
  b.body(readBody(ls));
  if (ls.done || !ls.peek().startsWith('return')) throw new IrParseError(`expected a node, 'region' or 'return', found '${ls.done ? 'end of text' : ls.peek()}'`, ls.lineNo);
  const retLine = ls.lineNo;
  const results: FuncResult[] = splitTop(ls.peek().slice('return'.length)).map((r) => {
    const m = new RegExp(`^(\\S+) = %(${NAME})$`).exec(r);
    if (!m) throw new IrParseError(`expected 'name = %value' in return, found '${r}'`, retLine);
    return { name: m[1]!, node: b.ref(m[2]!, retLine) };
  });
  ls.i++;
  const status: StatusEntry[] = [];
  while (!ls.done && ls.peek().startsWith('status ')) {
    const m = statusRe.exec(ls.peek());
    if (!m) throw new IrParseError(`cannot read status line '${ls.peek()}'`, ls.lineNo);
    const at = ls.lineNo;
    const kind = m[2] as StatusKind;
    if (!statusKinds.includes(kind)) throw new IrParseError(`unknown status kind '${m[2]}' (${statusKinds.join(', ')})`, at);
    status.push({
      name: m[1]!,
      kind,
      iterations: b.ref(m[3]!, at),
      converged: b.ref(m[4]!, at),
      ...(m[5] !== undefined ? { residual: b.ref(m[5], at) } : {}),
      ...(m[6] !== undefined ? { estimate: true } : {}),
    });
    ls.i++;
  }
  if (ls.done || ls.peek() !== '}') throw new IrParseError(`expected '}' closing the function, found '${ls.done ? 'end of text' : ls.peek()}'`, ls.lineNo);
  ls.i++;
  while (!ls.done && ls.peek() === '') ls.i++;
  if (!ls.done) throw new IrParseError(`text after the function: '${ls.peek()}'`, ls.lineNo);
  return { name: hm[2]!, kind: hm[1] as Func['kind'], params, results, status, intParams, derivedDims };
}

