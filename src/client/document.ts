import { apply, compose, diff, docLength, docText, transform, transformSelection, validateChange } from '../ot/index.js';
import type { Attributes, Change, DocState, Selection } from '../ot/types.js';
import { Doc } from '../ot/document.js';
import { presenceDataProblem } from '../protocol/presence-data.js';
import type { ChangeMessage, CommittedChangeWire, JoinMessage, LeaveMessage, PresenceData, PresenceMessage, Role, ServerMessage } from '../protocol/wire.js';
import { Emitter } from './emitter.js';
import type { Logger } from './logger.js';
import { checkWireLimits, takeChange } from './outgoing.js';
import { docFromPackedJoin } from './packed-join.js';
import { PresenceOutbox, RemotePresenceTable, type RemotePresence } from './presence.js';

/** `refused`: the relay would not let this connection join (e.g. too many documents open). */
export type CloseReason = 'closed' | 'revoked' | 'forbidden' | 'refused';

export interface DocumentError {
  /** A relay error code, or `resync` when the SDK replaced the local copy with the relay's. */
  readonly code: string;
  readonly message: string;
  readonly seq?: number;
  readonly ref?: string;
}

export interface DocumentEvents {
  /** A change from someone else was applied; `ops` are in local coordinates (after pending edits). */
  change: (event: { ops: Change; user: string }) => void;
  /** Everyone else's presence, after any update. */
  presence: (presence: readonly RemotePresence[]) => void;
  /** Every local edit is acknowledged: nothing pending or in flight. */
  synced: () => void;
  error: (error: DocumentError) => void;
  /** The local copy was replaced by the relay's (after a refused change or an ordering error): re-render from `content`. */
  resynced: () => void;
  closed: (reason: CloseReason) => void;
  role: (role: Role) => void;
  /** The number of local edits not yet acknowledged changed (see `pendingEdits`). */
  pending: (count: number) => void;
}

/** What a document sends; the connection adds its own (auth, ping). */
export type DocumentMessage = JoinMessage | LeaveMessage | ChangeMessage | PresenceMessage;

/** What a document session needs from the connection that carries it. */
export interface DocumentTransport {
  /** False when there is no open connection; the message is then not sent. */
  send(message: DocumentMessage): boolean;
  /** Greeted by a relay that accepts new work (not draining for a shutdown). */
  readonly connected: boolean;
  /** Ops per change and bytes per frame the relay accepts (from `hello`). */
  readonly maxOps: number;
  readonly maxMessageBytes: number;
  readonly cursorThrottleMs: number;
  /** The relay may answer a rejoin with its content rather than the missed changes (`hello` lists `join_content`). */
  readonly joinContent?: boolean;
  /** The relay may answer a first join with its packed snapshot and the changes since (`hello` lists `packed_join`). */
  readonly packedJoin?: boolean;
  /** A fresh random delay for retrying something the relay could not do just now. */
  retryDelayMs(): number;
  /** Drops the connection and reconnects (after the usual delay): what the relay asks by `unavailable`. */
  reconnect(reason: string): void;
  readonly logger: Logger;
}

