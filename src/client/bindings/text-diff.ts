import type { Change, Op } from '../../ot/types.js';

const isHighSurrogate = (s: string, i: number): boolean => i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff;

/**
 * The smallest delete + insert turning `before` into `after` (common prefix and suffix kept),
 * in UTF-16 positions and never splitting a surrogate pair. For editors that only say "the
 * value changed" (a textarea's `input` event).
 */
export function diffToOps(before: string, after: string): Change {
  let start = 0;
  while (start < before.length && start < after.length && before[start] === after[start]) start++;
  let end = 0;
  while (end < before.length - start && end < after.length - start && before[before.length - 1 - end] === after[after.length - 1 - end]) end++;
  while (start > 0 && (isHighSurrogate(before, start) || isHighSurrogate(after, start))) start--;
  while (end > 0 && (isHighSurrogate(before, before.length - end) || isHighSurrogate(after, after.length - end))) end--;
  const ops: Op[] = [];
  const removed = before.length - start - end;
  if (removed > 0) ops.push({ type: 'delete', pos: start, len: removed });
  if (after.length - start - end > 0) ops.push({ type: 'insert', pos: start, text: after.slice(start, after.length - end) });
  return ops;
}
