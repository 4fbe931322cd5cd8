import { attrsEqual, cleanAttrs, composeAttrs } from './attributes.js';
import { Doc, piecesOf } from './document.js';
import { OtError } from './errors.js';
import {
  MAX_PIECE,
  build,
  codeAt,
  concat,
  forEachPiece,
  forEachPieceIn,
  join,
  locate,
  pieceAt,
  pieceCount,
  replacePiece,
  replaceText,
  split,
  treeLength,
  type Location,
  type Node,
  type Piece,
  type Tree,
} from './piece-tree.js';
import { isHighSurrogate, isLowSurrogate } from './text.js';
import type { Attributes, Change, DeleteOp, DocState, FormatOp, InsertOp, Op } from './types.js';

interface MutableRun {
  text: string;
  attrs: Attributes | undefined;
}

function describe(op: Op): string {
  return op.type === 'insert' ? `insert at ${op.pos}` : `${op.type} ${op.pos}..${op.pos + op.len}`;
}

/**
 * Rejects a boundary at `pos` between the halves of a surrogate pair. `at` is the piece holding
 * the op's start: inside it the check reads its text rather than descending the tree twice
 * (two descents per boundary were the largest cost of a format on a long document).
 */
function checkBoundary(root: Tree, pos: number, length: number, index: number, op: Op, at: Location | undefined): void {
  if (pos <= 0 || pos >= length) return;
  const piece = at?.node;
  const off = at === undefined ? 0 : pos - at.start;
  const inside = piece !== null && piece !== undefined && off > 0 && off < piece.text.length;
  const before = inside ? piece.text.charCodeAt(off - 1) : codeAt(root, pos - 1);
  if (isHighSurrogate(before) && isLowSurrogate(inside ? piece.text.charCodeAt(off) : codeAt(root, pos))) {
    throw new OtError('surrogate_split', `op ${index}: ${describe(op)} splits a surrogate pair at ${pos}`);
  }
}

// ---- fast paths: the edit stays inside one piece and leaves run boundaries alone ----------

/** Typing into a piece whose attributes the new text shares: path copy, no rebalancing. */
function insertInPlace(root: Node, op: InsertOp, here: Location): Tree | undefined {
  const attrs = cleanAttrs(op.attrs);
  // The piece ending at the caret first (typing at the end of a run), then the one after it.
  for (let at = Math.max(op.pos - 1, 0); at <= op.pos && at < root.len; at++) {
    const loc = at === op.pos || (here.node !== null && at >= here.start) ? here : locate(root, at);
    const piece = loc.node;
    if (piece === null || piece.text.length + op.text.length > MAX_PIECE || !attrsEqual(piece.attrs, attrs)) continue;
    const off = op.pos - loc.start;
    return replaceText(root, loc.index, piece.text.slice(0, off) + op.text + piece.text.slice(off));
  }
  return undefined;
}

/** Deleting part of one piece (not all of it). */
function deleteInPlace(root: Node, op: DeleteOp, loc: Location): Tree | undefined {
  const piece = loc.node;
  if (piece === null) return undefined;
  const off = op.pos - loc.start;
  if (off + op.len > piece.text.length || op.len === piece.text.length) return undefined;
  return replaceText(root, loc.index, piece.text.slice(0, off) + piece.text.slice(off + op.len));
}

/** True when piece `index`'s neighbour on the given side exists and carries `attrs`. */
function neighbourHas(root: Node, index: number, side: -1 | 1, attrs: Attributes | undefined): boolean {
  const at = index + side;
  return at >= 0 && at < root.count && attrsEqual(pieceAt(root, at).attrs, attrs);
}

/**
 * New text with attributes of its own inside one piece: the piece becomes three (or two at its
 * start). Not where a neighbour carries the new attributes: merging with it is the general path's.
 */
