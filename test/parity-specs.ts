// Small specs that together exercise every IR op and construct on both backends. Used by the
// backend parity test (WebGPU f32 vs CPU f64) and handy for debugging code generation.

export interface ParitySpec {
  name: string;
  src: string;
  fn: string;
  dims: Record<string, number>;
  /** also compare the VJP */
  grad?: boolean;
  /** relative tolerance for f32 vs f64 */
  tol?: number;
  /** compare with the CPU reference's f32 rounding (the spec depends on the precision: `eps`) */
  f32ref?: boolean;
  /** how long its kernels take to compile cold on a software adapter (lavapipe): 'heavy' about a
   *  minute (compiled once in CI, by the parity test), 'slow' several minutes (on a software
   *  adapter only with MATC_GPU_LAYERS=1, as the layer kernels: test/util/gpu-layers.ts) */
  kernelCost?: 'heavy' | 'slow';
}

export const paritySpecs: ParitySpec[] = [
  { name: 'eps', fn: 'f', dims: { n: 3 }, grad: true, f32ref: true, src: `fn f(x: vec[n]) -> vec[n] = x + 1e6 * eps * x` },
  { name: 'elementwise', fn: 'f', dims: { m: 5, n: 3 }, grad: true, src: `fn f(A: mat[m, n], B: mat[m, n], s: real) -> mat[m, n] = exp(-A .* A) + tanh(B) ./ (1 + A .* A) - s * sin(A) + cos(B) .^ 2 + sigmoid(A) .* abs(B) + sqrt(1 + B .* B) + log(2 + A .* A) + max(A, B) - min(A, 0.5 * B)` },
  { name: 'compare-select', fn: 'f', dims: { n: 7 }, grad: true, src: `fn f(x: vec[n], y: vec[n]) -> vec[n] = (x > y) .* x + (x <= y) .* y .* y + sign(x) + (if sum(x) > 0 then x else -y)` },
  { name: 'products', fn: 'f', dims: { m: 4, k: 6, n: 3 }, grad: true, src: `fn f(A: mat[m, k], B: mat[k, n], x: vec[k], y: vec[m]) -> (C: mat[m, n], v: vec[m], s: real, O: mat[m, k]) = (A * B, A * x, y' * A * x, y * x')` },
  { name: 'transpose-chain', fn: 'f', dims: { m: 5, n: 4 }, grad: true, src: `fn f(A: mat[m, n], b: vec[m]) -> vec[n] = A' * (A * (A' * b)) + (A' * A) * (A' * b)` },
  { name: 'reductions', fn: 'f', dims: { m: 6, n: 5 }, grad: true, src: `fn f(A: mat[m, n]) -> (a: real, b: real, c: vec[n], d: vec[m], e: real, g: real) = (sum(A), sumsq(A), colsum(A)', rowsum(A), max(A), norm(A) + trace(A' * A) + mean(A))` },
  { name: 'structure', fn: 'f', dims: { n: 6 }, grad: true, src: `fn f(A: mat[n, n], v: vec[n]) -> (L: mat[n, n], U: mat[n, n], S: mat[n, n], D: mat[n, n], d: vec[n], E: mat[n, n]) = (tril(A), triu(A, 1), sym(A) + skew(A), diag(v), diag(A), eye(n) + tril(A, -1))` },
  { name: 'indexing', fn: 'f', dims: { m: 5, n: 4 }, grad: true, src: `fn f(A: mat[m, n], x: vec[n]) -> (a: vec[m], b: vec[n], c: real, D: mat[m, n], E: mat[m, n], F: mat[2, 3], g: real, v: vec[n]) = (A[:, 1], A[2, :]', A[3, 2], setcol(A, 2, A[:, 0]), setrow(A, 1, x), A[1:3, 0:3], x[2], set(x, 1, 7))` },
  { name: 'blocks', fn: 'f', dims: { m: 3, n: 2 }, grad: true, src: `fn f(A: mat[m, n], B: mat[m, n], x: vec[n]) -> (H: mat[m, 2 * n], V: mat[2 * m, n], w: vec[2 * n], R: mat[2, 2]) = ([A, B], [A; B], [x; x], [1, 2; 3, 4] * eye(2))` },
  { name: 'reshape-einsum', fn: 'f', dims: { a: 2, b: 3, c: 4 }, grad: true, src: `fn f(T: tensor[a, b, c], M: mat[c, b]) -> (U: mat[a, b], V: vec[a], W: mat[b, c]) = (einsum("abc,cb->ab", T, M), einsum("abc,cb->a", T, M), reshape(vec(T), a * b, c)[0:b, :] + M')` },
  { name: 'solve', fn: 'f', dims: { n: 5 }, grad: true, tol: 1e-3, src: `fn f(A: mat[n, n], b: vec[n], B: mat[n, 3]) -> (x: vec[n], X: mat[n, 3], Y: mat[n, n]) = (solve(A + 4 * eye(n), b), solve(A' + 4 * eye(n), B), inv(A + 5 * eye(n)))` },
  { name: 'trisolve', fn: 'f', dims: { n: 5 }, grad: true, tol: 1e-3, src: `fn f(A: mat[n, n], B: mat[n, 3], b: vec[n]) -> (X: mat[n, 3], Y: mat[n, 3], z: vec[n], W: mat[n, 3]) = let L = tril(A) + 5 * eye(n), R = triu(A) + 5 * eye(n) in (tril_solve(L, B), triu_solve(R, B), triu_solve(L', b), tril_solve(R', B))` },
  { name: 'loop', fn: 'f', dims: { n: 4 }, src: `fn f(A: mat[n, n], x0: vec[n]) -> (x: vec[n], S: mat[n, n], c: real) = iterate (x = x0, S = zeros(n, n), c = 0) for i in 0..n => (normalize(A * x + x0), setcol(S, i, x), c + sum(x))` },
  { name: 'loop-until', fn: 'f', dims: { n: 5 }, src: `fn f(X: sym[n]) -> vec[n] = iterate (u = ones(n) / sqrt(n)) for i in 0..200 => let v = normalize((X + 10 * eye(n)) * u) in v until norm(v - u) < 1e-6` },
  { name: 'loop-reverse', fn: 'f', dims: { n: 4 }, src: `fn f(x: vec[n]) -> vec[n] = iterate (y = zeros(n)) for i in reverse 0..n => set(y, i, x[i] * (i + 1) + sum(y))` },
  // issue 10: integer arithmetic (a zero divisor included), seeded random numbers, real branches
  { name: 'int-arith', fn: 'f', dims: { n: 5 }, src: `fn f(x: vec[n]) -> (q: real, r: real, y: vec[n]) = let a = floor(10 * x[0]), b = floor(2 * x[1]) in (float(div(a, b)), float(mod(a, b)), x * float(mod(a + 7, 3) - div(-a, 4)))` },
  { name: 'random', fn: 'f', dims: { n: 4 }, grad: true, src: `fn f(x: vec[n], k: int = 3) -> (y: vec[n], Z: mat[n, n]) = (x .* rand(k, n) + randn(k + 1, n, stream: 2), randn(k, n, n) * sum(x))` },
  { name: 'cond', fn: 'f', dims: { n: 4 }, grad: true, src: `fn f(A: mat[n, n], x: vec[n]) -> (y: vec[n], s: real) = if sum(x) > 0 then (A * x + sin(x), x' * A * x) else (A' * (x .* x), sum(A))` },
  { name: 'cond-loop', fn: 'f', dims: { n: 4 }, src: `fn f(A: mat[n, n], x0: vec[n]) -> vec[n] = iterate (x = x0) for i in 0..4 => if mod(i, 2) == 0 then normalize(A * x + x0) else x - 0.1 * (A' * x)` },
  // a chain of entry, column and row updates of a carry that cross, with values that read the old
  // carries: written in place link by link (the last link wins where they overlap)
  { name: 'loop-update-chain', fn: 'f', dims: { n: 5 }, src: `fn f(X: mat[n, n], v: vec[n]) -> (A: mat[n, n], w: vec[n]) = iterate (A = X, w = v) for i in 0..n => (setrow(setcol(set(A, i, n - 1 - i, A[n - 1 - i, i] + w[i]), n - 1 - i, 0.5 * A[:, i] + A[:, n - 1 - i]), i, A[n - 1 - i, :]' - w), set(set(w, i, w[n - 1 - i] + 1), n - 1 - i, 2 * w[i]))` },
  // spectral ops (issue 10): lowered to Jacobi / Padé loops, derivatives by their own rules
  { name: 'eigh', fn: 'f', dims: { n: 4 }, grad: true, tol: 1e-3, kernelCost: 'heavy', src: `fn f(A: sym[n]) -> (d: vec[n], V: mat[n, n]) = eigh(A)` },
  { name: 'svd', fn: 'f', dims: { m: 5, n: 3 }, grad: true, tol: 1e-3, kernelCost: 'slow', src: `fn f(A: mat[m, n]) -> (U: mat[m, k], s: vec[k], V: mat[n, k]) where k = min(m, n) = svd(A)` },
  { name: 'expm', fn: 'f', dims: { n: 4 }, grad: true, tol: 1e-3, kernelCost: 'slow', src: `fn f(A: mat[n, n]) -> mat[n, n] = expm(0.5 * A)` },
  { name: 'sqrtm-invsqrtm', fn: 'f', dims: { n: 4 }, grad: true, tol: 1e-3, kernelCost: 'slow', src: `fn f(S: spd[n]) -> (R: mat[n, n], Ri: mat[n, n]) = (sqrtm(S), invsqrtm(S))` },
  { name: 'polar', fn: 'f', dims: { m: 5, n: 3 }, grad: true, tol: 1e-3, kernelCost: 'slow', src: `fn f(A: mat[m, n]) -> mat[m, n] = polar(A)` },
  // the grid model runs it as its blocked routine, the others as the expand stage's loops
  { name: 'householder_qr', fn: 'f', dims: { m: 5, n: 3 }, grad: true, tol: 1e-3, src: `fn f(A: mat[m, n]) -> (Q: mat[m, k], R: mat[k, n]) where k = min(m, n) = householder_qr(A)` },
  { name: 'householder_qr-wide', fn: 'f', dims: { m: 3, n: 5 }, grad: true, tol: 1e-3, src: `fn f(A: mat[m, n]) -> (Q: mat[m, k], R: mat[k, n]) where k = min(m, n) = householder_qr(A)` },
];

/** The QR/LQ family from the stdlib (imported, so the stdlib spec itself is what runs). */
export const qrParitySpecs: ParitySpec[] = [
  { name: 'qr-square', fn: 'qr', dims: { m: 6, n: 6 }, grad: true, tol: 2e-4, src: 'import "qr.mat"' },
  { name: 'qr-deep', fn: 'qr', dims: { m: 9, n: 4 }, grad: true, tol: 2e-4, src: 'import "qr.mat"' },
  { name: 'qr-wide', fn: 'qr', dims: { m: 3, n: 7 }, grad: true, tol: 2e-4, src: 'import "qr.mat"' },
  { name: 'lq-wide', fn: 'lq', dims: { m: 4, n: 7 }, grad: true, tol: 2e-4, src: 'import "qr.mat"' },
  { name: 'lq-deep', fn: 'lq', dims: { m: 7, n: 3 }, grad: true, tol: 2e-4, src: 'import "qr.mat"' },
  { name: 'qr-pivoted', fn: 'qr_pivoted', dims: { m: 6, n: 5 }, grad: true, tol: 2e-4, src: 'import "qr.mat"' },
];
