import type { PackedContent } from '../ot/packed.js';
import type { CommittedChange } from './ports.js';
import { CHANGE_WIRE_OVERHEAD_BYTES, changeBytes } from './wire-size.js';

/**
 * What a first join is sent when its client takes the packed form (`join.packed`): the latest
 * snapshot as stored, plus the changes committed since it.
 *
 * Why: a document's content as a run list is built by walking its whole tree and serialising
 * every run. For 1,000,000 characters in 100,000 runs that was most of a cold join's time
 * (and of the garbage it left), on the replica's only thread. The snapshot is already packed
 * (written every SNAPSHOT_INTERVAL_OPS ops, or just read from the database on load), so its JSON
 * is built once per snapshot and a join costs a string splice plus the changes since.
 *
 * The changes are kept here, not taken from the engine's history window: that window is
 * trimmed by age and size for rejoins, while a base must cover every change since its snapshot.
 * They are at most a few snapshot intervals; past MAX_OPS_SINCE (snapshots failing) the
 * base is dropped and joins get the content as a run list.
 */
export class JoinBase {
  private readonly since: CommittedChange[];
  private opsCount = 0;
  private snapshotJsonMemo: string | undefined;
  /** changeBytes of since[0 .. measured), summed when a join asks (commits do not pay for it). */
  private measured = 0;
  private measuredBytes = 0;

  constructor(
    /** The snapshot's revision. */
    readonly rev: number,
    private readonly snapshot: PackedContent,
    since: readonly CommittedChange[],
    /** {@link packedSnapshotJson} of the snapshot, when already made (a load makes it while the tail is read). */
    snapshotJson?: string,
  ) {
    this.snapshotJsonMemo = snapshotJson;
    this.since = [];
    for (const change of since) this.add(change);
  }

  /** Records a change committed after the base; false when the base has grown too old to keep. */
  add(change: CommittedChange): boolean {
    if (change.ops.length === 0) return true;
    this.since.push(change);
    this.opsCount += change.ops.length;
    return this.opsCount <= MAX_OPS_SINCE;
  }

  /** The changes committed after `rev` (a revision at or after this base's), in order. */
  changesFrom(rev: number): CommittedChange[] | undefined {
    if (rev < this.rev) return undefined;
    return this.since.filter((change) => change.rev >= rev);
  }

  /** About the bytes of the snapshot and the changes since on the wire (ASCII-exact). */
  wireBytes(): number {
    for (; this.measured < this.since.length; this.measured++) {
      const change = this.since[this.measured];
      if (change !== undefined) this.measuredBytes += CHANGE_WIRE_OVERHEAD_BYTES + changeBytes(change.ops);
    }
    return this.snapshot.text.length + this.snapshot.runs.length + this.measuredBytes;
  }

  /** The changes since the snapshot, consecutive up to the document's head. */
  get changes(): readonly CommittedChange[] {
    return this.since;
  }

  /** `joined.snapshot` as JSON (PackedSnapshotWire), built once. */
  get snapshotJson(): string {
    this.snapshotJsonMemo ??= packedSnapshotJson(this.rev, this.snapshot);
    return this.snapshotJsonMemo;
  }
}

/**
 * `joined.snapshot` (PackedSnapshotWire) for a snapshot at `rev`, as JSON. The run table goes in
 * as it is: it holds only base-36 digits, '.' and ',' (written by `pack`, or read back through
 * `checkPacked`), so it needs no escaping, and escaping it was a fifth of this function's time
 * on a cold join of a 100,000-run document.
 */
export function packedSnapshotJson(rev: number, snapshot: PackedContent): string {
  return `{"rev":${rev},"text":${JSON.stringify(snapshot.text)},"runs":"${snapshot.runs}","attrs":${JSON.stringify(snapshot.attrs)}}`;
}

/**
 * Ops after a base beyond which it is dropped: with snapshots every 500 ops (the default) a base
 * holds up to about one interval; this much means snapshots are failing, and a join would replay
 * more than the content costs.
 */
const MAX_OPS_SINCE = 20_000;
