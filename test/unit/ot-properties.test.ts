import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  apply,
  compactChange,
  compose,
  docFromText,
  docLength,
  docText,
  invert,
  oppositeSide,
  transform,
  transformChanges,
  transformPosition,
  transformSelection,
  validateChange,
  type Change,
  type DocState,
  type Side,
} from '../../src/ot/index.js';
import { boundaries, changeSpecArb, docArb, realizeChange } from './ot-arbitraries.js';

// OT_PROPERTY_SCALE=50 npx vitest run test/unit/ot-properties.test.ts for a deep soak.
const SCALE = Number(process.env['OT_PROPERTY_SCALE'] ?? '1');
const runs = (n: number): { numRuns: number } => ({ numRuns: Math.round(n * SCALE) });
const RUNS = runs(400);
const sideArb = fc.constantFrom<Side>('left', 'right');

/** A doc plus `n` independent valid changes on it. */
const docAndChanges = (n: number): fc.Arbitrary<[DocState, Change[]]> =>
  fc
    .tuple(docArb, fc.array(changeSpecArb, { minLength: n, maxLength: n }))
    .map(([doc, specs]) => [doc, specs.map((s) => realizeChange(doc, s))]);

function expectValidOn(doc: DocState, change: Change): void {
  if (change.length > 0) validateChange(doc, change, 1000);
}

describe('apply', () => {
  it('agrees with its own compact (delta) form', () => {
    fc.assert(
      fc.property(docAndChanges(1), ([doc, [c]]) => {
        const change = c as Change;
        const compact = compactChange(change);
        expectValidOn(doc, compact);
        expect(apply(doc, compact)).toEqual(apply(doc, change));
      }),
      RUNS,
    );
  });

  it('does not mutate its input and yields a normalized doc', () => {
    fc.assert(
      fc.property(docAndChanges(1), ([doc, [c]]) => {
        const before = JSON.stringify(doc);
        const out = apply(doc, c as Change);
        expect(JSON.stringify(doc)).toBe(before);
        for (let i = 0; i < out.length; i++) {
          const run = out[i];
          expect(run?.text.length).toBeGreaterThan(0);
          if (run?.attrs !== undefined) {
            expect(Object.keys(run.attrs).length).toBeGreaterThan(0);
            expect(Object.values(run.attrs)).not.toContain(null);
          }
          if (i > 0) expect(out[i - 1]?.attrs).not.toEqual(run?.attrs);
        }
      }),
      RUNS,
    );
  });

  it('handles a concrete rich-text example', () => {
    const doc = docFromText('hello world');
    const out = apply(doc, [
      { type: 'format', pos: 0, len: 5, attrs: { bold: true } },
      { type: 'insert', pos: 5, text: ',', attrs: { bold: true } },
      { type: 'delete', pos: 6, len: 1 },
      { type: 'format', pos: 2, len: 2, attrs: { bold: null } },
    ]);
    expect(out).toEqual([
      { text: 'he', attrs: { bold: true } },
      { text: 'll' },
      { text: 'o,', attrs: { bold: true } },
      { text: 'world' },
    ]);
  });
});

