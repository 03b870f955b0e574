// The blocking of the CPU programs' Householder QR routine, shared by its two forms (the
// WebAssembly routine of compiler/codegen/cpu/routines.ts and the JavaScript one of
// runtime/cpu/helpers.ts), which compute the same reflections in the same order.
//
// Chosen on the development machine (2-core AMD EPYC VM, one thread, f64, the WebAssembly form,
// forward of `qr`, each setting against the other in the same process, calls alternating):
// panels of 16 columns against 32: 13 % faster at 64 × 128², 8 % at 4 × 256², even at 512² and
// 1024²; 64 columns: 4–30 % slower than 32. Blocked (panels of 16) against unblocked: 5–7 % slower
// at n = 64, 4 % faster at 96, 14 % at 128, 1.8× at 1024.

/** Columns per panel of the blocked Householder QR (also the row stride of its T factor). */
export const QR_PANEL = 16;

/** Blocked from this many reflections on (k = min(m, n)); below, every reflection updates the
 *  whole trailing matrix itself (LAPACK dgeqr2 / dorg2r). */
export const QR_BLOCKED_FROM = 6 * QR_PANEL;

/** Rows of the working matrix one unblocked reflection takes at once in each of its two passes
 *  (t = Xᵀv, then X −= 2vtᵀ): t is loaded and stored once per group of rows instead of once per
 *  row. `householder_qr` alone at 1024 × 32², medians of two runs: one row at a time 17.2–17.4 ms,
 *  two rows 15.3–15.5, four 15.1, eight 17.3–18.1 (more locals than registers). */
export const REFLECT_ROWS = 4;

/** Rows narrower than this (columns j … ce−1 of a reflection) are taken one by one: the vector
 *  loop of a group first checks its rows against each other (the vectorizer's hazard checks),
 *  which a few columns do not repay. Measured as above (qr forward, three builds in one process):
 *  grouping every reflection made 512² (blocked: panel reflections are 1–16 columns wide) 6 %
 *  slower than one row at a time; from 8 columns 3.5 %, from 12 columns 1.5 %, from 16 even; at
 *  1024 × 32² (unblocked) all three gave the same 11–13 % gain. */
export const REFLECT_MIN_WIDTH = 16;