function insertSplitting(root: Node, op: InsertOp, loc: Location): Tree | undefined {
  if (op.text.length > MAX_PIECE) return undefined;
  const piece = loc.node;
  if (piece === null) return undefined;
  const attrs = cleanAttrs(op.attrs);
  const off = op.pos - loc.start;
  if (attrsEqual(attrs, piece.attrs) || (off === 0 && neighbourHas(root, loc.index, -1, attrs))) return undefined;
  const inserted = { text: op.text, attrs };
  if (off === 0) return replacePiece(root, loc.index, [inserted, piece]);
  return replacePiece(root, loc.index, [{ text: piece.text.slice(0, off), attrs: piece.attrs }, inserted, { text: piece.text.slice(off), attrs: piece.attrs }]);
}

/**
 * A format inside one piece: nothing when it changes nothing, else the piece becomes up to
 * three. Not where an end of the range meets a neighbour that carries the new attributes:
 * merging with it is the general path's.
 */
function formatInPlace(root: Node, op: FormatOp, loc: Location): Tree | undefined {
  const piece = loc.node;
  if (piece === null) return undefined;
  const off = op.pos - loc.start;
  const end = off + op.len;
  if (end > piece.text.length) return undefined;
  const attrs = composeAttrs(piece.attrs, op.attrs, false);
  if (attrsEqual(attrs, piece.attrs)) return root;
  if ((off === 0 && neighbourHas(root, loc.index, -1, attrs)) || (end === piece.text.length && neighbourHas(root, loc.index, 1, attrs))) return undefined;
  const pieces: Piece[] = [];
  if (off > 0) pieces.push({ text: piece.text.slice(0, off), attrs: piece.attrs });
  pieces.push({ text: piece.text.slice(off, end), attrs });
  if (end < piece.text.length) pieces.push({ text: piece.text.slice(end), attrs: piece.attrs });
  return replacePiece(root, loc.index, pieces);
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
    run.attrs = composeAttrs(run.attrs, op.attrs, false);
  }
}

/** The window's pieces after the op, as runs (not yet normalized). */
function windowAfter(window: Tree, op: Op, pos: number, end: number): MutableRun[] {
  const runs: MutableRun[] = [];
  if (op.type === 'delete') {
    // Only what survives is read, so deleting many runs costs O(log n) plus the two edges.
    const keep = (p: Piece, start: number, from: number, to: number): void => {
      const a = Math.max(from - start, 0);
      const b = Math.min(to - start, p.text.length);
      runs.push({ text: p.text.slice(a, b), attrs: p.attrs });
    };
    forEachPieceIn(window, 0, pos, (p, start) => keep(p, start, 0, pos));
    const length = treeLength(window);
    forEachPieceIn(window, end, length, (p, start) => keep(p, start, end, length));
    return runs;
  }
  forEachPiece(window, (p) => runs.push({ text: p.text, attrs: p.attrs }));
  editRuns(runs, op, pos, end);
  return runs;
}

function splice(before: Tree, pieces: readonly Piece[], after: Tree): Tree {
  const last = pieces[pieces.length - 1];
  if (last === undefined) return concat(before, after);
  const left = pieces.length > 1 ? concat(before, build(pieces, 0, pieces.length - 1)) : before;
  return join(left, last, after);
}

function editWindow(root: Tree, op: Op, end: number): Tree {
  const count = pieceCount(root);
  const first = locate(root, op.pos).index;
  const last = end === op.pos ? first : locate(root, end).index;
  const lo = Math.max(0, first - 1);
  const hi = Math.min(count, last + 1);
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
    const done = op.type === 'insert' ? (insertInPlace(root, op, loc) ?? insertSplitting(root, op, loc)) : op.type === 'delete' ? deleteInPlace(root, op, loc) : formatInPlace(root, op, loc);
    if (done !== undefined) return done;
  }
  return editWindow(root, op, end);
}

/**
 * The engine behind {@link apply} and the dry run in validation: applies the ops in order,
 * checking each range against the length at that point of the change. O(log n) per op plus
 * the runs an op spans; the input is never modified.
 */
export function applyOps(doc: Doc | DocState, change: Change, _normalizeResult = true): Doc {
  const start = Doc.from(doc);
  let root = start.root;
  change.forEach((op, index) => {
    root = applyOp(root, op, index);
  });
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
