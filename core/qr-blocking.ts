// The blocking of the CPU programs' Householder QR routine, shared by its two forms (the
// WebAssembly routine of compiler/codegen/cpu/routines.ts and the JavaScript one of
// runtime/cpu/helpers.ts), which compute the same reflections in the same order.

/** Columns per panel of the blocked Householder QR (also the row stride of its T factor). */
export const QR_PANEL = 32;

/** Blocked from this many reflections on (k = min(m, n)); below, every reflection updates the
 *  whole trailing matrix itself (LAPACK dgeqr2 / dorg2r). Measured on the development machine
 *  (one thread, f64, forward time over that of the lowered loops in the same run, with each
 *  threshold): blocked 1.2× slower than unblocked at n = 64, even at 128, 1.1× faster at 256,
 *  1.4× at 512, 1.8× at 1024. */
export const QR_BLOCKED_FROM = 4 * QR_PANEL;
