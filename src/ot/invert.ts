import { apply } from './apply.js';
import { invertAttrs } from './attributes.js';
import { Doc } from './document.js';
import type { Change, DocState, Op } from './types.js';

/**
 * The change that undoes `change` when applied right after it:
 * apply(apply(d, c), invert(c, d)) equals d. `docBefore` is the document `change` was applied
 * to (needed to restore deleted text and overwritten attributes).
 */
export function invert(change: Change, docBefore: Doc | DocState): Change {
  const groups: Op[][] = [];
  let doc = Doc.from(docBefore);
  for (const op of change) {
    const inverse: Op[] = [];
    if (op.type === 'insert') {
      inverse.push({ type: 'delete', pos: op.pos, len: op.text.length });
    } else if (op.type === 'delete') {
      let pos = op.pos;
      for (const run of doc.slice(op.pos, op.pos + op.len)) {
        inverse.push(run.attrs === undefined ? { type: 'insert', pos, text: run.text } : { type: 'insert', pos, text: run.text, attrs: run.attrs });
        pos += run.text.length;
      }
    } else {
      let pos = op.pos;
      for (const run of doc.slice(op.pos, op.pos + op.len)) {
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
