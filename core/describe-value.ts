// How an error message names a value the caller gave where something else was expected.

/** `null`, `undefined`, `a string ("12")`, `a boolean (true)`, `an array`, `an object with keys {…}`,
 *  `a number` … */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'string') return `a string (${JSON.stringify(v.length > 20 ? v.slice(0, 20) + '…' : v)})`;
  if (typeof v === 'boolean') return `a boolean (${v})`;
  if (typeof v === 'bigint') return `a bigint (${v}n)`;
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `an object with keys {${Object.keys(v as object).slice(0, 5).join(', ')}}`;
  return `a ${typeof v}`;
}
