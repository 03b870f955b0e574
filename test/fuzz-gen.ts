// Seeded generators of hostile .mat inputs for the fuzz layer (STYLE.md "Test layers"): random
// text over the language's characters, token soup, and mutations of real specs. Pure random text
// mostly stops in the lexer; soup reaches the parser's recovery; mutated specs get past the
// parser and stress the checker and, when they still check, differentiation and expansion.
// Every case is a function of (seed, index) and the corpus alone, so a crash found at index i of a
// 100,000-case run is reproduced by generating case i again (scripts/fuzz.mjs prints both).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { keywordNames } from '../grammar/tokens.js';
import { builtins } from '../compiler/check/builtins.js';
import { solverSpecs } from '../compiler/check/solver-specs.js';
import { typeNames } from '../compiler/check/type-ast.js';

/** mulberry32: small, fast, and the same sequence on every platform. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** inclusive range */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** murmur3's finalizer: every input bit flips about half of the output bits. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** An independent stream per case, so case i does not depend on cases 0..i-1 and seeds differ. */
export function caseRng(seed: number, index: number): Rng {
  return new Rng(mix(mix(seed >>> 0) ^ Math.imul(index + 1, 0x9e3779b1)));
}

// ---- (a) random characters ----------------------------------------------------------------------

const letters = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_'];
const digits = [...'0123456789'];
const punct = [..."+-*/^.'=<>!&|,;:()[]{}\""];
const space = [...'  \t\n\n'];
// Characters outside the language: lexer errors, including the look-alikes users paste.
const foreign = ['#', '@', '$', '%', '?', '`', '~', '\\', '’', '‖', '−', '×', 'é', '\u00a0', '\r', '\u0000', '😀'];

export function randomText(rng: Rng, maxLen = 80): string {
  const n = rng.int(maxLen + 1);
  let out = '';
  for (let i = 0; i < n; i++) {
    const r = rng.next();
    if (r < 0.4) out += rng.pick(letters);
    else if (r < 0.55) out += rng.pick(digits);
    else if (r < 0.8) out += rng.pick(punct);
    else if (r < 0.97) out += rng.pick(space);
    else out += rng.pick(foreign);
  }
  return out;
}

// ---- (b) token soup --------------------------------------------------------------------------------

const keywords = [...keywordNames];
const operators = [
  '->', '=>', '<-', '==', '!=', '<=', '>=', '<', '>', '&&', '||', '!', '..', '...', '.*', './', '.^', '.',
  '+', '-', '*', '/', '^', "'", '=', ',', ';', ':',
];
const brackets = ['(', ')', '[', ']', '{', '}'];
const names = [
  ...typeNames, ...Object.keys(builtins), ...Object.keys(solverSpecs),
  'A', 'B', 'X', 'W', 'G', 'Q', 'R', 'U', 'S', 'x', 'y', 'u', 'b', 'v', 'lr', 'm', 'n', 'k', 'p', 'r', 'i', 'j',
  'less', 'ied', 'f', 'g', 'loss', 'tol', 'max_iter', 'step', 'gradient', 'refine', 'damping', 'armijo', 'exact',
  'riemannian', 'euclidean', 'tangent_decay', 'direction_weight', 'pi', 'inf', 'int',
];
const numbers = ['0', '1', '2', '3', '0.5', '1e-7', '100', '64', '1e309', '00', '1.0e+3', '4294967296', '0.0'];
const strings = ['"less.mat"', '"ied.mat"', '"nope.mat"', '""', '"ij,jk->ik"', '"i,i->"', '"ab->ba"', '"."'];

export function randomToken(rng: Rng): string {
  const r = rng.next();
  if (r < 0.2) return rng.pick(keywords);
  if (r < 0.5) return rng.pick(names);
  if (r < 0.6) return rng.pick(numbers);
  if (r < 0.85) return rng.pick(operators);
  if (r < 0.97) return rng.pick(brackets);
  return rng.pick(strings);
}

export function tokenSoup(rng: Rng, maxTokens = 40): string {
  const n = rng.range(1, maxTokens);
  const parts: string[] = [];
  // Most soups start like a declaration so the parser gets past the item level.
  if (rng.chance(0.7)) parts.push(rng.pick(['fn', 'layer', 'optimizer', 'import']), rng.pick(names), '(');
  for (let i = 0; i < n; i++) parts.push(randomToken(rng));
  return parts.join(rng.chance(0.8) ? ' ' : '\n');
}

