// Environment switches of a test (MATC_SCHEDULE, MATC_HALF_STORAGE, …), restored afterwards.

/** Runs `body` with environment variable `name` set to `value` (undefined: unset), then restores
 *  what it was, whatever `body` did. */
export async function withEnv<T>(name: string, value: string | undefined, body: () => Promise<T>): Promise<T> {
  const prev = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  try {
    return await body();
  } finally {
    if (prev === undefined) delete process.env[name];
    else process.env[name] = prev;
  }
}
