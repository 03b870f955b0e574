// Symbolic dimensions. A dimension is a polynomial with rational coefficients over atoms: names
// bound at call time (m, n, k), and opaque min/max/floor-division terms. The normal form makes
// equality decidable for the algebra shapes need (m*n, k*(k+1)/2, n - m), so unification is
// structural equality of normal forms. Values are checked to be non-negative integers when
// evaluated at run time.

type Rat = readonly [num: number, den: number];

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a || 1;
}

function rat(n: number, d = 1): Rat {
  if (d < 0) [n, d] = [-n, -d];
  const g = gcd(n, d);
  return [n / g, d / g];
}

const radd = (a: Rat, b: Rat): Rat => rat(a[0] * b[1] + b[0] * a[1], a[1] * b[1]);
const rmul = (a: Rat, b: Rat): Rat => rat(a[0] * b[0], a[1] * b[1]);

export type Atom =
  | { readonly k: 'var'; readonly name: string }
  | { readonly k: 'min' | 'max'; readonly args: readonly Dim[] }
  | { readonly k: 'div'; readonly a: Dim; readonly b: Dim }
  /** `div(a, b)` written in a type: ⌊a / b⌋ even for a constant b (whose `/` is exact division) */
  | { readonly k: 'fdiv'; readonly a: Dim; readonly b: Dim };

interface Term {
  readonly coef: Rat;
  /** atom keys sorted, with repetition for powers */
  readonly atoms: readonly Atom[];
}

function atomKey(a: Atom): string {
  switch (a.k) {
    case 'var':
      return a.name;
    case 'min':
    case 'max':
      return `${a.k}(${a.args.map((x) => x.key).join(',')})`;
    case 'div':
      return `div(${a.a.key},${a.b.key})`;
    case 'fdiv':
      return `fdiv(${a.a.key},${a.b.key})`;
  }
}

function monoKey(atoms: readonly Atom[]): string {
  return atoms.map(atomKey).join('*');
}

/** A dimension polynomial may have at most this degree per term and this many terms: a product
 *  k * k * … of thousands of factors took the normal form 25 s to build (issue 12). */
export const DIM_LIMITS = { degree: 64, terms: 1000 } as const;

/** A dimension beyond DIM_LIMITS; the compiler reports it as MAT0701. */
export class DimTooLarge extends Error {
  constructor(what: string) {
    super(what);
    this.name = 'DimTooLarge';
  }
}

export class Dim {
  /** canonical text, used for equality and hashing */
  readonly key: string;
  readonly terms: readonly Term[];

  private constructor(terms: Term[]) {
    if (terms.length > DIM_LIMITS.terms * 4) throw new DimTooLarge(`a dimension expression with ${terms.length} terms (at most ${DIM_LIMITS.terms})`);
    for (const t of terms) if (t.atoms.length > DIM_LIMITS.degree) throw new DimTooLarge(`a dimension term of degree ${t.atoms.length} (at most ${DIM_LIMITS.degree})`);
    const merged = new Map<string, Term>();
    for (const t of terms) {
      const atoms = [...t.atoms].sort((a, b) => (atomKey(a) < atomKey(b) ? -1 : atomKey(a) > atomKey(b) ? 1 : 0));
      const k = monoKey(atoms);
      const prev = merged.get(k);
      merged.set(k, { coef: prev ? radd(prev.coef, t.coef) : t.coef, atoms });
    }
    const list = [...merged.values()].filter((t) => t.coef[0] !== 0);
    if (list.length > DIM_LIMITS.terms) throw new DimTooLarge(`a dimension expression with ${list.length} terms (at most ${DIM_LIMITS.terms})`);
    list.sort((a, b) => b.atoms.length - a.atoms.length || (monoKey(a.atoms) < monoKey(b.atoms) ? -1 : 1));
    this.terms = list;
    this.key = list.map((t) => `${t.coef[0]}/${t.coef[1]}:${monoKey(t.atoms)}`).join('+') || '0';
  }

  static const(n: number): Dim {
    return new Dim([{ coef: rat(n), atoms: [] }]);
  }

  static var(name: string): Dim {
    return new Dim([{ coef: rat(1), atoms: [{ k: 'var', name }] }]);
  }

  static fromAtom(a: Atom): Dim {
    return new Dim([{ coef: rat(1), atoms: [a] }]);
  }

  isConst(): boolean {
    return this.terms.every((t) => t.atoms.length === 0);
  }

  /** The constant value, or undefined if the dimension is symbolic. */
  constValue(): number | undefined {
    if (!this.isConst()) return undefined;
    const t = this.terms[0];
    return t ? t.coef[0] / t.coef[1] : 0;
  }

  equals(o: Dim): boolean {
    return this.key === o.key;
  }

  add(o: Dim): Dim {
    return new Dim([...this.terms, ...o.terms]);
  }

