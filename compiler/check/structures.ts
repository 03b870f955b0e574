// Structured matrix classes (issue 15, item 1): `structure` items and items generic over them.
//
//     structure diagonal(n: int) {
//       storage: vec[n]
//       fn to_dense(s: vec[n]) -> mat[n, n] = diag(s)
//       fn project(X: mat[n, n]) -> vec[n] = diag(X)
//       fn mul(s: vec[n], t: vec[n]) -> vec[n] = s .* t
//     }
//     optimizer singd(W: mat[d, p], …; S: static structure = dense) =
//       state K: S[p] = S.eye(p), …
//       let … K2 = K - beta * S.mul(K, m) … in …
//     optimizer singd_diag = singd[S = diagonal]
//
// A structure is a namespace of member functions over its storage type. `NAME[p]` (and `S[p]` for a
// static structure parameter S) is that storage type with the structure's parameters bound (here
// vec[p]); `NAME.member(args)` calls a member. Items with `static structure` parameters are
// *templates*: they are monomorphised here, before elaboration, into one ordinary item per binding
// of their structure parameters — the item's AST cloned with `S[p]` replaced by the storage type,
// `S.m(args)` by a call of the member item `NAME.m`, and the structure parameters dropped. An
// instance is named by an instance item (`optimizer singd_diag = singd[S = diagonal]`), by the
// template's own name when every structure parameter has a default, or `singd[S=diagonal]` when a
// call asks for it (`singd_step(…, S: diagonal)` or a structure given positionally). Everything
// after this pass (static ints, collections, shapes, derivatives, backends) sees plain items.
//
// Members a structure does not declare fall back to its dense form (`mul(a, b)` is
// `project(to_dense(a) * to_dense(b))`, …: FALLBACKS below), so a class declares what it can do
// cheaper than dense and nothing else. Closure under an update holds by construction: a value of a
// structure's type *is* its storage, which denotes the class member to_dense(s) whatever its
// entries, and the only ways into it are the storage's own arithmetic and the members (project, mul,
// …), all typed to return storage — a state `K: S[p]` updated to anything else is a shape error.
//
// Diagnostics MAT0260–MAT0269 (docs/diagnostics.md).

import type * as A from '../../grammar/ast.js';
import { closest, type DiagnosticBag, type Note } from '../diagnostics.js';
import type { SourceFile, Span } from '../source.js';
import { type as printType } from '../../grammar/print-ast.js';
import { poison, type Val } from './values.js';
import { mapChildren, walkItem } from '../../grammar/ast-walk.js';
import { staticParams } from './statics.js';

export interface Structure {
  item: A.StructureItem;
  file: SourceFile;
  /** member name → the item name it was registered under (`diagonal.to_dense`) */
  members: Map<string, string>;
}

interface Template {
  item: A.FnItem | A.OptimizerItem;
  file: SourceFile;
  /** the static structure parameters, in declaration order */
  sparams: A.Param[];
  /** static ints an instance item binds (its instances carry them: ItemEntry.fixed) */
  fixed?: [string, number][];
}

type Entry = { item: A.FnItem | A.OptimizerItem; file: SourceFile; instance?: Note; fixed?: [string, number][] };

/** Members every structure declares. */
export const REQUIRED_MEMBERS = ['to_dense', 'project'] as const;

/** Members with a default in terms of to_dense and project: `args` names the operands, `body`
 *  builds the expression from them (each operand is bound once, so it is evaluated once). */
const FALLBACKS: Record<string, { args: string[]; what: string; body: (b: Build, a: A.Expr[]) => A.Expr }> = {
  // the product within the class (closed under products): Π(D(a) D(b))
  mul: { args: ['a', 'b'], what: 'project(to_dense(a) * to_dense(b))', body: (b, [x, y]) => b.call('project', [b.bin('*', b.call('to_dense', [x!]), b.call('to_dense', [y!]))]) },
  // the identity and zero of the class
  eye: { args: ['n'], what: 'project(eye(n))', body: (b, [n]) => b.call('project', [b.builtin('eye', [n!])]) },
  zeros: { args: ['n'], what: 'project(zeros(n, n))', body: (b, [n]) => b.call('project', [b.builtin('zeros', [n!, n!])]) },
  trace: { args: ['a'], what: 'trace(to_dense(a))', body: (b, [x]) => b.builtin('trace', [b.call('to_dense', [x!])]) },
  // Π(Dᵀ D) and Π((X D)ᵀ (X D)) (singd's from_inner)
  gram: { args: ['a'], what: 'project(to_dense(a)\' * to_dense(a))', body: (b, [x]) => b.let1(b.call('to_dense', [x!]), (d) => b.call('project', [b.bin('*', b.tr(d), d)])) },
  inner: { args: ['a', 'X'], what: 'project((X * to_dense(a))\' * (X * to_dense(a)))', body: (b, [x, X]) => b.let1(b.bin('*', X!, b.call('to_dense', [x!])), (s) => b.call('project', [b.bin('*', b.tr(s), s)])) },
  // products with dense matrices: D(a) M and D(a)ᵀ M
  apply: { args: ['a', 'M'], what: 'to_dense(a) * M', body: (b, [x, M]) => b.bin('*', b.call('to_dense', [x!]), M!) },
  apply_t: { args: ['a', 'M'], what: 'to_dense(a)\' * M', body: (b, [x, M]) => b.bin('*', b.tr(b.call('to_dense', [x!])), M!) },
  // the largest magnitude of the dense form
  maxabs: { args: ['a'], what: 'max(abs(to_dense(a)))', body: (b, [x]) => b.builtin('max', [b.builtin('abs', [b.call('to_dense', [x!])])]) },
};

