// CPU references for GPU kernel tests: f64 accumulation, seeded inputs, and the error measure
// ‖out − ref‖ / ‖ref‖ (f32 GEMM lands far under 1e-5 for these sizes; a wrong index lands near 1).

/** Deterministic uniform values in [-1, 1) (mulberry32). */
export function randomF32(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** C[b] = op(A[b])·op(B[b]) in f64; A is [M,K] or, transposed, stored [K,M]; B is [K,N] or [N,K]. */
export function matmulRef(
  A: Float32Array,
  B: Float32Array,
  d: { M: number; N: number; K: number; batch?: number; transA?: boolean; transB?: boolean; strideA?: number; strideB?: number; strideC?: number },
): Float64Array {
  const { M, N, K } = d;
  const batch = d.batch ?? 1;
  const sA = d.strideA ?? M * K;
  const sB = d.strideB ?? K * N;
  const sC = d.strideC ?? M * N;
  const C = new Float64Array(Math.max(1, sC * (batch - 1) + M * N));
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const a = d.transA ? A[b * sA + k * M + i]! : A[b * sA + i * K + k]!;
          const bb = d.transB ? B[b * sB + j * K + k]! : B[b * sB + k * N + j]!;
          s += a * bb;
        }
        C[b * sC + i * N + j] = s;
      }
    }
  }
  return C;
}

/** ‖x − ref‖₂ / ‖ref‖₂ (NaN anywhere gives Infinity, so it never passes a tolerance). */
export function relErr(x: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (x.length !== ref.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    const a = x[i]!;
    if (!Number.isFinite(a)) return Infinity;
    num += (a - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}