describe('transform', () => {
  it('TP1 with opposite sides, and the result is valid on the transformed doc', () => {
    fc.assert(
      fc.property(docAndChanges(2), sideArb, ([doc, [a, b]], side) => {
        const ca = a as Change;
        const cb = b as Change;
        const da = apply(doc, ca);
        const db = apply(doc, cb);
        const b2 = transform(cb, ca, side);
        const a2 = transform(ca, cb, oppositeSide(side));
        expectValidOn(da, b2);
        expectValidOn(db, a2);
        expect(apply(da, b2)).toEqual(apply(db, a2));
      }),
      runs(1000),
    );
  });

  it('server/client pairing converges (committed wins ties)', () => {
    const doc = docFromText('ab');
    const committed: Change = [{ type: 'insert', pos: 1, text: 'X' }];
    const incoming: Change = [{ type: 'insert', pos: 1, text: 'Y' }];
    const server = apply(apply(doc, committed), transform(incoming, committed, 'right'));
    const client = apply(apply(doc, incoming), transform(committed, incoming, 'left'));
    expect(docText(server)).toBe('aXYb');
    expect(client).toEqual(server);
  });

  it('format/format conflict: the left side value wins in both orders', () => {
    const doc = docFromText('abcdef');
    const committed: Change = [{ type: 'format', pos: 0, len: 4, attrs: { color: 'red', bold: true } }];
    const incoming: Change = [{ type: 'format', pos: 2, len: 4, attrs: { color: 'blue' } }];
    const server = apply(apply(doc, committed), transform(incoming, committed, 'right'));
    const client = apply(apply(doc, incoming), transform(committed, incoming, 'left'));
    expect(server).toEqual(client);
    expect(server).toEqual([
      { text: 'abcd', attrs: { color: 'red', bold: true } },
      { text: 'ef', attrs: { color: 'blue' } },
    ]);
  });

  it('documented rules: overlapping deletes, insert inside deleted range, format vs insert', () => {
    const doc = docFromText('0123456789');
    expect(transform([{ type: 'delete', pos: 2, len: 4 }], [{ type: 'delete', pos: 4, len: 4 }], 'right')).toEqual([
      { type: 'delete', pos: 2, len: 2 },
    ]);
    const ins = transform([{ type: 'insert', pos: 5, text: 'X' }], [{ type: 'delete', pos: 3, len: 4 }], 'right');
    expect(docText(apply(apply(doc, [{ type: 'delete', pos: 3, len: 4 }]), ins))).toBe('012X789');
    const fmt = transform([{ type: 'format', pos: 2, len: 4, attrs: { bold: true } }], [{ type: 'insert', pos: 4, text: 'XY' }], 'right');
    expect(apply(apply(doc, [{ type: 'insert', pos: 4, text: 'XY' }]), fmt)).toEqual([
      { text: '01' },
      { text: '23', attrs: { bold: true } },
      { text: 'XY' },
      { text: '45', attrs: { bold: true } },
      { text: '6789' },
    ]);
    const fmt2 = transform([{ type: 'format', pos: 2, len: 4, attrs: { bold: true } }], [{ type: 'delete', pos: 0, len: 3 }], 'right');
    expect(fmt2).toEqual([{ type: 'format', pos: 0, len: 3, attrs: { bold: true } }]);
  });

  it('transformChanges equals transforming step by step and converges over a sequence', () => {
    fc.assert(
      fc.property(docArb, changeSpecArb, changeSpecArb, changeSpecArb, (doc, s1, s2, s3) => {
        const c = realizeChange(doc, s1);
        const x = realizeChange(doc, s2);
        const y = realizeChange(apply(doc, x), s3);
        const viaList = transformChanges(c, [x, y], 'right');
        const cx = transform(c, x, 'right');
        expect(viaList).toEqual(transform(cx, y, 'right'));
        // The Jupiter grid: the other site transforms x and y one at a time against c.
        const x2 = transform(x, c, 'left');
        const y2 = transform(y, cx, 'left');
        const server = apply(apply(apply(doc, x), y), viaList);
        const client = apply(apply(apply(doc, c), x2), y2);
        expect(server).toEqual(client);
      }),
      RUNS,
    );
  });

  // Note: transform(c, compose(x, y)) may differ from transforming over x then y when an
  // insert ties with text deleted in between (the delta form forgets where deleted text
  // was); both are convergent, so callers must transform against the same objects the other
  // site transformed against, which the Jupiter / one-in-flight protocol does.
});

describe('compose', () => {
  it('is equivalent to applying both, and valid on the base doc', () => {
    fc.assert(
      fc.property(docArb, changeSpecArb, changeSpecArb, (doc, sa, sb) => {
        const a = realizeChange(doc, sa);
        const mid = apply(doc, a);
        const b = realizeChange(mid, sb);
        const ab = compose(a, b);
        expectValidOn(doc, ab);
        expect(apply(doc, ab)).toEqual(apply(mid, b));
      }),
      runs(800),
    );
  });

  it('is compact for typing, backspacing and type-then-erase', () => {
    const word = 'supercalifragilisticexpialidocious-and-then-some!!';
    expect(word.length).toBe(50);
    let typed: Change = [];
    for (let i = 0; i < word.length; i++) typed = compose(typed, [{ type: 'insert', pos: 7 + i, text: word[i] as string }]);
    expect(typed).toEqual([{ type: 'insert', pos: 7, text: word }]);

    let back: Change = [];
    for (let i = 0; i < 20; i++) back = compose(back, [{ type: 'delete', pos: 30 - i, len: 1 }]);
    expect(back).toEqual([{ type: 'delete', pos: 11, len: 20 }]);

    let erased = typed;
    for (let i = word.length - 1; i >= 0; i--) erased = compose(erased, [{ type: 'delete', pos: 7 + i, len: 1 }]);
    expect(erased).toEqual([]);

    // Two edit sites, many keystrokes: two ops.
    let two: Change = [];
    for (let i = 0; i < 30; i++) {
      two = compose(two, [{ type: 'insert', pos: 100 + 2 * i, text: 'b' }]);
      two = compose(two, [{ type: 'insert', pos: 3 + i, text: 'a' }]);
    }
    expect(two).toEqual([
      { type: 'insert', pos: 3, text: 'a'.repeat(30) },
      { type: 'insert', pos: 130, text: 'b'.repeat(30) },
    ]);
  });

  it('op count stays bounded by edit sites for random typing sessions', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(2), fc.boolean()), { minLength: 1, maxLength: 60 }), (steps) => {
        // Three cursors in a 300-char doc far apart; each step types or backspaces at one.
        const carets = [10, 100, 200];
        let composed: Change = [];
        for (const [site, typing] of steps) {
          const pos = carets[site] as number;
          const op: Change = typing ? [{ type: 'insert', pos, text: 'x' }] : [{ type: 'delete', pos: pos - 1, len: 1 }];
          composed = compose(composed, op);
          for (let k = 0; k < carets.length; k++) {
            const p = carets[k] as number;
            if (p >= pos) carets[k] = p + (typing ? 1 : -1);
          }
        }
        // At most an insert and a delete per site.
        expect(composed.length).toBeLessThanOrEqual(6);
      }),
      RUNS,
    );
  });
});

