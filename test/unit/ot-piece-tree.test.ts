/**
 * The piece B-tree's own invariants (src/ot/piece-tree.ts), checked after every step of random
 * edit sequences, splits and concatenations: every leaf at one depth, node fill within bounds,
 * cached lengths and counts equal to what they sum up, pieces non-empty and at most MAX_PIECE,
 * a leaf marked JSON-safe holding only JSON-safe texts, and every older version unchanged.
 */
import { describe, expect, it } from 'vitest';
import { Doc, apply, type Attributes, type Change, type Op } from '../../src/ot/index.js';
import { pack, unpack } from '../../src/ot/packed.js';
import { BRANCH_MAX, LEAF_MAX, Leaf, MAX_PIECE, buildFrom, isJsonSafe, type Node, type PieceAttrs, type Tree } from '../../src/ot/piece-tree.js';
import { concat, split } from '../../src/ot/piece-tree-join.js';
import { rng } from './ot-arbitraries.js';

function assert(ok: boolean, what: string): void {
  if (!ok) throw new Error(`piece tree invariant broken: ${what}`);
}

const sum = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0);

/** Checks `n` and below; returns its height. `root`: `n` may be less than half full. */
function check(n: Node, root: boolean): number {
  if (n instanceof Leaf) {
    assert(n.count === n.texts.length && n.attrs.length === n.count && n.lens.length === n.count, 'leaf arrays');
    assert(n.texts.every((t, i) => t.length === n.lens[i]), 'leaf lens');
    assert(n.len === sum(n.lens), 'leaf len');
    assert(n.count <= LEAF_MAX && n.count >= (root ? 1 : LEAF_MAX >> 1), `leaf fill ${n.count}`);
    assert(n.texts.every((t) => t.length > 0 && t.length <= MAX_PIECE), 'piece length');
    assert(!n.jsonSafe || n.texts.every(isJsonSafe), 'jsonSafe');
    assert(n.height === 0, 'leaf height');
    return 0;
  }
  const k = n.children.length;
  assert(k <= BRANCH_MAX && k >= (root ? 2 : BRANCH_MAX >> 1), `branch fill ${k}`);
  assert(n.children.every((c, i) => c.len === n.lens[i] && c.count === n.counts[i]), 'branch lens/counts');
  assert(n.len === sum(n.lens) && n.count === sum(n.counts), 'branch len/count');
  assert(n.children.every((c) => check(c, false) === n.height - 1), 'leaves at one depth');
  return n.height;
}

function checkTree(t: Tree): void {
  if (t !== null) check(t, true);
}

function piecesOfTree(t: Tree): [string, PieceAttrs][] {
  if (t === null) return [];
  if (t instanceof Leaf) return t.texts.map((text, i) => [text, t.attrs[i]]);
  return t.children.flatMap((c) => piecesOfTree(c));
}

const ATTRS: (Attributes | undefined)[] = [undefined, { bold: true }, { color: 'red' }];
const CHARS = ['a', 'b', ' ', '"', '\\', '\n', 'é', '😀'];

function randomText(next: () => number, max: number): string {
  let s = '';
  const n = 1 + Math.floor(next() * max);
  for (let i = 0; i < n; i++) s += CHARS[Math.floor(next() * CHARS.length)] as string;
  return s;
}

/** A random op on `text`, on code point boundaries. */
function randomOp(next: () => number, text: string): Op {
  const at = (p: number): number => {
    const c = text.charCodeAt(p - 1);
    return p > 0 && p < text.length && c >= 0xd800 && c <= 0xdbff ? p - 1 : p;
  };
  const a = at(Math.floor(next() * (text.length + 1)));
  const r = next();
  if (r < 0.45 || text.length === 0) {
    const attrs = ATTRS[Math.floor(next() * ATTRS.length)];
    const ins = randomText(next, next() < 0.05 ? 1500 : 3);
    return attrs === undefined ? { type: 'insert', pos: a, text: ins } : { type: 'insert', pos: a, text: ins, attrs };
  }
  const spread = next() < 0.8 ? 4 : 2000;
  const b = at(Math.min(text.length, a + 1 + Math.floor(next() * spread)));
  if (b <= a) return { type: 'insert', pos: a, text: 'z' };
  if (r < 0.75) return { type: 'delete', pos: a, len: b - a };
  return { type: 'format', pos: a, len: b - a, attrs: next() < 0.5 ? { bold: true } : { bold: null, color: 'red' } };
}

