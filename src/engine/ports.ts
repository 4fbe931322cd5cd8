import type { Change, DocState } from '../ot/types.js';

/** A change as committed: its ops occupy revisions rev+1 .. rev+ops.length. */
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
  readonly content: DocState;
}

/** Thrown by OpLogStore.append when another writer already used one of the revisions. */
export class RevisionConflict extends Error {
  override readonly name = 'RevisionConflict';
}

/** The durable op log. Postgres in production; an in-memory fake in engine unit tests. */
export interface OpLogStore {
  /** Creates the document row if it does not exist. */
  ensureDocument(docId: string): Promise<void>;
  latestSnapshot(docId: string): Promise<Snapshot | undefined>;
  /** Committed changes with base revision >= fromRev and < toRev (toRev omitted: to the end), in order. */
  readChanges(docId: string, fromRev: number, toRev?: number): Promise<CommittedChange[]>;
  /** Appends consecutive changes atomically; throws RevisionConflict if a revision is taken. */
  append(docId: string, changes: readonly CommittedChange[]): Promise<void>;
  actor(docId: string, actor: string): Promise<ActorRecord | undefined>;
  /** Base revision and op count of the actor's change `seq`, if it was committed with ops. */
  findChange(docId: string, actor: string, seq: number): Promise<ChangePosition | undefined>;
  saveSnapshot(docId: string, snapshot: Snapshot): Promise<void>;
}
