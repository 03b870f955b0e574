// The abstract syntax tree of .mat programs. Every node has a span. Expressions are a
// discriminated union on `kind`; the checker annotates them in side tables, never in place.

import type { Span } from '../compiler/source.js';

export interface Ident {
  name: string;
  span: Span;
}

// ---- dimensions and types ----------------------------------------------------------------

export type DimAst =
  | { kind: 'num'; value: number; span: Span }
  | { kind: 'name'; name: string; span: Span }
  | { kind: 'bin'; op: '+' | '-' | '*' | '/'; left: DimAst; right: DimAst; span: Span }
  | { kind: 'call'; fn: 'min' | 'max' | 'div'; args: DimAst[]; span: Span }
  | { kind: 'ellipsis'; span: Span }
  // compile-time collections (compiler/check/statics.ts):
  /** a member of a dimension family, `r[i + 1]`; the index is static */
  | { kind: 'index'; name: string; index: DimAst; span: Span }
  /** `prod(n[i] for i in lo..hi)` / `sum(…)` over static bounds */
  | { kind: 'reduce'; fn: 'sum' | 'prod'; body: DimAst; gen: DimGen; span: Span }
  /** in a type's dimension list only: `d[i] for i in lo..hi`, one dimension per i */
  | { kind: 'each'; body: DimAst; gen: DimGen; span: Span };

/** `for i in lo..hi` at the type level (static bounds). */
export interface DimGen {
  index: Ident;
  lo: DimAst;
  hi: DimAst;
  span: Span;
}

export interface TypeAst {
  /** real, int, vec, mat, tensor, sym, spd, diag, tril, triu, orth, stiefel, sphere; '[]' for a
   *  collection type */
  name: Ident;
  dims: DimAst[] | null;
  span: Span;
  /** `static int`: known when the function is compiled (a specialisation per value) */
  static?: boolean;
  /** a collection type `[ELEM for i in lo..hi]`: one element per i, each of its own shape */
  each?: { elem: TypeAst; gen: DimGen };
}

// ---- expressions ---------------------------------------------------------------------------

export type BinaryOp = '+' | '-' | '*' | '/' | '.*' | './' | '^' | '.^' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '&&' | '||';

export interface Arg {
  name: Ident | null;
  value: Expr;
}

export type IndexAst =
  | { kind: 'all'; span: Span }
  | { kind: 'at'; index: Expr; span: Span }
  | { kind: 'range'; lo: Expr; hi: Expr; span: Span };

export interface LetBinding {
  names: Ident[];
  /** true when the pattern was a parenthesised tuple, even of one name */
  tuple: boolean;
  value: Expr;
  span: Span;
}

export interface VarDecl {
  name: Ident;
  type: TypeAst;
  span: Span;
}

export interface SolverSpec {
  name: Ident;
  args: Arg[];
  /** the whole `by` clause; when name is a user fn, this is an ordinary call producing the solution */
  call: Expr;
  span: Span;
}

export interface GradRule {
  /** cotangent names, one per output of the node */
  cotangents: Ident[];
  /** (target, cotangent expression) pairs: `A: expr, b: expr` */
  targets: { target: Ident; value: Expr }[];
  span: Span;
}

export interface DeclClauses {
  constraints: Expr[];
  init: Expr | null;
  by: SolverSpec | null;
  grad: GradRule | null;
  orient: Expr | null;
}

export interface CarryBinding {
  name: Ident;
  type: TypeAst | null;
  init: Expr;
  span: Span;
}

/** The shared form of `iterate` and `unroll`. */
export interface LoopForm {
  carries: CarryBinding[];
  index: Ident;
  reverse: boolean;
  lo: Expr;
  hi: Expr;
  body: Expr;
  /** `until` condition attached to the body's final expression (inside its lets) */
  until: Expr | null;
  span: Span;
}