/** AST builders for fallbacks, every node at one span (the member expression's). */
class Build {
  private fresh = 0;
  constructor(readonly st: Structure, readonly span: Span) {}
  call(member: string, args: A.Expr[]): A.Expr {
    return { kind: 'call', callee: { name: this.st.members.get(member) ?? `${this.st.item.name.name}.${member}`, span: this.span }, args: args.map((value) => ({ name: null, value })), span: this.span };
  }
  builtin(name: string, args: A.Expr[]): A.Expr {
    return { kind: 'call', callee: { name, span: this.span }, args: args.map((value) => ({ name: null, value })), span: this.span };
  }
  bin(op: A.BinaryOp, left: A.Expr, right: A.Expr): A.Expr {
    return { kind: 'binary', op, left, right, opSpan: this.span, span: this.span };
  }
  tr(operand: A.Expr): A.Expr {
    return { kind: 'transpose', operand, span: this.span };
  }
  name(n: string): A.Expr {
    return { kind: 'name', name: n, span: this.span };
  }
  /** `let v = value in body(v)` with a fresh v (names with `%` are no identifier of the language) */
  let1(value: A.Expr, body: (v: A.Expr) => A.Expr): A.Expr {
    const v = `%${this.st.item.name.name}${this.fresh++}`;
    return { kind: 'let', bindings: [{ names: [{ name: v, span: this.span }], tuple: false, value, span: this.span }], body: body(this.name(v)), span: this.span };
  }
}

/** Builtin type names (compiler/check/type-ast.ts): a structure named so would take over the
 *  builtin type in every file. */
const BUILTIN_TYPES = new Set(['real', 'bool', 'int', 'vec', 'mat', 'tensor', 'sym', 'spd', 'diag', 'tril', 'triu', 'orth', 'stiefel', 'sphere',
  'complex', 'cvec', 'cmat', 'ctensor', 'herm', 'hpd', 'unitary', 'cstiefel', 'csphere']);

const isStructureParam = (p: A.Param): boolean => p.type?.name.name === 'structure' && !p.type.each;

/** The name of a call-requested instance: `singd[S=diagonal]`. */
export function instanceName(template: string, binding: readonly (readonly [string, string])[]): string {
  return `${template}[${binding.map(([k, v]) => `${k}=${v}`).join(',')}]`;
}

/** What the pass hands back to the program's elaboration. */
export interface StructuresOut {
  structures: Map<string, Structure>;
  /** names of structure members and call-requested instances: visible in every file */
  global: Set<string>;
}

/** Registers structures and their members, monomorphises templates, and rewrites every item's
 *  structure types and member calls. `items` (the program's item table) is updated in place:
 *  templates leave it, members and instances join it. */
