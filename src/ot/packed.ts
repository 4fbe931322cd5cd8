/**
 * The stored (snapshot) form of a document: its text once, plus a compact run table. Reading
 * a 1,000,000-character document of 100,000 runs stored as a run list (one JSON object per
 * run) cost PostgreSQL and JSON.parse about ten times what one string and a short table cost,
 * and cold joins wait for that read. The wire form (protocol v1) stays the run list.
 */
import { attrsEqual, cleanAttrs } from './attributes.js';
import { Doc } from './document.js';
import { CHUNK, LEAF_FILL, LEAF_MAX, Leaf, LeafWalker, MAX_PIECE, SharedJsonSafety, bulkParts, rootOver, type PieceAttrs, type Tree } from './piece-tree.js';
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

interface CheckedPacked {
  readonly text: string;
  readonly runs: string;
  readonly attrs: readonly Attributes[];
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
 * True when the run table of `packed` (see PackedContent) is well formed and describes the
 * text: lengths add up to it, no run is empty or splits a surrogate pair, indexes exist. One
 * loop, no callback per run and nothing else to do (reading pieces is {@link pieceTable}'s): a
 * cold join runs this once per snapshot, mostly before the JIT has seen it.
 */
function runsDescribeText(packed: CheckedPacked): boolean {
  const { text, runs } = packed;
  const styleCount = packed.attrs.length;
  const n = runs.length;
  if (n === 0) return text.length === 0;
  let at = 0;
  let value = 0;
  let digits = 0;
  let length = -1;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? runs.charCodeAt(i) : 44;
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
      const runLength = length < 0 ? value : length;
      const end = at + runLength;
      if (runLength <= 0 || end > text.length || (length >= 0 && value >= styleCount)) return false;
      if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1)) && isLowSurrogate(text.charCodeAt(end))) return false;
      at = end;
      length = -1;
    } else {
      return false;
    }
    value = 0;
    digits = 0;
  }
  return at === text.length;
}

/** The pieces of a document in order, as parallel arrays (no object per piece). */
interface PieceTable {
  readonly lens: number[];
  readonly attrs: PieceAttrs[];
}

/** Pushes the run [start, end) of `text`, longer than MAX_PIECE, cut into pieces as piecesOf cuts it. */
function pushLongRun(table: PieceTable, text: string, start: number, end: number, attrs: PieceAttrs): void {
  for (let from = start; from < end; ) {
    let to = from + CHUNK;
    if (to >= end) to = end;
    else if (isHighSurrogate(text.charCodeAt(to - 1)) && isLowSurrogate(text.charCodeAt(to))) to++;
    table.lens.push(to - from);
    table.attrs.push(attrs);
    from = to;
  }
}

/**
 * The pieces of `packed`, whose run table is known to be good ({@link runsDescribeText}). One
 * loop over local arrays: filling leaves one piece at a time through an object's fields was
 * three quarters of unpacking (30 of 40 ms on a busy machine, mostly before the JIT had
 * optimized the calls).
 */
function pieceTable(packed: CheckedPacked, styles: readonly PieceAttrs[]): PieceTable {
  const { text, runs } = packed;
  const table: PieceTable = { lens: [], attrs: [] };
  const { lens, attrs } = table;
  const n = runs.length;
  if (n === 0) return table;
  let at = 0;
  let value = 0;
  let length = -1;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? runs.charCodeAt(i) : 44;
    if (c === 44) {
      const runLength = length < 0 ? value : length;
      const runAttrs = length < 0 ? undefined : styles[value];
      if (runLength <= MAX_PIECE) {
        lens.push(runLength);
        attrs.push(runAttrs);
      } else {
        pushLongRun(table, text, at, at + runLength, runAttrs);
      }
      at += runLength;
      length = -1;
      value = 0;
    } else if (c === 46) {
      length = value;
      value = 0;
    } else {
      value = value * 36 + (c <= 57 ? c - 48 : c - 87);
    }
  }
  return table;
}

/**
 * Leaves over consecutive stretches of `text`, evenly filled to about LEAF_FILL pieces. A leaf
 * keeps its stretch as one string and its pieces' lengths: no string per piece (see
 * Leaf.source). Whether the text is JSON-safe is left to `jsonSafe`, asked when first needed.
 */
function leavesOfTable(text: string, table: PieceTable, jsonSafe: SharedJsonSafety): Leaf[] {
  const { lens, attrs } = table;
  const n = lens.length;
  const leaves: Leaf[] = [];
  if (n === 0) return leaves;
  const parts = bulkParts(n, LEAF_FILL, LEAF_MAX);
  let at = 0;
  for (let p = 0; p < parts; p++) {
    const from = Math.floor((p * n) / parts);
    const to = Math.floor(((p + 1) * n) / parts);
    let len = 0;
    for (let i = from; i < to; i++) len += lens[i] as number;
    leaves.push(new Leaf(undefined, attrs.slice(from, to), lens.slice(from, to), len, jsonSafe, text.slice(at, at + len)));
    at += len;
  }
  return leaves;
}

/**
 * `raw` when it is a packed form that {@link unpack} would accept, without building the tree
 * (never throws): a cold join sends a checked snapshot as it is and leaves the tree for later.
 */
export function checkPacked(raw: unknown): PackedContent | undefined {
  const parts = packedParts(raw);
  return parts !== undefined && runsDescribeText(parts) ? parts : undefined;
}

/** The tree of parts whose run table describes their text. */
function buildUnpacked(parts: CheckedPacked): Doc {
  // Cleaned once per distinct map, and shared by its runs: merging and encoding compare by identity first.
  const styles = parts.attrs.map((a) => cleanAttrs(a));
  const root = rootOver(leavesOfTable(parts.text, pieceTable(parts, styles), new SharedJsonSafety(parts.text)));
  return root === null ? Doc.empty : new Doc(root);
}

/**
 * The document a packed form holds, or undefined when it is not one (never throws; see
 * {@link runsDescribeText} for what is checked). Linear time; pieces go straight into leaves.
 */
export function unpack(raw: unknown): Doc | undefined {
  const parts = packedParts(raw);
  return parts !== undefined && runsDescribeText(parts) ? buildUnpacked(parts) : undefined;
}

/**
 * {@link unpack} for content {@link checkPacked} returned: nothing is checked again (the text's
 * well-formedness, the attribute maps, the run table), so a cold join that checked the snapshot
 * before sending it pays for the checks once. Content checkPacked did not return may give a
 * wrong document: never pass anything else.
 */
export function unpackChecked(content: PackedContent): Doc {
  return buildUnpacked(content);
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
