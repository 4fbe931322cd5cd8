/**
 * A persistent (immutable) B-tree of text pieces, ordered by document position. Leaves hold
 * up to LEAF_MAX pieces in parallel arrays (texts, attribute maps, lengths); branches hold up
 * to BRANCH_MAX children with each child's length in UTF-16 units and piece count. Every node
 * but the root is at least half full; all leaves are at the same depth.
 *
 * Why persistent: the document must be shared by value. The engine builds a tentative state
 * before a commit succeeds and keeps the old one until then; the SDK keeps states for
 * rebasing; a snapshot is serialized while new commits arrive. An edit copies only the nodes
 * on its path, every older version stays valid, and "roll back" is just keeping the old root.
 * Nothing here ever writes to a node after it is built (arrays included), except a leaf's memo
 * of texts cut from its source, which only caches what the source already holds: keep it so.
 *
 * Why a B-tree rather than the join-based AVL tree of one piece per node it replaces: on a
 * 1,000,000-character document of 100,000 runs the AVL tree was about 20 levels of pointer
 * chasing (each level reading the child's length from another object), and `node --prof` put
 * 35% of a random-position insert in `locate` and 15% in GC of the copied path; unpacking a
 * snapshot allocated 100,000 nodes and as many piece strings (41% of its time was GC), and the
 * run-list JSON went through a run object per run. With fan-out 32 that document is 3 to 4
 * levels; a level is a scan of a small array of numbers and a path copy is a few short array
 * copies; a leaf unpacked from a snapshot is one string plus arrays (see Leaf.source), and the
 * run-list JSON is written from the leaves (runs-json.ts). Measured by bench:ot on a busy
 * 2-core machine, same run, AVL -> B-tree at 1,000,000 chars / 100,000 runs: packed snapshot
 * to Doc 106 -> 62 ms (1.7x; 61 -> 30 ms in a quieter run), the joined message's JSON 104 ->
 * 75 ms (1.4x; 79 -> 26 ms quieter); single-character edits about equal (insert 3.55 -> 3.56
 * µs, delete 3.22 -> 2.64, format 4.69 -> 5.29). Path copies allocate more per level than the
 * AVL tree's (three arrays of up to 32), which is what keeps random-position edits from
 * getting faster. Fan-outs 16, 32 and 64 for leaves and branches (and mixes) differed by less
 * than this machine's run-to-run noise for edits; 32 keeps leaves few for whole-document walks
 * (measured again in a later round, 16/16, 16/32, 32/16, 64/32, 64/64: still within noise).
 * Leaves keep lengths in a plain number array so a scan never touches the strings.
 *
 * Where a random single-character edit on that document goes (later round, perf and `node
 * --prof`): locate about a fifth of the cycles, scavenging the copied paths about a fifth (a
 * copied leaf stays live until the next edit in it, so nearly every one is copied and
 * promoted), the path's array copies most of the rest. Timed piecewise at random positions
 * without chaining the edits: locate 0.19 µs, reading the piece's text 0.16, the path copy
 * (8 array copies: texts and lengths of the leaf, children and lengths of three branches) 0.40,
 * the rest of apply 0.26; 0.02, 0.00, 0.05 and 0.08 on the 1,000-character one-leaf document.
 * The same deletes at one cache-hot position cost a third to a half of what random positions
 * do (0.43 against 1.18 µs in one run; 0.87 against 2.74 in a busier one): most of the gap to
 * a small document is waiting on memory (a branch and a leaf out of cache, each an object plus
 * two or three arrays; and the path copy writes 2 to 3 KB of fresh young-generation memory per
 * edit, against under 1 KB on the small document). Leaner code on the path (the located path as
 * a list, see Location; apply without a closure per op) changed the times by less than noise
 * and allocates a fifth less per edit. Interleaving a branch's children and lengths in one
 * array would save one of its two copies (75 -> 60 ns per branch, hot, in isolation): not done.
 *
 * Why still persistent after the same target was chased with an in-place tree: one mutable
 * tree per document behind the same immutable Doc values (older versions holding undo records
 * and re-rooting on read, a snapshot being packed pinning its tree) was built and passed every
 * OT test, and made those edits 1.35-1.5x faster; the ratio stayed over 2x (insert 2.5-3.6x,
 * delete 2.1-2.9x), because finding and reading the piece alone costs about a whole edit on
 * the small document (bench:ot's "floor" line). An edit of about a microsecond did not pay for
 * a mutable core under the engine and every editor. README, bench:ot, has the figures.
 *
 * A piece is a stretch of text with one attribute map. Pieces are at most MAX_PIECE long, so
 * editing inside one copies little text and V8 never flattens a huge string on each keystroke.
 * Neighbouring pieces may carry equal attributes (a long run is several pieces); the
 * canonical run list merges them (see document.ts).
 *
 * A leaf also knows whether its texts are JSON-safe (no quote, backslash or control
 * character: all JSON.stringify would do is add quotes), so the run list's JSON can take the
 * texts as they are (document.ts). False only means "not known to be safe".
 */
