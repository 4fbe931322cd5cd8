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

/** True when the change does nothing (e.g. a transform result whose edits were all deleted). */
export function isNoop(change: Change): boolean {
  return change.length === 0;
}

/**
 * A rough count of the heap bytes a change holds once parsed (UTF-16 text, op objects,
 * attribute maps): enough to bound an in-memory history by size, not an exact measure.
 */
export function changeMemoryBytes(change: Change): number {
  let bytes = 32;
  for (const op of change) {
    bytes += 64;
    if (op.type === 'insert') bytes += 16 + 2 * op.text.length;
    const attrs = op.type === 'delete' ? undefined : op.attrs;
    if (attrs !== undefined) for (const [k, v] of Object.entries(attrs)) bytes += 48 + 2 * k.length + (typeof v === 'string' ? 2 * v.length : 8);
  }
  return bytes;
}
