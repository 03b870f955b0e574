// Prints IR as jaxpr-like text: one line per node, regions indented under the node that owns
// them, function and region parameters by name, other values numbered in print order. The
// text parses back (compiler/ir/parser.ts), which tests use to pin printed IR.

import { Dim } from '../../core/dims.js';
import { type AttrValue, type Attrs, type Func, type Node, type Region, scopes, type Scopes } from './node.js';
import { type IrType, typeToString } from './types.js';

function attrJson(v: AttrValue): unknown {
  if (v === null) return null;
  // JSON has no spelling for ±Infinity and NaN (JSON.stringify writes null)
  if (typeof v === 'number' && !Number.isFinite(v)) return { $num: String(v) };
  if (v instanceof Dim) return { $dim: v.toString() };
  if (Array.isArray(v)) return v.map((x) => attrJson(x as AttrValue));
  if (typeof v === 'object') {
    const t = v as IrType;
    if (t.kind === 'tensor' || t.kind === 'tuple') return { $type: typeToString(t) };
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) o[k] = attrJson((v as Record<string, AttrValue>)[k]!);
    return o;
  }
  return v;
}

export function attrsText(a: Attrs, skip: string[] = []): string {
  const keys = Object.keys(a).filter((k) => !skip.includes(k)).sort();
  if (keys.length === 0) return '';
  const o: Record<string, unknown> = {};
  for (const k of keys) o[k] = attrJson(a[k]!);
  return ' ' + JSON.stringify(o);
}

class Namer {
  private names = new Map<Node, string>();
  private used = new Set<string>();
  private counter = 0;

  name(n: Node): string {
    let s = this.names.get(n);
    if (s) return s;
    if (n.op === 'param') {
      // '.' stays: derived names (runtime/derivative-names.ts: ct.r, tg.p, grad.p) must read back as
      // themselves; a repeated name gets `.1`, `.2`, which the parser strips (no name ends in .<digits>)
      const base = String(n.attrs.name).replace(/[^A-Za-z0-9_.]/g, '_');
      s = base;
      for (let i = 1; this.used.has(s); i++) s = `${base}.${i}`;
    } else s = String(this.counter++);
    this.used.add(s);
    this.names.set(n, s);
    return s;
  }
}

function printRegionBody(sc: Scopes, r: Region | null, namer: Namer, indent: string, out: string[]): void {
  for (const n of sc.body.get(r) ?? []) {
    if (n.op === 'param') continue;
    const args = n.args.map((a) => `%${namer.name(a)}`).join(' ');
    const skip = n.op === 'opt' || n.op === 'root' || n.op === 'custom' ? ['resultType'] : [];
    out.push(`${indent}%${namer.name(n)}: ${typeToString(n.type)} = ${n.op}${args ? ' ' + args : ''}${attrsText(n.attrs, skip)}`);
    n.regions.forEach((reg, i) => {
      const ps = reg.params.map((p) => `%${namer.name(p)}: ${typeToString(p.type)}`).join(', ');
      out.push(`${indent}  region ${i} (${ps}) {`);
      printRegionBody(sc, reg, namer, indent + '    ', out);
      out.push(`${indent}    yield ${reg.results.map((x) => `%${namer.name(x)}`).join(', ')}`);
      out.push(`${indent}  }`);
    });
  }
}

/** Prints a function: signature, body, results and status outputs. */
export function printFunc(f: Func): string {
  const namer = new Namer();
  const roots = [...f.results.map((r) => r.node), ...f.status.flatMap((s) => [s.iterations, s.converged, ...(s.residual ? [s.residual] : [])])];
  const sc = scopes(roots);
  const params = f.params.map((p) => `%${namer.name(p.node)}: ${typeToString(p.node.type)}`).join(', ');
  const ints = f.intParams.length ? ` [${f.intParams.map((i) => i.name).join(', ')}: int]` : '';
  const out = [`${f.kind} ${f.name}(${params})${ints} {`];
  for (const d of f.derivedDims) out.push(`  where ${d.name} = ${d.value}`);
  printRegionBody(sc, null, namer, '  ', out);
  out.push(`  return ${f.results.map((r) => `${r.name} = %${namer.name(r.node)}`).join(', ')}`);
  for (const s of f.status) {
    out.push(`  status "${s.name}" ${s.kind} iterations = %${namer.name(s.iterations)}, converged = %${namer.name(s.converged)}${s.residual ? `, residual = %${namer.name(s.residual)}${s.estimate ? ' (estimate)' : ''}` : ''}`);
  }
  out.push('}');
  return out.join('\n');
}

/** Prints loose nodes (for debugging and error messages). */
export function printNodes(roots: Node[]): string {
  const namer = new Namer();
  const sc = scopes(roots);
  const out: string[] = [];
  printRegionBody(sc, null, namer, '', out);
  out.push(`yield ${roots.map((r) => `%${namer.name(r)}`).join(', ')}`);
  return out.join('\n');
}