  neg(): Dim {
    return new Dim(this.terms.map((t) => ({ coef: rat(-t.coef[0], t.coef[1]), atoms: t.atoms })));
  }

  sub(o: Dim): Dim {
    return this.add(o.neg());
  }

  mul(o: Dim): Dim {
    const out: Term[] = [];
    for (const a of this.terms) for (const b of o.terms) out.push({ coef: rmul(a.coef, b.coef), atoms: [...a.atoms, ...b.atoms] });
    return new Dim(out);
  }

  /** Exact division by a constant gives rational coefficients; division by a symbolic dimension
   *  is an opaque floor-division atom unless the divisor is a single term dividing every term. */
  div(o: Dim): Dim {
    const c = o.constValue();
    if (c !== undefined) {
      if (c === 0) throw new Error('dimension division by zero');
      return new Dim(this.terms.map((t) => ({ coef: rmul(t.coef, rat(1, c)), atoms: t.atoms })));
    }
    if (o.terms.length === 1) {
      const d = o.terms[0]!;
      const out: Term[] = [];
      for (const t of this.terms) {
        const rest = [...t.atoms];
        let ok = true;
        for (const a of d.atoms) {
          const i = rest.findIndex((x) => atomKey(x) === atomKey(a));
          if (i < 0) {
            ok = false;
            break;
          }
          rest.splice(i, 1);
        }
        if (!ok) return Dim.fromAtom({ k: 'div', a: this, b: o });
        out.push({ coef: rmul(t.coef, rat(d.coef[1], d.coef[0])), atoms: rest });
      }
      return new Dim(out);
    }
    return Dim.fromAtom({ k: 'div', a: this, b: o });
  }

  /** ⌊a / b⌋ (the dimension `div(a, b)`): folded when both are constants, else an atom. */
  static floorDiv(a: Dim, b: Dim): Dim {
    const [x, y] = [a.constValue(), b.constValue()];
    if (x !== undefined && y !== undefined && y !== 0) return Dim.const(Math.floor(x / y));
    if (y === 1) return a;
    return Dim.fromAtom({ k: 'fdiv', a, b });
  }

  static min(a: Dim, b: Dim): Dim {
    return Dim.minmax('min', a, b);
  }

  static max(a: Dim, b: Dim): Dim {
    return Dim.minmax('max', a, b);
  }

  private static minmax(k: 'min' | 'max', a: Dim, b: Dim): Dim {
    if (a.equals(b)) return a;
    // min(min(x, y), y) = min(x, y) (and for max)
    const inner = (x: Dim, y: Dim): boolean => {
      const t = x.terms[0];
      if (x.terms.length !== 1 || !t || t.atoms.length !== 1 || t.coef[0] !== 1 || t.coef[1] !== 1) return false;
      const at = t.atoms[0]!;
      return at.k === k && at.args.some((z) => z.equals(y));
    };
    if (inner(a, b)) return a;
    if (inner(b, a)) return b;
    const d = a.sub(b).constValue();
    if (d !== undefined) return (k === 'min') === d <= 0 ? a : b;
    const args = [a, b].sort((x, y) => (x.key < y.key ? -1 : 1));
    return Dim.fromAtom({ k, args });
  }

  /** Names this dimension mentions. */
  vars(out = new Set<string>()): Set<string> {
    const visit = (a: Atom): void => {
      if (a.k === 'var') out.add(a.name);
      else if (a.k === 'div' || a.k === 'fdiv') {
        a.a.vars(out);
        a.b.vars(out);
      } else for (const x of a.args) x.vars(out);
    };
    for (const t of this.terms) for (const a of t.atoms) visit(a);
    return out;
  }

  /** Replaces names by dimensions. */
  subst(env: ReadonlyMap<string, Dim>): Dim {
    const atom = (a: Atom): Dim => {
      switch (a.k) {
        case 'var':
          return env.get(a.name) ?? Dim.var(a.name);
        case 'min':
          return Dim.min(a.args[0]!.subst(env), a.args[1]!.subst(env));
        case 'max':
          return Dim.max(a.args[0]!.subst(env), a.args[1]!.subst(env));
        case 'div':
          return a.a.subst(env).div(a.b.subst(env));
        case 'fdiv':
          return Dim.floorDiv(a.a.subst(env), a.b.subst(env));
      }
    };
    let acc = Dim.const(0);
    for (const t of this.terms) {
      let m = Dim.const(t.coef[0]).div(Dim.const(t.coef[1]));
      for (const a of t.atoms) m = m.mul(atom(a));
      acc = acc.add(m);
    }
    return acc;
  }

