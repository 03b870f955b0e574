// CST → AST with spans, plus the translation of lexer and parser errors into diagnostics
// (MAT0101 lexical, MAT0102 syntax). Recovered CST fragments become `error` nodes, which the
// checker skips silently: one mistake, one diagnostic.

import type { CstNode, IToken, CstElement } from '../vendor/chevrotain.js';
import { EOF } from '../vendor/chevrotain.js';
import type * as A from './ast.js';
import { parseCst } from './parser.js';
import * as T from './tokens.js';
import { DiagnosticBag } from '../compiler/diagnostics.js';
import { limitNote, limits } from '../compiler/limits.js';
import { dimDepth, itemDims } from './ast-walk.js';
import { type SourceFile, type Span } from '../compiler/source.js';

function isToken(e: CstElement): e is IToken {
  return (e as IToken).image !== undefined;
}

class Builder {
  constructor(
    readonly file: SourceFile,
    /** where forms the grammar accepts but the language does not are reported (MAT0102) */
    readonly diag: DiagnosticBag = new DiagnosticBag(),
  ) {}

  span(start: number, end: number): Span {
    const n = this.file.text.length;
    const s = Number.isFinite(start) ? Math.min(Math.max(0, start), n) : n;
    const e = Number.isFinite(end) ? Math.min(Math.max(s, end), n) : s;
    return { file: this.file, start: s, end: e };
  }

  tokSpan(t: IToken): Span {
    return this.span(t.startOffset, (t.endOffset ?? t.startOffset) + 1);
  }

  nodeSpan(n: CstNode): Span {
    const loc = n.location;
    if (loc && Number.isFinite(loc.startOffset)) {
      const end = Number.isFinite(loc.endOffset ?? NaN) ? loc.endOffset! + 1 : loc.startOffset + 1;
      return this.span(loc.startOffset, end);
    }
    const toks = allTokens(n);
    if (toks.length > 0) return this.span(toks[0]!.startOffset, toks[toks.length - 1]!.endOffset! + 1);
    return this.span(this.file.text.length, this.file.text.length);
  }

  ident(t: IToken | undefined, fallback: Span): A.Ident {
    if (!t || t.isInsertedInRecovery || !Number.isFinite(t.startOffset)) return { name: '<error>', span: fallback };
    return { name: t.image, span: this.tokSpan(t) };
  }

  // ---- items ----

  program(n: CstNode): A.Program {
    const items = (n.children.item ?? []).flatMap((c) => {
      const it = this.item(c as CstNode);
      return it ? [it] : [];
    });
    return { items, span: this.span(0, this.file.text.length) };
  }

  item(n: CstNode): A.Item | null {
    const c = n.children;
    if (c.importDecl) return this.importDecl(c.importDecl[0] as CstNode);
    if (c.fnDecl) return this.fnDecl(c.fnDecl[0] as CstNode);
    if (c.optimizerDecl) return this.optimizerDecl(c.optimizerDecl[0] as CstNode);
    if (c.structureDecl) return this.structureDecl(c.structureDecl[0] as CstNode);
    if (c.instanceDecl) return this.instanceDecl(c.instanceDecl[0] as CstNode);
    return null;
  }

  structureDecl(n: CstNode): A.Item {
    const span = this.nodeSpan(n);
    const name = this.ident(tok(n, 'Identifier'), span);
    const params = sub(n, 'paramList') ? this.paramList(sub(n, 'paramList')!) : [];
    const storage = sub(n, 'type') ? this.type(sub(n, 'type')!) : { name: { name: '<error>', span }, dims: null, span };
    const kw = n.children.storageKw?.[0] as IToken | undefined;
    if (kw && !kw.isInsertedInRecovery && kw.image !== 'storage') {
      this.diag.error('MAT0260', `expected 'storage: TYPE' to open structure ${name.name}, found '${kw.image}'`, this.tokSpan(kw));
    }
    const members = (n.children.fnDecl ?? []).map((m) => this.fnDecl(m as CstNode) as A.FnItem);
    return { kind: 'structure', name, params, storage, members, span };
  }

  instanceDecl(n: CstNode): A.Item {
    const span = this.nodeSpan(n);
    const of: 'fn' | 'layer' | 'optimizer' = tok(n, 'Kw_layer') ? 'layer' : tok(n, 'Kw_optimizer') ? 'optimizer' : 'fn';
    const name = this.ident(tok(n, 'Identifier'), span);
    const template = this.ident(n.children.template?.[0] as IToken | undefined, span);
    const ps = (n.children.bindParam ?? []) as IToken[];
    const vs = (n.children.bindValue ?? []) as IToken[];
    const bindings = ps.map((p, i) => {
      const v = vs[i];
      const num = v && /^[0-9]/.test(v.image);
      return { param: this.ident(p, span), value: this.ident(v, span), ...(num ? { int: Number(v.image) } : {}) };
    });
    return { kind: 'instance', of, name, template, bindings, span };
  }