export function expandStructures(files: { file: SourceFile; program: A.Program }[], items: Map<string, Entry>, diag: DiagnosticBag): StructuresOut {
  const structures = new Map<string, Structure>();
  const templates = new Map<string, Template>();
  const global = new Set<string>();
  const out: StructuresOut = { structures, global };

  // ---- structures
  for (const { file, program } of files) {
    for (const it of program.items) {
      if (it.kind !== 'structure') continue;
      const name = it.name.name;
      const prev = items.get(name) ?? structures.get(name);
      if (prev) {
        diag.error('MAT0305', `'${name}' is defined twice`, it.name.span, { notes: [{ message: 'first defined here', span: prev.item.name.span }] });
        continue;
      }
      if (BUILTIN_TYPES.has(name)) {
        diag.error('MAT0260', `'${name}' is a builtin type; a structure needs a name of its own`, it.name.span);
        continue;
      }
      for (const p of it.params) {
        if (p.type?.name.name !== 'int' || p.type.static || p.type.dims) {
          diag.error('MAT0260', `a structure's parameters are dimensions: '${p.name.name}: int'`, p.type?.span ?? p.span);
        }
      }
      // to_dense(s) reads the class's size off its argument: each parameter is a dimension of the storage
      const bare = new Set((it.storage.dims ?? []).flatMap((d) => (d.kind === 'name' ? [d.name] : [])));
      for (const p of it.params) {
        if (!bare.has(p.name.name)) {
          diag.error('MAT0260', `the storage of ${name} has no dimension ${p.name.name}: to_dense could not tell the size from it`, it.storage.span, {
            suggestion: `make ${p.name.name} one of the storage's dimensions (e.g. vec[${p.name.name}])`,
          });
        }
      }
      const st: Structure = { item: it, file, members: new Map() };
      for (const m of it.members) {
        if (st.members.has(m.name.name)) {
          diag.error('MAT0260', `structure ${name} declares '${m.name.name}' twice`, m.name.span);
          continue;
        }
        st.members.set(m.name.name, `${name}.${m.name.name}`);
      }
      for (const r of REQUIRED_MEMBERS) {
        if (!st.members.has(r)) {
          diag.error('MAT0266', `structure ${name} has no '${r}'`, it.name.span, {
            notes: [{ message: 'every structure declares to_dense (its storage → the dense n×n matrix) and project (a dense n×n matrix → its storage)' }],
            suggestion: r === 'to_dense' ? `add fn to_dense(s: ${printType(it.storage)}) -> mat[…] = …` : `add fn project(X: mat[…]) -> ${printType(it.storage)} = …`,
          });
        }
      }
      checkMemberTypes(st, diag);
      structures.set(name, st);
    }
  }

  // ---- templates: items with static structure parameters
  for (const [name, e] of [...items]) {
    const all = e.item.kind === 'optimizer' ? [...e.item.params, ...e.item.hyper] : e.item.params;
    const sparams = all.filter(isStructureParam);
    if (!sparams.length) continue;
    for (const p of sparams) {
      if (!p.type!.static) diag.error('MAT0260', `a structure parameter is known when the item is compiled: '${p.name.name}: static structure'`, p.type!.span);
      if (p.type!.dims) diag.error('MAT0265', `'structure' takes no dimensions: '${p.name.name}: static structure'`, p.type!.span);
    }
    templates.set(name, { item: e.item, file: e.file, sparams });
    items.delete(name);
  }

  const rewriter = new Rewriter(structures, templates, items, global, diag);

  // ---- structure members become items NAME.member (their own bodies rewritten: they may call
  // each other as NAME.member(…) and name their storage NAME[n])
  for (const st of structures.values()) {
    for (const m of st.item.members) {
      const qn = `${st.item.name.name}.${m.name.name}`;
      if (items.has(qn) || st.members.get(m.name.name) !== qn) continue;
      const item = rewriter.item({ ...m, name: { name: qn, span: m.name.span } }, new Map()) as A.FnItem;
      items.set(qn, { item, file: st.file });
      global.add(qn);
    }
  }

  // ---- ordinary items: structure types and member calls rewritten, instances requested
  for (const [name, e] of [...items]) {
    if (name.includes('.')) continue; // members, done above
    e.item = rewriter.item(e.item, new Map());
  }

  // ---- instance items and default instances
  const synthetic = new Set<string>(); // templates at other static ints, made by instance items
  for (const { file, program } of files) {
    for (const it of program.items) {
      if (it.kind !== 'instance') continue;
      let t = templates.get(it.template.name);
      const plain = t ? undefined : items.get(it.template.name);
      const ints = it.bindings.filter((b) => b.int !== undefined);
      const misbound = plain && !t && it.bindings.find((b) => b.int === undefined && staticInts(plain.item).includes(b.param.name));
      if (misbound) {
        diag.error('MAT0264', `${misbound.param.name} is a static int parameter of ${it.template.name}: bind it to a number, not '${misbound.value.name}'`, misbound.value.span);
        continue;
      }
      if (!t && !(plain && ints.length)) {
        const sug = closest(it.template.name, [...templates.keys(), ...[...items.keys()].filter((k) => !k.includes('.'))]);
        diag.error('MAT0267', plain ? `'${it.template.name}' has no structure parameters and this instance binds no static int: there is nothing to instantiate` : `no item generic over structures or static ints is named '${it.template.name}'`, it.template.span, {
          ...(sug && sug !== it.template.name ? { suggestion: `did you mean '${sug}'?` } : {}),
        });
        continue;
      }
      const base = (t ?? plain)!;
      // static int bindings: the instance carries them (ItemEntry.fixed)
      if (ints.length && !checkStaticInts(base.item, ints, it.template.name, diag)) continue;
      const fixed: [string, number][] = ints.map((b) => [b.param.name, b.int!]);
      if (!t) {
        // an ordinary item at given static ints: the item under the instance's name, with them
        const kindOf = base.item.kind === 'optimizer' ? 'optimizer' : 'fn';
        if ((it.of === 'optimizer') !== (kindOf === 'optimizer')) {
          diag.error('MAT0267', `${it.template.name} is ${kindOf === 'optimizer' ? 'an optimizer' : 'a function'}: write '${kindOf === 'optimizer' ? 'optimizer' : 'fn'} ${it.name.name} = ${it.template.name}[…]'`, it.span);
          continue;
        }
        const other = it.bindings.find((b) => b.int === undefined);
        if (other) {
          diag.error('MAT0264', `${it.template.name} has no structure parameter '${other.param.name}'`, other.param.span);
          continue;
        }
        if (items.has(it.name.name) || templates.has(it.name.name) || structures.has(it.name.name)) {
          diag.error('MAT0305', `'${it.name.name}' is defined twice`, it.name.span);
          continue;
        }
        items.set(it.name.name, { item: { ...base.item, name: { name: it.name.name, span: it.name.span } }, file: plain!.file, fixed });
        continue;
      }
      if (ints.length) {
        // a template at other static ints: a template of its own, named after the binding
        const key = `${it.template.name}[${ints.map((b) => `${b.param.name}=${b.int}`).join(',')}]`;
        t = { ...t, fixed };
        templates.set(key, t);
        synthetic.add(key);
      }
      rewriter.instantiated.add(it.template.name);
      const kindOf = t.item.kind === 'optimizer' ? 'optimizer' : 'fn';
      if ((it.of === 'optimizer') !== (kindOf === 'optimizer')) {
        diag.error('MAT0267', `${it.template.name} is ${kindOf === 'optimizer' ? 'an optimizer' : 'a function'}: write '${kindOf === 'optimizer' ? 'optimizer' : 'fn'} ${it.name.name} = ${it.template.name}[…]'`, it.span, {
          notes: [{ message: `${it.template.name} is declared here`, span: t.item.name.span }],
        });
        continue;
      }
      if (items.has(it.name.name) || templates.has(it.name.name) || structures.has(it.name.name)) {
        diag.error('MAT0305', `'${it.name.name}' is defined twice`, it.name.span);
        continue;
      }
      const given = new Map<string, { value: A.Ident; span: Span }>();
      for (const b of it.bindings) {
        if (b.int !== undefined) continue;
        if (!t.sparams.some((p) => p.name.name === b.param.name)) {
          const sug = closest(b.param.name, t.sparams.map((p) => p.name.name));
          diag.error('MAT0264', `${it.template.name} has no structure parameter '${b.param.name}'`, b.param.span, {
            notes: [{ message: `its structure parameters: ${t.sparams.map((p) => p.name.name).join(', ')}` }],
            ...(sug ? { suggestion: `did you mean '${sug}'?` } : {}),
          });
          continue;
        }
        given.set(b.param.name, { value: b.value, span: b.value.span });
      }
      const tkey = ints.length ? `${it.template.name}[${ints.map((b) => `${b.param.name}=${b.int}`).join(',')}]` : it.template.name;
      const binding = rewriter.bind(t, tkey, given, new Map(), it.span);
      if (binding) rewriter.instantiate(tkey, binding, it.name.name, it.name.span);
    }
  }
  for (const [name, t] of templates) {
    // every structure parameter has a default: the template's own name is that instance
    if (synthetic.has(name) || !t.sparams.every((p) => p.default)) continue;
    const binding = rewriter.bind(t, name, new Map(), new Map(), t.item.name.span, true);
    if (binding) rewriter.instantiate(name, binding, name, t.item.name.span);
  }
  rewriter.drain();
  for (const [name, t] of templates) {
    if (rewriter.instantiated.has(name) || synthetic.has(name)) continue;
    const sp = t.sparams[0]!;
    diag.warning('MAT0269', `${name} is generic over structures and has no instance: it is not checked`, t.item.name.span, {
      notes: [{ message: 'an item with static structure parameters is checked per instance', span: sp.span }],
      suggestion: `name an instance (${t.item.kind === 'optimizer' ? 'optimizer' : 'fn'} ${name}_1 = ${name}[${sp.name.name} = …]), call it with a structure, or give ${t.sparams.map((p) => p.name.name).join(', ')} ${t.sparams.length === 1 ? 'a default' : 'defaults'}`,
    });
  }
  return out;
}