export type Expr =
  /** `imag`: an imaginary literal `2.5i` (value 2.5) */
  | { kind: 'num'; value: number; text: string; imag?: boolean; span: Span }
  | { kind: 'bool'; value: boolean; span: Span }
  | { kind: 'string'; value: string; span: Span }
  | { kind: 'name'; name: string; span: Span }
  | { kind: 'call'; callee: Ident; args: Arg[]; span: Span }
  | { kind: 'unary'; op: '-' | '+' | '!'; operand: Expr; span: Span }
  | { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr; opSpan: Span; span: Span }
  /** `'` (the conjugate transpose) or, `plain`, `.'` (the transpose) */
  | { kind: 'transpose'; operand: Expr; plain?: boolean; span: Span }
  | { kind: 'index'; target: Expr; indices: IndexAst[]; span: Span }
  | { kind: 'tuple'; elems: Expr[]; span: Span }
  | { kind: 'matrix'; rows: Expr[][]; span: Span }
  | { kind: 'let'; bindings: LetBinding[]; body: Expr; span: Span }
  | { kind: 'if'; cond: Expr; then: Expr; else: Expr; span: Span }
  | { kind: 'argopt'; sense: 'min' | 'max'; vars: VarDecl[]; objective: Expr; clauses: DeclClauses; span: Span }
  | { kind: 'solve'; vars: VarDecl[]; equations: Expr[]; clauses: DeclClauses; span: Span }
  /** `[elem for i in lo..hi]` (or a call argument `elem for i in lo..hi`, `bare`): a
   *  compile-time collection, elaborated once per static i */
  | { kind: 'comprehension'; elem: Expr; index: Ident; lo: Expr; hi: Expr; bare: boolean; span: Span }
  | ({ kind: 'iterate' } & LoopForm)
  /** `unroll`: the form of iterate, unrolled at compile time (static bounds; carries may change
   *  shape from one iteration to the next) */
  | ({ kind: 'unroll' } & LoopForm)
  /** `x.name` or `x.name(args)`: a field or member of a structured matrix, or a member of a
   *  structure (`diagonal.eye(n)`, `S.project(X)`; compiler/check/structures.ts) */
  | { kind: 'member'; target: Expr; name: Ident; args: Arg[] | null; span: Span }
  | { kind: 'error'; span: Span };

// ---- items -------------------------------------------------------------------------------

export interface Param {
  name: Ident;
  type: TypeAst | null;
  default: Expr | null;
  span: Span;
}

export interface Result {
  name: Ident | null;
  type: TypeAst;
  span: Span;
}

export interface WhereDim {
  name: Ident;
  value: DimAst;
  span: Span;
}

export interface StateDecl {
  name: Ident;
  type: TypeAst;
  init: Expr;
  span: Span;
}

export interface UpdateAst {
  target: Ident;
  value: Expr;
  span: Span;
}

export interface OptimizerBody {
  state: StateDecl[];
  lets: LetBinding[];
  updates: UpdateAst[];
  span: Span;
}

export type Item =
  | {
      kind: 'fn' | 'layer';
      name: Ident;
      params: Param[];
      results: Result[];
      /** results were written in parentheses: the body must be a tuple */
      tupleResults: boolean;
      where: WhereDim[];
      body: Expr;
      /** `grad (dy, …) => x: …`: the function's VJP, replacing the derived one */
      grad?: GradRule | null;
      span: Span;
    }
  | {
      kind: 'optimizer';
      name: Ident;
      params: Param[];
      hyper: Param[];
      where: WhereDim[];
      body: OptimizerBody;
      span: Span;
    }
  | { kind: 'import'; path: string; names: Ident[] | null; span: Span }
  | StructureItem
  | InstanceItem;

/** `structure NAME(n: int, …) { storage: TYPE  fn … }`: a class of structured matrices, a namespace
 *  of member functions over its storage type (compiler/check/structures.ts). Removed from the
 *  program, with its members turned into items `NAME.member`, before elaboration. */
export interface StructureItem {
  kind: 'structure';
  name: Ident;
  /** the class's parameters (`n: int`: the size of its n×n matrices), as `NAME[p]` binds them */
  params: Param[];
  storage: TypeAst;
  members: FnItem[];
  span: Span;
}

/** `optimizer NAME = TEMPLATE[S = STRUCTURE, K = 3, …]` (or `fn`, `layer`): a named instance of an
 *  item that is generic over structures or static ints; replaced by the instance before
 *  elaboration. A binding to a number (`int` set; `value` holds its text) gives a static int. */
export interface InstanceItem {
  kind: 'instance';
  of: 'fn' | 'layer' | 'optimizer';
  name: Ident;
  template: Ident;
  bindings: { param: Ident; value: Ident; int?: number }[];
  span: Span;
}

export interface Program {
  items: Item[];
  span: Span;
}

export type FnItem = Extract<Item, { kind: 'fn' | 'layer' }>;
export type OptimizerItem = Extract<Item, { kind: 'optimizer' }>;
export type ImportItem = Extract<Item, { kind: 'import' }>;
