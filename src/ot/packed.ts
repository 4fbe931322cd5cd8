/**
 * The stored (snapshot) form of a document: its text once, plus a compact run table. Reading
 * a 1,000,000-character document of 100,000 runs stored as a run list (one JSON object per
 * run) cost PostgreSQL and JSON.parse about ten times what one string and a short table cost,
 * and cold joins wait for that read. The wire form (protocol v1) stays the run list.
 */
import { attrsEqual, cleanAttrs } from './attributes.js';
import { Doc, piecesOf } from './document.js';
import { LEAF_FILL, LEAF_MAX, Leaf, LeafWalker, MAX_PIECE, isJsonSafe, rootOver, type PieceAttrs, type Tree } from './piece-tree.js';
import { isHighSurrogate, isLowSurrogate, isWellFormedText } from './text.js';
import type { AttributeValue, Attributes, DocState } from './types.js';

export interface PackedContent {
  readonly text: string;
  /**
   * One entry per run, comma-separated, in order: the run's length in UTF-16 units in base 36,
   * then, if the run has attributes, `.` and their index in `attrs` in base 36.
   */
  readonly runs: string;
  /** Each distinct attribute map once. */
  readonly attrs: readonly Attributes[];
}

/**
 * Packs a document a slice at a time: {@link step} walks at most `pieces` pieces and says
 * whether it is done, so the engine can pack a large document between commits rather than
 * stall them.
 */
export class ContentPacker {
  private readonly walker: LeafWalker;
  private leaf: Leaf | undefined;
  private slot = 0;
  /** Where piece `slot` starts in the leaf's source. */
  private offset = 0;
  private readonly texts: string[] = [];
  private readonly runs: string[] = [];
  private readonly attrs: Attributes[] = [];
  /** Attribute maps seen, by identity (pieces of one edit share theirs) and then by content. */
  private readonly byObject = new Map<Attributes, number>();
  private readonly byKey = new Map<string, number>();
  private runLength = 0;
  private runAttrs: Attributes | undefined;
  private done = false;

  constructor(doc: Doc) {
    this.walker = new LeafWalker(doc.root);
    this.leaf = this.walker.next();
  }

  step(pieces: number): boolean {
    for (let i = 0; i < pieces && !this.done; i++) {
      let leaf = this.leaf;
      if (leaf !== undefined && this.slot === leaf.count) {
        leaf = this.leaf = this.walker.next();
        this.slot = 0;
      }
      if (leaf === undefined) {
        this.endRun();
        this.done = true;
        break;
      }
      const text = this.pieceText(leaf);
      const attrs = leaf.attrs[this.slot];
      this.slot++;
      if (this.runLength > 0 && !attrsEqual(this.runAttrs, attrs)) this.endRun();
      if (this.runLength === 0) this.runAttrs = attrs;
      this.texts.push(text);
      this.runLength += text.length;
    }
    return this.done;
  }

  /** The text of the piece at `slot`: sliced from a snapshot leaf's source (not cut and kept in the document). */
  private pieceText(leaf: Leaf): string {
    const source = leaf.uncut;
    if (source === undefined) return leaf.texts[this.slot] as string;
    if (this.slot === 0) this.offset = 0;
    const start = this.offset;
    this.offset += leaf.lens[this.slot] as number;
    return source.slice(start, this.offset);
  }

  /** The packed document; call once {@link step} said it is done. */
  result(): PackedContent {
    return { text: this.texts.join(''), runs: this.runs.join(','), attrs: this.attrs };
  }

  private endRun(): void {
    if (this.runLength === 0) return;
    const attrs = this.runAttrs;
    this.runs.push(attrs === undefined ? this.runLength.toString(36) : `${this.runLength.toString(36)}.${this.indexOf(attrs).toString(36)}`);
    this.runLength = 0;
    this.runAttrs = undefined;
  }

