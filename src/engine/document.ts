import { backoffCeilingMs } from '../backoff.js';
import { OtError, apply, changeLengthDelta, docLength, transformSelection, validateChangeShape } from '../ot/index.js';
import { changeToDelta, deltaToChange, transformDeltas, type Delta } from '../ot/delta.js';
import type { Change, DocState, Selection } from '../ot/types.js';
import { Doc } from '../ot/document.js';
import { changeMemoryBytes } from '../ot/change.js';
import { ContentPacker, checkPacked, docFromStored, isPacked, type PackedContent } from '../ot/packed.js';
import { ErrorCode } from '../protocol/codes.js';
import { changeSizeProblem } from '../protocol/limits.js';
import { DeferredContent } from './deferred-content.js';
import { EngineError } from './errors.js';
import { JoinBase, packedSnapshotJson } from './join-base.js';
import { CHANGE_WIRE_OVERHEAD_BYTES, OP_WIRE_BYTES, changeBytes } from './wire-size.js';
import { RevisionConflict, StoreRejected, type ActorRecord, type CommittedChange, type OpLogStore, type ChangesSinceSnapshot } from './ports.js';
import { PresenceTable } from './presence.js';
import type { StoreHealth } from './store-health.js';

/**
 * A change as a client sent it: ops made on the document at its base revision (the wire's
 * `clock.rev`). Not the head: the head may have moved on, and the engine transforms the ops
 * over what was committed after the base.
 */
export interface Submission {
  readonly actor: string;
  readonly seq: number;
  readonly baseRev: number;
  readonly ops: Change;
  readonly userId: string;
}

/** Where a change landed: its ops occupy revisions rev+1 .. rev+count. */
export interface Ack {
  readonly seq: number;
  readonly rev: number;
  readonly count: number;
}

/** Whoever submitted a change hears back through this: an ack after commit, or the reason it was refused. */
export interface SubmitOrigin {
  acked(ack: Ack, duplicate: boolean): void;
  rejected(error: EngineError): void;
  /**
   * Sends a committed change of this submitter to everyone else on the document on this replica,
   * leaving the submitter out (it gets the ack instead). False when it cannot (it left, or it is
   * not a local client): then the change goes to everyone.
   */
  publishAsAuthor?(docId: string, text: string): boolean;
}

/** Receives every change this engine applies, in revision order. */
export interface CommitListener {
  /**
   * `origins` are the submitters of the change waiting here (for a change another replica
   * committed: those whose copy of it was still waiting here, usually none); the listener broadcasts the change (unless it has no ops: a change
   * that transformed into nothing) and acks every origin. Called synchronously, before any
   * later change is applied, so broadcasts and acks leave in revision order.
   */
  applied(docId: string, change: CommittedChange, origins: readonly SubmitOrigin[], local: boolean): void;
}

export interface EngineOptions {
  readonly maxOps: number;
  readonly historyTtlMs: number;
  /** The window also holds at most this many changes, so a hot document's memory stays bounded. */
  readonly historyMaxChanges: number;
  /** ...and at most about this many bytes of ops (changeMemoryBytes), so a few huge pastes cannot hold memory either (default: no byte bound). */
  readonly historyMaxBytes?: number;
  readonly snapshotIntervalOps: number;
  /** Largest document, in UTF-16 code units: a change that would grow it past this is refused (default: no cap). */
  readonly maxDocumentChars?: number;
  /** Largest change, as the UTF-8 bytes of its ops in JSON (default: no cap). */
  readonly maxChangeBytes?: number;
  readonly now: () => number;
  /** Delay before retrying a commit after the database failed (attempt 0, 1, ...). */
  readonly retryDelayMs: (attempt: number) => number;
  readonly onStoreError: (docId: string, err: unknown, attempt: number) => void;
  /** A change the op log refused for good (e.g. a value PostgreSQL cannot hold): it was refused, the rest committed. */
  readonly onChangeRejectedByStore?: (docId: string, err: StoreRejected) => void;
  /** Told of every batch this engine committed (for debug logs: counts and revisions, never text). */
  readonly onBatchCommitted?: (docId: string, batch: { changes: number; ops: number; fromRev: number; toRev: number; attempts: number }) => void;
  /** The replica's commit-path health: retry streaks, early retry when the database answers again, readiness. */
  readonly health?: Pick<StoreHealth, 'failed' | 'succeeded' | 'forget' | 'retryAfter'>;
}

/** How many revisions (ops) a selection may lag behind the head and still be moved to it. */
export const PRESENCE_MAX_LAG_OPS = 1000;

interface Queued {
  readonly sub: Submission;
  readonly origins: SubmitOrigin[];
  done: boolean;
}

