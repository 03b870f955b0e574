// "Did you mean": the closest of a set of names to a misspelt one, for the compiler's diagnostics
// and the runtime's messages alike.

/** Edit distance for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  // insertions, deletions, substitutions and swaps of two adjacent characters (f61 → f16), each 1
  // (the optimal-string-alignment distance)
  const m = a.length;
  const n = b.length;
  let before: number[] = [];
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur = [i];
    for (let j = 1; j <= n; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) cur[j] = Math.min(cur[j]!, before[j - 2]! + 1);
    }
    before = prev;
    prev = cur;
  }
  return prev[n]!;
}

/** The closest candidate within a small edit distance, or undefined. */
export function closest(name: string, candidateList: Iterable<string>): string | undefined {
  // read twice below (a Map's keys() iterator would be empty the second time)
  const candidates = [...candidateList];
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  const limit = Math.max(1, Math.floor(name.length / 3));
  if (bestD <= limit) return best;
  // a candidate that is a prefix of the name or the other way round (tolerance → tol, matrix → mat)
  const lower = name.toLowerCase();
  for (const c of candidates) {
    const cl = c.toLowerCase();
    if (cl.length >= 3 && (lower.startsWith(cl) || cl.startsWith(lower))) return c;
  }
  return undefined;
}