  importDecl(n: CstNode): A.Item {
    const span = this.nodeSpan(n);
    const str = (tok(n, 'String') ?? tok(n, 'String', 1)) as IToken | undefined;
    const names = n.children.Identifier ? (n.children.Identifier as IToken[]).map((t) => this.ident(t, span)) : null;
    const path = str && !str.isInsertedInRecovery ? str.image.slice(1, -1) : '';
    return { kind: 'import', path, names, span };
  }

  fnDecl(n: CstNode): A.Item {
    const span = this.nodeSpan(n);
    const kind: 'fn' | 'layer' = tok(n, 'Kw_layer') ? 'layer' : 'fn';
    const name = this.ident(tok(n, 'Identifier'), span);
    const params = sub(n, 'paramList') ? this.paramList(sub(n, 'paramList')!) : [];
    const resNode = sub(n, 'results');
    const results = resNode ? (resNode.children.result ?? []).map((r) => this.result(r as CstNode)) : [];
    const tupleResults = !!(resNode && tok(resNode, 'LParen'));
    const where = sub(n, 'whereClause') ? this.whereClause(sub(n, 'whereClause')!) : [];
    const body = this.exprOrError(sub(n, 'expr'), span);
    const grad = sub(n, 'gradRule') ? this.gradRule(sub(n, 'gradRule')!) : undefined;
    return { kind, name, params, results, tupleResults, where, body, ...(grad ? { grad } : {}), span };
  }

  optimizerDecl(n: CstNode): A.Item {
    const span = this.nodeSpan(n);
    const name = this.ident(tok(n, 'Identifier'), span);
    const params = sub(n, 'paramList') ? this.paramList(sub(n, 'paramList')!) : [];
    const hyper = sub(n, 'hyper') ? this.paramList(sub(n, 'hyper')!) : [];
    const where = sub(n, 'whereClause') ? this.whereClause(sub(n, 'whereClause')!) : [];
    const state = (n.children.stateDecl ?? []).map((s) => {
      const sn = s as CstNode;
      const ss = this.nodeSpan(sn);
      return {
        name: this.ident(tok(sn, 'Identifier'), ss),
        type: sub(sn, 'type') ? this.type(sub(sn, 'type')!) : errorType(ss),
        init: this.exprOrError(sub(sn, 'orExpr'), ss),
        span: ss,
      };
    });
    const lets: A.LetBinding[] = [];
    const updates: A.UpdateAst[] = [];
    let ub = sub(n, 'updateBody');
    const bodySpan = ub ? this.nodeSpan(ub) : span;
    while (ub) {
      for (const b of ub.children.letBinding ?? []) lets.push(this.letBinding(b as CstNode));
      for (const u of ub.children.update ?? []) {
        const un = u as CstNode;
        const us = this.nodeSpan(un);
        updates.push({ target: this.ident(tok(un, 'Identifier'), us), value: this.exprOrError(sub(un, 'expr'), us), span: us });
      }
      ub = sub(ub, 'updateBody');
    }
    return { kind: 'optimizer', name, params, hyper, where, body: { state, lets, updates, span: bodySpan }, span };
  }

  paramList(n: CstNode): A.Param[] {
    return (n.children.param ?? []).map((p) => {
      const pn = p as CstNode;
      const span = this.nodeSpan(pn);
      return {
        name: this.ident(tok(pn, 'Identifier'), span),
        type: sub(pn, 'type') ? this.type(sub(pn, 'type')!) : null,
        default: sub(pn, 'orExpr') ? this.orExpr(sub(pn, 'orExpr')!) : null,
        span,
      };
    });
  }

  result(n: CstNode): A.Result {
    const span = this.nodeSpan(n);
    const idt = tok(n, 'Identifier');
    return {
      name: idt ? this.ident(idt, span) : null,
      type: sub(n, 'type') ? this.type(sub(n, 'type')!) : errorType(span),
      span,
    };
  }

  whereClause(n: CstNode): A.WhereDim[] {
    const ids = (n.children.Identifier ?? []) as IToken[];
    const dims = (n.children.dimExpr ?? []) as CstNode[];
    return ids.map((t, i) => {
      const d = dims[i];
      const value = d ? this.dimExpr(d) : ({ kind: 'num', value: 0, span: this.tokSpan(t) } as A.DimAst);
      return { name: this.ident(t, this.tokSpan(t)), value, span: this.span(t.startOffset, value.span.end) };
    });
  }

