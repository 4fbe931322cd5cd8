/**
 * The packed snapshot form (src/ot/packed.ts) and the content diff (src/ot/diff.ts) on random
 * documents: packing round-trips, packing in slices gives the same result, damaged input is
 * refused without throwing, and a diff turns one document into the other.
 */
import { describe, expect, it } from 'vitest';
import { Doc, apply, diff, type Attributes, type Run } from '../../src/ot/index.js';
import { ContentPacker, checkPacked, docFromStored, pack, unpack, unpackChecked } from '../../src/ot/packed.js';
import { MAX_PIECE } from '../../src/ot/piece-tree.js';
import { rng } from './ot-arbitraries.js';

const CHARS = ['a', 'b', ' ', 'é', '😀'];
const ATTRS: (Attributes | undefined)[] = [undefined, undefined, { bold: true }, { color: 'red' }, { bold: true, color: 'red' }, { color: 'red', bold: true }];

function randomDoc(next: () => number, runs: number, maxRun: number): Doc {
  const list: Run[] = Array.from({ length: runs }, () => {
    let text = '';
    const n = 1 + Math.floor(next() * maxRun);
    for (let i = 0; i < n; i++) text += CHARS[Math.floor(next() * CHARS.length)] as string;
    const attrs = ATTRS[Math.floor(next() * ATTRS.length)];
    return attrs === undefined ? { text } : { text, attrs };
  });
  return Doc.fromRuns(list);
}

describe('content JSON of a join (Doc.runsJson)', () => {
  it('equals JSON.stringify of the run list, escapes, merged pieces and edited trees included', () => {
    const next = rng(43);
    const escapes = ['"', '\\', '\n', '\u0001', '\u2028'];
    for (let round = 0; round < 200; round++) {
      let doc = randomDoc(next, Math.floor(next() * 30), round % 10 === 0 ? 3 * MAX_PIECE : 8);
      for (let k = 0; k < 5 && doc.length > 0; k++) {
        const pos = Math.floor(next() * doc.length);
        const text = next() < 0.3 ? (escapes[Math.floor(next() * escapes.length)] as string) : 'x';
        doc = apply(doc, [{ type: 'insert', pos: doc.text().charCodeAt(pos - 1) >= 0xd800 && doc.text().charCodeAt(pos - 1) <= 0xdbff ? pos - 1 : pos, text, ...(next() < 0.5 ? { attrs: { bold: true } } : {}) }]);
      }
      const viaTree = new Doc(doc.root).runsJson();
      expect(viaTree).toBe(JSON.stringify(doc.runs()));
      expect(doc.runsJson()).toBe(viaTree);
    }
  });

  it('encodes the unpacked form of a snapshot like the document it came from', () => {
    const next = rng(47);
    for (let round = 0; round < 50; round++) {
      const doc = randomDoc(next, Math.floor(next() * 40), 8);
      // Equal maps are stored once, so key order may differ from the original's: compared as values.
      const back = unpack(JSON.parse(JSON.stringify(pack(doc))) as unknown);
      expect(back?.runsJson()).toBe(JSON.stringify(back?.runs()));
      expect(JSON.parse(back?.runsJson() ?? 'null')).toEqual(doc.runs());
    }
  });
});

