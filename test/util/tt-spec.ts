// Tensor-train operator specs for the einsum-path tests and the benchmark (seeds-math §3.3): the
// STTP weight W = U Σ Vᵀ in TT form — P cores U_k[a_{k−1}, o_k, a_k] on the output modes (a_0 = 1,
// a_P = s, the middle rank) and Q cores V_k[c_{k−1}, n_k, c_k] on the input modes (c_0 = s,
// c_Q = 1) — applied to x ∈ R^{d_in × b} without forming W: x is reshaped to its modes
// [n_1, …, n_Q, b] and the whole diagram is ONE einsum, whose order the compiler chooses.

export interface TtShape {
  /** output mode sizes o_1 … o_P */
  out: number[];
  /** input mode sizes n_1 … n_Q */
  in: number[];
  /** the rank cap r: R_k = min(∏ left modes, ∏ right modes, r) */
  r: number;
  b: number;
}

export interface TtSpec {
  source: string;
  /** the function's name */
  name: string;
  /** dimension values of every name in the source */
  dims: Record<string, number>;
  /** parameter order: x, U1 … UP, V1 … VQ */
  params: string[];
  dOut: number;
  dIn: number;
}

const L = 'abcdefghijklmnopqrstuvwxyABCDEFGHIJKLMNOPQRSTUVWXY';

/** The TT ranks of the full train (out modes then in modes), as get_ranks_tt. */
export function ttRanks(modes: number[], r: number): number[] {
  const ranks = [1];
  for (let k = 1; k < modes.length; k++) {
    const left = modes.slice(0, k).reduce((a, x) => a * x, 1);
    const right = modes.slice(k).reduce((a, x) => a * x, 1);
    ranks.push(Math.min(left, right, r));
  }
  ranks.push(1);
  return ranks;
}

/** The spec with symbolic dimensions (names bound from the inputs), or with every size written
 *  as a constant (`constants`), which the path search then sees exactly. */
export function ttSpec(shape: TtShape, opts: { constants?: boolean; name?: string } = {}): TtSpec {
  const P = shape.out.length;
  const Q = shape.in.length;
  const modes = [...shape.out, ...shape.in];
  const ranks = ttRanks(modes, shape.r);
  const dims: Record<string, number> = { b: shape.b };
  const d = (name: string, v: number): string => {
    if (opts.constants || v === 1) return String(v);
    dims[name] = v;
    return name;
  };
  let next = 0;
  const letter = (): string => L[next++]!;
  const rankL = ranks.map(() => letter());
  const modeL = modes.map(() => letter());
  const bL = 'z';
  const oD = shape.out.map((v, k) => d(`o${k + 1}`, v));
  const nD = shape.in.map((v, k) => d(`n${k + 1}`, v));
  const rD = ranks.map((v, k) => (k === P ? d('s', v) : k < P ? d(`a${k}`, v) : d(`c${k - P}`, v)));
  const params: string[] = ['x'];
  const decls: string[] = [];
  const specs: string[] = [];
  for (let k = 0; k < P + Q; k++) {
    const name = k < P ? `U${k + 1}` : `V${k - P + 1}`;
    params.push(name);
    decls.push(`${name}: tensor[${rD[k]}, ${k < P ? oD[k] : nD[k - P]}, ${rD[k + 1]}]`);
    specs.push(`${rankL[k]}${modeL[k]}${rankL[k + 1]}`);
  }
  const dIn = shape.in.reduce((a, x) => a * x, 1);
  const dOut = shape.out.reduce((a, x) => a * x, 1);
  const xIdx = modeL.slice(P).join('') + bL;
  const outIdx = modeL.slice(0, P).join('') + bL;
  const name = opts.name ?? 'tt_apply';
  const bD = opts.constants ? String(shape.b) : 'b';
  const inProd = opts.constants ? String(dIn) : nD.join(' * ');
  const outProd = opts.constants ? String(dOut) : oD.join(' * ');
  const source =
    `fn ${name}(x: mat[${inProd}, ${bD}], ${decls.join(', ')}) -> y: mat[${outProd}, ${bD}] =\n` +
    `  reshape(einsum("${[...specs, xIdx].join(',')}->${outIdx}", ${params.slice(1).join(', ')}, reshape(x, ${[...nD, bD].join(', ')})), ${outProd}, ${bD})\n`;
  if (opts.constants) for (const k of Object.keys(dims)) delete dims[k];
  return { source, name, dims, params, dOut, dIn };
}