import type { Attributes } from './types.js';

/** Longest piece an in-place edit may grow; longer text is re-cut into CHUNK-sized pieces. */
export const MAX_PIECE = 1024;
export const CHUNK = 512;
/** Most pieces in a leaf; a leaf other than the root holds at least half. */
export const LEAF_MAX = 32;
/** Most children of a branch; a branch other than the root holds at least half. */
export const BRANCH_MAX = 32;

/**
 * How full bulk building (snapshots, run lists, replaced ranges) makes nodes: three quarters,
 * so the first edits in a freshly loaded document do not split every leaf and its parents.
 */
export const LEAF_FILL = (LEAF_MAX * 3) >> 2;
const BRANCH_FILL = (BRANCH_MAX * 3) >> 2;

export type PieceAttrs = Attributes | undefined;

export interface Piece {
  readonly text: string;
  readonly attrs: PieceAttrs;
}

/**
 * Whether a whole snapshot's text is JSON-safe, found out once when a leaf first asks and
 * shared by all its leaves: a cold join that sends the snapshot as it is never asks (the
 * check of 1,000,000 characters was an eighth of unpacking them), and asking each leaf on its
 * own cost three times the one native check when the run-list JSON was written.
 */
export class SharedJsonSafety {
  private safe: boolean | undefined;

  constructor(private readonly text: string) {}

  get(): boolean {
    this.safe ??= isJsonSafe(this.text);
    return this.safe;
  }
}

export class Leaf {
  readonly height = 0;
  /** Number of pieces. */
  readonly count: number;
  private textsMemo: readonly string[] | undefined;
  private readonly jsonSafeMemo: boolean | SharedJsonSafety;

  constructor(
    texts: readonly string[] | undefined,
    readonly attrs: readonly PieceAttrs[],
    /** `lens[i]` is the length of piece i's text. */
    readonly lens: readonly number[],
    /** UTF-16 length of the leaf. */
    readonly len: number,
    /** See {@link jsonSafe}: known, or left to the snapshot's shared check. */
    jsonSafe: boolean | SharedJsonSafety,
    /**
     * All the pieces' texts one after another, for a leaf built from a snapshot: its pieces are
     * cut from it on first use ({@link texts}), so unpacking allocates one string per leaf, not
     * one per run (the scavenger copying 100,000 fresh strings was most of unpack's time), and
     * a walk over the whole document ({@link uncut}) slices what it needs and lets it go.
     */
    readonly source: string | undefined = undefined,
  ) {
    this.count = lens.length;
    this.textsMemo = texts;
    this.jsonSafeMemo = jsonSafe;
  }

  /**
   * The texts are JSON-safe (see the header). The shared check is not replaced by its answer:
   * writing a boolean where an object was changed the field's representation, and V8 then
   * migrated every leaf on its next read (the run-list JSON took 40% longer).
   */
  get jsonSafe(): boolean {
    const safe = this.jsonSafeMemo;
    return typeof safe === 'boolean' ? safe : safe.get();
  }