// ---- (c) mutations of real specs ---------------------------------------------------------------------

const tokenRe = /\s+|\/\/[^\n]*|\/\*[\s\S]*?\*\/|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|"[^"\n]*"|->|=>|<-|==|!=|<=|>=|&&|\|\||\.\.|\.\*|\.\/|\.\^|[^]/gu;

export function tokenize(text: string): string[] {
  return text.match(tokenRe) ?? [];
}

const isTrivia = (t: string): boolean => /^\s/.test(t) || t.startsWith('//') || t.startsWith('/*');

export type Mutation =
  | 'delete'
  | 'duplicate'
  | 'swap'
  | 'replace'
  | 'insert'
  | 'move'
  | 'truncate'
  | 'splice'
  // structure-aware mutations (issue 12): what a hostile user or a generator writes
  | 'dims'
  | 'type'
  | 'arity'
  | 'recursion'
  | 'huge'
  | 'unicode'
  | 'nest'
  | 'chain'
  | 'trips'
  // changes that keep a spec well-typed more often than not, so that it reaches the run
  | 'operator'
  | 'builtin'
  | 'number';
const textual: Mutation[] = ['delete', 'duplicate', 'swap', 'replace', 'insert', 'move', 'truncate', 'splice'];
const structural: Mutation[] = ['dims', 'type', 'arity', 'recursion', 'huge', 'unicode', 'nest', 'chain', 'trips', 'operator', 'builtin', 'number'];
export const mutations: Mutation[] = [...textual, ...structural];

/** A mutation kind: one in three textual, the others structural (which more often still check). */
export function pickMutation(rng: Rng): Mutation {
  return rng.chance(1 / 3) ? rng.pick(textual) : rng.pick(structural);
}

const operatorClasses = [['+', '-', '.*', './'], ['*', '.*'], ['==', '!=', '<', '<=', '>', '>='], ['&&', '||'], ['^', '.^']];
const builtinClasses = [
  ['exp', 'log', 'sqrt', 'abs', 'sign', 'sin', 'cos', 'tanh', 'sigmoid', 'relu'],
  ['sum', 'sumsq', 'norm', 'max', 'min', 'mean', 'trace'],
  ['tril', 'triu', 'sym', 'skew'],
  ['normalize', 'stop_gradient'],
  ['solve', 'lstsq', 'tril_solve', 'triu_solve'],
  ['colsum', 'rowsum'],
  ['expm', 'sqrtm', 'invsqrtm', 'polar', 'sym', 'skew'],
];
const someNumbers = ['0', '1', '2', '-1', '0.5', '1e-7', '1e-12', '100', '3', '1e6', '0.9'];
const dimNames = ['m', 'n', 'k', 'p', 'r', 'd'];
const dimExprs = ['m', 'n', 'k', 'm + 1', 'n - 1', 'min(m, n)', 'max(m, n)', '2 * n', 'm * n', 'n / 2', '0', '1', '3', 'k + k', 'q'];
const hugeNumbers = ['1e308', '1e309', '-1e308', '4294967296', '2147483648', '2147483647', '99999999999999999999', '1e-320', '0.0', '-0', '1e15', '65536', '100000', '1000000000'];
const unicodeBits = ['é', 'ß', 'λ', 'α', '∑', '′', '‖', '−', '×', '😀', '\u200b', '\u00a0', 'ﬁ', 'Ａ', '\ufeff', '\u202e', 'x\u0301'];
const wrappers = ['(', '-', '+', '!', 'exp(', 'sum(', 'sin(', '[', "'", 'normalize(', 'abs('];

/** Index of the token that closes the bracket opened at `open` (or −1). */
function matching(toks: string[], open: number): number {
  const pairs: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
  const close = pairs[toks[open]!];
  if (!close) return -1;
  let depth = 0;
  for (let i = open; i < toks.length; i++) {
    if (toks[i] === toks[open]) depth++;
    else if (toks[i] === close && --depth === 0) return i;
  }
  return -1;
}

