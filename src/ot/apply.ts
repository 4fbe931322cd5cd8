import { cleanAttrs, cleanAttrsEqual, formatAttrs } from './attributes.js';
import { Doc, piecesOf } from './document.js';
import { OtError } from './errors.js';
import {
  LEAF_MAX,
  MAX_PIECE,
  build,
  codeAt,
  forEachPiece,
  forEachPieceIn,
  isJsonSafe,
  locate,
  pieceAt,
  pieceCount,
  pieceIndex,
  replacePieces,
  replaceText,
  treeLength,
  type Location,
  type Node,
  type Piece,
  type PieceAttrs,
  type Tree,
} from './piece-tree.js';
import { concat, split } from './piece-tree-join.js';
import { isHighSurrogate, isLowSurrogate } from './text.js';
import type { Attributes, Change, DeleteOp, DocState, FormatOp, InsertOp, Op } from './types.js';

interface MutableRun {
  text: string;
  attrs: Attributes | undefined;
}

function describe(op: Op): string {
  return op.type === 'insert' ? `insert at ${op.pos}` : `${op.type} ${op.pos}..${op.pos + op.len}`;
}

/** The text of the piece at `loc`, or undefined past the end. */
function textAt(loc: Location): string | undefined {
  return loc.leaf.texts[loc.slot];
}

/**
 * The code unit at `pos`, read from the piece at `loc` or the one before it in its leaf when
 * `pos` falls there (two more descents per boundary were the largest cost of a format on a
 * long document), else from the tree.
 */
function codeNear(root: Node, loc: Location, pos: number): number {
  const off = pos - loc.start;
  const text = textAt(loc);
  if (text !== undefined && off >= 0 && off < text.length) return text.charCodeAt(off);
  if (off < 0 && loc.slot > 0) {
    const before = loc.leaf.texts[loc.slot - 1] as string;
    if (off >= -before.length) return before.charCodeAt(before.length + off);
  }
  return codeAt(root, pos);
}

/** Rejects a boundary at `pos` between the halves of a surrogate pair. `loc`: the piece holding the op's start. */
function checkBoundary(root: Tree, pos: number, length: number, index: number, op: Op, loc: Location | undefined): void {
  if (root === null || loc === undefined || pos <= 0 || pos >= length) return;
  if (isHighSurrogate(codeNear(root, loc, pos - 1)) && isLowSurrogate(codeNear(root, loc, pos))) {
    throw new OtError('surrogate_split', `op ${index}: ${describe(op)} splits a surrogate pair at ${pos}`);
  }
}

// ---- fast paths: the edit stays inside one piece and leaves run boundaries alone ----------

/** The attributes of the piece `side` of the one at `loc` (undefined also when there is none: see {@link hasNeighbour}). */
function neighbourAttrs(root: Node, loc: Location, side: -1 | 1): PieceAttrs {
  const slot = loc.slot + side;
  if (slot >= 0 && slot < loc.leaf.count) return loc.leaf.attrs[slot];
  return pieceAt(root, pieceIndex(loc) + side).attrs;
}

function hasNeighbour(root: Node, loc: Location, side: -1 | 1): boolean {
  if (side < 0) return loc.slot > 0 || loc.start > 0;
  return loc.start + (loc.leaf.lens[loc.slot] ?? 0) < root.len;
}

/** True when the piece `side` of the one at `loc` exists and carries `attrs`. */
function neighbourHas(root: Node, loc: Location, side: -1 | 1, attrs: PieceAttrs): boolean {
  return hasNeighbour(root, loc, side) && cleanAttrsEqual(neighbourAttrs(root, loc, side), attrs);
}

/** Typing into a piece whose attributes the new text shares: path copy, no rebalancing. */
function insertInPlace(root: Node, op: InsertOp, here: Location): Tree | undefined {
  const attrs = cleanAttrs(op.attrs);
  const safe = isJsonSafe(op.text);
  // The piece ending at the caret first (typing at the end of a run), then the one after it.
  if (here.start === op.pos && op.pos > 0) {
    const before: Location =
      here.slot > 0 ? { leaf: here.leaf, slot: here.slot - 1, start: here.start - (here.leaf.lens[here.slot - 1] as number), up: here.up } : locate(root, op.pos - 1);
    const text = textAt(before) as string;
    if (text.length + op.text.length <= MAX_PIECE && cleanAttrsEqual(before.leaf.attrs[before.slot], attrs)) return replaceText(before, text + op.text, safe);
  }
  const text = textAt(here);
  if (text === undefined || text.length + op.text.length > MAX_PIECE || !cleanAttrsEqual(here.leaf.attrs[here.slot], attrs)) return undefined;
  const off = op.pos - here.start;
  return replaceText(here, off === 0 ? op.text + text : text.slice(0, off) + op.text + text.slice(off), safe);
}

