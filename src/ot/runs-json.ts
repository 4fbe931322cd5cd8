/**
 * The JSON of a document's canonical run list (`JSON.stringify(doc.runs())`, byte for byte)
 * written straight from the piece tree's leaves, which is what a join sends.
 *
 * Going through run objects cost a merged run object and a joined string per run, then
 * JSON.stringify walking 100,000 objects (38 ms together for 1,000,000 characters in 100,000
 * runs). Here each piece's text is written once as it is (a JSON-safe leaf needs no
 * escaping, see piece-tree.ts), what closes one run and opens the next is one string cached
 * per attribute map object (a document unpacked from a snapshot shares one map per distinct
 * map), and a run made of several pieces is just their texts one after another.
 */
import { attrsEqual } from './attributes.js';
import { LeafWalker, type PieceAttrs, type Tree } from './piece-tree.js';

const OPEN = '[{"text":"';
const PLAIN_CLOSE = '"}';
const PLAIN_NEXT = '"},{"text":"';

/** JSON of each attribute map object met, as it ends a run (`","attrs":{...}}`). */
const closers = new WeakMap<object, string>();

function closeRun(attrs: PieceAttrs): string {
  if (attrs === undefined) return PLAIN_CLOSE;
  let s = closers.get(attrs);
  if (s === undefined) {
    s = `","attrs":${JSON.stringify(attrs)}}`;
    closers.set(attrs, s);
  }
  return s;
}

/** What ends a run carrying `attrs` and opens the next one. */
const betweens = new WeakMap<object, string>();

function between(attrs: PieceAttrs): string {
  if (attrs === undefined) return PLAIN_NEXT;
  let s = betweens.get(attrs);
  if (s === undefined) {
    s = `${closeRun(attrs)},{"text":"`;
    betweens.set(attrs, s);
  }
  return s;
}

/**
 * `s` flattened (V8 flattens a rope on the first character read): the rope of 200,000 parts
 * would otherwise be flattened by whoever reads it first (the socket write, every join),
 * and the memo in Doc.runsJson would hold the rope rather than one string.
 */
function flat(s: string): string {
  s.charCodeAt(0);
  return s;
}

/** True when `a` and `b` have the same JSON: same keys in the same order, same values. */
function sameJson(a: PieceAttrs, b: PieceAttrs): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i] as string;
    if (k !== kb[i] || a[k] !== b[k]) return false;
  }
  return true;
}

/** `JSON.stringify` of the canonical run list of the pieces in `root`. */
export function runsJsonOf(root: Tree): string {
  if (root === null) return '[]';
  // String concatenation rather than an array join: V8 joins 200,000 parts several times slower
  // than it flattens the rope that `+=` builds (measured, bench:ot).
  let out = OPEN;
  const walker = new LeafWalker(root);
  let started = false;
  let runAttrs: PieceAttrs;
  // The last two maps that ended a run and their strings: runs mostly alternate between a few.
  let lastAttrs: PieceAttrs;
  let lastBetween = PLAIN_NEXT;
  let prevAttrs: PieceAttrs;
  let prevBetween = PLAIN_NEXT;
  for (let leaf = walker.next(); leaf !== undefined; leaf = walker.next()) {
    const { attrs, lens, jsonSafe } = leaf;
    // A leaf fresh from a snapshot: its pieces are sliced here and let go, not cut and kept.
    const source = leaf.uncut;
    const texts = source === undefined ? leaf.texts : [];
    let at = 0;
    for (let i = 0; i < lens.length; i++) {
      const a = attrs[i];
      if (!started) {
        started = true;
        runAttrs = a;
      } else if (a !== runAttrs && !attrsEqual(runAttrs, a)) {
        if (!sameJson(runAttrs, lastAttrs)) {
          // Compared by content too: a run list parsed from JSON has a map object per run.
          const swapAttrs = prevAttrs;
          const swapBetween = prevBetween;
          prevAttrs = lastAttrs;
          prevBetween = lastBetween;
          lastAttrs = runAttrs;
          lastBetween = sameJson(runAttrs, swapAttrs) ? swapBetween : between(runAttrs);
        }
        out += lastBetween;
        runAttrs = a;
      }
      const text = source !== undefined ? source.slice(at, (at += lens[i] as number)) : (texts[i] as string);
      out += jsonSafe ? text : JSON.stringify(text).slice(1, -1);
    }
  }
  out += closeRun(runAttrs) + ']';
  return flat(out);
}
