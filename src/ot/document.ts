import { attrsEqual, cleanAttrs } from './attributes.js';
import { OtError } from './errors.js';
import { CHUNK, MAX_PIECE, build, forEachPiece, forEachPieceIn, pieceCount, treeLength, type Piece, type PieceAttrs, type Tree } from './piece-tree.js';
import { runsJsonOf } from './runs-json.js';
import { isHighSurrogate, isLowSurrogate, isWellFormedText } from './text.js';
import type { Attributes, DocState, Run } from './types.js';

function makeRun(text: string, attrs: Attributes | undefined): Run {
  return attrs === undefined ? { text } : { text, attrs };
}

/** Where to end a piece cut from `text` at `from`: about CHUNK units, never inside a surrogate pair. */
function chunkEnd(text: string, from: number): number {
  const end = from + CHUNK;
  if (end >= text.length) return text.length;
  return isHighSurrogate(text.charCodeAt(end - 1)) && isLowSurrogate(text.charCodeAt(end)) ? end + 1 : end;
}

export function pushChunked(out: Piece[], text: string, attrs: Attributes | undefined): void {
  if (text.length <= MAX_PIECE) {
    out.push({ text, attrs });
    return;
  }
  for (let from = 0; from < text.length; ) {
    const end = chunkEnd(text, from);
    out.push({ text: text.slice(from, end), attrs });
    from = end;
  }
}

/**
 * Pieces for a sequence of runs: empty runs dropped, attributes cleaned, neighbours with equal
 * attributes merged, then cut to at most MAX_PIECE units. Texts of a merged stretch are joined
 * once, so many small runs cost linear time.
 */
export function piecesOf(runs: Iterable<{ readonly text: string; readonly attrs?: Attributes | undefined }>): Piece[] {
  const out: Piece[] = [];
  let parts: string[] = [];
  let attrs: Attributes | undefined;
  for (const run of runs) {
    if (run.text.length === 0) continue;
    const a = cleanAttrs(run.attrs);
    if (parts.length > 0 && !attrsEqual(attrs, a)) {
      pushChunked(out, parts.length === 1 ? (parts[0] as string) : parts.join(''), attrs);
      parts = [];
    }
    if (parts.length === 0) attrs = a;
    parts.push(run.text);
  }
  if (parts.length > 0) pushChunked(out, parts.length === 1 ? (parts[0] as string) : parts.join(''), attrs);
  return out;
}

/**
 * Canonical runs from pieces in order: neighbours with equal attributes merged. A piece that
 * merges with nothing (the common case: runs are mostly one piece) becomes its run as is.
 */
function mergeRuns(visit: (each: (text: string, attrs: PieceAttrs) => void) => void): Run[] {
  const out: Run[] = [];
  let text: string | undefined;
  let parts: string[] | undefined;
  let attrs: Attributes | undefined;
  visit((pieceText, pieceAttrs) => {
    if (text !== undefined && attrsEqual(attrs, pieceAttrs)) {
      (parts ??= [text]).push(pieceText);
      return;
    }
    if (text !== undefined) out.push(makeRun(parts ? parts.join('') : text, attrs));
    text = pieceText;
    parts = undefined;
    attrs = pieceAttrs;
  });
  if (text !== undefined) out.push(makeRun(parts ? parts.join('') : text, attrs));
  return out;
}

/**
 * A document value: immutable, backed by a persistent B-tree of pieces (piece-tree.ts),
 * so an edit costs O(log n) and every earlier version stays usable (the engine's tentative
 * state, the SDK's rebasing, a snapshot serialized while commits go on).
 *
 * The canonical form is the run list ({@link runs}): pieces cut from one run are merged back,
 * so two equal documents have equal run lists whatever their tree shapes ({@link equals}).
 * That list is the wire and snapshot format (protocol v1, stored snapshots): unchanged.
 */
export class Doc {
  static readonly empty: Doc = new Doc(null);

  private runsMemo: DocState | undefined;
  private textMemo: string | undefined;
  private runsJsonMemo: string | undefined;

  /** Use {@link Doc.fromRuns}, {@link Doc.fromText} or apply(); `root` must hold clean pieces. */
  constructor(readonly root: Tree) {}

  /** A document from runs in any form (normalized on the way in); linear time. */
  static fromRuns(runs: readonly Run[]): Doc {
    const pieces = piecesOf(runs);
    return pieces.length === 0 ? Doc.empty : new Doc(build(pieces));
  }

  /** Accepts either form; a Doc is returned as is. */
  static from(doc: Doc | DocState): Doc {
    return doc instanceof Doc ? doc : Doc.fromRuns(doc);
  }

  /** A document holding `text` with the given attributes; throws on lone surrogates. */
  static fromText(text: string, attrs?: Attributes): Doc {
    if (!isWellFormedText(text)) {
      throw new OtError('invalid_op', 'document text contains a lone surrogate');
    }
    return Doc.fromRuns([makeRun(text, attrs)]);
  }

  /** Length in UTF-16 code units; O(1). */
  get length(): number {
    return treeLength(this.root);
  }

  /** Pieces in the tree (at least the number of runs, at most a few more per MAX_PIECE units); O(1). */
  get pieceCount(): number {
    return pieceCount(this.root);
  }

  /** The canonical run list (wire and snapshot form); computed once per document value. */
  runs(): DocState {
    this.runsMemo ??= mergeRuns((each) => forEachPiece(this.root, each));
    return this.runsMemo;
  }

  /**
   * `JSON.stringify(this.runs())`, computed once per document value: what a join sends, so
   * repeated joins of one revision (and rejoins answered with content) do not serialize
   * 1,000,000 characters again. The run objects are not kept for it (they would double the
   * memory of a joined revision); the string goes with the value when a commit replaces it.
   * Written from the leaves directly (runs-json.ts): the same string JSON.stringify(runs()) gives.
   */
  runsJson(): string {
    this.runsJsonMemo ??= runsJsonOf(this.root);
    return this.runsJsonMemo;
  }

  /** The plain text; computed once per document value. */
  text(): string {
    if (this.textMemo === undefined) {
      const parts: string[] = [];
      forEachPiece(this.root, (text) => parts.push(text));
      this.textMemo = parts.join('');
    }
    return this.textMemo;
  }

  /** Canonical runs covering [from, to), cut at the range ends; O(log n + runs in range). */
  slice(from: number, to: number): Run[] {
    return mergeRuns((each) =>
      forEachPieceIn(this.root, from, to, (text, attrs, start) => {
        const a = Math.max(from - start, 0);
        const b = Math.min(to - start, text.length);
        each(a === 0 && b === text.length ? text : text.slice(a, b), attrs);
      }),
    );
  }

  /** Same text and attributes (tree shapes may differ). */
  equals(other: Doc): boolean {
    if (other === this || other.root === this.root) return true;
    if (other.length !== this.length) return false;
    const a = this.runs();
    const b = other.runs();
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      const ra = a[i] as Run;
      const rb = b[i] as Run;
      if (ra.text !== rb.text || !attrsEqual(ra.attrs, rb.attrs)) return false;
    }
    return true;
  }
}
