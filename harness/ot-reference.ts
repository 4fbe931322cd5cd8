/**
 * The previous document representation, kept as the reference for the differential test
 * (test/unit/ot-differential.test.ts) and as the "old" column of `npm run bench:ot`: a plain
 * array of normalized runs that every edit copies and re-normalizes (O(document) per edit).
 * Copied from src/ot before the persistent tree replaced it; do not optimize.
 */
import { attrsEqual, cleanAttrs, composeAttrs, invertAttrs } from '../src/ot/attributes.js';
import { OtError } from '../src/ot/errors.js';
import { isHighSurrogate, isLowSurrogate } from '../src/ot/text.js';
import type { Attributes, Change, DocState, Op, Run } from '../src/ot/types.js';

interface MutableRun {
  text: string;
  attrs: Attributes | undefined;
}

function makeRun(text: string, attrs: Attributes | undefined): Run {
  return attrs === undefined ? { text } : { text, attrs };
}

function joinParts(parts: readonly string[]): string {
  if (parts.length > 8) return parts.join('');
  let s = '';
  for (const p of parts) s += p;
  return s;
}

export function referenceNormalize(runs: readonly Run[]): DocState {
  const out: Run[] = [];
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

function describe(op: Op): string {
  return op.type === 'insert' ? `insert at ${op.pos}` : `${op.type} ${op.pos}..${op.pos + op.len}`;
}

function lastCode(run: MutableRun | undefined): number {
  return run === undefined || run.text.length === 0 ? -1 : run.text.charCodeAt(run.text.length - 1);
}

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

export function referenceApply(doc: DocState, change: Change): DocState {
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
  return referenceNormalize(runs);
}

function referenceSlice(doc: DocState, from: number, to: number): Run[] {
  const out: Run[] = [];
  let start = 0;
  for (const run of doc) {
    const end = start + run.text.length;
    if (end > from && start < to) out.push(makeRun(run.text.slice(Math.max(from - start, 0), Math.min(to, end) - start), run.attrs));
    if (end >= to) break;
    start = end;
  }
  return out;
}

export function referenceInvert(change: Change, docBefore: DocState): Change {
  const groups: Op[][] = [];
  let doc = docBefore;
  for (const op of change) {
    const inverse: Op[] = [];
    if (op.type === 'insert') {
      inverse.push({ type: 'delete', pos: op.pos, len: op.text.length });
    } else {
      let pos = op.pos;
      for (const run of referenceSlice(doc, op.pos, op.pos + op.len)) {
        if (op.type === 'delete') {
          inverse.push(run.attrs === undefined ? { type: 'insert', pos, text: run.text } : { type: 'insert', pos, text: run.text, attrs: run.attrs });
        } else {
          const attrs = invertAttrs(op.attrs, run.attrs);
          if (attrs !== undefined) inverse.push({ type: 'format', pos, len: run.text.length, attrs });
        }
        pos += run.text.length;
      }
    }
    groups.push(inverse);
    doc = referenceApply(doc, [op]);
  }
  return groups.reverse().flat();
}