/** Names of the functions a spec defines (for recursion and arity mutations). */
function definedFunctions(toks: string[]): { name: string; at: number }[] {
  const out: { name: string; at: number }[] = [];
  for (let i = 0; i < toks.length; i++) {
    if (toks[i] !== 'fn' && toks[i] !== 'layer') continue;
    let j = i + 1;
    while (j < toks.length && isTrivia(toks[j]!)) j++;
    if (/^[A-Za-z_]/.test(toks[j] ?? '')) out.push({ name: toks[j]!, at: j });
  }
  return out;
}

/** The structure-aware mutations; null when the spec offers no place for this one. */
function mutateStructured(rng: Rng, toks: string[], idx: number[], kind: Mutation): string[] | null {
  const words = (re: RegExp) => idx.filter((i) => re.test(toks[i]!));
  switch (kind) {
    case 'dims': {
      // a dimension inside a type's brackets: swapped, renamed, made compound or constant
      const inType = idx.filter((i) => dimNames.includes(toks[i]!) && toks.slice(Math.max(0, i - 6), i).includes('['));
      if (inType.length === 0) return null;
      const at = rng.pick(inType);
      toks[at] = rng.pick(dimExprs);
      return toks;
    }
    case 'type': {
      const ts = words(/^(real|vec|mat|sym|spd|diag|tril|triu|orth|stiefel|sphere|tensor|int|bool)$/);
      if (ts.length === 0) return null;
      toks[rng.pick(ts)] = rng.pick(['real', 'vec', 'mat', 'sym', 'spd', 'diag', 'tril', 'triu', 'orth', 'stiefel', 'sphere', 'tensor', 'int', 'bool']);
      return toks;
    }
    case 'arity': {
      // a call with an argument added, dropped or duplicated
      const calls = idx.filter((i) => /^[A-Za-z_]/.test(toks[i]!) && toks[i + 1] === '(');
      if (calls.length === 0) return null;
      const open = rng.pick(calls) + 1;
      const close = matching(toks, open);
      if (close < 0) return null;
      const r = rng.int(3);
      if (r === 0) toks.splice(close, 0, ', ', rng.pick(['x', 'A', '1', 'n', 'b', 'X']));
      else if (r === 1) {
        const comma = toks.lastIndexOf(',', close);
        if (comma > open) toks.splice(comma, close - comma);
        else toks.splice(open + 1, close - open - 1);
      } else toks.splice(close, 0, ', ', ...toks.slice(open + 1, close));
      return toks;
    }
    case 'recursion': {
      // a call of the enclosing function (or the next one: mutual recursion) in its own body
      const fns = definedFunctions(toks);
      if (fns.length === 0) return null;
      const f = rng.pick(fns);
      const target = rng.chance(0.5) ? f.name : rng.pick(fns).name;
      const eq = toks.indexOf('=', f.at);
      if (eq < 0) return null;
      const names = words(/^[a-z][A-Za-z0-9_]*$/).filter((i) => i > eq);
      if (names.length === 0) return null;
      const at = rng.pick(names);
      toks[at] = `${target}(${toks[at]})`;
      return toks;
    }
    case 'huge': {
      const nums = words(/^\d/);
      if (nums.length === 0) return null;
      toks[rng.pick(nums)] = rng.pick(hugeNumbers);
      return toks;
    }
    case 'unicode': {
      const at = rng.pick(idx);
      const u = JSON.parse(`"${rng.pick(unicodeBits)}"`) as string;
      toks[at] = rng.chance(0.5) ? toks[at] + u : u + toks[at];
      return toks;
    }
    case 'nest': {
      // a token wrapped in 10–1,000 levels of one construct
      const at = rng.pick(idx.filter((i) => /^[A-Za-z_0-9]/.test(toks[i]!)));
      if (at === undefined) return null;
      const w = rng.pick(wrappers);
      const depth = rng.pick([10, 40, 60, 140, 150, 400, 1000]);
      const close = w.endsWith('(') ? ')' : w === '[' ? ']' : '';
      if (w === "'") toks[at] = toks[at] + "'".repeat(depth);
      else toks[at] = w.repeat(depth) + toks[at] + close.repeat(depth);
      return toks;
    }
    case 'chain': {
      // a name repeated in a chain of 10–3,000 operators
      const at = rng.pick(idx.filter((i) => /^[A-Za-z_]/.test(toks[i]!) && !keywords.includes(toks[i]!)));
      if (at === undefined) return null;
      const op = rng.pick([' + ', ' * ', ' .* ', ' - ', ' ./ ']);
      const len = rng.pick([10, 100, 400, 1000, 3000]);
      toks[at] = `(${Array.from({ length: len }, () => toks[at]).join(op)})`;
      return toks;
    }
    case 'operator': {
      const ops = idx.filter((i) => operatorClasses.some((c) => c.includes(toks[i]!)));
      if (ops.length === 0) return null;
      const at = rng.pick(ops);
      toks[at] = rng.pick(operatorClasses.find((c) => c.includes(toks[at]!))!);
      return toks;
    }
    case 'builtin': {
      const calls = idx.filter((i) => toks[i + 1] === '(' && builtinClasses.some((c) => c.includes(toks[i]!)));
      if (calls.length === 0) return null;
      const at = rng.pick(calls);
      toks[at] = rng.pick(builtinClasses.find((c) => c.includes(toks[at]!))!);
      return toks;
    }
    case 'number': {
      const nums = words(/^\d/);
      if (nums.length === 0) return null;
      toks[rng.pick(nums)] = rng.pick(someNumbers);
      return toks;
    }
    case 'trips': {
      // a loop bound or an iteration limit made huge
      const bounds = idx.filter((i) => toks[i] === '..' || toks[i] === 'max_iter' || toks[i] === 'refine');
      if (bounds.length === 0) return null;
      const at = rng.pick(bounds);
      let j = at + 1;
      while (j < toks.length && (isTrivia(toks[j]!) || toks[j] === ':')) j++;
      if (j < toks.length) toks[j] = rng.pick(['1000000', '100000000', '2147483647', '4294967296', 'n * n * n * n', '1e9', '0', '-5']);
      return toks;
    }
    default:
      return null;
  }
}

