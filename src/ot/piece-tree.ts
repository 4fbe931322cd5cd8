/**
 * A persistent (immutable) AVL tree of text pieces, ordered by document position, each node
 * caching its subtree's length in UTF-16 units, piece count and height.
 *
 * Why this structure: the document must be shared by value. The engine builds a tentative
 * state before a commit succeeds and keeps the old one until then; the SDK keeps states for
 * rebasing; a snapshot is serialized while new commits arrive. A persistent tree gives all
 * three for free: an edit copies only the O(log n) nodes on its path, every older version
 * stays valid, and "roll back" is just keeping the old root. Among persistent choices, a
 * join-based AVL tree (Blelloch, Ferizovic, Sun: "Just Join for Parallel Ordered Sets") needs
 * two primitives, `join` and `split`, from which insert, delete and range replace follow, with
 * a depth bound of 1.44 log2 n. A B-tree would copy wider nodes per edit and needs more code
 * for underflow; a piece table needs an index tree on top anyway; a rope of plain strings has
 * no place for attributes.
 *
 * A piece is a stretch of text with one attribute map. Pieces are at most MAX_PIECE long, so
 * editing inside one copies little text and V8 never flattens a huge string on each keystroke.
 * Neighbouring pieces may carry equal attributes (a long run is several pieces); the
 * canonical run list merges them (see document.ts).
 */
import type { Attributes } from './types.js';

/** Longest piece an in-place edit may grow; longer text is re-cut into CHUNK-sized pieces. */
export const MAX_PIECE = 1024;
export const CHUNK = 512;

export interface Piece {
  readonly text: string;
  readonly attrs: Attributes | undefined;
}

export class Node implements Piece {
  /** UTF-16 length of the subtree. */
  readonly len: number;
  /** Number of pieces in the subtree. */
  readonly count: number;
  readonly height: number;

  constructor(
    readonly left: Tree,
    readonly text: string,
    readonly attrs: Attributes | undefined,
    readonly right: Tree,
  ) {
    let len = text.length;
    let count = 1;
    let hl = 0;
    let hr = 0;
    if (left !== null) {
      len += left.len;
      count += left.count;
      hl = left.height;
    }
    if (right !== null) {
      len += right.len;
      count += right.count;
      hr = right.height;
    }
    this.len = len;
    this.count = count;
    this.height = (hl > hr ? hl : hr) + 1;
  }
}

export type Tree = Node | null;

export function treeLength(t: Tree): number {
  return t === null ? 0 : t.len;
}

export function pieceCount(t: Tree): number {
  return t === null ? 0 : t.count;
}

function height(t: Tree): number {
  return t === null ? 0 : t.height;
}

function node(left: Tree, piece: Piece, right: Tree): Node {
  return new Node(left, piece.text, piece.attrs, right);
}

function rotateLeft(t: Node): Node {
  const r = t.right as Node;
  return node(node(t.left, t, r.left), r, r.right);
}

function rotateRight(t: Node): Node {
  const l = t.left as Node;
  return node(l.left, l, node(l.right, t, t.right));
}

/** `left` is taller than `right` by more than one. */
function joinRight(left: Node, piece: Piece, right: Tree): Node {
  const c = left.right;
  if (height(c) <= height(right) + 1) {
    const t = node(c, piece, right);
    if (t.height <= height(left.left) + 1) return node(left.left, left, t);
    return rotateLeft(node(left.left, left, rotateRight(t)));
  }
  const t = joinRight(c as Node, piece, right);
  const joined = node(left.left, left, t);
  return t.height <= height(left.left) + 1 ? joined : rotateLeft(joined);
}

/** `right` is taller than `left` by more than one. */
function joinLeft(left: Tree, piece: Piece, right: Node): Node {
  const c = right.left;
  if (height(c) <= height(left) + 1) {
    const t = node(left, piece, c);
    if (t.height <= height(right.right) + 1) return node(t, right, right.right);
    return rotateRight(node(rotateLeft(t), right, right.right));
  }
  const t = joinLeft(left, piece, c as Node);
  const joined = node(t, right, right.right);
  return t.height <= height(right.right) + 1 ? joined : rotateRight(joined);
}

/** All of `left`, then `piece`, then all of `right`, balanced; O(|height difference| + 1). */
export function join(left: Tree, piece: Piece, right: Tree): Node {
  const hl = height(left);
  const hr = height(right);
  if (hl > hr + 1) return joinRight(left as Node, piece, right);
  if (hr > hl + 1) return joinLeft(left, piece, right as Node);
  return node(left, piece, right);
}

function splitLast(t: Node): [Tree, Piece] {
  if (t.right === null) return [t.left, t];
  const [rest, last] = splitLast(t.right);
  return [join(t.left, t, rest), last];
}

/** All of `left` then all of `right`. */
export function concat(left: Tree, right: Tree): Tree {
  if (left === null) return right;
  if (right === null) return left;
  const [rest, last] = splitLast(left);
  return join(rest, last, right);
}

/** The first `i` pieces and the rest. */
export function split(t: Tree, i: number): [Tree, Tree] {
  if (t === null || i <= 0) return [null, t];
  if (i >= t.count) return [t, null];
  const nl = pieceCount(t.left);
  if (i < nl) {
    const [a, b] = split(t.left, i);
    return [a, join(b, t, t.right)];
  }
  if (i === nl) return [t.left, join(null, t, t.right)];
  const [a, b] = split(t.right, i - nl - 1);
  return [join(t.left, t, a), b];
}