/**
 * One document's engine. It owns the document's state at its head revision and serializes
 * everything that changes it: local submissions (group-committed to the op log, acked only
 * after the INSERT commits) and changes committed elsewhere (applied in revision order).
 *
 * Submit pipeline, per change: check the clock (known revision, next sequence number of an
 * actor owned by this user, or a resend of a committed change, answered with its original ack),
 * queue it, then in the commit loop: validate against the document length at its base
 * revision, transform against exactly the changes committed after that revision, apply to a
 * tentative state, INSERT the batch; on a revision conflict, catch up from the log and redo the
 * batch; on a database failure, wait and retry with nothing acked.
 */
export class DocumentEngine {
  readonly presence = new PresenceTable();
  /**
   * The content at the head: a persistent (immutable) tree, so a tentative state built in
   * prepare() costs O(log n) per op and the old one stays valid until the commit succeeds.
   * Right after a load it may still be the snapshot and tail (see DeferredContent).
   */
  private readonly headContent: DeferredContent;
  private head: number;
  /** Changes after `historyStart`, consecutive up to `head`. */
  private history: CommittedChange[] = [];
  /** changeMemoryBytes summed over `history`. */
  private historyBytes = 0;
  private readonly actors = new Map<string, ActorRecord>();
  private readonly actorLoads = new Map<string, Promise<ActorRecord | undefined>>();
  private queue: Queued[] = [];
  private inflight: Queued[] = [];
  private remoteInbox: CommittedChange[] = [];
  private catchUpRequested = false;
  private running = false;
  private closed = false;
  private lastSnapshotRev: number;
  private snapshotting = false;
  /** No stored snapshot is looked for (adoptStoredSnapshot) before the head reaches this revision. */
  private nextAdoptionRev = 0;
  /** After a failed snapshot: no new attempt before this time (ms), doubling per failure. */
  private snapshotRetryAt = 0;
  private snapshotFailures = 0;
  /** The packed snapshot and the changes since, for packed first joins; undefined: send content. */
  private joinBase: JoinBase | undefined;
  private idleWaiters: Array<() => void> = [];

  private constructor(
    readonly id: string,
    snapshot: { rev: number; content: DeferredContent },
    private readonly store: OpLogStore,
    private readonly listener: CommitListener,
    private readonly options: EngineOptions,
  ) {
    this.headContent = snapshot.content;
    this.head = snapshot.rev;
    this.lastSnapshotRev = snapshot.rev;
  }

  private get content(): Doc {
    return this.headContent.get();
  }

  private set content(doc: Doc) {
    this.headContent.set(doc);
  }

  /**
   * Loads a document: its latest snapshot plus the ops committed after it. A document never
   * written is empty at revision 0; its row is created by its first commit, not here, so joins
   * to ids nobody writes to leave nothing behind. A packed snapshot is checked but its tree is
   * built later (see DeferredContent): call {@link buildContentSoon} once a join has been answered.
   */
  static async load(id: string, store: OpLogStore, listener: CommitListener, options: EngineOptions): Promise<DocumentEngine> {
    const { base, tail } = await readBaseAndTail(id, store);
    const last = tail.at(-1);
    const rev = last === undefined ? base.rev : last.rev + last.ops.length;
    const content = base.packed === undefined ? DeferredContent.of(applyAll(base.runs ?? Doc.empty, tail)) : DeferredContent.deferred(base.packed, tail);
    const engine = new DocumentEngine(id, { rev, content }, store, listener, options);
    engine.lastSnapshotRev = base.rev;
    engine.joinBase = base.packed === undefined ? undefined : new JoinBase(base.rev, base.packed, tail, base.packedJson);
    return engine;
  }

  /** Builds the content on a later turn if a load left it unbuilt (after the joined frame has gone out). */
  buildContentSoon(): void {
    this.headContent.buildSoon();
  }

  /**
   * Why the document cannot be built from its stored snapshot and log (a damaged database),
   * once that was tried: joins are then refused and every change is refused with it, as when a
   * load failed.
   */
  get brokenBecause(): EngineError | undefined {
    return this.headContent.failure;
  }

  /** Builds the content now if a load left it unbuilt; the reason when it cannot be (see brokenBecause). */
  buildContentNow(): EngineError | undefined {
    try {
      this.headContent.get();
      return undefined;
    } catch (err) {
      return toEngineError(err);
    }
  }

  /** The content's length at the head, without building it. */
  get length(): number {
    return this.headContent.length;
  }

  /** The revision of the newest snapshot this replica knows is stored (written here, read at load, or adopted). */
  get snapshotRev(): number {
    return this.lastSnapshotRev;
  }

  /** The head revision: the number of ops committed to the document so far. */
  get headRev(): number {
    return this.head;
  }

  /** The head's content as canonical runs (the wire form); built once per revision. */
  get state(): DocState {
    return this.content.runs();
  }

  /** JSON of {@link state}, built once per revision: what a join sends. */
  get stateJson(): string {
    return this.content.runsJson();
  }