  type(n: CstNode): A.TypeAst {
    const span = this.nodeSpan(n);
    const elem = sub(n, 'elem');
    if (elem) {
      // a collection type [ELEM for i in lo..hi]
      return { name: { name: '[]', span }, dims: null, span, each: { elem: this.type(elem), gen: this.dimGen(n, span) } };
    }
    const kwStructure = tok(n, 'Kw_structure');
    const name = kwStructure ? { name: 'structure', span: this.tokSpan(kwStructure) } : this.ident(tok(n, 'Identifier'), span);
    const dims = tok(n, 'LBracket') ? (n.children.dim ?? []).map((d) => this.dim(d as CstNode)) : null;
    return { name, dims, span, ...(tok(n, 'Kw_static') ? { static: true } : {}) };
  }

  /** The `for i in lo..hi` of a type, a dimension list entry or a dimension reduction. */
  dimGen(n: CstNode, fallback: Span): A.DimGen {
    const v = n.children.genVar?.[0] as IToken | undefined;
    const zero = (): A.DimAst => ({ kind: 'num', value: 0, span: fallback });
    const lo = sub(n, 'genLo') ? this.dimExpr(sub(n, 'genLo')!) : zero();
    const hi = sub(n, 'genHi') ? this.dimExpr(sub(n, 'genHi')!) : zero();
    const start = v && Number.isFinite(v.startOffset) ? v.startOffset : lo.span.start;
    return { index: this.ident(v, fallback), lo, hi, span: this.span(start, hi.span.end) };
  }

  dim(n: CstNode): A.DimAst {
    if (tok(n, 'DotDot') && !tok(n, 'Kw_for')) return { kind: 'ellipsis', span: this.nodeSpan(n) };
    const e = sub(n, 'dimExpr');
    const body: A.DimAst = e ? this.dimExpr(e) : { kind: 'num', value: 0, span: this.nodeSpan(n) };
    if (tok(n, 'Kw_for')) return { kind: 'each', body, gen: this.dimGen(n, this.nodeSpan(n)), span: this.nodeSpan(n) };
    return body;
  }

  dimExpr(n: CstNode): A.DimAst {
    return this.leftAssoc(n, 'dimTerm', ['Plus', 'Minus'], (c) => this.dimTerm(c), (op, l, r) => ({
      kind: 'bin',
      op: op === 'Plus' ? '+' : '-',
      left: l,
      right: r,
      span: this.span(l.span.start, r.span.end),
    }));
  }

  dimTerm(n: CstNode): A.DimAst {
    return this.leftAssoc(n, 'dimAtom', ['Star', 'Slash'], (c) => this.dimAtom(c), (op, l, r) => ({
      kind: 'bin',
      op: op === 'Star' ? '*' : '/',
      left: l,
      right: r,
      span: this.span(l.span.start, r.span.end),
    }));
  }

  dimAtom(n: CstNode): A.DimAst {
    const span = this.nodeSpan(n);
    const num = tok(n, 'Number');
    if (num) return { kind: 'num', value: Number(num.image), span };
    const solveTok = tok(n, 'Kw_solve');
    const id = tok(n, 'Identifier') ?? (solveTok ? { ...solveTok, image: 'solve' } : undefined);
    if (id) {
      const index = sub(n, 'index');
      if (index) return { kind: 'index', name: id.image, index: this.dimExpr(index), span };
      if (tok(n, 'Kw_for')) {
        // prod(n[i] for i in lo..hi), sum(…)
        const args = (n.children.dimExpr ?? []).map((d) => this.dimExpr(d as CstNode));
        if ((id.image !== 'prod' && id.image !== 'sum') || args.length !== 1) {
          this.diag.error('MAT0102', `a dimension reduction is prod(d for i in lo..hi) or sum(d for i in lo..hi) of one dimension`, span);
        }
        return { kind: 'reduce', fn: id.image === 'sum' ? 'sum' : 'prod', body: args[0] ?? { kind: 'num', value: 0, span }, gen: this.dimGen(n, span), span };
      }
      if (tok(n, 'LParen')) {
        const args = (n.children.dimExpr ?? []).map((d) => this.dimExpr(d as CstNode));
        const fn = id.image === 'max' ? 'max' : id.image === 'div' ? 'div' : 'min';
        if (id.image !== 'min' && id.image !== 'max' && id.image !== 'div') {
          return { kind: 'call', fn, args: [{ kind: 'name', name: id.image, span: this.tokSpan(id) }, ...args], span };
        }
        return { kind: 'call', fn, args, span };
      }
      return { kind: 'name', name: id.image, span };
    }
    const inner = sub(n, 'dimExpr');
    return inner ? this.dimExpr(inner) : { kind: 'num', value: 0, span };
  }

  // ---- expressions ----

