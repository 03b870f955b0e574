// Errors the runtime and compiler raise at run time. User-facing problems with the data a caller
// passed (wrong shape, NaN, a singular system) are MatcRuntimeError with a stable code; bugs in
// matc itself (a WGSL validation failure, a verifier violation) are InternalError, which carries
// whatever generated text helps to debug it (for WGSL: the source with line numbers).

export class MatcRuntimeError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'MatcRuntimeError';
    this.code = code;
  }
}

export class InternalError extends Error {
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
