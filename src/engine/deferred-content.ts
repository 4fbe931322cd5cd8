import { apply, changeLengthDelta } from '../ot/index.js';
import type { Doc } from '../ot/document.js';
import { unpackChecked, type PackedContent } from '../ot/packed.js';
import { ErrorCode } from '../protocol/codes.js';
import { EngineError } from './errors.js';
import type { CommittedChange } from './ports.js';
import { contentWireBytes } from './wire-size.js';

/**
 * A document's content at its head, possibly not built yet: a checked packed snapshot plus the
 * changes after it, turned into the tree on first use.
 *
 * Why: a cold join of a 1,000,000-character, 100,000-run document spent more time building the
 * tree (unpacking, then applying the tail) than reading it, on the replica's only thread, while
 * a client taking the packed form needs only the snapshot as stored and the changes since. So
 * the engine loads with the snapshot checked (`checkPacked`), the joined frame goes out, and
 * the tree is built right after (`buildSoon`), or at once when something needs it first.
 */
export class DeferredContent {
  private doc: Doc | undefined;
  private source: { readonly snapshot: PackedContent; readonly tail: readonly CommittedChange[] } | undefined;
  private buildError: EngineError | undefined;
  private scheduled = false;
  /** Runs in the snapshot's table, counted once (joins ask for wireBytes until the tree is built). */
  private snapshotRuns: number | undefined;

  private constructor(doc: Doc | undefined, source: DeferredContent['source']) {
    this.doc = doc;
    this.source = source;
  }

  static of(doc: Doc): DeferredContent {
    return new DeferredContent(doc, undefined);
  }

  /** `snapshot` must have passed checkPacked; `tail` are the changes after it, in order. */
  static deferred(snapshot: PackedContent, tail: readonly CommittedChange[]): DeferredContent {
    return new DeferredContent(undefined, { snapshot, tail });
  }

  get built(): boolean {
    return this.doc !== undefined;
  }

  /** Why the content cannot be built, once a build was tried and failed. */
  get failure(): EngineError | undefined {
    return this.buildError;
  }

  /** The content's length in UTF-16 units, without building it. */
  get length(): number {
    if (this.doc !== undefined || this.source === undefined) return this.get().length;
    let length = this.source.snapshot.text.length;
    for (const change of this.source.tail) length += changeLengthDelta(change.ops);
    return length;
  }

  /**
   * The content, built now if it was not yet. Throws EngineError(internal) when the stored
   * snapshot and log do not fit together (a damaged database: the load used to fail the same
   * way), every time it is asked.
   */
  get(): Doc {
    if (this.doc !== undefined) return this.doc;
    if (this.buildError !== undefined) throw this.buildError;
    const source = this.source;
    let doc: Doc;
    try {
      if (source === undefined) throw new Error('no snapshot');
      // Checked by checkPacked at load (see deferred()): not checked again.
      doc = unpackChecked(source.snapshot);
      for (const change of source.tail) doc = apply(doc, change.ops);
    } catch (err) {
      this.buildError = new EngineError(ErrorCode.internal, `the document could not be built from its snapshot and log: ${err instanceof Error ? err.message : String(err)}`);
      throw this.buildError;
    }
    this.set(doc);
    return doc;
  }

  set(doc: Doc): void {
    this.doc = doc;
    this.source = undefined;
  }

  /**
   * Builds the content on a later turn of the event loop (once: after the frame that did not
   * need it has been sent). A failure is kept for the next get().
   */
  buildSoon(): void {
    if (this.doc !== undefined || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      try {
        this.get();
      } catch {
        // Kept in `buildError`: whoever asks next is told.
      }
    });
  }

  /**
   * About the bytes of the content as a run list on the wire (see contentWireBytes), without
   * building it: the snapshot's characters and runs moved by the tail's length changes (each op
   * of the tail may add a piece or two; uncounted, as an estimate may be).
   */
  wireBytes(): number {
    if (this.doc !== undefined || this.source === undefined) return contentWireBytes(this.get());
    this.snapshotRuns ??= runCount(this.source.snapshot.runs);
    return this.length + 24 * this.snapshotRuns;
  }
}

/** Run tables up to this many characters are counted exactly; longer ones from their start. */
const COUNTED_RUNS_CHARS = 32_768;

/**
 * Entries in a packed run table: one more than its commas (none when empty). A long table's
 * count is extrapolated from its first COUNTED_RUNS_CHARS characters: the figure only sizes an
 * estimate, and counting the 100,000 entries of a 1,000,000-character document took about 2 ms
 * of every cold join (bench:bigdoc, `node --prof`).
 */
function runCount(runs: string): number {
  if (runs.length === 0) return 0;
  const counted = Math.min(runs.length, COUNTED_RUNS_CHARS);
  let commas = 0;
  for (let at = runs.indexOf(','); at !== -1 && at < counted; at = runs.indexOf(',', at + 1)) commas++;
  return counted === runs.length ? commas + 1 : Math.round(((commas + 1) * runs.length) / counted);
}