  /** Builds any expression-level CST node (expr, orExpr, addExpr, ...), or an error node. */
  exprOrError(n: CstNode | undefined, fallback: Span): A.Expr {
    if (!n) return { kind: 'error', span: fallback };
    switch (n.name) {
      case 'expr': return this.expr(n);
      case 'orExpr': return this.orExpr(n);
      case 'andExpr': return this.andExpr(n);
      case 'cmpExpr': return this.cmpExpr(n);
      case 'addExpr': return this.addExpr(n);
      case 'mulExpr': return this.mulExpr(n);
      case 'unaryExpr': return this.unaryExpr(n);
      case 'ifExpr': return this.ifExpr(n);
      default: return { kind: 'error', span: this.nodeSpan(n) };
    }
  }

  expr(n: CstNode): A.Expr {
    const c = n.children;
    if (c.letExpr) return this.letExpr(c.letExpr[0] as CstNode);
    if (c.ifExpr) return this.ifExpr(c.ifExpr[0] as CstNode);
    if (c.argExpr) return this.argExpr(c.argExpr[0] as CstNode);
    if (c.solveExpr) return this.solveExpr(c.solveExpr[0] as CstNode);
    if (c.iterateExpr) return this.iterateExpr(c.iterateExpr[0] as CstNode);
    if (c.orExpr) return this.orExpr(c.orExpr[0] as CstNode);
    return { kind: 'error', span: this.nodeSpan(n) };
  }

  letBinding(n: CstNode): A.LetBinding {
    const span = this.nodeSpan(n);
    const names = ((n.children.Identifier ?? []) as IToken[]).map((t) => this.ident(t, span));
    return { names, tuple: !!tok(n, 'LParen'), value: this.exprOrError(sub(n, 'expr'), span), span };
  }

  letExpr(n: CstNode): A.Expr {
    const span = this.nodeSpan(n);
    const bindings = (n.children.letBinding ?? []).map((b) => this.letBinding(b as CstNode));
    return { kind: 'let', bindings, body: this.exprOrError(sub(n, 'expr'), span), span };
  }

  ifExpr(n: CstNode): A.Expr {
    const span = this.nodeSpan(n);
    return {
      kind: 'if',
      cond: this.exprOrError(sub(n, 'cond'), span),
      then: this.exprOrError(sub(n, 'then'), span),
      else: this.exprOrError(sub(n, 'else'), span),
      span,
    };
  }

  varDecl(n: CstNode): A.VarDecl {
    const span = this.nodeSpan(n);
    return { name: this.ident(tok(n, 'Identifier'), span), type: sub(n, 'type') ? this.type(sub(n, 'type')!) : errorType(span), span };
  }

  declClauses(nodes: CstElement[] | undefined): A.DeclClauses {
    const out: A.DeclClauses = { constraints: [], init: null, by: null, grad: null, orient: null };
    for (const e of nodes ?? []) {
      const n = e as CstNode;
      const span = this.nodeSpan(n);
      if (tok(n, 'Kw_subject')) out.constraints.push(...(n.children.constraint ?? []).map((c) => this.orExpr(c as CstNode)));
      else if (tok(n, 'Kw_init')) out.init = this.exprOrError(sub(n, 'init'), span);
      else if (tok(n, 'Kw_orient')) out.orient = this.exprOrError(sub(n, 'orient'), span);
      else if (tok(n, 'Kw_by')) {
        const call = this.exprOrError(sub(n, 'by'), span);
        if (call.kind === 'call') out.by = { name: call.callee, args: call.args, call, span };
        else if (call.kind === 'name') out.by = { name: { name: call.name, span: call.span }, args: [], call, span };
        else out.by = { name: { name: '<error>', span: call.span }, args: [], call, span };
      } else if (sub(n, 'gradRule')) out.grad = this.gradRule(sub(n, 'gradRule')!);
    }
    return out;
  }

  gradRule(n: CstNode): A.GradRule {
    const span = this.nodeSpan(n);
    const cots = ((n.children.Identifier ?? []) as IToken[]).map((t) => this.ident(t, span));
    const targets = ((n.children.target ?? []) as IToken[]).map((t, i) => ({
      target: this.ident(t, span),
      value: this.exprOrError((n.children.orExpr ?? [])[i] as CstNode | undefined, span),
    }));
    return { cotangents: cots, targets, span };
  }

  argExpr(n: CstNode): A.Expr {
    const span = this.nodeSpan(n);
    return {
      kind: 'argopt',
      sense: tok(n, 'Kw_argmax') ? 'max' : 'min',
      vars: (n.children.varDecl ?? []).map((v) => this.varDecl(v as CstNode)),
      objective: this.exprOrError(sub(n, 'orExpr'), span),
      clauses: this.declClauses(n.children.declClause),
      span,
    };
  }

  solveExpr(n: CstNode): A.Expr {
    const span = this.nodeSpan(n);
    return {
      kind: 'solve',
      vars: (n.children.varDecl ?? []).map((v) => this.varDecl(v as CstNode)),
      equations: (n.children.orExpr ?? []).map((e) => this.orExpr(e as CstNode)),
      clauses: this.declClauses(n.children.declClause),
      span,
    };
  }