/** The names of an item's static int parameters (statics.ts: its static parameters). */
const staticInts = (item: A.FnItem | A.OptimizerItem): string[] => staticParams(item).filter((p) => p.type!.name.name === 'int' && !p.type!.each).map((p) => p.name.name);

/** Every name `ints` binds is a static int parameter of `item` (MAT0264 otherwise). */
function checkStaticInts(item: A.FnItem | A.OptimizerItem, ints: { param: A.Ident; value: A.Ident; int?: number }[], tname: string, diag: DiagnosticBag): boolean {
  const names = staticInts(item);
  const bad = ints.filter((b) => !names.includes(b.param.name));
  for (const b of bad) {
    const sug = closest(b.param.name, names);
    diag.error('MAT0264', `${tname} has no static int parameter '${b.param.name}'`, b.param.span, {
      notes: [{ message: names.length ? `its static int parameters: ${names.join(', ')}` : `${tname} has no static int parameters` }],
      ...(sug ? { suggestion: `did you mean '${sug}'?` } : {}),
    });
  }
  return bad.length === 0;
}

/** to_dense takes the storage, project returns it (MAT0268). */
function checkMemberTypes(st: Structure, diag: DiagnosticBag): void {
  const want = printType(st.item.storage);
  for (const m of st.item.members) {
    if (m.name.name === 'to_dense') {
      const p = m.params[0];
      if (!p?.type || printType(p.type) !== want) {
        diag.error('MAT0268', `${st.item.name.name}.to_dense takes the storage '${want}' first${p?.type ? `, not '${printType(p.type)}'` : ''}`, p?.type?.span ?? m.name.span, {
          notes: [{ message: 'the storage is declared here', span: st.item.storage.span }],
        });
      }
    }
    if (m.name.name === 'project') {
      const r = m.results[0];
      if (m.results.length !== 1 || !r || printType(r.type) !== want) {
        diag.error('MAT0268', `${st.item.name.name}.project returns the storage '${want}'${r ? `, not '${printType(r.type)}'` : ''}`, r?.type.span ?? m.name.span, {
          notes: [{ message: 'the storage is declared here', span: st.item.storage.span }],
        });
      }
    }
  }
}