describe('piece B-tree invariants', () => {
  it('hold after every edit of random sequences, and older versions stay as they were', () => {
    for (let seed = 1; seed <= 4; seed++) {
      const next = rng(seed);
      let doc = Doc.fromText(randomText(next, seed % 2 === 0 ? 20_000 : 50));
      const kept: { doc: Doc; text: string; json: string }[] = [];
      for (let step = 0; step < 300; step++) {
        const change: Change = [randomOp(next, doc.text())];
        doc = apply(doc, change);
        checkTree(doc.root);
        expect(doc.length).toBe(doc.text().length);
        if (step % 25 === 0) kept.push({ doc, text: doc.text(), json: JSON.stringify(doc.runs()) });
      }
      for (const k of kept) {
        // A fresh Doc over the same root recomputes everything from the (unchanged) nodes.
        const again = new Doc(k.doc.root);
        expect(again.text()).toBe(k.text);
        expect(again.runsJson()).toBe(k.json);
        checkTree(k.doc.root);
      }
    }
  });

  it('a document typed far past one leaf grows in height and stays balanced', () => {
    const next = rng(7);
    let doc = Doc.empty;
    for (let i = 0; i < 6000; i++) {
      const attrs = ATTRS[i % 3];
      const pos = Math.floor(next() * (doc.length + 1));
      doc = apply(doc, [attrs === undefined ? { type: 'insert', pos, text: 'ab' } : { type: 'insert', pos, text: 'ab', attrs }]);
    }
    checkTree(doc.root);
    expect(doc.root?.height ?? 0).toBeGreaterThanOrEqual(2);
  });

  it('split and concat keep the pieces in order and the invariants, at every cut', () => {
    const next = rng(11);
    for (const n of [1, 2, LEAF_MAX - 1, LEAF_MAX + 1, 200, 2500]) {
      const texts = Array.from({ length: n }, (_, i) => `p${i}`);
      const attrs = texts.map((_, i) => ATTRS[i % 3]);
      const tree = buildFrom(texts, attrs);
      checkTree(tree);
      const all = piecesOfTree(tree);
      for (let k = 0; k < 6; k++) {
        const i = Math.floor(next() * (n + 1));
        const [left, right] = split(tree, i);
        checkTree(left);
        checkTree(right);
        expect(piecesOfTree(left)).toEqual(all.slice(0, i));
        expect(piecesOfTree(right)).toEqual(all.slice(i));
        const back = concat(left, right);
        checkTree(back);
        expect(piecesOfTree(back)).toEqual(all);
        // Trees of very different heights, both ways round.
        const small = buildFrom(['s'], [undefined]);
        checkTree(concat(small, left));
        checkTree(concat(right, small));
        expect(piecesOfTree(concat(right, concat(small, left)))).toEqual([...all.slice(i), ['s', undefined], ...all.slice(0, i)]);
      }
      expect(piecesOfTree(tree)).toEqual(all);
    }
  });

  it('unpacked snapshots are valid trees at every size', () => {
    for (const runs of [0, 1, 2, 23, 24, 25, 48, 49, 1000, 5003]) {
      const doc = Doc.fromRuns(Array.from({ length: runs }, (_, i) => (i % 2 === 0 ? { text: `r${i}` } : { text: `r${i}`, attrs: { bold: true } })));
      const packed = JSON.parse(JSON.stringify(pack(doc))) as unknown;
      // Read before any leaf has its pieces cut from its source (Leaf.source), then after.
      const fresh = unpack(packed);
      expect(fresh?.runsJson()).toBe(JSON.stringify(doc.runs()));
      expect(fresh === undefined ? undefined : pack(fresh)).toEqual(packed);
      expect(new Doc(fresh?.root ?? null).text()).toBe(doc.text());
      const back = unpack(packed);
      checkTree(back?.root ?? null);
      expect(back === undefined ? undefined : new Doc(back.root).runsJson()).toBe(JSON.stringify(doc.runs()));
      if (back !== undefined && back.length > 3) {
        // An edit cuts one leaf; the version it came from reads the same as before.
        const edited = apply(back, [{ type: 'insert', pos: 3, text: '"q"' }]);
        checkTree(edited.root);
        expect(edited.text()).toBe(doc.text().slice(0, 3) + '"q"' + doc.text().slice(3));
        expect(new Doc(back.root).runsJson()).toBe(JSON.stringify(doc.runs()));
        expect(new Doc(edited.root).runsJson()).toBe(JSON.stringify(edited.runs()));
      }
    }
  });
});
