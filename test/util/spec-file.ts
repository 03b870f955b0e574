// A spec written to a temporary file for the CLI tests, removed afterwards.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function withSpec<T>(text: string, f: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'matc-spec-'));
  try {
    const p = join(dir, 'spec.mat');
    writeFileSync(p, text);
    return f(p);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
