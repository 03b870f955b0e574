// Errors the runtime and compiler raise at run time. User-facing problems with the data a caller
// passed (wrong shape, NaN, a singular system) are MatcRuntimeError with a stable code; bugs in
// matc itself (a WGSL validation failure, a verifier violation) are InternalError, which carries
// whatever generated text helps to debug it (for WGSL: the source with line numbers).

/** Brands that make `instanceof` hold across copies of matc in one process (see runtime/tensor.ts). */
const RUNTIME_ERROR = Symbol.for('matc.MatcRuntimeError');
const INTERNAL_ERROR = Symbol.for('matc.InternalError');
const branded = (x: unknown, brand: symbol): boolean => typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[brand] === true;

export class MatcRuntimeError extends Error {
  static override [Symbol.hasInstance](x: unknown): boolean {
    return branded(x, RUNTIME_ERROR);
  }
  readonly [RUNTIME_ERROR] = true;
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'MatcRuntimeError';
    this.code = code;
  }
}

export class InternalError extends Error {
  static override [Symbol.hasInstance](x: unknown): boolean {
    return branded(x, INTERNAL_ERROR);
  }
  readonly [INTERNAL_ERROR] = true;
  readonly detail: string | undefined;
  constructor(message: string, detail?: string) {
    super(detail === undefined ? message : `${message}\n${detail}`);
    this.name = 'InternalError';
    this.detail = detail;
  }
}

/** Prefixes every line of a generated source with its 1-based line number. */
export function numberLines(src: string): string {
  const lines = src.split('\n');
  const w = String(lines.length).length;
  return lines.map((l, i) => `${String(i + 1).padStart(w)} | ${l}`).join('\n');
}