/** The most instances one program may ask for (a template asking for itself at ever new bindings
 *  cannot: bindings are structure names, finitely many; this bounds the product). */
const MAX_INSTANCES = 1024;

class Rewriter {
  private queue: { template: string; binding: [string, string][]; name: string }[] = [];
  private made = new Set<string>();
  /** templates asked for at least once (an instance, or a call or instance item that failed) */
  readonly instantiated = new Set<string>();
  constructor(
    private structures: Map<string, Structure>,
    private templates: Map<string, Template>,
    private items: Map<string, Entry>,
    private global: Set<string>,
    private diag: DiagnosticBag,
  ) {}

  /** The structure a name denotes here: a structure parameter bound in env, or a structure. */
  private structureOf(name: string, env: ReadonlyMap<string, string>): Structure | undefined {
    return this.structures.get(env.get(name) ?? name);
  }

  /** The binding of a template's structure parameters: given ones (names resolved through env),
   *  then defaults; MAT0263 / MAT0264 otherwise. */
  bind(t: Template, tname: string, given: Map<string, { value: A.Ident; span: Span }>, env: ReadonlyMap<string, string>, span: Span, quiet = false): [string, string][] | null {
    if (!quiet) this.instantiated.add(tname);
    const out: [string, string][] = [];
    let ok = true;
    for (const p of t.sparams) {
      const g = given.get(p.name.name);
      let value: string | undefined;
      let at = span;
      if (g) {
        value = g.value.name;
        at = g.span;
      } else if (p.default?.kind === 'name') {
        value = p.default.name;
        at = p.default.span;
      } else if (p.default) {
        this.diag.error('MAT0263', `the default of structure parameter ${p.name.name} is a structure's name`, p.default.span);
        ok = false;
        continue;
      }
      if (value === undefined) {
        if (!quiet) {
          this.diag.error('MAT0264', `${tname} needs its structure parameter ${p.name.name}`, span, {
            notes: [{ message: `${p.name.name} is declared here`, span: p.span }],
            suggestion: `give it positionally or by name: ${p.name.name}: ${[...this.structures.keys()][0] ?? 'dense'}`,
          });
        }
        ok = false;
        continue;
      }
      const st = this.structureOf(value, env);
      if (!st) {
        const sug = closest(value, this.structures.keys());
        this.diag.error('MAT0263', `'${value}' is not a structure (structure parameter ${p.name.name} of ${tname})`, at, {
          notes: [{ message: `structures: ${[...this.structures.keys()].join(', ') || 'none declared'}` }],
          ...(sug ? { suggestion: `did you mean '${sug}'?` } : {}),
        });
        ok = false;
        continue;
      }
      out.push([p.name.name, st.item.name.name]);
    }
    return ok ? out : null;
  }

