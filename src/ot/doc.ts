import { attrsEqual, cleanAttrs } from './attributes.js';
import { OtError } from './errors.js';
import { isWellFormedText } from './text.js';
import type { Attributes, DocState, Run } from './types.js';

export const emptyDoc: DocState = Object.freeze([]);

function makeRun(text: string, attrs: Attributes | undefined): Run {
  return attrs === undefined ? { text } : { text, attrs };
}

function joinParts(parts: readonly string[]): string {
  // `+` builds a rope in O(1) per part; join() copies. Few parts is the common case (an edit
  // splits one run in two), many parts only after a format-heavy change.
  if (parts.length > 8) return parts.join('');
  let s = '';
  for (const p of parts) s += p;
  return s;
}

/**
 * Canonical form: no empty run, neighbours with equal attributes merged, no null values, no
 * empty attribute map. Two equal documents are deep-equal once normalized.
 */
export function normalize(runs: readonly Run[]): DocState {
  const out: Run[] = [];
  // Merged texts are collected in parts and joined once, so a long stretch of small runs costs
  // linear time rather than quadratic.
  let parts: string[] = [];
  let attrs: Attributes | undefined;
  const flush = (): void => {
    if (parts.length > 0) out.push(makeRun(joinParts(parts), attrs));
    parts = [];
  };
  for (const run of runs) {
    if (run.text.length === 0) continue;
    const a = cleanAttrs(run.attrs);
    if (parts.length > 0 && !attrsEqual(attrs, a)) flush();
    if (parts.length === 0) attrs = a;
    parts.push(run.text);
  }
  flush();
  return out;
}

/** The plain text of a document. */
export function docText(doc: DocState): string {
  return doc.length === 1 ? (doc[0]?.text ?? '') : doc.map((r) => r.text).join('');
}

/** Length in UTF-16 code units. */
export function docLength(doc: DocState): number {
  let n = 0;
  for (const r of doc) n += r.text.length;
  return n;
}

/** A document holding `text` with the given attributes; throws on lone surrogates. */
export function docFromText(text: string, attrs?: Attributes): DocState {
  if (!isWellFormedText(text)) {
    throw new OtError('invalid_op', 'document text contains a lone surrogate');
  }
  return normalize([makeRun(text, attrs)]);
}
