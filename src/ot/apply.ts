import { composeAttrs } from './attributes.js';
import { normalize } from './doc.js';
import { OtError } from './errors.js';
import { isHighSurrogate, isLowSurrogate } from './text.js';
import type { Attributes, Change, DocState, Op } from './types.js';

interface MutableRun {
  text: string;
  attrs: Attributes | undefined;
}

function describe(op: Op): string {
  return op.type === 'insert' ? `insert at ${op.pos}` : `${op.type} ${op.pos}..${op.pos + op.len}`;
}

/**
 * Makes `pos` a run boundary and returns the index of the first run at or after it. Also
 * rejects a boundary between the halves of a surrogate pair.
 */
function splitAt(runs: MutableRun[], pos: number, index: number, op: Op): number {
  let start = 0;
  for (let i = 0; i < runs.length; i++) {
    const run = runs[i] as MutableRun;
    const end = start + run.text.length;
    if (pos < end) {
      const off = pos - start;
      const before = off > 0 ? run.text.charCodeAt(off - 1) : i > 0 ? lastCode(runs[i - 1]) : -1;
      if (isHighSurrogate(before) && isLowSurrogate(run.text.charCodeAt(off))) {
        throw new OtError('surrogate_split', `op ${index}: ${describe(op)} splits a surrogate pair at ${pos}`);
      }
      if (off === 0) return i;
      runs.splice(i, 1, { text: run.text.slice(0, off), attrs: run.attrs }, { text: run.text.slice(off), attrs: run.attrs });
      return i + 1;
    }
    start = end;
  }
  return runs.length;
}

function lastCode(run: MutableRun | undefined): number {
  return run === undefined || run.text.length === 0 ? -1 : run.text.charCodeAt(run.text.length - 1);
}

/**
 * The engine behind {@link apply} and the dry run in validation: copies the run list once,
 * then edits it op by op, checking ranges against the length at that point of the change.
 */
export function applyOps(doc: DocState, change: Change, normalizeResult: boolean): DocState {
  const runs: MutableRun[] = doc.map((r) => ({ text: r.text, attrs: r.attrs }));
  let length = 0;
  for (const r of runs) length += r.text.length;
  change.forEach((op, index) => {
    const end = op.type === 'insert' ? op.pos : op.pos + op.len;
    if (end > length) {
      throw new OtError('out_of_range', `op ${index}: ${describe(op)} is beyond the document length ${length}`);
    }
    const i = splitAt(runs, op.pos, index, op);
    if (op.type === 'insert') {
      runs.splice(i, 0, { text: op.text, attrs: op.attrs });
      length += op.text.length;
      return;
    }
    const j = splitAt(runs, end, index, op);
    if (op.type === 'delete') {
      runs.splice(i, j - i);
      length -= op.len;
    } else {
      for (let k = i; k < j; k++) {
        const run = runs[k] as MutableRun;
        run.attrs = composeAttrs(run.attrs, op.attrs, false);
      }
    }
  });
  return normalizeResult ? normalize(runs) : runs;
}

/**
 * Applies `change` to `doc` and returns the new normalized document; `doc` is not modified.
 * Ranges and surrogate boundaries are checked op by op (throws {@link OtError}), the op shapes
 * are trusted: run untrusted input through `validateChange` first. An empty change is a no-op.
 */
export function apply(doc: DocState, change: Change): DocState {
  return applyOps(doc, change, true);
}