  /** Queues the instance of `template` at `binding` named `name` (once per name). */
  instantiate(template: string, binding: [string, string][], name: string, span: Span): void {
    if (this.made.has(name)) return;
    if (this.made.size >= MAX_INSTANCES) {
      this.diag.error('MAT0701', `more than ${MAX_INSTANCES} instances of items generic over structures`, span);
      return;
    }
    this.made.add(name);
    this.instantiated.add(template);
    this.queue.push({ template, binding, name });
  }

  /** Makes every queued instance (an instance's body may ask for more). */
  drain(): void {
    while (this.queue.length) {
      const { template, binding, name } = this.queue.shift()!;
      const t = this.templates.get(template)!;
      const env = new Map(binding);
      const item = this.item({ ...t.item, name: { name, span: t.item.name.span } }, env);
      // the structure parameters leave the instance's signature
      const drop = (ps: A.Param[]): A.Param[] => ps.filter((p) => !isStructureParam(p));
      const inst = item.kind === 'optimizer' ? { ...item, params: drop(item.params), hyper: drop(item.hyper) } : { ...item, params: drop(item.params) };
      const at = binding.map(([k, v]) => `${k} = ${v}`).join(', ');
      this.items.set(name, { item: inst, file: t.file, ...(t.fixed ? { fixed: t.fixed } : {}), instance: { message: name === template ? `in ${name} at the defaults of its structure parameters (${at})` : `in the instance ${name} of ${template} (${at})`, span: t.item.name.span } });
      if (name !== template && name.includes('[')) this.global.add(name);
    }
  }

  /** Does an item mention a structure (a member, a structure type, a call of a template)? Walked
   *  with an explicit stack, so that items without structures are left alone however deep. */
  private mentions(it: A.FnItem | A.OptimizerItem): boolean {
    const types: (A.TypeAst | null)[] = [...it.params, ...(it.kind === 'optimizer' ? it.hyper : [])].map((p) => p.type);
    if (it.kind === 'optimizer') types.push(...it.body.state.map((s) => s.type));
    else types.push(...it.results.map((r) => r.type));
    for (const e of walkItem(it)) {
      if (e.kind === 'member' || (e.kind === 'call' && this.templates.has(e.callee.name))) return true;
      if (e.kind === 'argopt' || e.kind === 'solve') types.push(...e.vars.map((v) => v.type));
      else if (e.kind === 'iterate' || e.kind === 'unroll') types.push(...e.carries.map((c) => c.type));
    }
    for (let t of types) {
      while (t?.each) t = t.each.elem;
      if (t && this.structures.has(t.name.name)) return true;
    }
    return false;
  }

  /** A rewritten copy of an item: structure types replaced by storage types, members by calls. */
  item(it: A.FnItem | A.OptimizerItem, env: ReadonlyMap<string, string>): A.FnItem | A.OptimizerItem {
    if (env.size === 0 && !this.mentions(it)) return it;
    try {
      return this.itemInner(it, env);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      this.diag.error('MAT0701', 'expression nested too deeply to instantiate its structures', it.name.span, {
        suggestion: 'bind parts of the expression with let',
      });
      return it;
    }
  }

  private itemInner(it: A.FnItem | A.OptimizerItem, env: ReadonlyMap<string, string>): A.FnItem | A.OptimizerItem {
    const x = (e: A.Expr): A.Expr => this.expr(e, env);
    const ty = (t: A.TypeAst): A.TypeAst => this.type(t, env);
    const param = (p: A.Param): A.Param => (isStructureParam(p) ? p : { ...p, type: p.type ? ty(p.type) : null, default: p.default ? x(p.default) : null });
    if (it.kind === 'optimizer') {
      const b = it.body;
      return {
        ...it,
        params: it.params.map(param),
        hyper: it.hyper.map(param),
        body: {
          ...b,
          state: b.state.map((s) => ({ ...s, type: ty(s.type), init: x(s.init) })),
          lets: b.lets.map((l) => ({ ...l, value: x(l.value) })),
          updates: b.updates.map((u) => ({ ...u, value: x(u.value) })),
        },
      };
    }
    return {
      ...it,
      params: it.params.map(param),
      results: it.results.map((r) => ({ ...r, type: ty(r.type) })),
      body: x(it.body),
      ...(it.grad ? { grad: { ...it.grad, targets: it.grad.targets.map((t) => ({ ...t, value: x(t.value) })) } } : {}),
    };
  }

