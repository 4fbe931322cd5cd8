import { apply } from './apply.js';
import { invertAttrs } from './attributes.js';
import type { Change, DocState, Op, Run } from './types.js';

/** The runs covering [from, to) of `doc`, cut at the range ends. */
export function sliceRuns(doc: DocState, from: number, to: number): Run[] {
  const out: Run[] = [];
  let start = 0;
  for (const run of doc) {
    const end = start + run.text.length;
    if (end > from && start < to) {
      const text = run.text.slice(Math.max(from - start, 0), Math.min(to, end) - start);
      out.push(run.attrs === undefined ? { text } : { text, attrs: run.attrs });
    }
    if (end >= to) break;
    start = end;
  }
  return out;
}

/**
 * The change that undoes `change` when applied right after it:
 * apply(apply(d, c), invert(c, d)) equals d. `docBefore` is the document `change` was applied
 * to (needed to restore deleted text and overwritten attributes).
 */
export function invert(change: Change, docBefore: DocState): Change {
  const groups: Op[][] = [];
  let doc = docBefore;
  for (const op of change) {
    const inverse: Op[] = [];
    if (op.type === 'insert') {
      inverse.push({ type: 'delete', pos: op.pos, len: op.text.length });
    } else if (op.type === 'delete') {
      let pos = op.pos;
      for (const run of sliceRuns(doc, op.pos, op.pos + op.len)) {
        inverse.push(run.attrs === undefined ? { type: 'insert', pos, text: run.text } : { type: 'insert', pos, text: run.text, attrs: run.attrs });
        pos += run.text.length;
      }
    } else {
      let pos = op.pos;
      for (const run of sliceRuns(doc, op.pos, op.pos + op.len)) {
        const attrs = invertAttrs(op.attrs, run.attrs);
        if (attrs !== undefined) inverse.push({ type: 'format', pos, len: run.text.length, attrs });
        pos += run.text.length;
      }
    }
    groups.push(inverse);
    doc = apply(doc, [op]);
  }
  return groups.reverse().flat();
}
