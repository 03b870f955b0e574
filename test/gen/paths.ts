// Where the repository's files are, for tests compiled to dist/test/… as well as run from test/.

import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json'))) {
    const up = dirname(d);
    if (up === d) throw new Error('cannot find the repository root (package.json) above ' + fileURLToPath(import.meta.url));
    d = up;
  }
  return d;
}

export const repoRoot = findRoot();

/** The stdlib specs, discovered by listing the directory (new specs are picked up as they land). */
export function stdlibFiles(): string[] {
  return readdirSync(join(repoRoot, 'stdlib'))
    .filter((f) => f.endsWith('.mat'))
    .sort();
}