  /**
   * The latest snapshot in packed form and the changes since (see JoinBase), for a first join
   * that takes it: when kept, and when it is smaller on the wire than the content at the head
   * (a small document with many changes since its snapshot is sent as content).
   */
  packedJoinBase(): JoinBase | undefined {
    const base = this.joinBase;
    if (base === undefined) return undefined;
    return base.wireBytes() < this.headContent.wireBytes() ? base : undefined;
  }

  /** True while changes wait to be committed. */
  get busy(): boolean {
    return this.running || this.queue.length > 0 || this.remoteInbox.length > 0 || this.catchUpRequested;
  }

  /**
   * Committed changes with base revision >= fromRev, up to the head, read back from the log
   * when they are older than the in-memory window. Undefined when fromRev is ahead of the head.
   * The result is consistent with `revision` at the moment it resolves.
   */
  async changesSince(fromRev: number): Promise<CommittedChange[] | undefined> {
    for (;;) {
      if (fromRev > this.head) return undefined;
      if (fromRev >= this.historyStart) return this.historySince(fromRev);
      const boundary = this.historyStart;
      const older = await this.store.readChanges(this.id, fromRev, boundary);
      // The window may have moved while we read; then read again from where it starts now.
      if (boundary >= this.historyStart) return [...older, ...this.historySince(boundary)];
    }
  }

  /**
   * Whether a client rejoining at `fromRev` should get the content at the head rather than the
   * changes it missed, by their size on the wire. Changes in memory are measured; older ones
   * are not read for this (that read is what a rejoin from revision 0 of a long log spent its
   * second on): they are counted at OP_WIRE_BYTES each.
   */
  prefersContent(fromRev: number): boolean {
    if (fromRev >= this.head) return false;
    const content = this.headContent.wireBytes();
    if ((this.head - fromRev) * OP_WIRE_BYTES >= content) return true;
    const inMemory = this.committedSince(fromRev);
    if (inMemory === undefined) return false;
    let bytes = 0;
    for (const change of inMemory) {
      bytes += CHANGE_WIRE_OVERHEAD_BYTES + changeBytes(change.ops);
      if (bytes > content) return true;
    }
    return false;
  }

  /** Like changesSince, without reading the log: undefined when fromRev is outside the window. */
  committedSince(fromRev: number): CommittedChange[] | undefined {
    if (fromRev > this.head || fromRev < this.historyStart) return undefined;
    return this.historySince(fromRev);
  }

  /**
   * A client's selection at revision `rev`, moved to the head. Null (cleared) when it is more
   * than PRESENCE_MAX_LAG_OPS revisions old or the window no longer holds the changes in
   * between: moving a stale selection through a long history on every presence flush let a
   * few viewers stall the document (the client sends a fresh one as it catches up).
   */
  selectionAtHead(selection: Selection, rev: number): Selection | null {
    if (this.head - rev > PRESENCE_MAX_LAG_OPS) return null;
    const changes = this.committedSince(rev);
    if (!changes) return null;
    let moved = selection;
    for (const c of changes) moved = transformSelection(moved, c.ops);
    const length = this.headContent.length;
    return { anchor: Math.min(moved.anchor, length), head: Math.min(moved.head, length) };
  }

  submit(sub: Submission, origin: SubmitOrigin): void {
    this.admit(sub, origin).catch((err: unknown) => origin.rejected(toEngineError(err)));
  }

  /** Accepts a change committed by another replica; applied in revision order, gaps filled from the log. */
  receiveRemote(change: CommittedChange): void {
    if (change.rev + change.ops.length <= this.head) return;
    this.remoteInbox.push(change);
    this.kick();
  }

  /**
   * Asks the commit loop to read whatever others committed after our head (the bus may have
   * lost messages). Runs inside the loop, so it never interleaves with a commit of ours.
   */
  requestCatchUp(): void {
    this.catchUpRequested = true;
    this.kick();
  }

  /** Resolves once nothing is queued or being committed. */
  whenIdle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops accepting work; queued changes that are not yet committed are refused. */
  close(): void {
    this.closed = true;
    this.options.health?.forget(this.id);
    for (const q of this.queue) this.refuse(q, new EngineError(ErrorCode.unavailable, 'the document was closed on this relay; resend after reconnecting'));
    this.queue = [];
  }

  // ---- admission ---------------------------------------------------------------------------