  /** The pieces' texts. */
  get texts(): readonly string[] {
    let texts = this.textsMemo;
    if (texts === undefined) {
      texts = cut(this.source ?? '', this.lens);
      this.textsMemo = texts;
    }
    return texts;
  }

  /** {@link source} while the texts have not been cut from it, else undefined. */
  get uncut(): string | undefined {
    return this.textsMemo === undefined ? this.source : undefined;
  }
}

function cut(source: string, lens: readonly number[]): string[] {
  const texts: string[] = [];
  let at = 0;
  for (let i = 0; i < lens.length; i++) {
    const end = at + (lens[i] as number);
    texts.push(source.slice(at, end));
    at = end;
  }
  return texts;
}

export class Branch {
  constructor(
    readonly children: readonly Node[],
    /** `lens[i]` is `children[i].len`. */
    readonly lens: readonly number[],
    /** `counts[i]` is `children[i].count`. */
    readonly counts: readonly number[],
    /** UTF-16 length of the subtree. */
    readonly len: number,
    /** Number of pieces in the subtree. */
    readonly count: number,
    /** Leaves are at height 0. */
    readonly height: number,
  ) {}
}

export type Node = Leaf | Branch;
export type Tree = Node | null;

export function treeLength(t: Tree): number {
  return t === null ? 0 : t.len;
}

export function pieceCount(t: Tree): number {
  return t === null ? 0 : t.count;
}