  private indexOf(attrs: Attributes): number {
    const known = this.byObject.get(attrs);
    if (known !== undefined) return known;
    const key = JSON.stringify(Object.entries(attrs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    let index = this.byKey.get(key);
    if (index === undefined) {
      index = this.attrs.length;
      this.attrs.push(attrs);
      this.byKey.set(key, index);
    }
    this.byObject.set(attrs, index);
    return index;
  }
}

/** Packs a whole document at once (tests, small documents). */
export function pack(doc: Doc): PackedContent {
  const packer = new ContentPacker(doc);
  packer.step(Infinity);
  return packer.result();
}

function isAttributeValue(v: unknown): v is AttributeValue {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null;
}

function readAttrs(raw: unknown): Attributes[] | undefined {
  if (!Array.isArray(raw)) return undefined;
  const out: Attributes[] = [];
  for (const a of raw as unknown[]) {
    if (typeof a !== 'object' || a === null || Array.isArray(a)) return undefined;
    const entries = Object.entries(a);
    if (!entries.every(([k, v]) => k !== '__proto__' && isAttributeValue(v))) return undefined;
    out.push(Object.fromEntries(entries) as Attributes);
  }
  return out;
}

/**
 * Reads `runs` (see PackedContent), calling `each` with every run's length and attribute index
 * (-1: none) as it goes (no table of 100,000 entries to collect); false if malformed or `each`
 * said so.
 */
function readRunTable(runs: string, each: (length: number, style: number) => boolean): boolean {
  if (runs.length === 0) return true;
  let value = 0;
  let digits = 0;
  let length = -1;
  for (let i = 0; i <= runs.length; i++) {
    const c = i < runs.length ? runs.charCodeAt(i) : 44;
    const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 122 ? c - 87 : -1;
    if (digit >= 0) {
      value = value * 36 + digit;
      if (++digits > 10) return false;
      continue;
    }
    if (digits === 0) return false;
    if (c === 46 && length < 0) {
      length = value;
    } else if (c === 44) {
      if (!(length < 0 ? each(value, -1) : each(length, value))) return false;
      length = -1;
    } else {
      return false;
    }
    value = 0;
    digits = 0;
  }
  return true;
}

/**
 * Leaves filled in order from consecutive stretches of `text`, LEAF_FILL pieces each (the last
 * two evened out). A leaf keeps its stretch of `text` as one string and its pieces' lengths:
 * no string per piece, no piece objects (see Leaf.source).
 */
class LeafFiller {
  private readonly leaves: Leaf[] = [];
  private lens: number[] = [];
  private attrs: PieceAttrs[] = [];
  /** Where the leaf being filled starts in `text`, and where its last piece ends. */
  private from = 0;
  private to = 0;

  constructor(
    private readonly text: string,
    private readonly jsonSafe: boolean,
  ) {}

  push(length: number, attrs: PieceAttrs): void {
    this.lens.push(length);
    this.attrs.push(attrs);
    this.to += length;
    if (this.lens.length === LEAF_FILL) this.flush(this.lens, this.attrs, this.from, this.to);
  }

  tree(): Tree {
    if (this.lens.length > 0) {
      const last = this.leaves.pop();
      // A short last leaf takes pieces from the one before, so every leaf is at least half full.
      const lens = last === undefined ? this.lens : last.lens.concat(this.lens);
      const attrs = last === undefined ? this.attrs : last.attrs.concat(this.attrs);
      const from = this.to - lens.reduce((sum, l) => sum + l, 0);
      if (lens.length <= LEAF_MAX) {
        this.flush(lens, attrs, from, this.to);
      } else {
        const half = lens.length >> 1;
        const mid = from + lens.slice(0, half).reduce((sum, l) => sum + l, 0);
        this.flush(lens.slice(0, half), attrs.slice(0, half), from, mid);
        this.flush(lens.slice(half), attrs.slice(half), mid, this.to);
      }
    }
    return rootOver(this.leaves);
  }

  private flush(lens: number[], attrs: PieceAttrs[], from: number, to: number): void {
    this.leaves.push(new Leaf(undefined, attrs, lens, to - from, this.jsonSafe, this.text.slice(from, to)));
    this.lens = [];
    this.attrs = [];
    this.from = to;
  }
}

interface CheckedPacked {
  readonly text: string;
  readonly runs: string;
  readonly attrs: Attributes[];
}

/** The parts of a packed form with the right types and well-formed text; undefined otherwise. */
function packedParts(raw: unknown): CheckedPacked | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const { text, runs, attrs: rawAttrs } = raw as Record<string, unknown>;
  if (typeof text !== 'string' || typeof runs !== 'string' || !isWellFormedText(text)) return undefined;
  const attrs = readAttrs(rawAttrs);
  return attrs === undefined ? undefined : { text, runs, attrs };
}

/**
 * Walks the runs of `packed`, calling `each` with every run's start, end and attribute index
 * (-1: none); false when they do not describe the text: lengths must add up to it, no run may
 * be empty or split a surrogate pair, indexes must exist.
 */
function walkRuns(packed: CheckedPacked, each: (start: number, end: number, style: number) => void): boolean {
  const { text, attrs } = packed;
  let at = 0;
  const read = readRunTable(packed.runs, (length, style) => {
    const end = at + length;
    if (length <= 0 || end > text.length || style >= attrs.length) return false;
    if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1)) && isLowSurrogate(text.charCodeAt(end))) return false;
    each(at, end, style);
    at = end;
    return true;
  });
  return read && at === text.length;
}

/**
 * `raw` when it is a packed form that {@link unpack} would accept, without building the tree
 * (never throws): a cold join sends a checked snapshot as it is and leaves the tree for later.
 */
export function checkPacked(raw: unknown): PackedContent | undefined {
  const parts = packedParts(raw);
  return parts !== undefined && walkRuns(parts, () => undefined) ? parts : undefined;
}

/**
 * The document a packed form holds, or undefined when it is not one (never throws; see
 * {@link walkRuns} for what is checked). Linear time; pieces go straight into leaves.
 */
export function unpack(raw: unknown): Doc | undefined {
  const parts = packedParts(raw);
  if (parts === undefined) return undefined;
  const { text, attrs } = parts;
  // Cleaned once per distinct map, and shared by its runs: merging and encoding compare by identity first.
  const styles = attrs.map((a) => cleanAttrs(a));
  const filler = new LeafFiller(text, isJsonSafe(text));
  const read = walkRuns(parts, (start, end, style) => {
    const runAttrs = style < 0 ? undefined : styles[style];
    if (end - start <= MAX_PIECE) {
      filler.push(end - start, runAttrs);
    } else {
      for (const piece of piecesOf([{ text: text.slice(start, end), attrs: runAttrs }])) filler.push(piece.text.length, runAttrs);
    }
  });
  if (!read) return undefined;
  const root = filler.tree();
  return root === null ? Doc.empty : new Doc(root);
}

/** True for the packed form, false for a run list (the older snapshot form). */
export function isPacked(content: readonly unknown[] | PackedContent): content is PackedContent {
  return !Array.isArray(content);
}

/** The document a stored snapshot holds (either form); undefined when it is damaged. */
export function docFromStored(content: readonly unknown[] | PackedContent): Doc | undefined {
  if (isPacked(content)) return unpack(content);
  try {
    return Doc.fromRuns(content as DocState);
  } catch {
    return undefined;
  }
}