  private async admit(sub: Submission, origin: SubmitOrigin): Promise<void> {
    if (this.closed) throw new EngineError(ErrorCode.unavailable, 'the relay is shutting down; resend after reconnecting');
    if (sub.baseRev > this.head) {
      throw new EngineError(ErrorCode.badClock, `clock claims revision ${sub.baseRev} but the document is at ${this.head}`);
    }
    let record = await this.loadActorPatiently(sub.actor);
    if (record && sub.seq > record.lastSeq + 1) {
      // Our record may be stale: another replica may have committed this actor's changes
      // since, and one that transformed into nothing was never broadcast. The log knows.
      record = await this.loadActorPatiently(sub.actor, true);
    }
    // Everything from here to the enqueue is synchronous, so the checks hold when it is queued.
    if (record && record.userId !== sub.userId) {
      throw new EngineError(ErrorCode.badClock, 'actor id belongs to another user');
    }
    const pending = [...this.inflight, ...this.queue].find((q) => !q.done && q.sub.actor === sub.actor);
    if (pending && pending.sub.seq === sub.seq) {
      // A resend (after a reconnect) of a change still being committed: ack it when it is.
      pending.origins.push(origin);
      return;
    }
    if (pending) {
      throw new EngineError(ErrorCode.badClock, `change ${pending.sub.seq} of this actor is still in flight; send one change at a time`);
    }
    const lastSeq = this.actors.get(sub.actor)?.lastSeq ?? 0;
    if (sub.seq <= lastSeq) {
      await this.answerDuplicate(sub, origin);
      return;
    }
    if (sub.seq !== lastSeq + 1) {
      throw new EngineError(ErrorCode.badClock, `expected change ${lastSeq + 1} from this actor, got ${sub.seq}`);
    }
    const size = changeSizeProblem(sub.ops.length, this.options.maxOps);
    if (size) throw new EngineError(ErrorCode.invalidOp, size.message);
    const maxBytes = this.options.maxChangeBytes ?? Infinity;
    if (maxBytes !== Infinity && changeBytes(sub.ops) > maxBytes) {
      throw new EngineError(ErrorCode.changeTooLarge, `a change may hold at most ${maxBytes} bytes of ops (MAX_CHANGE_BYTES); split it`);
    }
    if (this.closed) throw new EngineError(ErrorCode.unavailable, 'the relay is shutting down; resend after reconnecting');
    this.queue.push({ sub, origins: [origin], done: false });
    this.kick();
  }

  /**
   * A change with a sequence number already committed is answered with its original ack.
   * A change that transformed into nothing left no row, so a resend of it is simply acked
   * again as empty: applying nothing twice is still applying it once.
   */
  private async answerDuplicate(sub: Submission, origin: SubmitOrigin): Promise<void> {
    const original = this.history.find((c) => c.actor === sub.actor && c.seq === sub.seq);
    if (original) {
      origin.acked({ seq: sub.seq, rev: original.rev, count: original.ops.length }, true);
      return;
    }
    const record = this.actors.get(sub.actor);
    const position =
      record && record.lastSeq === sub.seq ? { rev: record.lastRev, count: record.lastCount } : await this.store.findChange(this.id, sub.actor, sub.seq);
    if (position === undefined && !(record && record.lastSeq === sub.seq)) {
      throw new EngineError(ErrorCode.badClock, `change ${sub.seq} of this actor was never committed`);
    }
    const { rev, count } = position ?? { rev: this.head, count: 0 };
    origin.acked({ seq: sub.seq, rev, count }, true);
  }

