// Spec text shared by test files: functions with int parameters and defaults, derived dimensions,
// slice assertions, and an optimizer with state and hyperparameter defaults.

export const SHAPED_AND_SGD = `
fn shaped(A: mat[m, n], k: int = 2) -> (s: vec[d], t: mat[k, n]) where d = m * n =
  (vec(A) .* vec(A), reshape(A, m, n)[0:k, :] + zeros(k, n))

optimizer sgd(W: mat[m, n], G: mat[m, n]; lr: real = 0.1, beta: real = 0.9) =
  state M: mat[m, n] = zeros(m, n)
  let M2 = beta * M + G in
  W <- W - lr * M2, M <- M2
`;