interface Inflight {
  readonly seq: number;
  /**
   * What was sent, at the revision it was made on, is what a resend repeats: the relay
   * transforms it exactly as the first time, and the ops can never have become empty
   * (an empty change is refused, and skipping its seq would make every later one refused).
   */
  readonly sentOps: Change;
  readonly sentRev: number;
  /** The same change moved past the remote changes that arrived since: used to transform. */
  ops: Change;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

const RATE_LIMIT_RESEND_MS = 1000;

/**
 * Where a document is in its life; with `base`, `inflight` and `buffer` it is the whole state of
 * the protocol (as codemirror/collab keeps {version, unconfirmed}).
 * - `joining`: no copy of the relay's yet; the join asks for content.
 * - `joined`: in step with the relay; changes are sent and received.
 * - `rejoining`: has the relay's copy at `base` but is not joined (the connection went, or the
 *   relay forgot the join); the join asks for what was missed since `base`.
 * - `resyncing`: dropped its local edits and waits for the relay's content; the local copy still
 *   holds the dropped edits, so remote changes are ignored until then.
 * - `closed`: for good (left, revoked or refused).
 */
type Phase = 'joining' | 'joined' | 'rejoining' | 'resyncing' | 'closed';

/**
 * One open document: the local copy and the client half of the protocol (Jupiter, as in
 * ot.js): at most one change in flight, local edits composed behind it, remote changes
 * transformed past both. It holds no socket; the client routes messages to it.
 */
export class DocumentSession extends Emitter<DocumentEvents> {
  /** Persistent tree: an edit costs O(log n) however long the document (the tab stays responsive). */
  private local: Doc = Doc.empty;
  /** The relay revision `local` minus the pending edits corresponds to. */
  private base = 0;
  private inflight: Inflight | undefined;
  private buffer: Change | undefined;
  private currentActor: string;
  private nextSeq = 1;
  private phase: Phase = 'joining';
  /** The copy at `base` when a rejoin offered to take content (nothing was pending then): what that content replaces. */
  private contentBase: Doc | undefined;
  /** A packed join's reply did not fit (see packed-join.ts): later joins ask for content. */
  private packedFailed = false;
  private currentRole: Role = 'editor';
  private readonly others = new RemotePresenceTable();
  private readonly outbox: PresenceOutbox;
  private joinWaiters: Waiter[] = [];
  private syncWaiters: Waiter[] = [];
  private resendTimer: ReturnType<typeof setTimeout> | undefined;
  /** Local edits (submit calls) in the buffer and in flight, for "N pending" displays. */
  private bufferEdits = 0;
  private inflightEdits = 0;
  private joinRetryTimer: ReturnType<typeof setTimeout> | undefined;
  /** This user's own presence payload: sent again after every join (the relay forgets it on leave). */
  private ownData: PresenceData | null = null;

  constructor(
    readonly id: string,
    /** The actor id of this client session: stable across reconnects. */
    actor: string,
    private readonly transport: DocumentTransport,
    /** Only a resync needs a new actor; injectable so tests can name it. */
    private readonly newActor: () => string = () => globalThis.crypto.randomUUID(),
  ) {
    super();
    this.currentActor = actor;
    this.outbox = new PresenceOutbox({
      throttleMs: () => this.transport.cursorThrottleMs,
      // With nothing pending the local copy is the relay's at `base`, a revision it knows.
      canSendSelection: () => !this.pending,
      send: (presence) => this.phase === 'joined' && this.transport.connected && this.transport.send({ type: 'presence', doc: this.id, rev: this.base, ...presence }),
    });
  }

  // ---- reading ------------------------------------------------------------------------------

  /** Runs of text with attributes: the document as this user sees it, pending edits included. */
  get content(): DocState {
    return this.local.runs();
  }

  get text(): string {
    return docText(this.local);
  }

  get length(): number {
    return docLength(this.local);
  }

  /** The relay revision this copy is based on (pending edits are on top of it). */
  get rev(): number {
    return this.base;
  }

  /** Same as `rev`. */
  get revision(): number {
    return this.base;
  }

  /** The actor id in this document's clocks: the client's, until a resync starts a fresh one. */
  get actor(): string {
    return this.currentActor;
  }

  get role(): Role {
    return this.currentRole;
  }

  /** True while local edits are pending or in flight. */
  get pending(): boolean {
    return this.inflight !== undefined || this.buffer !== undefined;
  }

  /** Local edits (submit calls) not yet acknowledged by the relay. */
  get pendingEdits(): number {
    return this.pending ? this.bufferEdits + this.inflightEdits : 0;
  }

  /** True while a change is sent and not yet acknowledged. */
  get changeInFlight(): boolean {
    return this.inflight !== undefined;
  }

  get joined(): boolean {
    return this.phase === 'joined';
  }

  get closed(): boolean {
    return this.phase === 'closed';
  }

  /** Others in the document, with selections mapped into the local copy. */
  get presence(): RemotePresence[] {
    return this.others.list((s) => this.toLocal(s));
  }

  /** Resolves when every local edit is acknowledged by the relay (committed); rejects if the document closes first. */
  whenSynced(): Promise<void> {
    if (this.phase === 'closed') return Promise.reject(new Error(`document ${this.id} is closed`));
    if (!this.pending) return Promise.resolve();
    return new Promise((resolve, reject) => this.syncWaiters.push({ resolve, reject }));
  }

  // ---- editing -----------------------------------------------------------------------------

  insert(pos: number, text: string, attrs?: Attributes): void {
    this.submit([attrs ? { type: 'insert', pos, text, attrs } : { type: 'insert', pos, text }]);
  }