/** A balanced tree of `pieces[from..to)`. */
export function build(pieces: readonly Piece[], from = 0, to = pieces.length): Tree {
  if (from >= to) return null;
  const mid = (from + to) >>> 1;
  return node(build(pieces, from, mid), pieces[mid] as Piece, build(pieces, mid + 1, to));
}

/** A balanced tree of the pieces `texts[i]` with `attrs[i]` (parallel arrays: no piece objects to collect). */
export function buildFrom(texts: readonly string[], attrs: readonly (Attributes | undefined)[], from = 0, to = texts.length): Tree {
  if (from >= to) return null;
  const mid = (from + to) >>> 1;
  return new Node(buildFrom(texts, attrs, from, mid), texts[mid] as string, attrs[mid], buildFrom(texts, attrs, mid + 1, to));
}

/** Where a position falls: the piece holding it (index = count and node null at the end). */
export interface Location {
  readonly index: number;
  /** Document position of the piece's first character. */
  readonly start: number;
  readonly node: Node | null;
}

/** The piece containing position `pos` (start <= pos < start + length). */
export function locate(t: Tree, pos: number): Location {
  let index = 0;
  let start = 0;
  let cur = t;
  while (cur !== null) {
    const leftLen = cur.left === null ? 0 : cur.left.len;
    if (pos < start + leftLen) {
      cur = cur.left;
      continue;
    }
    const s = start + leftLen;
    const leftCount = cur.left === null ? 0 : cur.left.count;
    if (pos < s + cur.text.length) return { index: index + leftCount, start: s, node: cur };
    index += leftCount + 1;
    start = s + cur.text.length;
    cur = cur.right;
  }
  return { index, start, node: null };
}

/** The UTF-16 code unit at `pos`, or -1 outside the text. */
export function codeAt(t: Tree, pos: number): number {
  if (pos < 0) return -1;
  const { start, node } = locate(t, pos);
  return node === null ? -1 : node.text.charCodeAt(pos - start);
}

/** The tree with piece `i`'s text replaced (same attributes, non-empty text): path copy only. */
export function replaceText(t: Node, i: number, text: string): Node {
  const nl = pieceCount(t.left);
  if (i < nl) return new Node(replaceText(t.left as Node, i, text), t.text, t.attrs, t.right);
  if (i === nl) return new Node(t.left, text, t.attrs, t.right);
  return new Node(t.left, t.text, t.attrs, replaceText(t.right as Node, i - nl - 1, text));
}

/** Piece `i` (0 <= i < t.count). */
export function pieceAt(t: Node, i: number): Node {
  let cur = t;
  let k = i;
  for (;;) {
    const nl = pieceCount(cur.left);
    if (k === nl) return cur;
    if (k < nl) {
      cur = cur.left as Node;
    } else {
      k -= nl + 1;
      cur = cur.right as Node;
    }
  }
}

/**
 * The tree with piece `i` replaced by `pieces` (a few clean, non-empty pieces): the path is
 * copied and re-joined on the way up, O(log n) with no split, which is what makes a format or
 * an insert inside one piece cheap.
 */
export function replacePiece(t: Node, i: number, pieces: readonly Piece[]): Node {
  const nl = pieceCount(t.left);
  if (i < nl) return join(replacePiece(t.left as Node, i, pieces), t, t.right);
  if (i > nl) return join(t.left, t, replacePiece(t.right as Node, i - nl - 1, pieces));
  const mid = pieces.length >> 1;
  let left = t.left;
  for (let k = 0; k < mid; k++) left = join(left, pieces[k] as Piece, null);
  let right = t.right;
  for (let k = pieces.length - 1; k > mid; k--) right = join(null, pieces[k] as Piece, right);
  return join(left, pieces[mid] as Piece, right);
}

/** Calls `visit` for every piece in order. */
export function forEachPiece(t: Tree, visit: (piece: Piece) => void): void {
  // Recursion depth is the tree height (under 60 for any document that fits in memory).
  if (t === null) return;
  forEachPiece(t.left, visit);
  visit(t);
  forEachPiece(t.right, visit);
}

/** Calls `visit` for every piece overlapping [from, to), with the piece's start position. */
export function forEachPieceIn(t: Tree, from: number, to: number, visit: (piece: Piece, start: number) => void, offset = 0): void {
  if (t === null || from >= to) return;
  const leftLen = treeLength(t.left);
  const start = offset + leftLen;
  const end = start + t.text.length;
  if (from < start) forEachPieceIn(t.left, from, to, visit, offset);
  if (from < end && to > start) visit(t, start);
  if (to > end) forEachPieceIn(t.right, from, to, visit, end);
}

/**
 * Walks the pieces in order a few at a time ({@link next}): a long walk can be cut into slices
 * with other work in between. Safe because trees never change: the walk sees the version it
 * started on.
 */
export class PieceWalker {
  private readonly stack: Node[] = [];

  constructor(root: Tree) {
    this.descendLeft(root);
  }

  /** The next piece, or undefined at the end. */
  next(): Piece | undefined {
    const top = this.stack.pop();
    if (top === undefined) return undefined;
    this.descendLeft(top.right);
    return top;
  }

  private descendLeft(t: Tree): void {
    for (let cur = t; cur !== null; cur = cur.left) this.stack.push(cur);
  }
}
