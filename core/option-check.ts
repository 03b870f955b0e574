// Option objects checked where they are received: an unknown key is refused with the closest
// known name, a value of the wrong type with what it must be (issue 12: a misspelt option is not
// ignored, a TypeError never reaches the caller). The tables of options live with their receivers
// (runtime/options.ts, compiler/compile.ts).

import { MatcRuntimeError } from './errors.js';
import { closest } from './names.js';
import { describeValue } from './describe-value.js';

export interface OptionSpec {
  /** what the option must be, for the message ("true or false") */
  what: string;
  ok: (v: unknown) => boolean;
  /** more to say about a rejected value */
  hint?: (v: unknown) => string;
}

export const isRecord = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v);
export const isBool = (v: unknown): boolean => typeof v === 'boolean';
export const isPositive = (v: unknown): boolean => typeof v === 'number' && v > 0;

/** Checks an options object against the options `allowed` (each with its spec): `undefined` is no
 *  options, and an option set to `undefined` is absent. `what` names the object in messages
 *  ("the call options", "the CPU backend's options"). */
export function checkOptions(code: string, where: string, what: string, opts: unknown, specs: Record<string, OptionSpec>, allowed: readonly string[] = Object.keys(specs)): void {
  if (opts === undefined) return;
  const bad = (msg: string): never => {
    throw new MatcRuntimeError(code, `${where}: ${msg}`);
  };
  if (!isRecord(opts)) bad(`${what} must be an object {option: value}, got ${describeValue(opts)}`);
  for (const [k, v] of Object.entries(opts as Record<string, unknown>)) {
    if (!allowed.includes(k)) {
      const s = closest(k, allowed);
      bad(`unknown option '${k}'${s ? `; did you mean '${s}'?` : ''} (options: ${allowed.join(', ')})`);
    }
    if (v === undefined) continue;
    const spec = specs[k]!;
    if (!spec.ok(v)) bad(`option '${k}' must be ${spec.what}, got ${describeValue(v)}${spec.hint?.(v) ?? ''}`);
  }
}