  delete(pos: number, len: number): void {
    this.submit([{ type: 'delete', pos, len }]);
  }

  format(pos: number, len: number, attrs: Attributes): void {
    this.submit([{ type: 'format', pos, len, attrs }]);
  }

  /**
   * Applies ops (in order, on the local copy) at once and sends them when the relay is ready
   * for them. Throws (OtError, RangeError) on a change that is invalid here or that the relay
   * would refuse, before anything changes.
   */
  submit(ops: Change): void {
    if (this.phase === 'closed') throw new Error(`document ${this.id} is closed`);
    if (this.currentRole === 'viewer') throw new Error('this user may only view the document');
    // Any length is fine locally: flush() splits what the relay would find too long.
    validateChange(this.local, ops, Number.MAX_SAFE_INTEGER);
    checkWireLimits(ops);
    this.local = apply(this.local, ops);
    const buffer = this.buffer ? compose(this.buffer, ops) : ops;
    this.buffer = buffer.length > 0 ? buffer : undefined;
    this.bufferEdits += 1;
    this.outbox.transform(ops);
    this.flush();
    this.emit('pending', this.pendingEdits);
    if (this.others.size > 0) this.emitPresence();
    if (!this.pending) this.settled();
  }

  /** This user's cursor or selection in the local copy; null when the editor lost focus. */
  setSelection(selection: Selection | null): void {
    this.outbox.setSelection(selection);
    this.outbox.pump();
  }

  setTyping(typing: boolean): void {
    this.outbox.setTyping(typing);
    this.outbox.pump();
  }

  /**
   * Attaches the application's own fields (avatar, viewport…) to this user's presence; the
   * others see them as `data` in their `presence` list. null removes them. Throws a RangeError,
   * before sending anything, for anything but a JSON object within PRESENCE_DATA_LIMITS
   * (1024 bytes as JSON, 4 levels deep).
   */
  setPresenceData(data: PresenceData | null): void {
    const problem = data === null ? undefined : presenceDataProblem(data);
    if (problem) throw new RangeError(problem);
    this.ownData = data;
    this.outbox.setData(data);
    this.outbox.pump();
  }

  /** This user's presence payload as last set. */
  get presenceData(): PresenceData | null {
    return this.ownData;
  }

  /** Leaves the document. Pending edits are dropped: `await whenSynced()` first to keep them. */
  close(): void {
    if (this.phase === 'closed') return;
    if (this.phase === 'joined' && this.transport.connected) this.transport.send({ type: 'leave', doc: this.id });
    this.closeForGood('closed');
  }

  // ---- protocol (called by the client) -----------------------------------------------------

  /** The join message for the current state: a rejoin asks only for what it missed. */
  joinMessage(): DocumentMessage {
    this.contentBase = undefined;
    if (!this.hasRelayCopy()) return this.transport.packedJoin === true && !this.packedFailed ? { type: 'join', doc: this.id, packed: true } : { type: 'join', doc: this.id };
    // With nothing pending the local copy is the relay's at `base`: content can stand in for the changes.
    this.contentBase = this.transport.joinContent === true && !this.pending ? this.local : undefined;
    return this.contentBase ? { type: 'join', doc: this.id, rev: this.base, acceptContent: true } : { type: 'join', doc: this.id, rev: this.base };
  }

  /** The connection cannot join anyone (the token was refused): open() calls waiting for this document fail. */
  failJoin(error: Error): void {
    for (const w of this.joinWaiters.splice(0)) w.reject(error);
  }

  waitJoined(): Promise<void> {
    if (this.phase === 'closed') return Promise.reject(new Error(`document ${this.id} is closed`));
    if (this.phase === 'joined') return Promise.resolve();
    return new Promise((resolve, reject) => this.joinWaiters.push({ resolve, reject }));
  }

  connectionLost(): void {
    if (this.phase === 'joined') this.phase = 'rejoining';
    this.clearRetryTimers();
    // Nobody's presence is known while disconnected; the rejoin brings the current list.
    if (this.others.size > 0) {
      this.others.clear();
      this.emitPresence();
    }
  }