  /** A generator CST node (`for i in lo..hi`) applied to `elem`: a comprehension. */
  comprehension(elem: A.Expr, g: CstNode, bare: boolean, span: Span): A.Expr {
    const gs = this.nodeSpan(g);
    return {
      kind: 'comprehension',
      elem,
      index: this.ident(tok(g, 'Identifier'), gs),
      lo: this.exprOrError(sub(g, 'lo'), gs),
      hi: this.exprOrError(sub(g, 'hi'), gs),
      bare,
      span,
    };
  }

  iterateExpr(n: CstNode): A.Expr {
    const span = this.nodeSpan(n);
    const carries = (n.children.carryBinding ?? []).map((c) => {
      const cn = c as CstNode;
      const cs = this.nodeSpan(cn);
      return {
        name: this.ident(tok(cn, 'Identifier'), cs),
        type: sub(cn, 'type') ? this.type(sub(cn, 'type')!) : null,
        init: this.exprOrError(sub(cn, 'expr'), cs),
        span: cs,
      };
    });
    // Flatten the body: lets nest, the final expression may carry `until`.
    let until: A.Expr | null = null;
    const body = this.iterBody(sub(n, 'iterBody'), span, (u) => (until = u));
    return {
      kind: tok(n, 'Kw_unroll') ? 'unroll' : 'iterate',
      carries,
      index: this.ident(tok(n, 'Identifier'), span),
      reverse: !!tok(n, 'Kw_reverse'),
      lo: this.exprOrError(sub(n, 'lo'), span),
      hi: this.exprOrError(sub(n, 'hi'), span),
      body,
      until,
      span,
    };
  }

  iterBody(n: CstNode | undefined, fallback: Span, setUntil: (e: A.Expr) => void): A.Expr {
    if (!n) return { kind: 'error', span: fallback };
    const span = this.nodeSpan(n);
    if (tok(n, 'Kw_let')) {
      const bindings = (n.children.letBinding ?? []).map((b) => this.letBinding(b as CstNode));
      return { kind: 'let', bindings, body: this.iterBody(sub(n, 'iterBody'), span, setUntil), span };
    }
    if (sub(n, 'iterateExpr')) return this.iterateExpr(sub(n, 'iterateExpr')!);
    if (sub(n, 'argExpr')) return this.argExpr(sub(n, 'argExpr')!);
    if (sub(n, 'solveExpr')) return this.solveExpr(sub(n, 'solveExpr')!);
    const u = sub(n, 'until');
    if (u) setUntil(this.orExpr(u));
    if (sub(n, 'ifExpr')) return this.ifExpr(sub(n, 'ifExpr')!);
    return this.exprOrError(sub(n, 'orExpr'), span);
  }

  leftAssoc<R>(
    n: CstNode,
    childName: string,
    opNames: string[],
    child: (c: CstNode) => R,
    combine: (op: string, l: R, r: R, opTok: IToken) => R,
  ): R {
    const kids = (n.children[childName] ?? []) as CstNode[];
    const ops: IToken[] = [];
    for (const o of opNames) for (const t of (n.children[o] ?? []) as IToken[]) ops.push(t);
    ops.sort((a, b) => a.startOffset - b.startOffset);
    let acc = child(kids[0]!);
    for (let i = 1; i < kids.length; i++) {
      const op = ops[i - 1];
      acc = combine(op ? op.tokenType.name : opNames[0]!, acc, child(kids[i]!), op ?? (undefined as unknown as IToken));
    }
    return acc;
  }

  binary(opName: string, l: A.Expr, r: A.Expr, opTok: IToken | undefined): A.Expr {
    const table: Record<string, A.BinaryOp> = {
      OrOr: '||', AndAnd: '&&', EqEq: '==', NotEq: '!=', LessEq: '<=', GreaterEq: '>=', Less: '<', Greater: '>',
      Plus: '+', Minus: '-', Star: '*', Slash: '/', DotStar: '.*', DotSlash: './', Caret: '^', DotCaret: '.^',
    };
    const opSpan = opTok && Number.isFinite(opTok.startOffset) ? this.tokSpan(opTok) : l.span;
    return { kind: 'binary', op: table[opName] ?? '+', left: l, right: r, opSpan, span: this.span(l.span.start, r.span.end) };
  }

  orExpr(n: CstNode): A.Expr {
    return this.leftAssoc(n, 'andExpr', ['OrOr'], (c) => this.andExpr(c), (o, l, r, t) => this.binary(o, l, r, t));
  }

  andExpr(n: CstNode): A.Expr {
    return this.leftAssoc(n, 'cmpExpr', ['AndAnd'], (c) => this.cmpExpr(c), (o, l, r, t) => this.binary(o, l, r, t));
  }

