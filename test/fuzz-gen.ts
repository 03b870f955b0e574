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

export type Mutation = 'delete' | 'duplicate' | 'swap' | 'replace' | 'insert' | 'move' | 'truncate' | 'splice';
const mutations: Mutation[] = ['delete', 'duplicate', 'swap', 'replace', 'insert', 'move', 'truncate', 'splice'];

/** Applies one mutation; `other` is a second spec to splice from. */
export function mutateOnce(rng: Rng, text: string, other: string, kind: Mutation = rng.pick(mutations)): string {
  const toks = tokenize(text);
  const idx = toks.flatMap((t, i) => (isTrivia(t) ? [] : [i]));
  if (idx.length === 0 || kind === 'truncate') return text.slice(0, rng.int(text.length + 1));
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
  }
  return toks.join('');
}

export function mutate(rng: Rng, corpus: readonly string[]): string {
  let text = rng.pick(corpus);
  const k = rng.range(1, 4);
  for (let i = 0; i < k; i++) text = mutateOnce(rng, text, rng.pick(corpus));
  return text;
}

// ---- cases ---------------------------------------------------------------------------------------

export type CaseKind = 'text' | 'soup' | 'mutant';

export interface FuzzCase {
  index: number;
  kind: CaseKind;
  text: string;
}

/** Case `index` of a run: a fixed mix of the three generators (mutants weigh most). */
export function fuzzCase(seed: number, index: number, corpus: readonly string[]): FuzzCase {
  const rng = caseRng(seed, index);
  const r = rng.next();
  if (r < 0.2) return { index, kind: 'text', text: randomText(rng) };
  if (r < 0.45) return { index, kind: 'soup', text: tokenSoup(rng) };
  return { index, kind: 'mutant', text: mutate(rng, corpus) };
}

/** The specs mutants start from: the standard library and the diagnostics corpus. */
export function loadCorpus(root: string): string[] {
  const out: string[] = [];
  for (const dir of ['stdlib', join('test', 'diagnostics')]) {
    for (const f of readdirSync(join(root, dir)).sort()) if (f.endsWith('.mat')) out.push(readFileSync(join(root, dir, f), 'utf8'));
  }
  return out;
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
