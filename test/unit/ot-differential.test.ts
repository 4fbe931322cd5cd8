/**
 * The persistent-tree document (src/ot/document.ts) against the previous run-array
 * representation (bench/ot-reference.ts) on random edits: same runs, same errors (code and
 * message), same inverses. Documents are long and edits sometimes long too, so pieces get cut
 * at MAX_PIECE and merged back, which the small documents of ot-properties never reach.
 */
import { describe, expect, it } from 'vitest';
import { referenceApply, referenceInvert, referenceNormalize } from '../../harness/ot-reference.js';
import { Doc, OtError, apply, docLength, docText, invert, type Attributes, type Change, type DocState, type Op, type Run } from '../../src/ot/index.js';
import { MAX_PIECE } from '../../src/ot/piece-tree.js';
import { rng } from './ot-arbitraries.js';

const CHARS = ['a', 'b', ' ', 'é', '😀', '𝄞'];
const INSERT_ATTRS: (Attributes | undefined)[] = [undefined, undefined, undefined, { bold: true }, { color: 'red' }, { bold: true, color: 'red' }, { x: null }];
const FORMAT_ATTRS: Attributes[] = [{ bold: true }, { bold: null }, { color: 'red' }, { color: null, bold: true }, { size: 2 }];

function randomText(next: () => number, max: number): string {
  const n = 1 + Math.floor(next() * max);
  let s = '';
  for (let i = 0; i < n; i++) s += CHARS[Math.floor(next() * CHARS.length)] as string;
  return s;
}

function randomRuns(next: () => number, count: number, maxRun: number): Run[] {
  return Array.from({ length: count }, () => {
    const attrs = INSERT_ATTRS[Math.floor(next() * INSERT_ATTRS.length)];
    const text = randomText(next, maxRun);
    return attrs === undefined ? { text } : { text, attrs };
  });
}

/** A random op, sometimes out of range or splitting a surrogate pair (both must fail alike). */
function randomOp(next: () => number, length: number): Op {
  const pos = Math.floor(next() * (length + 2));
  const r = next();
  const len = r < 0.7 ? 1 + Math.floor(next() * 3) : r < 0.95 ? 1 + Math.floor(next() * 200) : 1 + Math.floor(next() * 3000);
  const kind = next();
  if (kind < 0.45) {
    const text = next() < 0.05 ? randomText(next, 2 * MAX_PIECE) : randomText(next, 4);
    const attrs = INSERT_ATTRS[Math.floor(next() * INSERT_ATTRS.length)];
    return attrs === undefined ? { type: 'insert', pos, text } : { type: 'insert', pos, text, attrs };
  }
  if (kind < 0.75) return { type: 'delete', pos, len };
  return { type: 'format', pos, len, attrs: FORMAT_ATTRS[Math.floor(next() * FORMAT_ATTRS.length)] as Attributes };
}

function outcome<T>(f: () => T): { ok: T } | { code: string; message: string } {
  try {
    return { ok: f() };
  } catch (err) {
    if (!(err instanceof OtError)) throw err;
    return { code: err.code, message: err.message };
  }
}

describe('tree document vs the run-array reference', () => {
  it('agrees on runs, text, length, errors and inverses over random edits', () => {
    for (let seed = 1; seed <= 16; seed++) {
      const next = rng(seed);
      const start = randomRuns(next, 1 + Math.floor(next() * 400), seed % 3 === 0 ? 3000 : 20);
      let ref = referenceNormalize(start);
      let doc = Doc.fromRuns(start);
      expect(doc.runs()).toEqual(ref);
      for (let step = 0; step < 150; step++) {
        const change: Change = Array.from({ length: 1 + Math.floor(next() * 3) }, () => randomOp(next, docLength(ref)));
        const expected = outcome(() => referenceApply(ref, change));
        const before = doc;
        const beforeRuns = doc.runs();
        const got = outcome(() => apply(doc, change));
        if ('ok' in expected && 'ok' in got) {
          expect(got.ok.runs(), `seed ${seed} step ${step}`).toEqual(expected.ok);
          expect(got.ok.length).toBe(docLength(expected.ok));
          expect(docText(got.ok)).toBe(docText(expected.ok));
          expect(invert(change, doc)).toEqual(referenceInvert(change, ref));
          // Persistence: the old version is untouched.
          expect(before.runs()).toBe(beforeRuns);
          expect(Doc.fromRuns(beforeRuns).equals(before)).toBe(true);
          ref = expected.ok;
          doc = got.ok;
        } else {
          expect(got, `seed ${seed} step ${step}`).toEqual(expected);
        }
      }
    }
  });

  it('the run-list form of apply equals the reference (what the property tests exercise)', () => {
    const next = rng(99);
    let ref: DocState = referenceNormalize(randomRuns(next, 50, 10));
    for (let step = 0; step < 500; step++) {
      const change: Change = [randomOp(next, docLength(ref))];
      const expected = outcome(() => referenceApply(ref, change));
      expect(outcome(() => apply(ref, change))).toEqual(expected);
      if ('ok' in expected) ref = expected.ok;
    }
  });

  it('equal documents compare equal whatever the edit history (tree shape)', () => {
    const text = 'x'.repeat(5000);
    const a = Doc.fromText(text);
    // Built by typing, one character at a time at varying places: a very different tree.
    let b = Doc.empty;
    for (let i = 0; i < text.length; i++) b = apply(b, [{ type: 'insert', pos: (i * 7919) % (i + 1), text: 'x' }]);
    expect(b.equals(a)).toBe(true);
    expect(b.runs()).toEqual(a.runs());
    const bold = apply(b, [{ type: 'format', pos: 10, len: 4000, attrs: { bold: true } }]);
    const unbold = apply(bold, [{ type: 'format', pos: 0, len: 5000, attrs: { bold: null } }]);
    expect(bold.equals(a)).toBe(false);
    expect(unbold.equals(a)).toBe(true);
    expect(unbold.runs()).toEqual([{ text }]);
  });
});
