import { attrsEqual } from './attributes.js';
import type { Doc } from './document.js';
import { isHighSurrogate, isLowSurrogate } from './text.js';
import type { Change, Op, Run } from './types.js';

/** Characters at the start of `a` and `b` that are equal, attributes included, up to `limit`. */
function commonPrefix(a: readonly Run[], b: readonly Run[], limit: number): number {
  let n = 0;
  let i = 0;
  let j = 0;
  let oa = 0;
  let ob = 0;
  while (n < limit && i < a.length && j < b.length) {
    const ra = a[i] as Run;
    const rb = b[j] as Run;
    if (!attrsEqual(ra.attrs, rb.attrs)) break;
    while (n < limit && oa < ra.text.length && ob < rb.text.length && ra.text.charCodeAt(oa) === rb.text.charCodeAt(ob)) {
      n++;
      oa++;
      ob++;
    }
    if (oa < ra.text.length && ob < rb.text.length) break;
    if (oa === ra.text.length) [i, oa] = [i + 1, 0];
    if (ob === rb.text.length) [j, ob] = [j + 1, 0];
  }
  return n;
}

function splitsPair(text: string, at: number): boolean {
  return at > 0 && at < text.length && isHighSurrogate(text.charCodeAt(at - 1)) && isLowSurrogate(text.charCodeAt(at));
}

function reversed(runs: readonly Run[]): Run[] {
  // By UTF-16 units, so the common end counts units like the positions do (a pair split is undone below).
  return runs.map((r) => (r.attrs === undefined ? { text: r.text.split('').reverse().join('') } : { text: r.text.split('').reverse().join(''), attrs: r.attrs })).reverse();
}

/**
 * A change that turns `from` into `to`: one delete and the inserts of what differs between
 * their common start and common end (attributes included). Not minimal, but valid and linear
 * in the documents: for a client handed the content at the head instead of the changes it
 * missed, to show the difference as an edit and move its own unsent edits past it.
 */
export function diff(from: Doc, to: Doc): Change {
  const a = from.runs();
  const b = to.runs();
  const limit = Math.min(from.length, to.length);
  let prefix = commonPrefix(a, b, limit);
  let suffix = commonPrefix(reversed(a), reversed(b), limit - prefix);
  const textA = from.text();
  const textB = to.text();
  if (splitsPair(textA, prefix) || splitsPair(textB, prefix)) prefix--;
  if (splitsPair(textA, textA.length - suffix) || splitsPair(textB, textB.length - suffix)) suffix--;
  const ops: Op[] = [];
  const removed = from.length - suffix - prefix;
  if (removed > 0) ops.push({ type: 'delete', pos: prefix, len: removed });
  let pos = prefix;
  for (const run of to.slice(prefix, to.length - suffix)) {
    ops.push(run.attrs === undefined ? { type: 'insert', pos, text: run.text } : { type: 'insert', pos, text: run.text, attrs: run.attrs });
    pos += run.text.length;
  }
  return ops;
}
