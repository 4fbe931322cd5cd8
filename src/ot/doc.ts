import { Doc } from './document.js';
import type { Attributes, DocState, Run } from './types.js';

export const emptyDoc: DocState = Object.freeze([]);

/**
 * Canonical form: no empty run, neighbours with equal attributes merged, no null values, no
 * empty attribute map. Two equal documents are deep-equal once normalized.
 */
export function normalize(runs: readonly Run[]): DocState {
  return Doc.fromRuns(runs).runs();
}

/** The plain text of a document (either form). */
export function docText(doc: Doc | DocState): string {
  if (doc instanceof Doc) return doc.text();
  return doc.length === 1 ? (doc[0]?.text ?? '') : doc.map((r) => r.text).join('');
}

/** Length in UTF-16 code units; O(1) for a {@link Doc}. */
export function docLength(doc: Doc | DocState): number {
  if (doc instanceof Doc) return doc.length;
  let n = 0;
  for (const r of doc) n += r.text.length;
  return n;
}

/** A document holding `text` with the given attributes; throws on lone surrogates. */
export function docFromText(text: string, attrs?: Attributes): DocState {
  return Doc.fromText(text, attrs).runs();
}
