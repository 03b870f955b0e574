// A spec compiled by `matc compile` into a temporary consumer project (ES modules) and imported:
// the compiled module as a user runs it, with no compiler at run time.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compileToDir } from '../../cli/aot.js';
import { repoRoot } from '../gen/paths.js';

/** Compiles `src` as `file` (e.g. 'oob.mat') into a fresh directory, imports the module and runs
 *  `body` with its namespace and the generated file's path; the directory is removed after. */
export async function withCompiledModule<NS, T>(file: string, src: string, body: (ns: NS, js: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'matc-aot-'));
  try {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    writeFileSync(join(dir, file), src);
    const r = compileToDir(join(dir, file), dir, { runtime: join(repoRoot, 'dist') });
    return await body((await import(pathToFileURL(r.js).href)) as NS, r.js);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