/** Deleting part of one piece (not all of it). */
function deleteInPlace(op: DeleteOp, loc: Location): Tree | undefined {
  const text = textAt(loc);
  if (text === undefined) return undefined;
  const off = op.pos - loc.start;
  if (off + op.len > text.length || op.len === text.length) return undefined;
  return replaceText(loc, text.slice(0, off) + text.slice(off + op.len), true);
}

/**
 * New text with attributes of its own inside one piece: the piece becomes three (or two at its
 * start). Not where a neighbour carries the new attributes: merging with it is the general path's.
 */
function insertSplitting(root: Node, op: InsertOp, loc: Location): Tree | undefined {
  if (op.text.length > MAX_PIECE) return undefined;
  const text = textAt(loc);
  if (text === undefined) return undefined;
  const pieceAttrs = loc.leaf.attrs[loc.slot];
  const attrs = cleanAttrs(op.attrs);
  const off = op.pos - loc.start;
  if (cleanAttrsEqual(attrs, pieceAttrs) || (off === 0 && neighbourHas(root, loc, -1, attrs))) return undefined;
  const safe = isJsonSafe(op.text);
  if (off === 0) return replacePieces(loc, loc.slot, loc.slot + 1, [op.text, text], [attrs, pieceAttrs], safe);
  return replacePieces(loc, loc.slot, loc.slot + 1, [text.slice(0, off), op.text, text.slice(off)], [pieceAttrs, attrs, pieceAttrs], safe);
}

/**
 * A format inside one piece: nothing when it changes nothing, else the piece becomes up to
 * three. Not where an end of the range meets a neighbour that carries the new attributes:
 * merging with it is the general path's.
 */
function formatInPlace(root: Node, op: FormatOp, loc: Location): Tree | undefined {
  const text = textAt(loc);
  if (text === undefined) return undefined;
  const off = op.pos - loc.start;
  const end = off + op.len;
  if (end > text.length) return undefined;
  const pieceAttrs = loc.leaf.attrs[loc.slot];
  const attrs = formatAttrs(pieceAttrs, op.attrs);
  if (attrs === pieceAttrs || cleanAttrsEqual(attrs, pieceAttrs)) return root;
  if ((off === 0 && neighbourHas(root, loc, -1, attrs)) || (end === text.length && neighbourHas(root, loc, 1, attrs))) return undefined;
  const texts: string[] = [];
  const attrList: PieceAttrs[] = [];
  if (off > 0) {
    texts.push(text.slice(0, off));
    attrList.push(pieceAttrs);
  }
  texts.push(text.slice(off, end));
  attrList.push(attrs);
  if (end < text.length) {
    texts.push(text.slice(end));
    attrList.push(pieceAttrs);
  }
  return replacePieces(loc, loc.slot, loc.slot + 1, texts, attrList, true);
}

// ---- general path: take out the pieces the op touches plus one neighbour each side, edit them
// as a small array, re-normalize (merging equal neighbours), put them back ------------------

/** Makes `pos` a boundary of `runs` and returns the index of the first run at or after it. */
function cut(runs: MutableRun[], pos: number): number {
  let start = 0;
  for (let i = 0; i < runs.length; i++) {
    const run = runs[i] as MutableRun;
    const end = start + run.text.length;
    if (pos < end) {
      const off = pos - start;
      if (off === 0) return i;
      runs.splice(i, 1, { text: run.text.slice(0, off), attrs: run.attrs }, { text: run.text.slice(off), attrs: run.attrs });
      return i + 1;
    }
    start = end;
  }
  return runs.length;
}

function editRuns(runs: MutableRun[], op: Op, pos: number, end: number): void {
  const i = cut(runs, pos);
  if (op.type === 'insert') {
    runs.splice(i, 0, { text: op.text, attrs: op.attrs });
    return;
  }
  const j = cut(runs, end);
  if (op.type === 'delete') {
    runs.splice(i, j - i);
    return;
  }
  for (let k = i; k < j; k++) {
    const run = runs[k] as MutableRun;
    run.attrs = formatAttrs(run.attrs, op.attrs);
  }
}

/** The window's pieces after the op, as runs (not yet normalized). */
function windowAfter(window: Tree, op: Op, pos: number, end: number): MutableRun[] {
  const runs: MutableRun[] = [];
  if (op.type === 'delete') {
    // Only what survives is read, so deleting many runs costs O(log n) plus the two edges.
    const keep = (text: string, attrs: PieceAttrs, start: number, from: number, to: number): void => {
      const a = Math.max(from - start, 0);
      const b = Math.min(to - start, text.length);
      runs.push({ text: text.slice(a, b), attrs });
    };
    forEachPieceIn(window, 0, pos, (text, attrs, start) => keep(text, attrs, start, 0, pos));
    const length = treeLength(window);
    forEachPieceIn(window, end, length, (text, attrs, start) => keep(text, attrs, start, end, length));
    return runs;
  }
  forEachPiece(window, (text, attrs) => runs.push({ text, attrs }));
  editRuns(runs, op, pos, end);
  return runs;
}