  cmpExpr(n: CstNode): A.Expr {
    return this.leftAssoc(
      n,
      'addExpr',
      ['EqEq', 'NotEq', 'LessEq', 'GreaterEq', 'Less', 'Greater'],
      (c) => this.addExpr(c),
      (o, l, r, t) => this.binary(o, l, r, t),
    );
  }

  addExpr(n: CstNode): A.Expr {
    return this.leftAssoc(n, 'mulExpr', ['Plus', 'Minus'], (c) => this.mulExpr(c), (o, l, r, t) => this.binary(o, l, r, t));
  }

  mulExpr(n: CstNode): A.Expr {
    return this.leftAssoc(
      n,
      'unaryExpr',
      ['Star', 'Slash', 'DotStar', 'DotSlash'],
      (c) => this.unaryExpr(c),
      (o, l, r, t) => this.binary(o, l, r, t),
    );
  }

  unaryExpr(n: CstNode): A.Expr {
    const span = this.nodeSpan(n);
    const inner = sub(n, 'unaryExpr');
    if (inner) {
      const op = tok(n, 'Minus') ? '-' : tok(n, 'Bang') ? '!' : '+';
      return { kind: 'unary', op, operand: this.unaryExpr(inner), span };
    }
    const p = sub(n, 'powExpr');
    return p ? this.powExpr(p) : { kind: 'error', span };
  }

  powExpr(n: CstNode): A.Expr {
    const span = this.nodeSpan(n);
    const base = sub(n, 'postfixExpr') ? this.postfixExpr(sub(n, 'postfixExpr')!) : ({ kind: 'error', span } as A.Expr);
    const exp = sub(n, 'unaryExpr');
    if (!exp) return base;
    const opTok = tok(n, 'Caret') ?? tok(n, 'DotCaret');
    return this.binary(tok(n, 'Caret') ? 'Caret' : 'DotCaret', base, this.unaryExpr(exp), opTok);
  }

  postfixExpr(n: CstNode): A.Expr {
    const span = this.nodeSpan(n);
    let e = sub(n, 'primary') ? this.primary(sub(n, 'primary')!) : ({ kind: 'error', span } as A.Expr);
    // Interleave postfix operators in source order.
    const ops: { off: number; kind: 'quote' | 'dotquote' | 'index' | 'member'; tok: IToken }[] = [];
    for (const t of (n.children.Quote ?? []) as IToken[]) ops.push({ off: t.startOffset, kind: 'quote', tok: t });
    for (const t of (n.children.DotQuote ?? []) as IToken[]) ops.push({ off: t.startOffset, kind: 'dotquote', tok: t });
    for (const t of (n.children.LBracket ?? []) as IToken[]) ops.push({ off: t.startOffset, kind: 'index', tok: t });
    for (const t of (n.children.Dot ?? []) as IToken[]) ops.push({ off: t.startOffset, kind: 'member', tok: t });
    ops.sort((a, b) => a.off - b.off);
    const items = (n.children.indexItem ?? []) as CstNode[];
    const rbr = (n.children.RBracket ?? []) as IToken[];
    let bracket = 0;
    const members = (n.children.member ?? []) as IToken[];
    const opens = (n.children.mopen ?? []) as IToken[];
    const closes = (n.children.mclose ?? []) as IToken[];
    const margs = (n.children.marg ?? []) as CstNode[];
    let memberNo = 0;
    for (const op of ops) {
      if (op.kind === 'member') {
        // the member's name follows the dot; an argument list opens right after the name
        const id = members[memberNo++];
        const name = this.ident(id, this.tokSpan(op.tok));
        const after = id && Number.isFinite(id.endOffset ?? NaN) ? id.endOffset! : op.tok.startOffset;
        const next = ops.find((o) => o.off > op.tok.startOffset && o !== op)?.off ?? Infinity;
        const open = opens.find((t) => t.startOffset > after && t.startOffset < next && this.file.text.slice(after + 1, t.startOffset).trim() === '');
        if (!open) {
          e = { kind: 'member', target: e, name, args: null, span: this.span(e.span.start, after + 1) };
          continue;
        }
        const close = closes.find((t) => t.startOffset > open.startOffset);
        const end = close && Number.isFinite(close.startOffset) ? close.endOffset! + 1 : open.endOffset! + 1;
        const mine = margs.filter((a) => {
          const s = this.nodeSpan(a).start;
          return s > open.startOffset && s < end;
        });
        e = { kind: 'member', target: e, name, args: mine.map((a) => this.arg(a)), span: this.span(e.span.start, end) };
        continue;
      }
      if (op.kind === 'quote' || op.kind === 'dotquote') {
        e = { kind: 'transpose', operand: e, ...(op.kind === 'dotquote' ? { plain: true } : {}), span: this.span(e.span.start, op.tok.endOffset! + 1) };
      } else {
        const close = rbr[bracket];
        const end = close && Number.isFinite(close.startOffset) ? close.endOffset! + 1 : op.tok.endOffset! + 1;
        const mine = items.filter((it) => {
          const s = this.nodeSpan(it).start;
          return s > op.tok.startOffset && s < end;
        });
        bracket++;
        e = { kind: 'index', target: e, indices: mine.map((it) => this.indexItem(it)), span: this.span(e.span.start, end) };
      }
    }
    return e;
  }