  /** `S[p]` / `diagonal[p]` → the storage type with the structure's parameters bound. */
  type(t: A.TypeAst, env: ReadonlyMap<string, string>): A.TypeAst {
    if (t.each) return { ...t, each: { ...t.each, elem: this.type(t.each.elem, env) } };
    const st = this.structureOf(t.name.name, env);
    if (!st || t.static) return t;
    const ps = st.item.params;
    const dims = t.dims ?? [];
    if (dims.length !== ps.length) {
      this.diag.error('MAT0265', `structure ${st.item.name.name} takes ${ps.length} dimension${ps.length === 1 ? '' : 's'} (${ps.map((p) => p.name.name).join(', ')}), got ${dims.length}`, t.span, {
        notes: [{ message: `${st.item.name.name} is declared here`, span: st.item.name.span }],
      });
      return { name: { name: '<error>', span: t.name.span }, dims: null, span: t.span };
    }
    const sub = new Map(ps.map((p, i) => [p.name.name, dims[i]!]));
    const storage = st.item.storage;
    return { ...storage, span: t.span, dims: storage.dims ? storage.dims.map((d) => substDim(d, sub)) : null, ...(storage.each ? { each: substEach(storage.each, sub) } : {}) };
  }

  expr(e: A.Expr, env: ReadonlyMap<string, string>): A.Expr {
    switch (e.kind) {
      case 'member':
        return this.member(e, env);
      case 'call': {
        const t = this.templates.get(e.callee.name);
        if (t) return this.templateCall(e, t, env);
        return { ...e, args: e.args.map((a) => ({ ...a, value: this.expr(a.value, env) })) };
      }
      case 'name':
        if (env.has(e.name)) {
          this.diag.error('MAT0263', `structure parameter '${e.name}' is not a value: use its members (${e.name}.to_dense(x), ${e.name}.project(X), …) or its type ${e.name}[n]`, e.span);
          return { kind: 'error', span: e.span };
        }
        return e;
      default:
        return mapChildren(e, (c) => this.expr(c, env), (t) => this.type(t, env));
    }
  }

  private member(e: Extract<A.Expr, { kind: 'member' }>, env: ReadonlyMap<string, string>): A.Expr {
    const tgt = e.target.kind === 'name' ? e.target.name : null;
    const st = tgt !== null ? this.structureOf(tgt, env) : undefined;
    if (!st) {
      // left to the elaborator, which reports a `.` on a value (MAT0262) with what it is
      return { ...e, target: this.expr(e.target, env), args: e.args?.map((a) => ({ ...a, value: this.expr(a.value, env) })) ?? null };
    }
    const sname = st.item.name.name;
    const m = e.name.name;
    if (!e.args) {
      this.diag.error('MAT0261', `${tgt}.${m} is a member of structure ${sname}: call it, ${tgt}.${m}(…)`, e.span);
      return { kind: 'error', span: e.span };
    }
    for (const a of e.args) {
      if (a.name) {
        this.diag.error('MAT0261', `members of structures take positional arguments, not '${a.name.name} ='`, a.name.span);
        return { kind: 'error', span: e.span };
      }
    }
    const args = e.args.map((a) => this.expr(a.value, env));
    const qn = st.members.get(m);
    if (qn) return { kind: 'call', callee: { name: qn, span: e.name.span }, args: args.map((value) => ({ name: null, value })), span: e.span };
    const fb = FALLBACKS[m];
    if (fb) {
      if (args.length !== fb.args.length) {
        this.diag.error('MAT0261', `${tgt}.${m} takes ${fb.args.length} argument${fb.args.length === 1 ? '' : 's'} (${fb.args.join(', ')}), got ${args.length}`, e.span, {
          notes: [{ message: `${sname} does not declare ${m}; its default is ${fb.what}` }],
        });
        return { kind: 'error', span: e.span };
      }
      const b = new Build(st, e.span);
      // each operand bound once
      const bound: A.Expr[] = [];
      const wrap: ((body: A.Expr) => A.Expr)[] = [];
      for (const a of args) {
        if (a.kind === 'name' || a.kind === 'num') {
          bound.push(a);
          continue;
        }
        let v: A.Expr | null = null;
        const lt = b.let1(a, (x) => (v = x));
        bound.push(v!);
        wrap.push((body) => ({ ...(lt as Extract<A.Expr, { kind: 'let' }>), body }));
      }
      let body = fb.body(b, bound);
      for (let i = wrap.length - 1; i >= 0; i--) body = wrap[i]!(body);
      return body;
    }
    const known = [...new Set([...st.members.keys(), ...Object.keys(FALLBACKS)])];
    const sug = closest(m, known);
    this.diag.error('MAT0261', `structure ${sname} has no member '${m}'`, e.name.span, {
      notes: [
        { message: `${sname} declares ${[...st.members.keys()].join(', ')}; every structure also has ${Object.keys(FALLBACKS).filter((k) => !st.members.has(k)).join(', ')} from its dense form` },
        { message: `${sname} is declared here`, span: st.item.name.span },
      ],
      ...(sug ? { suggestion: `did you mean '${sug}'?` } : {}),
    });
    return { kind: 'error', span: e.span };
  }