  handle(message: ServerMessage): void {
    if (this.phase === 'closed') return;
    switch (message.type) {
      case 'joined':
        this.onJoined(message);
        return;
      case 'change':
        // Without the relay's copy (joining, or resynchronising with the dropped edits still in
        // the local copy) nothing can be placed until the fresh copy arrives with `joined`.
        if (!this.hasRelayCopy()) return;
        this.onRemoteChange(message);
        this.emitPresence();
        return;
      case 'ack':
        this.onAck(message.seq, message.rev, message.count);
        return;
      case 'presence':
        // Frames arrive in order, so it is at our revision. If not (a relay that forwards acks
        // separately), the selection cannot be placed: the last one known stays until the next.
        this.others.set({ ...message, selection: message.rev === this.base ? message.selection : this.others.selectionOf(message.session) });
        this.emitPresence();
        return;
      case 'presence_left':
        if (this.others.remove(message.session)) this.emitPresence();
        return;
      case 'role':
        this.currentRole = message.role;
        this.emit('role', message.role);
        return;
      case 'left':
        if (message.reason === 'revoked') this.closeForGood('revoked');
        return;
      case 'error':
        this.onError(message);
        return;
      default:
        return;
    }
  }

  /** Sends the next change if nothing is in flight. */
  flush(): void {
    if (this.phase !== 'joined' || !this.transport.connected || this.inflight || !this.buffer) return;
    const { first, rest } = takeChange(this.buffer, this.transport.maxOps, this.transport.maxMessageBytes);
    this.buffer = rest.length > 0 ? rest : undefined;
    // The edits count with the last piece of a split buffer.
    this.inflightEdits = this.buffer ? 0 : this.bufferEdits;
    if (!this.buffer) this.bufferEdits = 0;
    this.inflight = { seq: this.nextSeq++, sentOps: first, sentRev: this.base, ops: first };
    this.sendInflight();
  }

  /** The relay deduplicates by (actor, seq), so resending is always safe. */
  resendInflight(): void {
    if (this.inflight && this.phase === 'joined' && this.transport.connected) this.sendInflight();
  }

  /** After the relay dropped messages (`rate_limited`): ours may have been among them. */
  rateLimited(): void {
    if (this.resendTimer || !this.inflight) return;
    this.resendTimer = setTimeout(() => {
      this.resendTimer = undefined;
      this.resendInflight();
    }, RATE_LIMIT_RESEND_MS);
  }

  // ---- internals ---------------------------------------------------------------------------

  private sendInflight(): void {
    const inflight = this.inflight;
    if (!inflight) return;
    this.transport.send({ type: 'change', doc: this.id, clock: { actor: this.currentActor, seq: inflight.seq, rev: inflight.sentRev }, ops: inflight.sentOps });
  }

  private onJoined(message: Extract<ServerMessage, { type: 'joined' }>): void {
    this.currentRole = message.role;
    const rejoin = message.content === undefined && message.snapshot === undefined;
    const resynced = this.phase === 'resyncing';
    if (message.content && this.hasRelayCopy() && this.contentBase) {
      if (!this.takeContent(this.contentBase, message.content, message.rev)) return;
    } else if (message.content) {
      // A first join or a resync: the relay's copy is the truth.
      this.replaceCopy(Doc.fromRuns(message.content), message.rev);
    } else if (message.snapshot) {
      const copy = docFromPackedJoin(message.snapshot, message.changes ?? [], message.rev);
      if (typeof copy === 'string') {
        this.packedFailed = true;
        this.resync(copy);
        return;
      }
      this.replaceCopy(copy, message.rev);
    } else {
      // Not `joined` yet here, so an ack among these sends nothing until the list is done.
      for (const change of message.changes ?? []) {
        this.onRemoteChange(change);
        if (this.phase === 'resyncing') return; // an ordering error started a resync; its reply follows
      }
      if (this.base !== message.rev) {
        this.resync(`rejoin ended at revision ${this.base}, the relay says ${message.rev}`);
        return;
      }
    }
    this.phase = 'joined';
    this.others.clear();
    for (const p of message.presence) this.others.set(p);
    for (const w of this.joinWaiters.splice(0)) w.resolve();
    if (rejoin) this.resendInflight();
    this.flush();
    this.emitPresence();
    // A join shows this user to the others afresh, without a payload: send it again.
    if (this.ownData !== null) this.outbox.setData(this.ownData);
    this.outbox.pump();
    if (resynced) {
      this.emit('resynced');
      this.settled();
    }
  }

