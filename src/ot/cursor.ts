import type { Change, Selection } from './types.js';

export type Assoc = 'before' | 'after';

/**
 * Where a caret at `pos` ends up after `change`. At an insertion point, 'after' moves the
 * caret past the inserted text and 'before' leaves it in front. A caret inside deleted text
 * lands at the deletion point.
 */
export function transformPosition(pos: number, change: Change, assoc: Assoc): number {
  let p = pos;
  for (const op of change) {
    if (op.type === 'insert') {
      if (op.pos < p || (op.pos === p && assoc === 'after')) p += op.text.length;
    } else if (op.type === 'delete') {
      if (p > op.pos) p -= Math.min(op.len, p - op.pos);
    }
  }
  return p;
}

/**
 * A selection after `change`. A collapsed caret follows text typed at it ('after', like a
 * remote user typing where you stand); a range does not grow to take in text inserted at its
 * edges. The result is clamped to [0, newLength] when `newLength` is known (a selection that
 * was in range before the change stays in range anyway).
 */
export function transformSelection(sel: Selection, change: Change, newLength?: number): Selection {
  const clamp = (n: number): number => Math.max(0, newLength === undefined ? n : Math.min(n, newLength));
  if (sel.anchor === sel.head) {
    const p = clamp(transformPosition(sel.anchor, change, 'after'));
    return { anchor: p, head: p };
  }
  const forward = sel.anchor < sel.head;
  const start = clamp(transformPosition(forward ? sel.anchor : sel.head, change, 'after'));
  // When the whole range was replaced, start (after the new text) can pass end: collapse.
  const end = Math.max(start, clamp(transformPosition(forward ? sel.head : sel.anchor, change, 'before')));
  return forward ? { anchor: start, head: end } : { anchor: end, head: start };
}
