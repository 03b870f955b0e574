#!/usr/bin/env python3
"""SciPy side of bench/less-table.ts: PMaF's LESS baseline, scipy.optimize.minimize(method='SLSQP')
with NonlinearConstraint(||x||^2, 1, 1) (seeds-math 1.2), started from normalize(pinv(A) b) as the
other methods are, the result renormalised to the sphere as PMaF does. Reads the problems JSON that
less-table.ts writes ({"sizes": [{"m", "n", "count", "A": file, "b": file}]}, the files raw
little-endian f64 beside it, count × m × n and count × m), writes
{"sizes": [{"m", "n", "f": [...], "iterations": [...], "success": [...], "ms": total}]}.

    python3 bench/less_scipy.py PROBLEMS.json OUT.json        (needs numpy and scipy)
"""
import json
import sys
import time

import numpy as np
from scipy.optimize import NonlinearConstraint, minimize


def solve(A, b):
    f = lambda x: 0.5 * float(np.sum((A @ x - b) ** 2))
    g = lambda x: A.T @ (A @ x - b)
    z = np.linalg.pinv(A) @ b
    nz = np.linalg.norm(z)
    x0 = z / nz if nz > 0 else np.ones(A.shape[1]) / np.sqrt(A.shape[1])
    con = NonlinearConstraint(lambda x: x @ x, 1.0, 1.0, jac=lambda x: 2 * x)
    r = minimize(f, x0, jac=g, method="SLSQP", constraints=[con])
    x = r.x / np.linalg.norm(r.x)
    return f(x), int(r.nit), bool(r.success)


def main():
    import os
    probs = json.load(open(sys.argv[1]))
    base = os.path.dirname(sys.argv[1])
    out = []
    for s in probs["sizes"]:
        m, n, count = s["m"], s["n"], s["count"]
        As = np.memmap(os.path.join(base, s["A"]), dtype="<f8", mode="r", shape=(count, m, n))
        bs = np.memmap(os.path.join(base, s["b"]), dtype="<f8", mode="r", shape=(count, m))
        fs, its, ok = [], [], []
        t0 = time.perf_counter()
        for A, b in zip(As, bs):
            fv, it, su = solve(np.array(A), np.array(b))
            fs.append(fv)
            its.append(it)
            ok.append(su)
        out.append({"m": m, "n": n, "f": fs, "iterations": its, "success": ok, "ms": 1000 * (time.perf_counter() - t0)})
    json.dump({"scipy": __import__("scipy").__version__, "numpy": np.__version__, "sizes": out}, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
