#!/usr/bin/env python3
"""External oracle for the language's `f16(x)` and `bf16(x)` (core/lowp.ts): writes test/fixtures/lowp.json.

    /usr/bin/python3 test/oracles/gen_lowp_fixture.py        (from the repository root; torch + numpy)

Nothing here imports or runs matc. The inputs are binary32 values (so that the WebGPU kernels, which
hold f32, and the CPU, which holds f64, round the same number): random magnitudes from 2^-30 to 2^17
(binary16's subnormals, normals and overflow) and 2^-140 to 2^128 (bfloat16's), and the hard cases
written out — exact ties between two neighbours (ties go to the even significand), the largest finite
values and the ties above them (IEEE overflow to ±inf), subnormal ties, ±0. The oracles:
numpy's float64 → float16 cast (npy_double_to_half, correctly rounded, ties to even) and torch's
float32 → bfloat16 cast (round to nearest even), each applied once to the binary32 input.
"""
import json
import math

import numpy as np
import torch

rng = np.random.default_rng(20261207)


def f32(xs):
    return [float(np.float32(x)) for x in xs]


def rand_mags(lo, hi, n):
    e = rng.uniform(lo, hi, n)
    s = rng.choice([-1.0, 1.0], n)
    return f32(s * np.exp2(e))


special16 = [0.0, -0.0, 1.0, 0.1, -0.1, 1 + 2**-11, 1 + 3 * 2**-11, 2049.0, 2051.0, 2050.0, 65504.0, 65519.0, 65520.0, -65520.0,
             65536.0, 1e6, 2**-24, 2**-25, 3 * 2**-26, 2**-26, 2**-14, 2**-14 - 2**-25, 3 * 2**-25, 5 * 2**-25, -(3 * 2**-25),
             2**-15 + 2**-25, 1e-8, 3e-8, -1e-8, 0.333333333, 1 / 3, 2.0 / 3.0, math.pi, -math.e]
special_bf = [0.0, -0.0, 1.0, 1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-9, 3.3895313892515355e38, 3.3961775292304608e38,
              float(np.finfo(np.float32).max), -float(np.finfo(np.float32).max), 2**-126, 2**-133, 2**-134, 3 * 2**-134,
              2**-126 + 2**-134, 1e-40, 0.1, -0.1, math.pi]

x16 = f32(special16) + rand_mags(-30, 17, 400)
xbf = f32(special_bf) + rand_mags(-140, 128, 400)


def enc(v):
    if math.isnan(v):
        return 'nan'
    if math.isinf(v):
        return 'inf' if v > 0 else '-inf'
    return v


with np.errstate(over='ignore'):
    y16 = [float(np.float64(x).astype(np.float16)) for x in x16]
ybf = [float(v) for v in torch.tensor(xbf, dtype=torch.float32).to(torch.bfloat16).to(torch.float64).tolist()]

out = {
    'about': 'test/oracles/gen_lowp_fixture.py: numpy float16 and torch bfloat16 casts of binary32 inputs',
    'f16': {'x': x16, 'y': [enc(v) for v in y16], 'signbit': [math.copysign(1, v) < 0 for v in y16]},
    'bf16': {'x': xbf, 'y': [enc(v) for v in ybf], 'signbit': [math.copysign(1, v) < 0 for v in ybf]},
}
with open('test/fixtures/lowp.json', 'w') as f:
    json.dump(out, f, separators=(',', ':'))
print('wrote test/fixtures/lowp.json:', len(x16), 'binary16 and', len(xbf), 'bfloat16 cases')
