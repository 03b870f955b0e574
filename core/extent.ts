// The least and greatest of many numbers without `Math.min(...xs)`: spreading an array into
// arguments overflows the stack past ~10⁵ elements (a status array of a batch of 200,000
// instances did, in `matc run`'s summary line).

/** [min, max] of `xs` ([Infinity, −Infinity] when empty, as Math.min() and Math.max() give). */
export function extent(xs: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}