/** Applies one mutation; `other` is a second spec to splice from. */
export function mutateOnce(rng: Rng, text: string, other: string, kind: Mutation = pickMutation(rng)): string {
  const toks = tokenize(text);
  const idx = toks.flatMap((t, i) => (isTrivia(t) ? [] : [i]));
  if (idx.length === 0 || kind === 'truncate') return text.slice(0, rng.int(text.length + 1));
  const structured = mutateStructured(rng, toks, idx, kind);
  if (structured) return structured.join('');
  const at = rng.pick(idx);
  switch (kind) {
    case 'delete':
      toks.splice(at, 1);
      break;
    case 'duplicate':
      toks.splice(at, 0, toks[at]!, ' ');
      break;
    case 'swap': {
      const next = idx[idx.indexOf(at) + 1];
      if (next !== undefined) [toks[at], toks[next]] = [toks[next]!, toks[at]!];
      break;
    }
    case 'replace':
      toks[at] = randomToken(rng);
      break;
    case 'insert':
      toks.splice(at, 0, randomToken(rng), ' ');
      break;
    case 'move': {
      const [t] = toks.splice(at, 1);
      toks.splice(rng.int(toks.length + 1), 0, ' ', t!, ' ');
      break;
    }
    case 'splice': {
      const o = tokenize(other);
      const from = rng.int(o.length + 1);
      toks.splice(at, 0, ...o.slice(from, from + rng.range(1, 12)));
      break;
    }
    default:
      // a structured mutation with no place in this spec: a token deleted instead
      toks.splice(at, 1);
  }
  return toks.join('');
}

export function mutate(rng: Rng, corpus: readonly string[], kinds: readonly Mutation[] | null = null, base = rng.pick(corpus)): { text: string; applied: Mutation[] } {
  let text = base;
  // one mutation mostly: a spec with one change often still checks, and then reaches the
  // derivation and the run
  const r = rng.next();
  const k = r < 0.6 ? 1 : r < 0.9 ? 2 : 3;
  const applied: Mutation[] = [];
  for (let i = 0; i < k; i++) {
    const kind = kinds ? rng.pick(kinds) : pickMutation(rng);
    applied.push(kind);
    text = mutateOnce(rng, text, rng.pick(corpus), kind);
  }
  return { text, applied };
}

// ---- cases ---------------------------------------------------------------------------------------

export type CaseKind = 'text' | 'soup' | 'mutant';

export interface FuzzCase {
  index: number;
  kind: CaseKind;
  text: string;
  /** for mutants: the mutations applied, in order */
  mutations?: Mutation[];
}