  indexItem(n: CstNode): A.IndexAst {
    const span = this.nodeSpan(n);
    const lo = sub(n, 'lo');
    if (!lo) return { kind: 'all', span };
    const hi = sub(n, 'hi');
    if (hi) return { kind: 'range', lo: this.addExpr(lo), hi: this.addExpr(hi), span };
    return { kind: 'at', index: this.addExpr(lo), span };
  }

  arg(an: CstNode): A.Arg {
    const nm = tok(an, 'Identifier');
    const value = this.exprOrError(sub(an, 'expr'), this.nodeSpan(an));
    const g = sub(an, 'generator');
    return {
      name: nm ? this.ident(nm, this.tokSpan(nm)) : null,
      value: g ? this.comprehension(value, g, true, this.span(value.span.start, this.nodeSpan(g).end)) : value,
    };
  }

  primary(n: CstNode): A.Expr {
    const span = this.nodeSpan(n);
    const c = n.children;
    const num = tok(n, 'Number');
    if (num) {
      if (num.image.endsWith('i')) return { kind: 'num', value: Number(num.image.slice(0, -1)), text: num.image, imag: true, span };
      return { kind: 'num', value: Number(num.image), text: num.image, span };
    }
    if (tok(n, 'Kw_true')) return { kind: 'bool', value: true, span };
    if (tok(n, 'Kw_false')) return { kind: 'bool', value: false, span };
    const str = tok(n, 'String');
    if (str) return { kind: 'string', value: str.image.slice(1, -1), span };
    const solveTok = tok(n, 'Kw_solve');
    const id = tok(n, 'Identifier') ?? (solveTok ? { ...solveTok, image: 'solve' } : undefined);
    if (id) {
      if (tok(n, 'LParen')) {
        const args = (c.arg ?? []).map((a) => this.arg(a as CstNode));
        return { kind: 'call', callee: this.ident(id, span), args, span };
      }
      if (id.isInsertedInRecovery) return { kind: 'error', span };
      return { kind: 'name', name: id.image, span };
    }
    if (tok(n, 'LBracket')) {
      const rowNodes = (c.matrixRow ?? []) as CstNode[];
      const rows = rowNodes.map((r) => (r.children.expr ?? []).map((e) => this.expr(e as CstNode)));
      const gi = rowNodes.findIndex((r) => sub(r, 'generator'));
      if (gi >= 0) {
        // [e for i in lo..hi]: a compile-time collection, which stands alone in its brackets
        if (rows.length !== 1 || rows[0]!.length !== 1) {
          this.diag.error('MAT0102', 'a collection [e for i in lo..hi] has one element expression and nothing else inside its brackets', span, {
            suggestion: 'build a block matrix from the collection’s elements by name, or write one comprehension per collection',
          });
          return { kind: 'error', span };
        }
        return this.comprehension(rows[0]![0]!, sub(rowNodes[0]!, 'generator')!, false, span);
      }
      return { kind: 'matrix', rows, span };
    }
    const elems = (c.expr ?? []).map((e) => this.expr(e as CstNode));
    // a parenthesized expression spans its parentheses: an operator's span runs from its left
    // operand's start to its right operand's end, and a label quoting `0.1 * (y .* y)` by the inner
    // span lost the closing parenthesis
    if (elems.length === 1) return { ...elems[0]!, span } as A.Expr;
    if (elems.length === 0) return { kind: 'error', span };
    return { kind: 'tuple', elems, span };
  }
}

function errorType(span: Span): A.TypeAst {
  return { name: { name: '<error>', span }, dims: null, span };
}

function tok(n: CstNode, name: string, i = 0): IToken | undefined {
  const arr = n.children[name];
  const t = arr?.[i];
  return t && isToken(t) ? t : undefined;
}

function sub(n: CstNode, name: string, i = 0): CstNode | undefined {
  const arr = n.children[name];
  const t = arr?.[i];
  return t && !isToken(t) ? t : undefined;
}

function allTokens(n: CstNode): IToken[] {
  const out: IToken[] = [];
  for (const arr of Object.values(n.children)) {
    for (const e of arr) {
      if (isToken(e)) {
        if (Number.isFinite(e.startOffset) && !e.isInsertedInRecovery) out.push(e);
      } else out.push(...allTokens(e));
    }
  }
  return out.sort((a, b) => a.startOffset - b.startOffset);
}

// ---- errors ------------------------------------------------------------------------------

const tokenLabels = new Map<string, string>(T.allTokens.map((t) => [t.name, t.LABEL ?? t.name]));

