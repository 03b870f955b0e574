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

  define(name: string, b: Binding): void {
    this.vars.set(name, b);
  }

  lookup(name: string): Binding | undefined {
    return this.vars.get(name) ?? this.parent?.lookup(name);
  }

  names(out = new Set<string>()): Set<string> {
    for (const k of this.vars.keys()) out.add(k);
    this.parent?.names(out);
    return out;
  }
}
