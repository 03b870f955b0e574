// Update chains, shared by both code generators (codegen/cpu/lower.ts, codegen/wgsl/instance.ts):
// a loop carry written as x = set…(set…(param, …), …) is updated in place when no link of the
// chain is materialized or stored other than as a view of the carry.

import type { Node } from '../ir/node.js';

/** The links of an update chain x = set…(set…(param, …), …) — column, row and entry updates
 *  down to the carry, none of them materialized (`plain(link)` false) — innermost first; null if
 *  x is not one. */
export function updateChain(x: Node, param: Node, plain: (link: Node) => boolean): Node[] | null {
  const links: Node[] = [];
  let cur = x;
  while (cur !== param) {
    if ((cur.op !== 'setcol' && cur.op !== 'setrow' && cur.op !== 'setindex') || !plain(cur)) return null;
    links.push(cur);
    cur = cur.args[0]!;
  }
  return links.length ? links.reverse() : null;
}