function describeToken(t: IToken): string {
  if (t.tokenType === EOF) return 'end of file';
  if (t.tokenType === T.Identifier) return `name '${t.image}'`;
  if (t.tokenType === T.Number_) return `number ${t.image}`;
  return `'${t.image}'`;
}

const ruleWhat: Record<string, string> = {
  program: 'a declaration (fn, layer, optimizer or import)',
  item: 'a declaration (fn, layer, optimizer or import)',
  expr: 'an expression',
  primary: 'an expression',
  unaryExpr: 'an expression',
  type: 'a type such as mat[m, n]',
  results: 'a result type',
  dimAtom: 'a dimension (a name, a number, min(..) or max(..))',
  dim: 'a dimension',
  declClause: "a clause ('subject to', 'init', 'by', 'grad' or 'orient')",
  indexItem: 'an index, a range lo:hi or :',
  letBinding: 'a binding name = value',
  updateBody: "an update 'name <- value' or 'let'",
  importDecl: 'a file name in double quotes or { names } from "file"',
  iterBody: 'the loop body',
};

export interface ParsedFile {
  program: A.Program;
  file: SourceFile;
}

/** Parses a file; syntax errors are reported into `diag` and the AST is still returned. */
export function parseFile(file: SourceFile, diag: DiagnosticBag): A.Program {
  const out = parseCst(file.text);
  if (out.tooDeep) {
    const t = out.tooDeep;
    const at = Number.isFinite(t.startOffset) ? t.startOffset : file.text.length;
    diag.error('MAT0701', 'expression nested too deeply', { file, start: Math.min(at, file.text.length), end: Math.min(at + Math.max(1, t.image.length), file.text.length) }, {
      label: 'the parser gives up here',
      notes: [{ message: limitNote('open grammar rules', limits.parseDepth) + '; a level of parentheses, brackets or call arguments opens about 10, a prefix operator 1, let … in and if … else 2' }],
      suggestion: 'name intermediate values with let, or write the repetition with iterate',
    });
    return { items: [], span: { file, start: 0, end: file.text.length } };
  }
  for (const e of out.lexErrors) {
    const ch = file.text.slice(e.offset, e.offset + Math.max(1, e.length)).slice(0, 1);
    diag.error('MAT0101', `unexpected character '${ch}'`, { file, start: e.offset, end: e.offset + 1 }, {
      label: 'not part of the .mat language',
      suggestion: ch === '#' ? 'comments start with // or /* */' : undefined,
    });
  }
  for (const e of out.parseErrors) {
    const t = e.token;
    const atEof = t.tokenType === EOF || !Number.isFinite(t.startOffset);
    let span: Span;
    if (atEof) {
      const prev = e.previous && Number.isFinite(e.previous.endOffset ?? NaN) ? e.previous.endOffset! + 1 : file.text.length;
      const at = Math.min(prev, file.text.length);
      span = { file, start: Math.max(0, at - 1), end: Math.max(at, 1) };
    } else span = { file, start: t.startOffset, end: t.endOffset! + 1 };
    const expected = /Expecting (?:token of type )?--> (.+?) <--/.exec(e.message);
    let message: string;
    if (expected && expected[1] === 'EOF') {
      message = `unexpected ${describeToken(t)}; expected a new declaration (fn, layer, optimizer or import)`;
    } else if (expected) {
      const what = tokenLabels.get(expected[1]!) ?? (expected[1] === 'Identifier' ? 'a name' : expected[1]);
      message = `expected ${what} but found ${describeToken(t)}`;
    } else {
      const stack = e.ruleStack;
      const rule = [...stack].reverse().find((r) => ruleWhat[r]);
      message = `unexpected ${describeToken(t)}${rule ? `; expected ${ruleWhat[rule]}` : ''}`;
    }
    diag.error('MAT0102', message, span, { label: atEof ? 'the text ends here' : undefined });
  }
  const program = new Builder(file, diag).program(out.cst);
  // Dimension expressions are walked recursively by the checker and the printers, and a chain
  // (n + n + … ) nests as long as it is: an item with one nested deeper than the limit is
  // reported and dropped.
  const items = program.items.filter((it) => {
    if (it.kind === 'import' || it.kind === 'instance') return true;
    for (const d of it.kind === 'structure' ? [...it.members.flatMap((m) => [...itemDims(m)]), ...(it.storage.dims ?? [])] : itemDims(it)) {
      if (dimDepth(d) <= limits.dimDepth) continue;
      diag.error('MAT0701', 'dimension expression nested too deeply', d.span, {
        notes: [{ message: limitNote('levels in a dimension expression', limits.dimDepth) }],
        suggestion: 'give the dimension a name with where, e.g. where d = m * n',
      });
      return false;
    }
    return true;
  });
  return { ...program, items };
}
