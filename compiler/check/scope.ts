// Lexical scopes for the elaborator: values by name, with the declaration span of each name so
// diagnostics can point back at where an operand came from.

import type { Span } from '../source.js';
import type { Val } from './values.js';

export interface Binding {
  val: Val;
  span?: Span;
  /** what introduced the name: parameter, let, loop carry, declarative variable, ... */
  what: string;
}

export class Scope {
  private vars = new Map<string, Binding>();
  constructor(readonly parent: Scope | null = null) {}

  child(): Scope {
    return new Scope(this);
  }

  /** The scope that receives the next binding of a sequential `let` over `outer`: a child of
   *  `outer` for the first binding, then the same scope unless a name is bound there already, so
   *  that a let with thousands of bindings does not chain thousands of scopes. (Values are
   *  elaborated before their names are defined, so sharing a scope changes no lookup.) */
  nextLet(outer: Scope, names: readonly { name: string }[]): Scope {
    return this === outer || names.some((n) => this.vars.has(n.name)) ? this.child() : this;
  }

  define(name: string, b: Binding): void {
    this.vars.set(name, b);
  }

  /** Whether this scope itself (not a parent) binds `name`. */
  has(name: string): boolean {
    return this.vars.has(name);
  }

  // Both walks are loops: a let with thousands of bindings chains as many scopes.
  lookup(name: string): Binding | undefined {
    for (let s: Scope | null = this; s; s = s.parent) {
      const b = s.vars.get(name);
      if (b) return b;
    }
    return undefined;
  }

  names(out = new Set<string>()): Set<string> {
    for (let s: Scope | null = this; s; s = s.parent) for (const k of s.vars.keys()) out.add(k);
    return out;
  }
}
