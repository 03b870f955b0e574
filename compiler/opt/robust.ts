// The robust choice shared by the matrix-chain and einsum orderings (chain.ts, einsum.ts): an
// order chosen at representative sizes is kept when its cost is within `slack` × the optimum of
// every size regime; otherwise the candidate (one regime's optimum) with the least worst-case
// ratio replaces it (ties: the representative order).

/** `rep`, or the candidate with the least `worst` when rep's exceeds `slack`. */
export function leastWorst<T>(rep: T, candidates: readonly T[], worst: (x: T) => number, slack: number): T {
  let choice = rep;
  let choiceWorst = worst(rep);
  if (choiceWorst <= slack) return choice;
  for (const c of candidates) {
    const w = worst(c);
    if (w < choiceWorst) {
      choice = c;
      choiceWorst = w;
    }
  }
  return choice;
}
