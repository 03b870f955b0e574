#!/usr/bin/env python3
"""PyTorch/CUDA reference for bench/gpu-bench.ts: the same cases, timed the same way.

Each case is timed with CUDA events around every iteration (warm-up first, median of >= 20),
f32 throughout, TF32 disabled (cuBLAS then uses plain FP32 FMA, as WGSL must), inputs random
(never zeros). Prints one JSON object on stdout (and to --json FILE):
  {"device": ..., "torch": ..., "results": [{"name", "medianMs", "minMs", "gbps", "gflops", ...}]}
Case names match gpu-bench's so bench/compare.ts can pair them.

  python3 bench/torch_compare.py [--quick] [--json out.json] [--iterations N]
"""
import argparse
import json
import statistics
import sys
import time

import torch

MiB = 1 << 20


def time_op(fn, iterations, warmup=5, warmup_ms=250.0):
    # Warm up by count and by time (as gpu-bench does): an idle GPU needs sustained work before
    # it runs at its working clocks.
    t0 = time.perf_counter()
    done = 0
    while done < warmup or (time.perf_counter() - t0) * 1e3 < warmup_ms:
        fn()
        done += 1
        if done % 16 == 0:
            torch.cuda.synchronize()
    torch.cuda.synchronize()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(iterations)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(iterations)]
    for i in range(iterations):
        starts[i].record()
        fn()
        ends[i].record()
    torch.cuda.synchronize()
    ms = [s.elapsed_time(e) for s, e in zip(starts, ends)]
    return statistics.median(ms), min(ms), len(ms)


def result(name, kind, nbytes, flops, t, extra=None):
    med, mn, n = t
    r = {"name": name, "kind": kind, "medianMs": med, "minMs": mn, "samples": n, "timer": "cuda-event",
         "bytes": nbytes, "flops": flops, "gbps": nbytes / (med / 1e3) / 1e9,
         "gflops": flops / (med / 1e3) / 1e9}
    if extra:
        r.update(extra)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--iterations", type=int, default=30)
    a = ap.parse_args()
    iters = max(20, a.iterations)

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    dev = torch.device("cuda")
    g = torch.Generator(device=dev)
    g.manual_seed(1234)

    def rand(*shape):
        return torch.rand(*shape, device=dev, dtype=torch.float32, generator=g) * 2 - 1

    out = []
    copy_floats = (16 if a.quick else 256) * MiB // 4
    src = rand(copy_floats)
    dst = torch.empty_like(src)
    t = time_op(lambda: dst.copy_(src), iters)
    assert torch.equal(dst, src)
    out.append(result(f"copy {copy_floats * 4 // MiB} MiB", "copy", 2 * copy_floats * 4, 0, t))
    del src, dst

    for s in ([64, 128, 256] if a.quick else [256, 512, 1024, 2048, 4096]):
        A, B = rand(s, s), rand(s, s)
        C = torch.empty(s, s, device=dev)
        t = time_op(lambda: torch.mm(A, B, out=C), iters)
        ref = (A.double() @ B.double())
        err = ((C.double() - ref).norm() / ref.norm()).item()
        out.append(result(f"matmul {s}", "gemm", 4 * 3 * s * s, 2 * s ** 3, t, {"relErr": err}))
        del A, B, C, ref

    count = 256 if a.quick else 65536
    for n in [8, 16, 32, 64]:
        A, B = rand(count, n, n), rand(count, n, n)
        C = torch.empty(count, n, n, device=dev)
        t = time_op(lambda: torch.bmm(A, B, out=C), iters)
        ref = torch.bmm(A[:64].double(), B[:64].double())
        err = ((C[:64].double() - ref).norm() / ref.norm()).item()
        out.append(result(f"bmm {count}x{n}x{n}", "bmm", 3 * count * n * n * 4, 2 * count * n ** 3, t, {"relErr": err}))
        del A, B, C, ref

    gram_k = 16384 if a.quick else 262144
    A, B = rand(gram_k, 16), rand(gram_k, 16)
    C = torch.empty(16, 16, device=dev)
    t = time_op(lambda: torch.mm(A.t(), B, out=C), iters)
    ref = A.double().t() @ B.double()
    err = ((C.double() - ref).norm() / ref.norm()).item()
    out.append(result(f"gram 16x16x{gram_k}", "other", 4 * (2 * 16 * gram_k + 256), 2 * 256 * gram_k, t, {"relErr": err}))
    del A, B, C, ref

    doc = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "allow_tf32": torch.backends.cuda.matmul.allow_tf32, "results": out}
    for r in out:
        print(f"  {r['name']:<24} {r['medianMs']:10.4f} ms {r['gbps']:9.1f} GB/s {r['gflops']:10.1f} GFLOP/s",
              file=sys.stderr)
    text = json.dumps(doc, indent=2)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