  /** A database outage must not turn a valid change into an error: wait for the log to answer. */
  private async loadActorPatiently(actor: string, fresh = false): Promise<ActorRecord | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.loadActor(actor, fresh);
      } catch (err) {
        if (err instanceof StoreRejected) throw new EngineError(ErrorCode.badClock, 'the clock names an actor the op log cannot hold');
        if (this.closed) throw new EngineError(ErrorCode.unavailable, 'the relay is shutting down; resend after reconnecting');
        await this.storeFailed(err, attempt);
      }
    }
  }

  /** The actor's progress, from memory unless `fresh` (then re-read from the log). */
  private loadActor(actor: string, fresh = false): Promise<ActorRecord | undefined> {
    const known = this.actors.get(actor);
    if (known && !fresh) return Promise.resolve(known);
    let loading = this.actorLoads.get(actor);
    if (!loading) {
      loading = this.store.actor(this.id, actor).then(
        (record) => {
          this.actorLoads.delete(actor);
          this.storeAnswered();
          this.noteActor(actor, record);
          return this.actors.get(actor);
        },
        (err: unknown) => {
          this.actorLoads.delete(actor);
          throw err;
        },
      );
      this.actorLoads.set(actor, loading);
    }
    return loading;
  }

  /** Keeps the newest progress we know of (a commit may have recorded a newer one while we read). */
  private noteActor(actor: string, record: ActorRecord | undefined): void {
    if (record && (this.actors.get(actor)?.lastSeq ?? 0) < record.lastSeq) this.actors.set(actor, record);
  }

  // ---- the commit loop -----------------------------------------------------------------------

  private kick(): void {
    if (this.running) return;
    this.running = true;
    void this.run().finally(() => {
      this.running = false;
      if (this.remoteInbox.length > 0 || this.catchUpRequested || (this.queue.length > 0 && !this.closed)) {
        this.kick();
        return;
      }
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    });
  }

  private async run(): Promise<void> {
    for (;;) {
      if (this.catchUpRequested) {
        this.catchUpRequested = false;
        try {
          await this.catchUpFromLog();
        } catch (err) {
          this.catchUpRequested = true;
          await this.storeFailed(err, 1);
        }
        continue;
      }
      if (this.remoteInbox.length > 0) {
        await this.applyRemoteInbox();
        continue;
      }
      if (this.queue.length === 0 || this.closed) return;
      this.trimHistory();
      this.inflight = this.takeBatch();
      try {
        await this.commitBatch(this.inflight);
      } finally {
        this.inflight = [];
      }
    }
  }

  /** Queued changes in order, up to maxOps ops in all (at least one change). */
  private takeBatch(): Queued[] {
    const batch: Queued[] = [];
    let ops = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0];
      if (!next) break;
      if (batch.length > 0 && ops + next.sub.ops.length > this.options.maxOps) break;
      batch.push(next);
      ops += next.sub.ops.length;
      this.queue.shift();
    }
    return batch;
  }

  private async commitBatch(batch: Queued[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const live = batch.filter((q) => !q.done);
      if (live.length === 0) return;
      let prepared: { changes: CommittedChange[]; owners: Queued[]; content: Doc };
      try {
        prepared = await this.prepare(live);
      } catch (err) {
        if (err instanceof EngineError) {
          // The content cannot be built (DeferredContent): no retry can help.
          for (const q of live) this.refuse(q, err);
          return;
        }
        // Reading older changes failed: the database is unavailable.
        await this.backOff(err, attempt, live);
        continue;
      }
      try {
        // Empty changes too: the log records their actor's progress.
        if (prepared.changes.length > 0) await this.store.append(this.id, prepared.changes);
      } catch (err) {
        if (err instanceof RevisionConflict) {
          // Another replica committed first: take its changes (and the progress of actors it
          // committed for), then transform ours again.
          await this.catchUpAfterConflict(err).catch((e: unknown) => this.options.onStoreError(this.id, e, attempt));
          continue;
        }
        if (err instanceof StoreRejected) {
          await this.isolateRejected(live, err);
          return;
        }
        await this.backOff(err, attempt, live);
        continue;
      }
      this.storeAnswered();
      const fromRev = this.head;
      this.content = prepared.content;
      prepared.changes.forEach((change, i) => {
        const owner = prepared.owners[i];
        if (!owner) return;
        owner.done = true;
        this.record(change);
        this.listener.applied(this.id, change, owner.origins, true);
      });
      this.options.onBatchCommitted?.(this.id, { changes: prepared.changes.length, ops: this.head - fromRev, fromRev, toRev: this.head, attempts: attempt + 1 });
      this.maybeSnapshot();
      return;
    }
  }

  /**
   * Validates and transforms a batch against the current head. Changes that turn out invalid
   * are refused here and left out; the rest come back with the state they produce.
   */
  private async prepare(batch: Queued[]): Promise<{ changes: CommittedChange[]; owners: Queued[]; content: Doc }> {
    const oldest = Math.min(...batch.map((q) => q.sub.baseRev));
    const known = await this.changesSince(oldest);
    const committed = known ?? [];
    const changes: CommittedChange[] = [];
    const owners: Queued[] = [];
    let content = this.content;
    let rev = this.head;
    const maxChars = this.options.maxDocumentChars ?? Infinity;
    let length = docLength(content);
    for (const q of batch) {
      if ((this.actors.get(q.sub.actor)?.lastSeq ?? 0) >= q.sub.seq) {
        // Another replica committed it meanwhile (the client lost us and resent it there):
        // answer with that commit rather than apply it a second time.
        q.done = true;
        for (const o of q.origins) this.answerDuplicate(q.sub, o).catch((err: unknown) => o.rejected(toEngineError(err)));
        continue;
      }
      try {
        const unseen = committed.filter((c) => c.rev >= q.sub.baseRev);
        const lengthAtBase = docLength(this.content) - unseen.reduce((n, c) => n + changeLengthDelta(c.ops), 0);
        // Shape and ranges are checked against the length at the base revision (all a range
        // check needs, and O(ops) rather than O(document)); apply() below then checks the
        // transformed ops fully, surrogate boundaries included, against the head.
        validateChangeShape(q.sub.ops, this.options.maxOps, lengthAtBase);
        const ops = rebase(q.sub.ops, unseen, changes);
        const growth = changeLengthDelta(ops);
        if (growth > 0 && length + growth > maxChars) {
          throw new EngineError(ErrorCode.documentTooLarge, `the document may hold at most ${maxChars} characters (MAX_DOCUMENT_CHARS); nothing was applied`);
        }
        content = apply(content, ops);
        length += growth;
        changes.push({ rev, ops, actor: q.sub.actor, seq: q.sub.seq, userId: q.sub.userId, committedAt: this.options.now() });
        owners.push(q);
        rev += ops.length;
      } catch (err) {
        this.refuse(q, toEngineError(err));
      }
    }
    return { changes, owners, content };
  }

  private async catchUpAfterConflict(conflict: RevisionConflict): Promise<void> {
    await this.catchUpFromLog();
    for (const actor of conflict.actors) this.noteActor(actor, await this.store.actor(this.id, actor));
  }

  /**
   * The log refused a value for good (no retry can help). Alone, the change is refused; in a
   * batch, each change is committed on its own, so only the one that cannot be stored is.
   */
  private async isolateRejected(live: Queued[], err: StoreRejected): Promise<void> {
    const [only] = live;
    if (only && live.length === 1) {
      this.options.onChangeRejectedByStore?.(this.id, err);
      this.refuse(only, new EngineError(ErrorCode.invalidOp, 'the op log cannot store this change (it holds a value PostgreSQL refuses); it was not applied'));
      return;
    }
    for (const q of live) if (!q.done) await this.commitBatch([q]);
  }

  private async backOff(err: unknown, attempt: number, live: Queued[]): Promise<void> {
    await this.storeFailed(err, attempt);
    if (this.closed) {
      for (const q of live) this.refuse(q, new EngineError(ErrorCode.unavailable, 'the relay is shutting down; resend after reconnecting'));
    }
  }

  /** Reports a failed op-log call (the store is unavailable) and waits before the retry. */
  private async storeFailed(err: unknown, attempt: number): Promise<void> {
    this.options.onStoreError(this.id, err, attempt);
    const delay = this.options.retryDelayMs(attempt);
    const health = this.options.health;
    if (!health) {
      await new Promise((r) => setTimeout(r, delay));
      return;
    }
    health.failed(this.id, err, this.queue.length + this.inflight.filter((q) => !q.done).length);
    await health.retryAfter(delay);
  }

  private storeAnswered(): void {
    this.options.health?.succeeded(this.id);
  }

  private refuse(q: Queued, error: EngineError): void {
    if (q.done) return;
    q.done = true;
    for (const o of q.origins) o.rejected(error);
  }

  // ---- changes from elsewhere ----------------------------------------------------------------

  private async applyRemoteInbox(): Promise<void> {
    const inbox = this.remoteInbox.sort((a, b) => a.rev - b.rev);
    this.remoteInbox = [];
    for (const change of inbox) {
      if (change.rev + change.ops.length <= this.head) continue;
      if (change.rev === this.head) {
        this.applyCommitted(change);
        continue;
      }
      // A gap (or an overlap): the log has the truth.
      try {
        await this.catchUpFromLog();
      } catch (err) {
        this.remoteInbox.push(...inbox.filter((c) => c.rev + c.ops.length > this.head));
        await this.storeFailed(err, 0);
        return;
      }
    }
  }

  /** Applies what other writers committed after our head. Only called from the commit loop. */
  private async catchUpFromLog(): Promise<void> {
    const missing = await this.store.readChanges(this.id, this.head);
    this.storeAnswered();
    for (const change of missing) {
      if (change.rev === this.head) this.applyCommitted(change);
    }
  }

  private applyCommitted(change: CommittedChange): void {
    this.content = apply(this.content, change.ops);
    this.record(change);
    this.listener.applied(this.id, change, this.committedElsewhere(change), false);
    this.adoptStoredSnapshot();
  }

  /**
   * A replica that applies a document's changes without committing them (another replica owns
   * it) writes no snapshots, so its packed join base would only grow, until joins got the
   * content serialised from the tree (slow for a long document) or, past 20,000 ops, no base at
   * all. So once the base is two snapshot intervals old, the newest stored snapshot (the
   * owner's) is adopted; looked for at most once per interval.
   */
  private adoptStoredSnapshot(): void {
    const interval = this.options.snapshotIntervalOps;
    const baseRev = this.joinBase?.rev ?? this.lastSnapshotRev;
    if (this.head - baseRev < 2 * interval || this.head < this.nextAdoptionRev || this.snapshotting) return;
    this.nextAdoptionRev = this.head + interval;
    this.store.latestSnapshot(this.id).then(
      (stored) => {
        const current = this.joinBase?.rev ?? this.lastSnapshotRev;
        if (stored === undefined || stored.rev <= current || stored.rev > this.head || this.snapshotting) return;
        // Undefined for a damaged snapshot, and for a run list (an older relay's): not adopted.
        const packed = checkPacked(stored.content);
        if (packed === undefined) return;
        this.lastSnapshotRev = Math.max(this.lastSnapshotRev, stored.rev);
        this.rebaseJoinBase(stored.rev, packed);
      },
      (err: unknown) => this.options.onStoreError(this.id, err, 0),
    );
  }

  /**
   * A change still waiting here that another replica committed (it was forwarded to an owner
   * and then handed back, or resent there): it is done, and its submitters are answered with
   * this commit, as if it had been made here (no second apply, and the author is not sent its
   * own change).
   */
  private committedElsewhere(change: CommittedChange): SubmitOrigin[] {
    const waiting = [...this.inflight, ...this.queue].find((q) => !q.done && q.sub.actor === change.actor && q.sub.seq === change.seq);
    if (!waiting) return [];
    waiting.done = true;
    this.queue = this.queue.filter((q) => q !== waiting);
    return waiting.origins;
  }

  /** Bookkeeping shared by local and remote commits: head, window, actor, presence. */
  private record(change: CommittedChange): void {
    if (change.ops.length > 0) {
      this.head = change.rev + change.ops.length;
      this.history.push(change);
      this.historyBytes += changeMemoryBytes(change.ops);
      if (this.joinBase !== undefined && !this.joinBase.add(change)) this.joinBase = undefined;
      this.presence.transform(change);
      if (this.history.length > this.options.historyMaxChanges || this.historyBytes > this.maxHistoryBytes) this.trimHistory();
    }
    const known = this.actors.get(change.actor);
    if (!known || known.lastSeq < change.seq) {
      this.actors.set(change.actor, { userId: change.userId, lastSeq: change.seq, lastRev: change.rev, lastCount: change.ops.length });
    }
  }

  private historySince(fromRev: number): CommittedChange[] {
    // Binary search: history is ordered by rev.
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const entry = this.history[mid];
      if (entry && entry.rev < fromRev) lo = mid + 1;
      else hi = mid;
    }
    return this.history.slice(lo);
  }

  private trimHistory(): void {
    const cutoff = this.options.now() - this.options.historyTtlMs;
    // Trim in chunks past the count bound, so trimming is not a copy per change.
    let drop = Math.max(0, this.history.length - this.options.historyMaxChanges + (this.history.length > this.options.historyMaxChanges ? Math.ceil(this.options.historyMaxChanges / 4) : 0));
    let bytes = this.historyBytes;
    for (let i = 0; i < drop; i++) bytes -= changeMemoryBytes(this.history[i]?.ops ?? []);
    // Past the byte bound, trim to three quarters of it, so trimming is not a copy per change either.
    const byteTarget = this.historyBytes > this.maxHistoryBytes ? this.maxHistoryBytes * 0.75 : this.maxHistoryBytes;
    for (let entry = this.history[drop]; entry !== undefined && (bytes > byteTarget || entry.committedAt < cutoff); entry = this.history[drop]) {
      bytes -= changeMemoryBytes(entry.ops);
      drop++;
    }
    if (drop === 0) return;
    this.historyBytes = bytes;
    this.history = this.history.slice(drop);
  }

  /** The revision the in-memory history starts at (the head when it holds nothing). */
  private get historyStart(): number {
    return this.history[0]?.rev ?? this.head;
  }

  private get maxHistoryBytes(): number {
    return this.options.historyMaxBytes ?? Infinity;
  }

  private maybeSnapshot(): void {
    if (this.snapshotting || this.head - this.lastSnapshotRev < this.options.snapshotIntervalOps) return;
    // A snapshot that failed (the database down, or a value past a size limit) is not retried on
    // every commit: serialising a large document each time stalls the replica.
    if (this.options.now() < this.snapshotRetryAt) return;
    const rev = this.head;
    const doc = this.content;
    this.snapshotting = true;
    packInSlices(doc)
      .then(async (content) => {
        await this.store.saveSnapshot(this.id, { rev, content });
        return content;
      })
      .then(
        (content) => {
          this.lastSnapshotRev = rev;
          this.rebaseJoinBase(rev, content);
          this.snapshotFailures = 0;
          this.snapshotRetryAt = 0;
        },
        (err: unknown) => {
          this.snapshotFailures++;
          this.snapshotRetryAt = this.options.now() + backoffCeilingMs(this.snapshotFailures - 1, SNAPSHOT_RETRY_FIRST_MS, SNAPSHOT_RETRY_MAX_MS);
          this.options.onStoreError(this.id, err, 0);
        },
      )
      .finally(() => {
        this.snapshotting = false;
      });
  }

  /** Packed joins start from the snapshot just written: the changes before it are not sent again. */
  private rebaseJoinBase(rev: number, content: PackedContent): void {
    const since = this.joinBase?.changesFrom(rev) ?? (rev >= this.historyStart ? this.historySince(rev) : undefined);
    this.joinBase = since === undefined ? undefined : new JoinBase(rev, content, since);
  }

}


