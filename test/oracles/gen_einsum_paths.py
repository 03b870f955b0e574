"""External oracle for matc's einsum contraction-path optimiser: writes test/fixtures/einsum-paths.json.

Each case is an einsum network (operand index lists, output, a size per index) with the contraction
path NumPy's `np.einsum_path` chooses for it: `optimal` (NumPy's exhaustive search over every
sequence of pairwise contractions) for networks of 3 to 7 operands (8 take NumPy minutes), `greedy`
for 9 to 26 operands.
The memory limit is lifted (`(name, 1e300)`), so `optimal` really ranges over every pairwise tree;
NumPy's default would cap intermediates at the largest operand.

NumPy's cost model differs from matc's (NumPy counts 2·Π sizes for a pair that sums an index, Π
sizes for an outer product; matc counts Π sizes for every pair), so the test does not compare
costs as NumPy reports them: it evaluates NumPy's path with matc's own cost function
(`treeCost`) and checks that matc's path is no worse. For `optimal`, that must hold exactly (matc's
dynamic program is exact in its model and NumPy's tree is one of the trees it ranges over). For
`greedy`, it is the check that matc's greedy (with its restarts) is at least as good as NumPy's
greedy on these networks, a regression check on fixed cases.

A NumPy greedy path may end with one step that contracts several operands at once (NumPy falls
back to that when no remaining pair shares an index); the test reads such a step left to right.

Networks: random ones (a few to 26 operands, ranks 1 to 3, sizes 2 to 32, a random output), tensor
trains applied to a batch of vectors (the STTP operator of seeds-math §3.3: cores [r, n, r'] and x
reshaped to its modes), matrix chains, rings and 2-D grids. Sizes are the true ones, not matc's
representative sizes.

Run from the repository root: `/usr/bin/python3 test/oracles/gen_einsum_paths.py` (NumPy only;
reproducible bit for bit; NumPy 1.24.2 for the committed file).
"""

import json
import os
import random
import string
import sys
import time

import numpy as np

LETTERS = string.ascii_lowercase + string.ascii_uppercase


def numpy_path(inputs, output, sizes, kind):
    spec = ",".join("".join(LETTERS[i] for i in op) for op in inputs) + "->" + "".join(LETTERS[i] for i in output)
    ops = [np.empty([sizes[i] for i in op]) for op in inputs]
    path, _ = np.einsum_path(spec, *ops, optimize=(kind, 1e300))
    assert path[0] == "einsum_path"
    return spec, [list(step) for step in path[1:]]


def random_network(rng, n_ops, n_ids):
    sizes = [rng.choice([2, 3, 4, 5, 8, 16, 32]) for _ in range(n_ids)]
    inputs = []
    for _ in range(n_ops):
        rank = rng.randint(1, 3)
        inputs.append(rng.sample(range(n_ids), min(rank, n_ids)))
    used = sorted({i for op in inputs for i in op})
    output = [i for i in used if rng.random() < 0.3]
    rng.shuffle(output)
    return inputs, output, sizes


def tt_network(out_modes, in_modes, r, b):
    """The TT operator of test/util/tt-spec.ts: cores U_k[a, o_k, a'], V_k[c, n_k, c'] and x[n…, b]."""
    modes = out_modes + in_modes
    ranks = [1]
    for k in range(1, len(modes)):
        left = int(np.prod(modes[:k]))
        right = int(np.prod(modes[k:]))
        ranks.append(min(left, right, r))
    ranks.append(1)
    # ids: ranks 0..K, modes K+1.., batch last
    K = len(modes)
    sizes = ranks + modes + [b]
    rank_id = list(range(K + 1))
    mode_id = [K + 1 + k for k in range(K)]
    b_id = 2 * K + 1
    inputs = [[rank_id[k], mode_id[k], rank_id[k + 1]] for k in range(K)]
    inputs.append([mode_id[k] for k in range(len(out_modes), K)] + [b_id])
    # the size-1 boundary ranks are indices of their own here (each in one operand only)
    output = [mode_id[k] for k in range(len(out_modes))] + [b_id]
    return inputs, output, sizes