export interface Corpus {
  /** every spec mutants start from */
  specs: string[];
  /** those that check cleanly (the standard library and the seed specs): three in four mutants
   *  start from one, so that many mutants still check and reach the run */
  clean: string[];
}

/** Case `index` of a run: a fixed mix of the three generators (mutants weigh most). */
export function fuzzCase(seed: number, index: number, corpus: Corpus): FuzzCase {
  const rng = caseRng(seed, index);
  const r = rng.next();
  if (r < 0.1) return { index, kind: 'text', text: randomText(rng) };
  if (r < 0.2) return { index, kind: 'soup', text: tokenSoup(rng) };
  const base = rng.chance(0.75) && corpus.clean.length ? rng.pick(corpus.clean) : rng.pick(corpus.specs);
  const m = mutate(rng, corpus.specs, null, base);
  return { index, kind: 'mutant', text: m.text, mutations: m.applied };
}

/** Specs that check and run, besides the standard library: what the test files compile. */
const SEED_SPECS = [
  "fn f(A: mat[m, n], x: vec[n]) -> vec[m] = A * x + 0.5 * A * (A' * (A * x))\n",
  'fn f(A: mat[m, n]) -> vec[m] = iterate (x = zeros(m)) for j in 0..n => x + A[:, j]\n',
  "fn g(X: sym[n], u: vec[n]) -> real = u' * X * u + sumsq(X * u) - trace(X)\n",
  'fn h(A: mat[m, n], k: int = 2) -> mat[k, n] = A[0:k, :] .* A[0:k, :]\n',
  "layer l(A: mat[m, n], b: vec[m]) -> x: vec[n] =\n  argmin x: vec[n] of 0.5 * sumsq(A * x - b) + 0.1 * sumsq(x)\n",
  "layer s(A: mat[m, m], b: vec[m]) -> y: vec[m] =\n  solve y: vec[m] such that A' * A * y + y == b\n",
  'fn p(X: sym[n]) -> vec[n] = iterate (u = ones(n)) for i in 0..50 => let v = normalize(X * u) in v until norm(v - u) < 1e-9\n',
  'optimizer sgd(W: mat[m, n], G: mat[m, n]; lr: real = 0.1, beta: real = 0.9) =\n  state M: mat[m, n] = zeros(m, n)\n  let M2 = beta * M + G in\n  W <- W - lr * M2, M <- M2\n',
  "fn t(x: vec[n], y: vec[n]) -> mat[n, n] = x * y' + tril(x * x') - diag(y) + eye(n) * dot(x, y)\n",
  'fn q(A: mat[m, n]) -> real = let B = [A, A; A, A], c = colsum(B) in sum(c .* c) + max(abs(vec(B)))\n',
];

/** The specs mutants start from: the standard library, the diagnostics corpus and the seed
 *  specs above (not the crash corpus, test/fuzz-corpus: a new crash must not change the cases
 *  of every seeded run after it). */
export function loadCorpus(root: string): Corpus {
  const read = (dir: string) => readdirSync(join(root, dir)).sort().filter((f) => f.endsWith('.mat')).map((f) => readFileSync(join(root, dir, f), 'utf8'));
  const lib = read('stdlib');
  return { specs: [...lib, ...read(join('test', 'diagnostics')), ...SEED_SPECS], clean: [...lib, ...SEED_SPECS] };
}

/** Shrinks a failing input: drops tokens (then characters) while `fails` still holds. */
export function minimize(text: string, fails: (t: string) => boolean, budget = 2000): string {
  let cur = text;
  let tries = 0;
  for (const unit of ['token', 'char'] as const) {
    let changed = true;
    while (changed && tries < budget) {
      changed = false;
      const parts = unit === 'token' ? tokenize(cur) : [...cur];
      for (let chunk = Math.max(1, parts.length >> 1); chunk >= 1 && tries < budget; chunk >>= 1) {
        for (let i = 0; i + chunk <= parts.length && tries < budget; i += chunk) {
          const cand = [...parts.slice(0, i), ...parts.slice(i + chunk)].join('');
          tries++;
          if (cand !== cur && fails(cand)) {
            cur = cand;
            changed = true;
            break;
          }
        }
        if (changed) break;
      }
    }
  }
  return cur;
}
