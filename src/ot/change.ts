import type { Change } from './types.js';

/** How much `change` changes the document length (inserted minus deleted code units). */
export function changeLengthDelta(change: Change): number {
  let d = 0;
  for (const op of change) {
    if (op.type === 'insert') d += op.text.length;
    else if (op.type === 'delete') d -= op.len;
  }
  return d;
}

/** Number of ops; revisions count ops, so the server advances the revision by this much. */
export function opCount(change: Change): number {
  return change.length;
}

/** True when the change does nothing (e.g. a transform result whose edits were all deleted). */
export function isNoop(change: Change): boolean {
  return change.length === 0;
}