describe('invert', () => {
  it('undoes the change', () => {
    fc.assert(
      fc.property(docAndChanges(1), ([doc, [c]]) => {
        const change = c as Change;
        const after = apply(doc, change);
        const inv = invert(change, doc);
        expectValidOn(after, inv);
        expect(apply(after, inv)).toEqual(doc);
      }),
      RUNS,
    );
  });
});

describe('cursors', () => {
  it('transformSelection stays within [0, newLength] and on code point boundaries', () => {
    fc.assert(
      fc.property(docAndChanges(1), fc.nat(), fc.nat(), ([doc, [c]], x, y) => {
        const change = c as Change;
        const b = boundaries(docText(doc));
        const sel = { anchor: b[x % b.length] ?? 0, head: b[y % b.length] ?? 0 };
        const after = apply(doc, change);
        const out = transformSelection(sel, change);
        const nb = new Set(boundaries(docText(after)));
        for (const p of [out.anchor, out.head]) {
          expect(p).toBeGreaterThanOrEqual(0);
          expect(p).toBeLessThanOrEqual(docLength(after));
          expect(nb.has(p)).toBe(true);
        }
        // Direction is preserved (collapsed stays collapsed).
        expect(Math.sign(out.head - out.anchor) * Math.sign(sel.head - sel.anchor)).toBeGreaterThanOrEqual(0);
        if (sel.anchor === sel.head) expect(out.anchor).toBe(out.head);
      }),
      RUNS,
    );
  });

  it('a caret before an insertion point is not moved; after it shifts by the insert length', () => {
    fc.assert(
      fc.property(fc.nat(100), fc.nat(100), fc.string({ minLength: 1, maxLength: 5 }), (caret, at, text) => {
        const change: Change = [{ type: 'insert', pos: at, text }];
        const moved = transformSelection({ anchor: caret, head: caret }, change);
        if (caret < at) expect(moved.anchor).toBe(caret);
        else expect(moved.anchor).toBe(caret + text.length);
        expect(transformPosition(caret, change, 'before')).toBe(caret <= at ? caret : caret + text.length);
      }),
      RUNS,
    );
  });

  it('a caret inside deleted text lands at the deletion point', () => {
    expect(transformPosition(5, [{ type: 'delete', pos: 3, len: 4 }], 'after')).toBe(3);
    expect(transformPosition(9, [{ type: 'delete', pos: 3, len: 4 }], 'after')).toBe(5);
    expect(transformSelection({ anchor: 2, head: 8 }, [{ type: 'insert', pos: 2, text: 'xx' }, { type: 'insert', pos: 10, text: 'yy' }])).toEqual({
      anchor: 4,
      head: 10,
    });
  });

  it('a caret keeps pointing at the same character', () => {
    fc.assert(
      fc.property(docAndChanges(1), fc.nat(), ([doc, [c]], x) => {
        const change = c as Change;
        const text = docText(doc);
        const b = boundaries(text);
        const pos = b[x % b.length] ?? 0;
        if (pos >= text.length) return;
        // Mark the character by formatting it; if it survives, the caret must sit right before it.
        const marked = apply(doc, [{ type: 'format', pos, len: text.codePointAt(pos)! > 0xffff ? 2 : 1, attrs: { marker: true } }]);
        const t = transform(change, [{ type: 'format', pos, len: text.codePointAt(pos)! > 0xffff ? 2 : 1, attrs: { marker: true } }], 'left');
        const after = apply(marked, t);
        let start = 0;
        let found = -1;
        for (const run of after) {
          if (run.attrs?.['marker'] === true) {
            found = start;
            break;
          }
          start += run.text.length;
        }
        if (found >= 0) expect(transformPosition(pos, change, 'after')).toBe(found);
      }),
      RUNS,
    );
  });
});