function splice(before: Tree, pieces: readonly Piece[], after: Tree): Tree {
  return concat(concat(before, build(pieces)), after);
}

/**
 * The general path when the window is slots [lo, hi) of the leaf at `loc` and the leaf keeps at
 * least half its room filled (or is the whole tree): its arrays are edited and the path copied,
 * with no split and concat. Undefined when that does not hold.
 */
function editInLeaf(op: Op, end: number, loc: Location, lo: number, hi: number): Tree | undefined {
  const leaf = loc.leaf;
  if (lo < 0 || hi > leaf.count) return undefined;
  let start = loc.start;
  for (let i = lo; i < loc.slot; i++) start -= leaf.lens[i] as number;
  const runs: MutableRun[] = [];
  for (let i = lo; i < hi; i++) runs.push({ text: leaf.texts[i] as string, attrs: leaf.attrs[i] });
  editRuns(runs, op, op.pos - start, end - start);
  const pieces = piecesOf(runs);
  const remaining = leaf.count - (hi - lo) + pieces.length;
  if (remaining === 0 && loc.up === undefined) return null;
  if (remaining < (loc.up === undefined ? 1 : LEAF_MAX >> 1)) return undefined;
  const texts = pieces.map((p) => p.text);
  return replacePieces(loc, lo, hi, texts, pieces.map((p) => p.attrs), texts.every(isJsonSafe));
}

function editWindow(root: Tree, op: Op, end: number, loc: Location | undefined): Tree {
  const count = pieceCount(root);
  const first = root === null || loc === undefined ? 0 : pieceIndex(loc);
  const last = root === null || loc === undefined || end === op.pos ? first : pieceIndex(locate(root, end));
  const lo = Math.max(0, first - 1);
  const hi = Math.min(count, last + 1);
  if (loc !== undefined) {
    const inLeaf = editInLeaf(op, end, loc, lo - (first - loc.slot), hi - (first - loc.slot));
    if (inLeaf !== undefined) return inLeaf;
  }
  const [before, rest] = split(root, lo);
  const [window, after] = split(rest, hi - lo);
  const offset = treeLength(before);
  const runs = windowAfter(window, op, op.pos - offset, end - offset);
  return splice(before, piecesOf(runs), after);
}

function applyOp(root: Tree, op: Op, index: number): Tree {
  const length = treeLength(root);
  const end = op.type === 'insert' ? op.pos : op.pos + op.len;
  if (end > length) {
    throw new OtError('out_of_range', `op ${index}: ${describe(op)} is beyond the document length ${length}`);
  }
  const loc = root === null ? undefined : locate(root, op.pos);
  checkBoundary(root, op.pos, length, index, op, loc);
  if (op.type !== 'insert') checkBoundary(root, end, length, index, op, loc);
  if (root !== null && loc !== undefined) {
    const done = op.type === 'insert' ? (insertInPlace(root, op, loc) ?? insertSplitting(root, op, loc)) : op.type === 'delete' ? deleteInPlace(op, loc) : formatInPlace(root, op, loc);
    if (done !== undefined) return done;
  }
  return editWindow(root, op, end, loc);
}

/**
 * The engine behind {@link apply} and the dry run in validation: applies the ops in order,
 * checking each range against the length at that point of the change. O(log n) per op plus
 * the runs an op spans; the input is never modified.
 */
export function applyOps(doc: Doc | DocState, change: Change, _normalizeResult = true): Doc {
  const start = Doc.from(doc);
  let root = start.root;
  for (let index = 0; index < change.length; index++) root = applyOp(root, change[index] as Op, index);
  return root === start.root ? start : new Doc(root);
}

/**
 * Applies `change` to `doc` and returns the new document; `doc` is not modified. Ranges and
 * surrogate boundaries are checked op by op (throws {@link OtError}), the op shapes are
 * trusted: run untrusted input through `validateChange` first. An empty change is a no-op.
 *
 * Given a {@link Doc}, returns a Doc (O(log n) per op: what the engine and the SDK use). Given
 * a run list, returns the normalized run list (converts both ways: linear, for callers that
 * hold the wire form).
 */
export function apply(doc: Doc, change: Change): Doc;
export function apply(doc: DocState, change: Change): DocState;
export function apply(doc: Doc | DocState, change: Change): Doc | DocState;
export function apply(doc: Doc | DocState, change: Change): Doc | DocState {
  const out = applyOps(doc, change);
  return doc instanceof Doc ? out : out.runs();
}
