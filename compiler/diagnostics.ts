// Diagnostics: user errors are collected (never thrown) with a stable code, a primary span and a
// label, optional notes pointing elsewhere, and an optional suggestion. `render` draws them with a
// code frame. Every code is documented in docs/diagnostics.md; tests pin the rendered text.

import { type Span, lineCol, lineText } from './source.js';

export type Severity = 'error' | 'warning';

export interface Note {
  message: string;
  span?: Span;
}

export interface Diagnostic {
  code: string;
  severity: Severity;
  message: string;
  span?: Span;
  /** Text written under the carets of the primary span. */
  label?: string;
  notes?: Note[];
  suggestion?: string;
}

/** Thrown only to unwind after a fatal user error has already been reported. */
export class UserErrors extends Error {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[]) {
    super(diagnostics.map((d) => `${d.code}: ${d.message}`).join('\n'));
    this.name = 'UserErrors';
    this.diagnostics = diagnostics;
  }
}

/** A number per distinct source-file object (two files may share a path in tests). */
const fileIds = new WeakMap<object, number>();
let nextFileId = 0;
function fileId(f: object | undefined): number {
  if (!f) return -1;
  let id = fileIds.get(f);
  if (id === undefined) fileIds.set(f, (id = nextFileId++));
  return id;
}

export class DiagnosticBag {
  readonly items: Diagnostic[] = [];
  /** (code, span) of every item, so that the duplicate check is O(1): a long chain of unknown
   *  names in a generic item instantiated ten times made 30,000 reports, and the linear scan took
   *  seconds (fuzz case 1463 of seed 777, a mutant of stdlib/spd.mat). */
  private readonly seen = new Set<string>();

  report(d: Diagnostic): void {
    // One report per (code, span): recovery paths can otherwise repeat the same complaint.
    const key = `${d.code}|${fileId(d.span?.file)}|${d.span?.start ?? ''}|${d.span?.end ?? ''}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.items.push(d);
  }

  error(code: string, message: string, span?: Span, extra: Partial<Diagnostic> = {}): void {
    this.report({ code, severity: 'error', message, ...(span ? { span } : {}), ...extra });
  }

  warning(code: string, message: string, span?: Span, extra: Partial<Diagnostic> = {}): void {
    this.report({ code, severity: 'warning', message, ...(span ? { span } : {}), ...extra });
  }

  get hasErrors(): boolean {
    return this.items.some((d) => d.severity === 'error');
  }

  get errors(): Diagnostic[] {
    return this.items.filter((d) => d.severity === 'error');
  }

  /** Throws UserErrors if any error was reported. */
  check(): void {
    if (this.hasErrors) throw new UserErrors(this.errors);
  }
}

/** The most characters of a source line a code frame shows: a longer line is cut to a window
 *  around the span, marked with … (a fuzzed 90,000-character line with 3,000 diagnostics on it
 *  rendered 540 million characters in 7 s; issue 12). */
const FRAME_WIDTH = 160;

function frame(span: Span, label: string | undefined, gutter: number): string[] {
  const a = lineCol(span.file, span.start);
  const endOff = Math.max(span.start, span.end - 1);
  const b = lineCol(span.file, endOff);
  let text = lineText(span.file, a.line);
  const pad = ' '.repeat(gutter);
  let col = a.col;
  let width = a.line === b.line ? Math.max(1, b.col - a.col + 1) : Math.max(1, text.length - a.col + 1);
  if (text.length > FRAME_WIDTH) {
    // a window that starts up to 40 characters before the span, the carets clipped to it
    const from = Math.max(0, Math.min(col - 1 - 40, text.length - FRAME_WIDTH));
    const to = Math.min(text.length, from + FRAME_WIDTH);
    const head = from > 0 ? '…' : '';
    text = `${head}${text.slice(from, to)}${to < text.length ? '…' : ''}`;
    col = col - from + head.length;
    width = Math.max(1, Math.min(width, to - from - (col - 1 - head.length)));
  }
  const out = [`${pad} |`, `${String(a.line).padStart(gutter)} | ${text}`];
  out.push(`${pad} | ${' '.repeat(col - 1)}${'^'.repeat(width)}${label ? ' ' + label : ''}`);
  return out;
}

/** Renders a diagnostic as text with a code frame, rustc style. */
export function render(d: Diagnostic): string {
  const lines = [`${d.severity}[${d.code}]: ${d.message}`];
  const spans = [d.span, ...(d.notes ?? []).map((n) => n.span)].filter((s): s is Span => !!s);
  const gutter = Math.max(1, ...spans.map((s) => String(lineCol(s.file, s.end).line).length));
  const pad = ' '.repeat(gutter);
  if (d.span) {
    const { line, col } = lineCol(d.span.file, d.span.start);
    lines.push(`${pad}--> ${d.span.file.path}:${line}:${col}`);
    lines.push(...frame(d.span, d.label, gutter));
  }
  for (const n of d.notes ?? []) {
    if (n.span) {
      const { line, col } = lineCol(n.span.file, n.span.start);
      lines.push(`${pad} = note: ${n.message}`);
      lines.push(`${pad}--> ${n.span.file.path}:${line}:${col}`);
      lines.push(...frame(n.span, undefined, gutter));
    } else {
      lines.push(`${pad} = note: ${n.message}`);
    }
  }
  if (d.suggestion) lines.push(`${pad} = help: ${d.suggestion}`);
  return lines.join('\n');
}

export function renderAll(ds: readonly Diagnostic[]): string {
  return ds.map(render).join('\n\n');
}

// "did you mean": one implementation for the compiler and the runtime (core/names.ts)
export { closest, editDistance } from '../core/names.js';