  /** A call of a template: its structure arguments (named, or positional at the structure
   *  parameters' places) pick the instance, which is called with the remaining arguments. */
  private templateCall(e: Extract<A.Expr, { kind: 'call' }>, t: Template, env: ReadonlyMap<string, string>): A.Expr {
    const all = t.item.kind === 'optimizer' ? [...t.item.params, ...t.item.hyper] : t.item.params;
    this.instantiated.add(e.callee.name);
    if (t.item.kind === 'optimizer') {
      this.diag.error('MAT0267', `${e.callee.name} is an optimizer generic over structures: name an instance, 'optimizer NAME = ${e.callee.name}[${t.sparams[0]!.name.name} = …]'`, e.span);
      return { kind: 'error', span: e.span };
    }
    const given = new Map<string, { value: A.Ident; span: Span }>();
    const rest: A.Arg[] = [];
    // positional arguments fill the parameters in order, skipping those given by name
    const named = new Set(e.args.flatMap((a) => (a.name ? [a.name.name] : [])));
    const positional = all.filter((q) => !named.has(q.name.name));
    let pos = 0;
    for (const a of e.args) {
      const p = a.name ? all.find((q) => q.name.name === a.name!.name) : positional[pos++];
      if (p && isStructureParam(p)) {
        if (a.value.kind !== 'name' || !this.structureOf(a.value.name, env)) {
          const what = a.value.kind === 'name' ? `'${a.value.name}'` : 'this argument';
          const sug = a.value.kind === 'name' ? closest(a.value.name, this.structures.keys()) : undefined;
          this.diag.error('MAT0263', `${what} is not a structure (structure parameter ${p.name.name} of ${e.callee.name})`, a.value.span, {
            notes: [{ message: `structures: ${[...this.structures.keys()].join(', ') || 'none declared'}` }],
            ...(sug ? { suggestion: `did you mean '${sug}'?` } : {}),
          });
          return { kind: 'error', span: e.span };
        }
        given.set(p.name.name, { value: { name: a.value.name, span: a.value.span }, span: a.value.span });
        continue;
      }
      rest.push({ ...a, value: this.expr(a.value, env) });
    }
    const binding = this.bind(t, e.callee.name, given, env, e.span);
    if (!binding) return { kind: 'error', span: e.span };
    const name = instanceName(e.callee.name, binding);
    this.instantiate(e.callee.name, binding, name, e.span);
    return { ...e, callee: { name, span: e.callee.span }, args: rest };
  }
}


function substDim(d: A.DimAst, sub: ReadonlyMap<string, A.DimAst>): A.DimAst {
  switch (d.kind) {
    case 'name':
      return sub.get(d.name) ?? d;
    case 'bin':
      return { ...d, left: substDim(d.left, sub), right: substDim(d.right, sub) };
    case 'call':
      return { ...d, args: d.args.map((a) => substDim(a, sub)) };
    case 'index':
      return { ...d, index: substDim(d.index, sub) };
    case 'reduce':
    case 'each':
      return { ...d, body: substDim(d.body, sub), gen: { ...d.gen, lo: substDim(d.gen.lo, sub), hi: substDim(d.gen.hi, sub) } };
    default:
      return d;
  }
}

function substEach(each: NonNullable<A.TypeAst['each']>, sub: ReadonlyMap<string, A.DimAst>): NonNullable<A.TypeAst['each']> {
  const elem: A.TypeAst = { ...each.elem, dims: each.elem.dims ? each.elem.dims.map((d) => substDim(d, sub)) : null, ...(each.elem.each ? { each: substEach(each.elem.each, sub) } : {}) };
  return { elem, gen: { ...each.gen, lo: substDim(each.gen.lo, sub), hi: substDim(each.gen.hi, sub) } };
}

/** A `.` on something that is not a structure (MAT0262). */
export function memberOfValue(diag: DiagnosticBag, e: Extract<A.Expr, { kind: 'member' }>): Val {
  const what = e.target.kind === 'name' ? `'${e.target.name}'` : 'this expression';
  diag.error('MAT0262', `${what} is not a structure: '.${e.name.name}' names a member of a structure (S.project(X), diagonal.to_dense(s))`, e.span, {
    notes: [{ message: 'values have no members; structures are declared with `structure NAME(n: int) { storage: TYPE  fn … }`' }],
  });
  return poison;
}