describe('packed snapshot form', () => {
  it('round-trips random documents, long runs cut into pieces included, and through JSON', () => {
    const next = rng(41);
    for (let round = 0; round < 200; round++) {
      const doc = randomDoc(next, Math.floor(next() * 30), round % 10 === 0 ? 3 * MAX_PIECE : 8);
      const packed = JSON.parse(JSON.stringify(pack(doc))) as unknown;
      const back = unpack(packed);
      expect(checkPacked(packed)).toEqual(packed);
      expect(back?.runs()).toEqual(doc.runs());
      expect(back?.equals(doc)).toBe(true);
    }
  });

  it('unpackChecked builds from what checkPacked returned the document unpack builds', () => {
    const next = rng(43);
    for (let round = 0; round < 100; round++) {
      const doc = randomDoc(next, Math.floor(next() * 30), round % 10 === 0 ? 3 * MAX_PIECE : 8);
      const packed = JSON.parse(JSON.stringify(pack(doc))) as unknown;
      const checked = checkPacked(packed);
      expect(checked).toBeDefined();
      if (checked === undefined) continue;
      const back = unpackChecked(checked);
      expect(back.runs()).toEqual(unpack(packed)?.runs());
      expect(back.runsJson()).toBe(JSON.stringify(back.runs()));
    }
  });

  it('stores each distinct attribute map once, whatever its key order', () => {
    const doc = Doc.fromRuns([{ text: 'a', attrs: { bold: true, color: 'red' } }, { text: 'b' }, { text: 'c', attrs: { color: 'red', bold: true } }, { text: 'd', attrs: { bold: true } }]);
    const packed = pack(doc);
    expect(packed).toEqual({ text: 'abcd', runs: '1.0,1,1.0,1.1', attrs: [{ bold: true, color: 'red' }, { bold: true }] });
  });

  it('packs the same in slices of any size as at once', () => {
    const next = rng(42);
    for (let round = 0; round < 50; round++) {
      const doc = randomDoc(next, 1 + Math.floor(next() * 50), 6);
      const packer = new ContentPacker(doc);
      const slice = 1 + Math.floor(next() * 5);
      let steps = 0;
      while (!packer.step(slice)) steps++;
      expect(packer.result()).toEqual(pack(doc));
      expect(steps).toBeGreaterThanOrEqual(Math.floor(doc.pieceCount / slice) - 1);
    }
  });

  it('refuses damaged input with undefined, never a throw, and checkPacked refuses what unpack does', () => {
    const good = { text: 'ab😀', runs: '1,3.0', attrs: [{ bold: true }] };
    expect(unpack(good)?.runs()).toEqual([{ text: 'a' }, { text: 'b😀', attrs: { bold: true } }]);
    expect(checkPacked(good)).toEqual(good);
    const bad: unknown[] = [
      null,
      [],
      'text',
      { ...good, text: 5 },
      { ...good, runs: '1,2.0' },
      { ...good, runs: '1,4.0' },
      { ...good, runs: '1,3.1' },
      { ...good, runs: '0,4' },
      { ...good, runs: '3,1.0' },
      { ...good, runs: '1,,3' },
      { ...good, runs: '1,3.' },
      { ...good, runs: '1;3' },
      { ...good, runs: 'zzzzzzzzzzz' },
      { ...good, attrs: [[]] },
      { ...good, attrs: [{ bold: {} }] },
      { ...good, attrs: 'bold' },
      { ...good, text: 'ab\ud83d' , runs: '1,2' },
    ];
    for (const raw of bad) {
      expect(unpack(raw), JSON.stringify(raw)).toBeUndefined();
      expect(checkPacked(raw), JSON.stringify(raw)).toBeUndefined();
    }
    expect(unpack({ text: '', runs: '', attrs: [] })?.length).toBe(0);
    expect(docFromStored([{ text: 'x', attrs: { bold: true } }])?.runs()).toEqual([{ text: 'x', attrs: { bold: true } }]);
  });
});

describe('content diff', () => {
  it('turns one random document into another (attributes and surrogate pairs included)', () => {
    const next = rng(43);
    for (let round = 0; round < 300; round++) {
      const a = randomDoc(next, Math.floor(next() * 8), 5);
      // Often a small edit of a, sometimes something else entirely.
      const b =
        next() < 0.7 && a.length > 0
          ? apply(a, [{ type: 'format', pos: 0, len: (a.text().codePointAt(0) ?? 0) > 0xffff ? 2 : 1, attrs: { italic: true } }, { type: 'insert', pos: a.length, text: '😀' }])
          : randomDoc(next, Math.floor(next() * 8), 5);
      const change = diff(a, b);
      expect(apply(a, change).equals(b)).toBe(true);
    }
  });

  it('touches only what differs', () => {
    const a = Doc.fromText('hello world');
    const b = Doc.fromRuns([{ text: 'hello ' }, { text: 'big', attrs: { bold: true } }, { text: ' world' }]);
    expect(diff(a, b)).toEqual([{ type: 'insert', pos: 6, text: 'big', attrs: { bold: true } }, { type: 'insert', pos: 9, text: ' ' }]);
    expect(diff(b, a)).toEqual([{ type: 'delete', pos: 6, len: 4 }]);
    expect(diff(a, a)).toEqual([]);
  });
});