  /** The relay's copy at `rev` becomes the local copy; nothing of ours is pending (a first join or a resync). */
  private replaceCopy(copy: Doc, rev: number): void {
    this.local = copy;
    this.base = rev;
    this.inflight = undefined;
    this.buffer = undefined;
    this.bufferEdits = 0;
    this.inflightEdits = 0;
  }

  /**
   * A rejoin answered with the content at the head (the relay found it smaller than the changes
   * missed): the difference is applied as one remote change (user ''), and edits made since the
   * join was sent, never sent themselves, are moved past it. False if a resync started.
   */
  private takeContent(base: Doc, content: DocState, rev: number): boolean {
    this.contentBase = undefined;
    const remote = this.applyPastBuffer(diff(base, Doc.fromRuns(content)), "the relay's content did not fit");
    if (!remote) return false;
    this.base = rev;
    this.outbox.transform(remote);
    if (remote.length > 0) this.emit('change', { ops: remote, user: '' });
    return true;
  }

  /**
   * Moves the unsent edits past a remote change (the remote one first on ties) and applies the
   * change, so moved, to the local copy. Undefined when it does not fit: a resync has started,
   * `failure` saying why.
   */
  private applyPastBuffer(remote: Change, failure: string): Change | undefined {
    if (this.buffer) {
      const moved = transform(this.buffer, remote, 'right');
      remote = transform(remote, this.buffer, 'left');
      this.buffer = moved.length > 0 ? moved : undefined;
    }
    try {
      this.local = apply(this.local, remote);
    } catch (err) {
      this.resync(`${failure}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
    return remote;
  }

  private onRemoteChange(change: CommittedChangeWire): void {
    if (change.clock.actor === this.currentActor) {
      // Our own change among the missed ones of a rejoin: that is its ack.
      if (this.inflight && change.clock.seq === this.inflight.seq) {
        this.onAck(change.clock.seq, change.rev, change.ops.length, change.ops);
        return;
      }
      // Already acknowledged (a duplicate delivery); anything else we cannot place.
      if (change.rev + change.ops.length <= this.base) return;
      this.resync(`own change ${change.clock.seq} at revision ${change.rev} was not in flight`);
      return;
    }
    if (change.rev !== this.base) {
      this.resync(`change at revision ${change.rev} while at ${this.base}`);
      return;
    }
    // ot.js: the committed change goes first on ties ('left'), our pending edits after it ('right').
    let remote = change.ops;
    if (this.inflight) {
      const moved = transform(this.inflight.ops, remote, 'right');
      remote = transform(remote, this.inflight.ops, 'left');
      this.inflight.ops = moved;
    }
    // A committed change that does not fit means this copy is out of step with the relay
    // (a bug, or a message lost in between): take the relay's copy rather than diverge.
    const applied = this.applyPastBuffer(remote, 'a committed change did not apply');
    if (!applied) return;
    remote = applied;
    this.base = change.rev + change.ops.length;
    this.others.transform(change.ops);
    this.outbox.transform(remote);
    if (remote.length > 0) this.emit('change', { ops: remote, user: change.user });
  }

  /**
   * The change occupies revisions rev+1 .. rev+count (count 0: it transformed into nothing).
   * What the relay committed is the in-flight change as moved here past the same remote
   * changes, in the same order, by the same transform.
   */
  private onAck(seq: number, rev: number, count: number, committed?: Change): void {
    const inflight = this.inflight;
    if (!inflight || inflight.seq !== seq) return; // a duplicate ack of a resend
    if (count > 0 && rev !== this.base) {
      this.resync(`ack of change ${seq} at revision ${rev} while at ${this.base}`);
      return;
    }
    this.inflight = undefined;
    this.inflightEdits = 0;
    this.emit('pending', this.pendingEdits);
    if (count > 0) {
      this.base = rev + count;
      // Stored selections are at the relay's revision, which now includes our change.
      this.others.transform(committed ?? inflight.ops);
    }
    this.flush();
    this.outbox.pump();
    if (!this.pending) this.settled();
  }

  private onError(message: Extract<ServerMessage, { type: 'error' }>): void {
    this.emit('error', { code: message.code, message: message.message, ...(message.seq !== undefined ? { seq: message.seq } : {}), ...(message.ref ? { ref: message.ref } : {}) });
    if (message.ref === 'join') {
      this.onJoinRefused(message.code, message.message);
      return;
    }
    if (message.code === 'rate_limited') {
      this.rateLimited();
      return;
    }
    // A frame the relay could not decode names no seq; with one change in flight it is that one.
    const ours = this.inflight && message.ref === 'change' && (message.seq === undefined || message.seq === this.inflight.seq);
    if (!ours) return;
    switch (message.code) {
      case 'unavailable':
        // The relay is closing the document or itself: the change waits for the next relay.
        this.transport.reconnect(`change refused for now: ${message.message}`);
        return;
      case 'not_joined':
        this.phase = 'rejoining';
        this.transport.send(this.joinMessage());
        return;
      default:
        // A refused change exists nowhere but here: keeping it would diverge.
        this.resync(`change ${this.inflight?.seq ?? '?'} refused: ${message.code}: ${message.message}`);
    }
  }

  private onJoinRefused(code: string, text: string): void {
    switch (code) {
      case 'forbidden':
      case 'too_many_documents':
      case 'bad_message': {
        const error = new Error(`${code}: ${text}`);
        for (const w of this.joinWaiters.splice(0)) w.reject(error);
        this.closeForGood(code === 'forbidden' ? 'forbidden' : 'refused');
        return;
      }
      case 'bad_clock':
        // The relay does not have the revision we are at: only its copy can be trusted.
        this.resync(`rejoin refused: ${text}`);
        return;
      default:
        // `unavailable` and the like are temporary: ask again later (a reconnect also rejoins).
        if (this.joinRetryTimer) return;
        this.joinRetryTimer = setTimeout(() => {
          this.joinRetryTimer = undefined;
          if (this.phase !== 'joined' && this.phase !== 'closed' && this.transport.connected) this.transport.send(this.joinMessage());
        }, this.transport.retryDelayMs());
    }
  }

  /**
   * Drops local pending edits and takes the relay's copy. The dropped change's seq may or may
   * not have been committed, and the relay accepts only the next seq of an actor, so the
   * document continues under a fresh actor: no seq can then be skipped or reused, and if the
   * old change commits after all it simply arrives as someone else's.
   */
  private resync(reason: string): void {
    if (this.phase === 'closed') return;
    this.transport.logger.warn('resynchronising a document', { doc: this.id, reason });
    this.inflight = undefined;
    this.buffer = undefined;
    this.bufferEdits = 0;
    this.inflightEdits = 0;
    this.emit('pending', 0);
    this.phase = 'resyncing';
    this.currentActor = this.newActor();
    this.nextSeq = 1;
    this.outbox.dropSelection();
    this.others.clear();
    this.clearRetryTimers();
    this.emit('error', { code: 'resync', message: reason });
    if (this.transport.connected) this.transport.send(this.joinMessage());
  }

  /** Joined, or was and will rejoin: the local copy minus pending edits is the relay's at `base`. */
  private hasRelayCopy(): boolean {
    return this.phase === 'joined' || this.phase === 'rejoining';
  }

  private settled(): void {
    for (const w of this.syncWaiters.splice(0)) w.resolve();
    this.emit('synced');
  }

  private closeForGood(reason: CloseReason): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.clearRetryTimers();
    this.outbox.dispose();
    const error = new Error(`document ${this.id} closed (${reason})`);
    for (const w of this.joinWaiters.splice(0)) w.reject(error);
    for (const w of this.syncWaiters.splice(0)) w.reject(error);
    this.emit('closed', reason);
  }

  private clearRetryTimers(): void {
    if (this.resendTimer) clearTimeout(this.resendTimer);
    if (this.joinRetryTimer) clearTimeout(this.joinRetryTimer);
    this.resendTimer = undefined;
    this.joinRetryTimer = undefined;
  }

  /** A relay-coordinate selection as this user sees it (through the pending edits). */
  private toLocal(selection: Selection): Selection {
    let s = selection;
    if (this.inflight) s = transformSelection(s, this.inflight.ops);
    if (this.buffer) s = transformSelection(s, this.buffer);
    return s;
  }

  /**
   * Every remote change moves the others' selections, so each one emits the list; with 50
   * users that is 49 entries per change, built only for a listener (a headless client has none).
   */
  private emitPresence(): void {
    if (this.listens('presence')) this.emit('presence', this.presence);
  }
}

export type { RemotePresence, Role };