/** Pieces packed per turn of the event loop: well under a millisecond, so commits go on meanwhile. */
const SNAPSHOT_SLICE_PIECES = 2000;

/**
 * The snapshot of `doc`, packed a slice at a time with the event loop free in between: packing a
 * 1,000,000-character document at once held the replica for tens of milliseconds on every
 * snapshot. `doc` is immutable, so commits meanwhile change nothing of it.
 */
async function packInSlices(doc: Doc): Promise<PackedContent> {
  const packer = new ContentPacker(doc);
  while (!packer.step(SNAPSHOT_SLICE_PIECES)) await new Promise<void>((resolve) => setImmediate(resolve));
  return packer.result();
}

interface StoredBase {
  readonly rev: number;
  /** The snapshot as stored and checked, when it is in packed form (its tree not built yet). */
  readonly packed: PackedContent | undefined;
  /** Its JSON for packed joins, made while the tail was read. */
  readonly packedJson?: string;
  /** The document of a run-list snapshot (the form of an older relay); undefined for packed or none. */
  readonly runs: Doc | undefined;
}

const EMPTY_BASE: StoredBase = { rev: 0, packed: { text: '', runs: '', attrs: [] }, runs: undefined };

/**
 * The latest readable snapshot (or the empty document at revision 0) and the changes after it.
 * Both are read at once (readChangesSinceLatestSnapshot): the tail arrives while the snapshot is
 * checked, and a cold join waits for one round trip, not two.
 */
