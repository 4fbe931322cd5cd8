import type { Attributes, AttributeValue, Change, DocState, Op } from '../../ot/types.js';
import type { DocumentSession } from '../document.js';

/*
 * Quill through its Delta format. A Quill Delta is one pass over the document (retain, insert,
 * delete); Relay's ops apply one after another. Attributes map one to one to Quill formats
 * (bold: true, link: "https://…", header: 1 on the line's "\n"), and null removes a format in
 * both. Embeds (images, formulas) become U+FFFC with the embed in an `embed:<type>` attribute.
 * Quill always ends its document with a "\n" that is not in Relay's copy: positions match,
 * and that last newline (with the last line's format) stays local.
 */

export type QuillAttributes = Record<string, AttributeValue>;
export type DeltaOp =
  | { insert: string | Record<string, AttributeValue>; attributes?: QuillAttributes }
  | { retain: number; attributes?: QuillAttributes }
  | { delete: number };
export interface Delta {
  readonly ops: readonly DeltaOp[];
}

const EMBED_CHAR = '\uFFFC';
const EMBED_PREFIX = 'embed:';

function withAttributes<T extends object>(op: T, attrs: Attributes | undefined): T & { attributes?: QuillAttributes } {
  return attrs && Object.keys(attrs).length > 0 ? { ...op, attributes: { ...attrs } } : op;
}

/** Our text with attributes as a Quill insert, embeds restored. */
function insertOf(text: string, attrs: Attributes | undefined): DeltaOp {
  const embedKey = attrs && Object.keys(attrs).find((k) => k.startsWith(EMBED_PREFIX));
  if (text === EMBED_CHAR && attrs && embedKey) {
    const { [embedKey]: value, ...rest } = attrs;
    return withAttributes({ insert: { [embedKey.slice(EMBED_PREFIX.length)]: value ?? null } }, rest);
  }
  return withAttributes({ insert: text }, attrs);
}

/** The whole document as a Delta of inserts (for `quill.setContents`). */
export function docToDelta(doc: DocState): Delta {
  return { ops: doc.map((run) => insertOf(run.text, run.attrs)) };
}

/** One op as a Delta; a list of ops becomes a list of Deltas applied in order. */
export function opToDelta(op: Op): Delta {
  const lead: DeltaOp[] = op.pos > 0 ? [{ retain: op.pos }] : [];
  if (op.type === 'insert') return { ops: [...lead, insertOf(op.text, op.attrs)] };
  if (op.type === 'delete') return { ops: [...lead, { delete: op.len }] };
  return { ops: [...lead, { retain: op.len, attributes: { ...op.attrs } }] };
}

export function changeToDeltas(change: Change): Delta[] {
  return change.map(opToDelta);
}

/** A Quill Delta (one pass) as sequential ops: each step leaves `pos` where the next one applies. */
export function deltaToOps(delta: Delta): Change {
  const ops: Op[] = [];
  let pos = 0;
  for (const d of delta.ops) {
    if ('retain' in d) {
      if (d.attributes && Object.keys(d.attributes).length > 0) ops.push({ type: 'format', pos, len: d.retain, attrs: d.attributes });
      pos += d.retain;
    } else if ('delete' in d) {
      ops.push({ type: 'delete', pos, len: d.delete });
    } else if (typeof d.insert === 'string') {
      if (d.insert.length === 0) continue;
      ops.push(d.attributes ? { type: 'insert', pos, text: d.insert, attrs: d.attributes } : { type: 'insert', pos, text: d.insert });
      pos += d.insert.length;
    } else {
      const [kind, value] = Object.entries(d.insert)[0] ?? ['embed', null];
      ops.push({ type: 'insert', pos, text: EMBED_CHAR, attrs: { ...d.attributes, [`${EMBED_PREFIX}${kind}`]: value } });
      pos += 1;
    }
  }
  return ops;
}

/** Drops the parts of ops that touch Quill's final newline, which Relay's copy does not have. */
export function clampToLength(ops: Change, length: number): Change {
  const out: Op[] = [];
  let len = length;
  for (const op of ops) {
    if (op.type === 'insert') {
      const pos = Math.min(op.pos, len);
      out.push({ ...op, pos });
      len += op.text.length;
      continue;
    }
    const span = Math.min(op.len, len - op.pos);
    if (span <= 0) continue;
    out.push({ ...op, len: span });
    if (op.type === 'delete') len -= span;
  }
  return out;
}

/** The part of a Quill instance the binding uses. */
export interface QuillLike {
  setContents(delta: Delta, source: 'api'): unknown;
  updateContents(delta: Delta, source: 'api'): unknown;
  on(event: 'text-change', handler: (delta: Delta, old: Delta, source: string) => void): unknown;
  off(event: 'text-change', handler: (delta: Delta, old: Delta, source: string) => void): unknown;
}

/** Binds a Quill editor to a document (text and formats both ways); returns a function that unbinds. */
export function bindQuill(doc: DocumentSession, quill: QuillLike): () => void {
  quill.setContents(docToDelta(doc.content), 'api');
  const onTextChange = (delta: Delta, _old: Delta, source: string): void => {
    if (source !== 'user') return;
    const ops = clampToLength(deltaToOps(delta), doc.length);
    if (ops.length > 0) doc.submit(ops);
  };
  quill.on('text-change', onTextChange);
  const offChange = doc.on('change', ({ ops }) => {
    for (const delta of changeToDeltas(ops)) quill.updateContents(delta, 'api');
  });
  const offResync = doc.on('resynced', () => quill.setContents(docToDelta(doc.content), 'api'));
  return () => {
    quill.off('text-change', onTextChange);
    offChange();
    offResync();
  };
}
