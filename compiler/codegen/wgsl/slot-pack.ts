// Liveness planning of an instance kernel's scratch (issue 8 item 2): slots whose lifetimes do not
// overlap share memory. It runs on the kernel body as generated — lines that name slots `SO<k>` —
// so it sees every read and write the code generator made, whatever op made it.
//
// Lifetimes. A slot's interval is [first, last] over the body's lines that name it. Every block
// (`{ … }`) is treated as a loop that may run again: an interval that reaches into a block from
// before it is extended to the block's end (the value may be read again next iteration), and one
// that leaves a block from inside is extended to the block's start (it may have been written in an
// earlier iteration). Extended, intervals either lie inside a block or cover it.
//
// Sharing. Slot B may take the memory of slot A (first(B) > last(A) and the same size, compared as
// dimension expressions) when every thread has finished with A before any thread starts on B: a
// `workgroupBarrier();` must stand directly in the innermost block C that holds both intervals,
// between last(A) and first(B). When C is not the kernel's top level it may run again, so the same
// is asked across its back edge: a barrier directly in C after last(B) or before first(A). Each
// pair of members of a shared slot is checked. Members are assigned greedily in order of first use.

import type { Dim } from '../../../core/dims.js';

export interface SlotPacking {
  /** packed slot of each original slot */
  map: number[];
  /** size of each packed slot */
  sizes: Dim[];
  /** original slots of each packed slot, in order of first use */
  members: number[][];
}

interface Block {
  parent: number; // -1 for the top level
  open: number; // line of `{` (the top level: -1)
  close: number; // line of `}` (the top level: lines.length)
  depth: number;
}

/** Blocks of the body and the innermost block of each line (opening and closing lines belong to
 *  the enclosing block). A line opening and closing braces of its own (`for (…) { … }`) is one
 *  statement of its block. */
function blocksOf(lines: readonly string[]): { blocks: Block[]; at: number[] } {
  const blocks: Block[] = [{ parent: -1, open: -1, close: lines.length, depth: 0 }];
  const at: number[] = [];
  const stack = [0];
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i]!.trim();
    const opens = (t.match(/\{/g) ?? []).length;
    const closes = (t.match(/\}/g) ?? []).length;
    // `} else {` and `}`: close first (the line belongs to the enclosing block)
    const leadingClose = t.startsWith('}');
    if (leadingClose) {
      const b = stack.pop()!;
      blocks[b]!.close = i;
    }
    at.push(stack[stack.length - 1]!);
    const net = opens - closes + (leadingClose ? 1 : 0);
    if (net > 0) {
      for (let k = 0; k < net; k++) {
        const parent = stack[stack.length - 1]!;
        blocks.push({ parent, open: i, close: lines.length, depth: blocks[parent]!.depth + 1 });
        stack.push(blocks.length - 1);
      }
    } else if (net < 0) {
      for (let k = 0; k < -net; k++) {
        const b = stack.pop()!;
        blocks[b]!.close = i;
      }
    }
  }
  return { blocks, at };
}

function lca(blocks: readonly Block[], a: number, b: number): number {
  while (a !== b) {
    if (blocks[a]!.depth >= blocks[b]!.depth) a = blocks[a]!.parent;
    else b = blocks[b]!.parent;
  }
  return a;
}

/** The innermost block holding every line of [lo, hi]. */
function blockOfRange(blocks: readonly Block[], at: readonly number[], lo: number, hi: number): number {
  return lca(blocks, at[lo]!, at[hi]!);
}

