// Source files and spans. Every AST node and IR node carries a Span so that diagnostics raised in
// late passes (shape errors after inlining, ill-posed declarative nodes) still point at the text.

export interface SourceFile {
  readonly path: string;
  readonly text: string;
  readonly lineStarts: readonly number[];
}

/** A half-open character range [start, end) in a source file. */
export interface Span {
  readonly file: SourceFile;
  readonly start: number;
  readonly end: number;
  /** For IR built inside an inlined call: the calls that led here, outermost first (the
   *  elaborated function's own call of the first callee, then that callee's call of the next…).
   *  Late diagnostics (a derivative that cannot be built) name this chain. */
  readonly via?: readonly CallSite[];
}

/** A call of a user function that was inlined: where, and which function. */
export interface CallSite {
  readonly span: Span;
  readonly callee: string;
}

export function sourceFile(path: string, text: string): SourceFile {
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
  return { path, text, lineStarts };
}

/** 1-based line and column of an offset. */
export function lineCol(file: SourceFile, offset: number): { line: number; col: number } {
  const ls = file.lineStarts;
  let lo = 0;
  let hi = ls.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ls[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, col: offset - ls[lo]! + 1 };
}

export function lineText(file: SourceFile, line: number): string {
  const start = file.lineStarts[line - 1] ?? file.text.length;
  const next = file.lineStarts[line];
  const end = next === undefined ? file.text.length : next - 1;
  return file.text.slice(start, end).replace(/\r$/, '');
}

export function joinSpans(a: Span, b: Span): Span {
  return { file: a.file, start: Math.min(a.start, b.start), end: Math.max(a.end, b.end) };
}

export function spanText(s: Span): string {
  return s.file.text.slice(s.start, s.end);
}
