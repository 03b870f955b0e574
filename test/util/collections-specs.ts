// The specs of the compile-time collection tests (test/collections*.test.ts): one spec each for a
// tensor-train contraction with any number of cores and an optimizer with one Kronecker factor
// per tensor mode for any number of modes. Their oracles are test/fixtures/collections.json
// (test/oracles/gen_collections.py, NumPy, written independently of these specs).

/** STTP-style tensor trains: cores U_k of shape (r_k, n_k, r_{k+1}).
 *  - tt_frame contracts all cores into the frame U (r_0 n_1 ⋯ n_K × r_K), core by core: the carry
 *    grows a mode per core, so it changes shape at every iteration of the unrolled loop;
 *  - tt_apply computes Uᵀx without forming U: the vector is contracted with one core at a time,
 *    the carry shrinking a mode per core. */
export const ttSpec = `
fn tt_frame(cores: [tensor[r[i], n[i], r[i + 1]] for i in 0..K], K: static int)
    -> frame: mat[r[0] * prod(n[i] for i in 0..K), r[K]] =
  unroll (X = reshape(cores[0], r[0] * n[0], r[1])) for i in 1..K =>
    reshape(X * reshape(cores[i], r[i], n[i] * r[i + 1]), size(X, 0) * n[i], r[i + 1])

fn tt_apply(cores: [tensor[r[i], n[i], r[i + 1]] for i in 0..K], x: vec[r[0] * prod(n[i] for i in 0..K)],
            K: static int) -> y: vec[r[K]] =
  let Z = unroll (Z = reshape(x, r[0], prod(n[i] for i in 0..K))) for i in 0..K =>
            reshape(cores[i], r[i] * n[i], r[i + 1])' * reshape(Z, r[i] * n[i], prod(n[j] for j in i + 1..K))
  in reshape(Z, r[K])
`;

/** One Kronecker factor per mode of a tensor parameter: IF-Shampoo's inverse-free update
 *  (seeds-math §2.5) for N modes. B̂ᵢ = Bᵢ/√dᵢ, G̃ = G ×₀ B̂₀ᵀ ⋯ ×_{N−1} B̂_{N−1}ᵀ,
 *  Hᵢ = (λ dᵢ Πⱼ≠ᵢ tr(B̂ⱼᵀB̂ⱼ)/2) B̂ᵢᵀB̂ᵢ + (dᵢ/2) unfoldᵢ(G̃) unfoldᵢ(G̃)ᵀ − ½I,
 *  mᵢ ← β₂mᵢ + (1−β₂)Hᵢ, Bᵢ ← Bᵢ − (lr_cov / max(1, ‖mᵢ‖_F)) Bᵢmᵢ, W ← W − lr·(G ×ᵢ BᵢBᵢᵀ for every i). */
export const kronSpec = `
optimizer kron_factors(W: tensor[d[i] for i in 0..N], G: tensor[d[i] for i in 0..N];
                       lr: real = 0.01, lr_cov: real = 0.05, damping: real = 0.0001, beta2: real = 0.5,
                       N: static int = 2) =
  state B: [mat[d[i], d[i]] for i in 0..N] = [eye(d[i]) for i in 0..N],
        m: [mat[d[i], d[i]] for i in 0..N] = [zeros(d[i], d[i]) for i in 0..N]
  let Bh = [B[i] / sqrt(float(d[i])) for i in 0..N],
      Gt = unroll (X = G) for i in 0..N => modeprod(X, Bh[i]', i),
      tr = [sumsq(Bh[i]) for i in 0..N],
      m2 = [beta2 * m[i] + (1 - beta2) * (
              (damping * float(d[i]) * prod(tr[0:i]) * prod(tr[i + 1:N]) / 2) * (Bh[i]' * Bh[i])
              + (float(d[i]) / 2) * (unfold(Gt, i) * unfold(Gt, i)')
              - 0.5 * eye(d[i]))
            for i in 0..N],
      B2 = [B[i] - (lr_cov / max(1, norm(m2[i]))) * (B[i] * m2[i]) for i in 0..N],
      D = unroll (X = G) for i in 0..N => modeprod(X, B2[i] * B2[i]', i)
  in W <- W - lr * D, B <- B2, m <- m2
`;

/** INGD (SINGD's default update, seeds-math §2.4) with one Kronecker factor per mode of a tensor
 *  parameter and a statistic S_k per mode: H_k = K_kᵀ S_k K_k,
 *  m_k ← α₁m_k + ½(Π_{j≠k} avgtr(H_j)·H_k + λ Π_{j≠k} avgtr(K_jᵀK_j)·K_kᵀK_k − I),
 *  K_k ← K_k − β₁K_k m_k, W ← W − lr·(G ×_k K_kK_kᵀ for every k). For two modes it is §2.4's update
 *  of C (rows) and K (columns). */
export const ingdSpec = `
optimizer ingd(W: tensor[d[i] for i in 0..N], G: tensor[d[i] for i in 0..N], S: [sym[d[i]] for i in 0..N];
               lr: real = 0.001, beta1: real = 0.01, alpha1: real = 0.5, damping: real = 0.001, N: static int = 2) =
  state K: [mat[d[i], d[i]] for i in 0..N] = [eye(d[i]) for i in 0..N],
        mK: [mat[d[i], d[i]] for i in 0..N] = [zeros(d[i], d[i]) for i in 0..N]
  let H = [K[i]' * S[i] * K[i] for i in 0..N],
      h = [trace(H[i]) / float(d[i]) for i in 0..N],
      c = [sumsq(K[i]) / float(d[i]) for i in 0..N],
      m2 = [alpha1 * mK[i] + 0.5 * (prod(h[0:i]) * prod(h[i + 1:N]) * H[i]
                                     + damping * prod(c[0:i]) * prod(c[i + 1:N]) * (K[i]' * K[i]) - eye(d[i]))
            for i in 0..N],
      K2 = [K[i] - beta1 * (K[i] * m2[i]) for i in 0..N],
      D = unroll (X = G) for i in 0..N => modeprod(X, K2[i] * K2[i]', i)
  in W <- W - lr * D, K <- K2, mK <- m2
`;