def chain_network(dims):
    inputs = [[k, k + 1] for k in range(len(dims) - 1)]
    return inputs, [0, len(dims) - 1], list(dims)


def ring_network(n, bond, phys):
    # MPS-like ring: T_k[a_k, p_k, a_{k+1}], a_n = a_0, all physical indices kept
    sizes = [bond] * n + [phys] * n
    inputs = [[k, n + k, (k + 1) % n] for k in range(n)]
    return inputs, [n + k for k in range(n)], sizes


def grid_network(rows, cols, bond):
    # a closed 2-D grid of matrices/tensors: one index per edge, scalar output
    ids = {}
    sizes = []

    def edge(a, b):
        key = (min(a, b), max(a, b))
        if key not in ids:
            ids[key] = len(sizes)
            sizes.append(bond)
        return ids[key]

    inputs = []
    for i in range(rows):
        for j in range(cols):
            v = i * cols + j
            op = []
            if j + 1 < cols:
                op.append(edge(v, v + 1))
            if j > 0:
                op.append(edge(v, v - 1))
            if i + 1 < rows:
                op.append(edge(v, v + cols))
            if i > 0:
                op.append(edge(v, v - cols))
            inputs.append(op)
    return inputs, [], sizes


def main():
    rng = random.Random(20261214)
    cases = []

    def add(name, inputs, output, sizes, kind):
        t = time.time()
        spec, path = numpy_path(inputs, output, sizes, kind)
        cases.append({"name": name, "spec": spec, "inputs": inputs, "output": output, "sizes": sizes, "numpy": kind, "path": path})
        dt = time.time() - t
        if dt > 2:
            print(f"  {name}: {dt:.1f} s", file=sys.stderr)

    for t in range(60):
        n_ops = rng.randint(3, 7)
        inputs, output, sizes = random_network(rng, n_ops, rng.randint(3, 10))
        add(f"random optimal {t} ({n_ops} operands)", inputs, output, sizes, "optimal")
    for t in range(40):
        n_ops = rng.randint(9, 26)
        inputs, output, sizes = random_network(rng, n_ops, rng.randint(8, 40))
        add(f"random greedy {t} ({n_ops} operands)", inputs, output, sizes, "greedy")

    add("TT 8×16 ← 4·4·4·9, r 16, b 32", *tt_network([8, 16], [4, 4, 4, 9], 16, 32), "optimal")
    add("TT 2·3 ← 2·3·2, r 3, b 5", *tt_network([2, 3], [2, 3, 2], 3, 5), "optimal")
    add("TT 4·4·4·8 ← 4·4·4·4·2·9, r 32, b 64", *tt_network([4, 4, 4, 8], [4, 4, 4, 4, 2, 9], 32, 64), "greedy")
    add("STTP 512 ← 256·3·3 (prime modes), r 32, b 256", *tt_network([2] * 9, [2] * 8 + [9], 32, 256), "greedy")
    add("chain 30,35,15,5,10,20,25 (CLRS)", *chain_network([30, 35, 15, 5, 10, 20, 25]), "optimal")
    add("chain of 14", *chain_network([rng.choice([2, 5, 10, 50, 100]) for _ in range(15)]), "greedy")
    add("ring of 7, bond 8, physical 2", *ring_network(7, 8, 2), "optimal")
    add("ring of 12, bond 4, physical 2", *ring_network(12, 4, 2), "greedy")
    add("grid 2×3, bond 4", *grid_network(2, 3, 4), "optimal")
    add("grid 4×4, bond 3", *grid_network(4, 4, 3), "greedy")

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = {"generator": "test/oracles/gen_einsum_paths.py", "numpy": np.__version__, "cases": cases}
    path = os.path.join(root, "test", "fixtures", "einsum-paths.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.relpath(path, root)}", file=sys.stderr)


if __name__ == "__main__":
    main()
