#!/usr/bin/env python3
"""External oracles for the branches part (issue 10): regenerate test/fixtures/branches-int.json.

    python3 test/oracles/gen_branches_fixtures.py          (from the repository root)

Nothing here imports or runs matc. Integer floor division and the floored remainder come from
Python's own `//` and `%` on unbounded ints (the language's div and mod for divisors != 0), reduced
to 32-bit two's complement where the exact quotient overflows (only -2**31 // -1); floor of reals
from math.floor, saturated to the i32 range. The language's definitions for a zero divisor
(div(a, 0) = 0, mod(a, 0) = a) are conventions, not Python's, and are written here as such.
"""

import json
import math
import os
import random

I32_MIN, I32_MAX = -2**31, 2**31 - 1


def wrap(x):
    return (x + 2**31) % 2**32 - 2**31


def div(a, b):
    return 0 if b == 0 else wrap(a // b)


def mod(a, b):
    return a if b == 0 else wrap(a % b)


def ifloor(x):
    if x != x:
        return 0
    return max(I32_MIN, min(I32_MAX, math.floor(x))) if math.isfinite(x) else (I32_MAX if x > 0 else I32_MIN)


def main():
    rng = random.Random(20261210)
    special = [0, 1, -1, 2, -2, 3, -3, 7, -7, 10, -10, 2**31 - 1, -2**31, 2**30, -2**30, 12345, -12345]
    pairs = [(a, b) for a in special for b in special]
    for _ in range(300):
        a = rng.randint(I32_MIN, I32_MAX)
        b = rng.choice([rng.randint(-20, 20), rng.randint(I32_MIN, I32_MAX)])
        pairs.append((a, b))
    cases = [{"a": a, "b": b, "div": div(a, b), "mod": mod(a, b)} for a, b in pairs]
    for c in cases:  # the identity the language documents: a = b * div + mod (wrapping)
        assert wrap(c["b"] * c["div"] + c["mod"]) == c["a"], c
    reals = [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.75, -2.75, 1e9, -1e9, 3e9, -3e9, 2147483647.0, -2147483648.0, 2147483648.0, -2147483649.0, 1e300, -1e300]
    reals += [rng.uniform(-1e6, 1e6) for _ in range(40)]
    floors = [{"x": x, "floor": ifloor(x)} for x in reals]
    out = {
        "generator": "test/oracles/gen_branches_fixtures.py",
        "notes": "div/mod: Python // and % reduced to i32 (div(a, 0) = 0 and mod(a, 0) = a by the language's definition); floor: math.floor saturated to i32",
        "intops": cases,
        "floor": floors,
    }
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "branches-int.json")
    with open(path, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print(f"wrote {path}: {len(cases)} pairs, {len(floors)} floors")


if __name__ == "__main__":
    main()
