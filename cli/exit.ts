// Exiting a CLI process without losing output. process.exit() right after a large
// process.stdout.write drops what is still queued when stdout is a pipe (Node writes pipes
// asynchronously): `matc run --json | consumer` lost everything after the first 64 KiB. An empty
// write's callback runs once every earlier chunk of that stream is flushed.

import { writeSync } from 'node:fs';

/** Exits with `code` once stdout and stderr have flushed. */
export function exitAfterFlush(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

/** Writes a message to stderr synchronously (so process.exit cannot drop it) and exits. */
export function fail(code: number, msg: string): never {
  writeSync(2, msg.endsWith('\n') ? msg : msg + '\n');
  process.exit(code);
}