/** True when JSON.stringify(text) is only `text` in quotes (well-formed text assumed). */
export function isJsonSafe(text: string): boolean {
  // A whole snapshot's text: the native escaper is twice as fast as any scan written here.
  if (text.length > 256) return JSON.stringify(text).length === text.length + 2;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/** A leaf whose piece lengths are known already (no string is read). */
function leafWithLens(texts: readonly string[], attrs: readonly PieceAttrs[], lens: readonly number[], jsonSafe: boolean): Leaf {
  let len = 0;
  for (let i = 0; i < lens.length; i++) len += lens[i] as number;
  return new Leaf(texts, attrs, lens, len, jsonSafe);
}

export function leafOf(texts: readonly string[], attrs: readonly PieceAttrs[], jsonSafe: boolean): Leaf {
  const lens: number[] = [];
  let len = 0;
  for (let i = 0; i < texts.length; i++) {
    const l = (texts[i] as string).length;
    lens.push(l);
    len += l;
  }
  return new Leaf(texts, attrs, lens, len, jsonSafe);
}

export function branchOf(children: readonly Node[]): Branch {
  const lens: number[] = [];
  const counts: number[] = [];
  let len = 0;
  let count = 0;
  for (let i = 0; i < children.length; i++) {
    const c = children[i] as Node;
    lens.push(c.len);
    counts.push(c.count);
    len += c.len;
    count += c.count;
  }
  return new Branch(children, lens, counts, len, count, (children[0] as Node).height + 1);
}

/** Pieces of a leaf or children of a branch. */
export function entries(n: Node): number {
  return n instanceof Leaf ? n.count : n.children.length;
}

/** At least half full: may be a child. */
export function isFull(n: Node): boolean {
  return entries(n) >= (n instanceof Leaf ? LEAF_MAX : BRANCH_MAX) >> 1;
}

/** How many even parts to cut `n` entries into for bulk building: about `fill` each, never under half of `max`. */
export function bulkParts(n: number, fill: number, max: number): number {
  return Math.max(1, Math.min(Math.ceil(n / fill), Math.floor(n / (max >> 1))));
}

/** Leaves for pieces given as parallel arrays, evenly filled to about LEAF_FILL. */
export function leavesOf(texts: readonly string[], attrs: readonly PieceAttrs[], jsonSafe: boolean): Leaf[] {
  const n = texts.length;
  const parts = bulkParts(n, LEAF_FILL, LEAF_MAX);
  const out: Leaf[] = [];
  for (let p = 0; p < parts; p++) {
    const from = Math.floor((p * n) / parts);
    const to = Math.floor(((p + 1) * n) / parts);
    out.push(leafOf(texts.slice(from, to), attrs.slice(from, to), jsonSafe));
  }
  return out;
}

/** Branches over `nodes` (all of one height), evenly filled to about BRANCH_FILL children. */
export function branchesOf(nodes: readonly Node[]): Node[] {
  const n = nodes.length;
  const parts = bulkParts(n, BRANCH_FILL, BRANCH_MAX);
  const out: Node[] = [];
  for (let p = 0; p < parts; p++) out.push(branchOf(nodes.slice(Math.floor((p * n) / parts), Math.floor(((p + 1) * n) / parts))));
  return out;
}

/** One tree over `nodes` (all of one height, each a valid child or the only one). */
export function rootOver(nodes: readonly Node[]): Tree {
  let level: readonly Node[] = nodes;
  while (level.length > 1) level = branchesOf(level);
  return level[0] ?? null;
}

/** A tree of the pieces `texts[i]` with `attrs[i]` (parallel arrays: no piece objects). */
export function buildFrom(texts: readonly string[], attrs: readonly PieceAttrs[], jsonSafe?: boolean): Tree {
  if (texts.length === 0) return null;
  return rootOver(leavesOf(texts, attrs, jsonSafe ?? texts.every(isJsonSafe)));
}

/** A tree of `pieces`. */
export function build(pieces: readonly Piece[]): Tree {
  return buildFrom(
    pieces.map((p) => p.text),
    pieces.map((p) => p.attrs),
  );
}

// ---- position lookup and path-copy edits -----------------------------------------------------

/*
 * Arrays here are always made the same way (literal, push, slice, concat; never `new Array(n)`,
 * which makes holey ones): V8 tracks the kind of array a field holds, and one leaf built with
 * another kind deoptimized every function that reads leaves, over and over (--trace-deopt,
 * "wrong map").
 */

/**
 * Where a position falls: the leaf and slot of the piece holding it (slot = leaf.count past
 * the end of the document), with the branches and child slots on the way from the root.
 */
export interface Location {
  readonly leaf: Leaf;
  readonly slot: number;
  /** Document position of the piece's first character (the document length past the end). */
  readonly start: number;
  /** The leaf's parent and the leaf's slot in it, then upwards to the root; undefined for a one-leaf tree. */
  readonly up: PathStep | undefined;
}

/**
 * One branch on a located path and the slot taken in it. A list from the leaf up rather than
 * arrays from the root down: a path copy walks it in the order it needs, and a few small
 * objects cost less than two growing arrays (each push past the empty literal's capacity
 * was a builtin call and a 17-slot backing store).
 */
export interface PathStep {
  readonly branch: Branch;
  readonly slot: number;
  readonly up: PathStep | undefined;
}

/** The piece containing position `pos` (start <= pos < start + length), or the end. */
export function locate(root: Node, pos: number): Location {
  let up: PathStep | undefined;
  let node = root;
  let start = 0;
  while (node instanceof Branch) {
    const lens = node.lens;
    const last = lens.length - 1;
    let k = 0;
    for (; k < last; k++) {
      const l = lens[k] as number;
      if (pos < start + l) break;
      start += l;
    }
    up = { branch: node, slot: k, up };
    node = node.children[k] as Node;
  }
  const lens = node.lens;
  let slot = 0;
  for (; slot < lens.length; slot++) {
    const l = lens[slot] as number;
    if (pos < start + l) break;
    start += l;
  }
  return { leaf: node, slot, start, up };
}

/** Index in the document of the piece at `loc` (the piece count past the end). */
export function pieceIndex(loc: Location): number {
  let index = loc.slot;
  for (let step = loc.up; step !== undefined; step = step.up) {
    const counts = step.branch.counts;
    for (let k = 0; k < step.slot; k++) index += counts[k] as number;
  }
  return index;
}

/** Piece `i` (0 <= i < t.count). */
export function pieceAt(t: Node, i: number): Piece {
  let node = t;
  let k = i;
  while (node instanceof Branch) {
    let c = 0;
    while (k >= (node.counts[c] as number)) k -= node.counts[c++] as number;
    node = node.children[c] as Node;
  }
  return { text: node.texts[k] as string, attrs: node.attrs[k] };
}

/** The UTF-16 code unit at `pos`, or -1 outside the text. */
export function codeAt(t: Tree, pos: number): number {
  if (t === null || pos < 0 || pos >= t.len) return -1;
  const { leaf, slot, start } = locate(t, pos);
  return (leaf.texts[slot] as string).charCodeAt(pos - start);
}

/**
 * The tree with the piece at `loc` given the text `text` (same attributes): the path is
 * copied, nothing else. `safe`: the new text is JSON-safe (see the header).
 */
export function replaceText(loc: Location, text: string, safe: boolean): Node {
  const leaf = loc.leaf;
  const slot = loc.slot;
  const texts = leaf.texts.slice();
  texts[slot] = text;
  const lens = leaf.lens.slice();
  const delta = text.length - (lens[slot] as number);
  lens[slot] = text.length;
  return copyPath(loc.up, new Leaf(texts, leaf.attrs, lens, leaf.len + delta, leaf.jsonSafe && safe));
}

/** The tree with `node` in place of the node `up` leads to from below: the path is copied. */
function copyPath(up: PathStep | undefined, node: Node): Node {
  let copy = node;
  for (let step = up; step !== undefined; step = step.up) copy = replaceChild(step.branch, step.slot, copy);
  return copy;
}

function spliced<T>(items: readonly T[], from: number, to: number, insert: readonly T[]): T[] {
  const out = items.slice(0, from);
  for (const x of insert) out.push(x);
  for (let i = to; i < items.length; i++) out.push(items[i] as T);
  return out;
}

/** `values` with `values[i] = value`: the same array when that is already so, so a path copy shares it. */
function withEntry(values: readonly number[], i: number, value: number): readonly number[] {
  if (values[i] === value) return values;
  const copy = values.slice();
  copy[i] = value;
  return copy;
}

/**
 * `b` with child `i` replaced by `node`: up to three array copies, no child read. The lengths
 * or counts are shared when they stay as they were (a format changes no length, typing inside
 * a piece no count): each copy is another array the young generation has to move.
 */
function replaceChild(b: Branch, i: number, node: Node): Branch {
  const children = b.children.slice();
  children[i] = node;
  const oldLen = b.lens[i] as number;
  const oldCount = b.counts[i] as number;
  return new Branch(children, withEntry(b.lens, i, node.len), withEntry(b.counts, i, node.count), b.len - oldLen + node.len, b.count - oldCount + node.count, b.height);
}

/** A branch whose children's lengths and counts are known already (no child is read). */
function branchWith(children: readonly Node[], lens: readonly number[], counts: readonly number[], height: number): Branch {
  let len = 0;
  let count = 0;
  for (let i = 0; i < lens.length; i++) {
    len += lens[i] as number;
    count += counts[i] as number;
  }
  return new Branch(children, lens, counts, len, count, height);
}

/** `b` with children [from, to) replaced by `nodes`: one branch, or several when it overflows. */
export function replaceChildren(b: Branch, from: number, to: number, nodes: readonly Node[]): Node[] {
  if (nodes.length === 1 && to === from + 1) return [replaceChild(b, from, nodes[0] as Node)];
  const children = spliced(b.children, from, to, nodes);
  const lens = spliced(b.lens, from, to, nodes.map((n) => n.len));
  const counts = spliced(b.counts, from, to, nodes.map((n) => n.count));
  const n = children.length;
  const parts = Math.ceil(n / BRANCH_MAX);
  if (parts <= 1) return [branchWith(children, lens, counts, b.height)];
  const out: Node[] = [];
  for (let p = 0; p < parts; p++) {
    const a = Math.floor((p * n) / parts);
    const e = Math.floor(((p + 1) * n) / parts);
    out.push(branchWith(children.slice(a, e), lens.slice(a, e), counts.slice(a, e), b.height));
  }
  return out;
}

/**
 * The tree with the pieces in slots [from, to) of `loc.leaf` replaced by the given ones; the
 * caller sees that the leaf keeps at least LEAF_MAX / 2 pieces unless it is the root (nothing
 * here merges an underfull leaf). The path is copied, and a node that overflows splits in two
 * on the way up.
 */
export function replacePieces(loc: Location, from: number, to: number, texts: readonly string[], attrs: readonly PieceAttrs[], safe: boolean): Node {
  const leaf = loc.leaf;
  const newTexts = spliced(leaf.texts, from, to, texts);
  const newAttrs = spliced(leaf.attrs, from, to, attrs);
  const newLens = spliced(leaf.lens, from, to, texts.map((t) => t.length));
  const jsonSafe = leaf.jsonSafe && safe;
  const n = newTexts.length;
  // The leaf still fits (the common case): one copy per level, no node lists.
  if (n <= LEAF_MAX) return copyPath(loc.up, leafWithLens(newTexts, newAttrs, newLens, jsonSafe));
  let nodes: Node[] = [];
  const parts = Math.ceil(n / LEAF_MAX);
  for (let p = 0; p < parts; p++) {
    const a = Math.floor((p * n) / parts);
    const b = Math.floor(((p + 1) * n) / parts);
    nodes.push(leafWithLens(newTexts.slice(a, b), newAttrs.slice(a, b), newLens.slice(a, b), jsonSafe));
  }
  for (let step = loc.up; step !== undefined; step = step.up) nodes = replaceChildren(step.branch, step.slot, step.slot + 1, nodes);
  return rootOver(nodes) as Node;
}

// ---- walking ---------------------------------------------------------------------------------

/**
 * Walks the leaves in order one at a time: a long walk can be cut into slices with other work
 * in between. Safe because trees never change: the walk sees the version it started on.
 */
export class LeafWalker {
  private readonly stack: Node[] = [];

  constructor(root: Tree) {
    if (root !== null) this.stack.push(root);
  }

  /** The next leaf, or undefined at the end. */
  next(): Leaf | undefined {
    for (;;) {
      const top = this.stack.pop();
      if (top === undefined || top instanceof Leaf) return top;
      for (let i = top.children.length - 1; i >= 0; i--) this.stack.push(top.children[i] as Node);
    }
  }
}

/** Calls `visit` for every piece in order. */
export function forEachPiece(t: Tree, visit: (text: string, attrs: PieceAttrs) => void): void {
  const walker = new LeafWalker(t);
  for (let leaf = walker.next(); leaf !== undefined; leaf = walker.next()) {
    const source = leaf.uncut;
    if (source === undefined) {
      for (let i = 0; i < leaf.count; i++) visit(leaf.texts[i] as string, leaf.attrs[i]);
      continue;
    }
    // Sliced for the visit only: a walk over a freshly unpacked document keeps nothing.
    for (let i = 0, at = 0; i < leaf.count; i++) visit(source.slice(at, (at += leaf.lens[i] as number)), leaf.attrs[i]);
  }
}

/** Calls `visit` for every piece overlapping [from, to), with the piece's start position. */
export function forEachPieceIn(t: Tree, from: number, to: number, visit: (text: string, attrs: PieceAttrs, start: number) => void, offset = 0): void {
  if (t === null || from >= to) return;
  let start = offset;
  const n = t instanceof Leaf ? t.count : t.children.length;
  for (let i = 0; i < n && start < to; i++) {
    const end = start + (t.lens[i] as number);
    if (end > from) {
      if (t instanceof Leaf) visit(t.texts[i] as string, t.attrs[i], start);
      else forEachPieceIn(t.children[i] as Node, from, to, visit, start);
    }
    start = end;
  }
}