  /** Evaluates with concrete values; NaN if a name is unbound. */
  eval(env: ReadonlyMap<string, number> | Record<string, number>): number {
    const get = (n: string): number => (env instanceof Map ? env.get(n) : (env as Record<string, number>)[n]) ?? NaN;
    const atom = (a: Atom): number => {
      switch (a.k) {
        case 'var':
          return get(a.name);
        case 'min':
          return Math.min(a.args[0]!.eval(env), a.args[1]!.eval(env));
        case 'max':
          return Math.max(a.args[0]!.eval(env), a.args[1]!.eval(env));
        case 'div':
        case 'fdiv': {
          const d = a.b.eval(env);
          return d === 0 ? NaN : Math.floor(a.a.eval(env) / d);
        }
      }
    };
    let num = 0;
    for (const t of this.terms) {
      let v = t.coef[0];
      for (const a of t.atoms) v *= atom(a);
      num += v / t.coef[1];
    }
    return Math.round(num * 1e9) / 1e9;
  }

  toString(): string {
    if (this.terms.length === 0) return '0';
    const den = this.terms.reduce((l, t) => (l * t.coef[1]) / gcd(l, t.coef[1]), 1);
    // A floor division binds like a product, so next to a coefficient, another factor or a sign
    // it needs parentheses: 2*(1 / m) is not 2*1 / m, and -(1 / m) is not -1 / m.
    const t0 = this.terms[0]!;
    const lone = this.terms.length === 1 && t0.atoms.length === 1 && t0.coef[0] === 1 && t0.coef[1] === 1;
    const atomStr = (a: Atom): string => {
      switch (a.k) {
        case 'var':
          return a.name;
        case 'min':
        case 'max':
          return `${a.k}(${a.args.map((x) => x.toString()).join(', ')})`;
        case 'div':
          return lone ? `${paren(a.a)} / ${paren(a.b)}` : `(${paren(a.a)} / ${paren(a.b)})`;
        case 'fdiv':
          return `div(${a.a.toString()}, ${a.b.toString()})`;
      }
    };
    const parts: string[] = [];
    this.terms.forEach((t, i) => {
      const c = (t.coef[0] * den) / t.coef[1];
      const mono = t.atoms.map(atomStr).join('*');
      const mag = Math.abs(c);
      const body = mono === '' ? String(mag) : mag === 1 ? mono : `${mag}*${mono}`;
      if (i === 0) parts.push(c < 0 ? `-${body}` : body);
      else parts.push(c < 0 ? ` - ${body}` : ` + ${body}`);
    });
    const s = parts.join('');
    return den === 1 ? s : `${this.terms.length > 1 ? `(${s})` : s} / ${den}`;
  }
}

function paren(d: Dim): string {
  const s = d.toString();
  return d.terms.length > 1 || s.includes('/') || s.includes('*') ? `(${s})` : s;
}

export function shapeEquals(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((d, i) => d.equals(b[i]!));
}

export function shapeToString(s: readonly Dim[]): string {
  return `[${s.map((d) => d.toString()).join(', ')}]`;
}

export function shapeKey(s: readonly Dim[]): string {
  return s.map((d) => d.key).join(';');
}

/** Parses the printed form of a dimension (used by the IR text parser and tests). */
export function parseDim(text: string): Dim {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const expr = (): Dim => {
    let d = term();
    for (;;) {
      ws();
      if (text[i] === '+') {
        i++;
        d = d.add(term());
      } else if (text[i] === '-') {
        i++;
        d = d.sub(term());
      } else return d;
    }
  };
  const term = (): Dim => {
    let d = atom();
    for (;;) {
      ws();
      if (text[i] === '*') {
        i++;
        d = d.mul(atom());
      } else if (text[i] === '/') {
        i++;
        d = d.div(atom());
      } else return d;
    }
  };
  const atom = (): Dim => {
    ws();
    if (text[i] === '(') {
      i++;
      const d = expr();
      ws();
      if (text[i] !== ')') throw new Error(`bad dimension '${text}'`);
      i++;
      return d;
    }
    if (text[i] === '-') {
      i++;
      return atom().neg();
    }
    // a name, or a member of a dimension family `r[3]` (compile-time collections)
    const m = /^[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])?|^\d+/.exec(text.slice(i));
    if (!m) throw new Error(`bad dimension '${text}'`);
    i += m[0].length;
    if (/^\d/.test(m[0])) return Dim.const(Number(m[0]));
    ws();
    if ((m[0] === 'min' || m[0] === 'max' || m[0] === 'div') && text[i] === '(') {
      i++;
      const a = expr();
      ws();
      if (text[i] !== ',') throw new Error(`bad dimension '${text}'`);
      i++;
      const b = expr();
      ws();
      if (text[i] !== ')') throw new Error(`bad dimension '${text}'`);
      i++;
      return m[0] === 'min' ? Dim.min(a, b) : m[0] === 'max' ? Dim.max(a, b) : Dim.floorDiv(a, b);
    }
    return Dim.var(m[0]);
  };
  const d = expr();
  ws();
  if (i !== text.length) throw new Error(`bad dimension '${text}'`);
  return d;
}