async function readBaseAndTail(id: string, store: OpLogStore): Promise<{ base: StoredBase; tail: CommittedChange[] }> {
  const tailRead = store.readChangesSinceLatestSnapshot(id);
  // Settled here so that an early return below leaves no rejection unhandled.
  tailRead.catch(() => undefined);
  const stored = await store.latestSnapshot(id);
  const base = stored === undefined ? EMPTY_BASE : storedBase(stored.rev, stored.content);
  if (base === undefined) {
    // A snapshot that cannot be read (damaged) is passed over: the log alone rebuilds the document.
    return { base: EMPTY_BASE, tail: await store.readChanges(id, 0) };
  }
  // A first join sends the snapshot's JSON: made now, while PostgreSQL still sends the tail.
  const packedJson = base.packed === undefined ? undefined : packedSnapshotJson(base.rev, base.packed);
  const tail = changesFrom(base.rev, await tailRead) ?? (await store.readChanges(id, base.rev));
  return { base: packedJson === undefined ? base : { ...base, packedJson }, tail };
}

/**
 * The changes from revision `rev` out of a read that started at `read.fromRev`; undefined when
 * that read started later (a newer snapshot was written between the two reads).
 */
function changesFrom(rev: number, read: ChangesSinceSnapshot): CommittedChange[] | undefined {
  if (read.fromRev === rev) return read.changes;
  return read.fromRev < rev ? read.changes.filter((change) => change.rev >= rev) : undefined;
}

