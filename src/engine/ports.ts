import type { PackedContent } from '../ot/packed.js';
import type { Change, DocState } from '../ot/types.js';

/** A change as committed at base revision `rev`: its ops occupy revisions rev+1 .. rev+ops.length. */
export interface CommittedChange {
  readonly rev: number;
  readonly ops: Change;
  readonly actor: string;
  readonly seq: number;
  readonly userId: string;
  /** Commit time, ms since the epoch. */
  readonly committedAt: number;
}

export interface ActorRecord {
  readonly userId: string;
  readonly lastSeq: number;
  /** Base revision of the actor's last committed change. */
  readonly lastRev: number;
  /** How many ops (revisions) that change occupies. */
  readonly lastCount: number;
}

/** Where a committed change sits in the log. */
export interface ChangePosition {
  readonly rev: number;
  readonly count: number;
}

export interface Snapshot {
  readonly rev: number;
  /** The engine writes the packed form (fast to read back); older snapshots are run lists. */
  readonly content: DocState | PackedContent;
}

/**
 * Thrown by OpLogStore.append when another writer got there first: one of the revisions is
 * taken, or an actor's progress already reached one of the changes' sequence numbers (then
 * `actors` names them, so the engine can re-read their progress).
 */
export class RevisionConflict extends Error {
  override readonly name = 'RevisionConflict';
  constructor(
    message: string,
    readonly actors: readonly string[] = [],
  ) {
    super(message);
  }
}

/**
 * Thrown by a store when PostgreSQL refused a value it will never accept, whatever the retry:
 * a data error (SQLSTATE class 22, e.g. a NUL character in text), a constraint violation other
 * than the revision race, or a value past a size limit. Retrying cannot help; the caller refuses
 * the input (the engine refuses that change, the management API answers 400).
 */
export class StoreRejected extends Error {
  override readonly name = 'StoreRejected';
  constructor(
    message: string,
    readonly sqlState: string | undefined,
  ) {
    super(message);
  }
}

/**
 * The durable op log. Postgres in production; an in-memory fake in engine unit tests; both pass
 * the same conformance suite (test/integration/oplog-conformance.test.ts).
 *
 * Errors: RevisionConflict and StoreRejected as documented on each; any other error means the
 * store is unavailable (retry later) and nothing was written.
 */
/** The changes after a snapshot, and that snapshot's revision (0: none, the whole log). */
export interface ChangesSinceSnapshot {
  readonly fromRev: number;
  readonly changes: CommittedChange[];
}

export interface OpLogStore {
  /** The latest snapshot, if any (a document that was never written has none), in the form it was saved in. */
  latestSnapshot(docId: string): Promise<Snapshot | undefined>;
  /** Committed changes with base revision >= fromRev and < toRev (toRev omitted: to the end), in order. */
  readChanges(docId: string, fromRev: number, toRev?: number): Promise<CommittedChange[]>;
  /**
   * The changes after the latest snapshot (all of them when there is none) and that snapshot's
   * revision (0 for none), in one read: made at the same time as latestSnapshot, a cold load
   * waits for one round trip, not two. A snapshot written in between may make the two disagree;
   * the caller compares `fromRev` with the snapshot it got.
   */
  readChangesSinceLatestSnapshot(docId: string): Promise<ChangesSinceSnapshot>;
  /**
   * Commits a batch of one document's changes, all or nothing (one transaction):
   * - the ops of each change, as revisions rev+1 .. rev+ops.length; the changes are consecutive
   *   (a change with no ops, one that transformed into nothing, takes no revision: its `rev`
   *   is the next change's);
   * - each actor's progress (ActorRecord: last seq, its rev and op count), for empty changes
   *   too, so a restart or another replica still knows the seq was used and its ack;
   * - the document's row, if this is its first commit (documents are created by their first
   *   change, not by a join).
   * Throws RevisionConflict if a revision is taken or an actor's progress already reached one
   * of these seqs, StoreRejected if a value can never be stored. A cross-document group commit
   * must keep these semantics per document.
   */
  append(docId: string, changes: readonly CommittedChange[]): Promise<void>;
  /** The actor's progress: its last committed change, with ops or empty. */
  actor(docId: string, actor: string): Promise<ActorRecord | undefined>;
  /** Base revision and op count of the actor's change `seq`, if it was committed with ops. */
  findChange(docId: string, actor: string, seq: number): Promise<ChangePosition | undefined>;
  saveSnapshot(docId: string, snapshot: Snapshot): Promise<void>;
}