export function packSlots(lines: readonly string[], sizes: readonly Dim[]): SlotPacking {
  const n = sizes.length;
  const first = new Array<number>(n).fill(-1);
  const last = new Array<number>(n).fill(-1);
  const re = /\bSO(\d+)\b/g;
  for (let i = 0; i < lines.length; i++) {
    for (const m of lines[i]!.matchAll(re)) {
      const k = Number(m[1]);
      if (k >= n) continue;
      if (first[k] === -1) first[k] = i;
      last[k] = i;
    }
  }
  const { blocks, at } = blocksOf(lines);
  // extend intervals over the blocks they enter or leave. The blocks an interval [f, l] cuts are
  // the ancestors of l's block that do not hold f and those of f's block that do not hold l: below
  // their common block c. Growing to the outermost of each (its open and close lines belong to c)
  // leaves both ends directly in c, so one step reaches the fixpoint.
  const outermostBelow = (b: number, c: number): number => {
    let last = -1;
    for (let x = b; x !== c && x !== -1; x = blocks[x]!.parent) last = x;
    return last;
  };
  for (let k = 0; k < n; k++) {
    if (first[k] === -1) continue;
    const bf = at[first[k]!]!;
    const bl = at[last[k]!]!;
    const c = lca(blocks, bf, bl);
    const up = outermostBelow(bl, c);
    if (up !== -1) last[k] = blocks[up]!.close;
    const down = outermostBelow(bf, c);
    if (down !== -1) first[k] = blocks[down]!.open;
  }
  // barrier lines directly in each block
  const barriers = new Map<number, number[]>();
  lines.forEach((l, i) => {
    if (l.trim() !== 'workgroupBarrier();') return;
    const b = at[i]!;
    if (!barriers.has(b)) barriers.set(b, []);
    barriers.get(b)!.push(i);
  });
  /** a barrier line directly in block b strictly between lo and hi (positions ascend: bisection) */
  const barrierIn = (b: number, lo: number, hi: number): boolean => {
    const ps = barriers.get(b);
    if (!ps) return false;
    let a = 0;
    let z = ps.length;
    while (a < z) {
      const mid = (a + z) >> 1;
      if (ps[mid]! <= lo) a = mid + 1;
      else z = mid;
    }
    return a < ps.length && ps[a]! < hi;
  };
  /** may `later` take the memory of `earlier` (whose interval ends before it starts)? */
  const compatible = (earlier: number, later: number): boolean => {
    const fa = first[earlier]!;
    const la = last[earlier]!;
    const fb = first[later]!;
    const lb = last[later]!;
    if (!(la < fb)) return false;
    const c = blockOfRange(blocks, at, fa, lb);
    if (!barrierIn(c, la, fb)) return false;
    if (c === 0) return true;
    const { open, close } = blocks[c]!;
    return barrierIn(c, lb, close) || barrierIn(c, open, fa);
  };

  const order = [...Array(n).keys()].filter((k) => first[k] !== -1).sort((a, b) => first[a]! - first[b]! || a - b);
  const members: number[][] = [];
  const packedSizes: Dim[] = [];
  const map = new Array<number>(n).fill(-1);
  const ends: number[] = []; // last line of each packed slot's latest member
  const bySize = new Map<string, number[]>(); // packed slots per size (a dimension's key)
  for (const k of order) {
    let best = -1;
    const same = bySize.get(sizes[k]!.key) ?? [];
    // among the free slots of this size, the one freed last (it keeps the slots freed earlier for
    // values that start earlier); checked in that order, the first compatible one is taken
    const free = same.filter((c) => ends[c]! < first[k]!).sort((a, b) => ends[b]! - ends[a]!);
    for (const c of free) {
      if (members[c]!.every((m) => compatible(m, k))) {
        best = c;
        break;
      }
    }
    if (best === -1) {
      members.push([k]);
      packedSizes.push(sizes[k]!);
      ends.push(last[k]!);
      map[k] = members.length - 1;
      same.push(map[k]!);
      bySize.set(sizes[k]!.key, same);
    } else {
      members[best]!.push(k);
      ends[best] = last[k]!;
      map[k] = best;
    }
  }
  // a slot no line names keeps a slot of its own (nothing reads it; its size stays in the layout)
  for (let k = 0; k < n; k++) {
    if (map[k] !== -1) continue;
    members.push([k]);
    packedSizes.push(sizes[k]!);
    map[k] = members.length - 1;
  }
  return { map, sizes: packedSizes, members };
}

/** The lines with every `SO<k>` renamed to its packed slot. */
export function renameSlots(lines: readonly string[], map: readonly number[]): string[] {
  return lines.map((l) => l.replace(/\bSO(\d+)\b/g, (s, k: string) => (Number(k) < map.length ? `SO${map[Number(k)]}` : s)));
}