/** A stored snapshot (either form) as a base; undefined when it is damaged. */
function storedBase(rev: number, content: readonly unknown[] | PackedContent): StoredBase | undefined {
  if (isPacked(content)) {
    const packed = checkPacked(content);
    return packed === undefined ? undefined : { rev, packed, runs: undefined };
  }
  const runs = docFromStored(content);
  return runs === undefined ? undefined : { rev, packed: undefined, runs };
}

function applyAll(doc: Doc, changes: readonly CommittedChange[]): Doc {
  let content = doc;
  for (const change of changes) content = apply(content, change.ops);
  return content;
}

/** A failed snapshot is next tried after 30 s, doubling to 30 min. */
const SNAPSHOT_RETRY_FIRST_MS = 30_000;
const SNAPSHOT_RETRY_MAX_MS = 30 * 60_000;


/** Deltas of committed changes, built once: prepare() rebases every queued change over the same recent ones. */
const committedDeltas = new WeakMap<Change, Delta>();

function deltaOf(ops: Change): Delta {
  let delta = committedDeltas.get(ops);
  if (!delta) {
    delta = changeToDelta(ops);
    committedDeltas.set(ops, delta);
  }
  return delta;
}

/**
 * `ops` transformed (the committed side winning ties, as transform(ops, c, 'right')) over each
 * change of `unseen`, then of `batch`, in turn. Each change is converted to a delta once, not
 * once per pair: the conversion (composing a change's ops) was the top JavaScript item of the
 * relay's profile under the typing benchmark.
 */
export function rebase(ops: Change, unseen: readonly CommittedChange[], batch: readonly CommittedChange[]): Change {
  if (ops.length === 0) return ops;
  let delta: Delta | undefined;
  for (const list of [unseen, batch]) {
    for (const c of list) {
      if (c.ops.length === 0) continue;
      delta = transformDeltas(delta ?? changeToDelta(ops), deltaOf(c.ops), true);
    }
  }
  return delta === undefined ? ops : deltaToChange(delta);
}

function toEngineError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  if (err instanceof OtError) return new EngineError(ErrorCode.invalidOp, `${err.code}: ${err.message}`);
  return new EngineError(ErrorCode.internal, 'internal error while handling the change');
}
