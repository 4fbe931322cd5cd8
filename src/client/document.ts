import { apply, compose, docLength, docText, emptyDoc, transform, transformSelection, validateChange } from '../ot/index.js';
import type { Attributes, Change, DocState, Selection } from '../ot/types.js';
import type { CommittedChangeWire, PresenceState, ServerMessage, UserInfo } from '../protocol/messages.js';
import { Emitter } from './emitter.js';

export type Role = 'viewer' | 'editor' | 'owner';

/** Someone else in the document, with their selection in this client's local coordinates. */
export interface RemotePresence {
  readonly session: string;
  readonly user: UserInfo;
  readonly selection: Selection | null;
  readonly typing: boolean;
}

export interface DocumentEvents {
  /** A change from someone else was applied; `ops` are in local coordinates (after pending edits). */
  change: (event: { ops: Change; user: string }) => void;
  /** Everyone's presence, after any update. */
  presence: (presence: readonly RemotePresence[]) => void;
  /** Every local edit is acknowledged: nothing pending or in flight. */
  synced: () => void;
  /** The relay refused something; a refused change triggers a resynchronisation. */
  error: (error: { code: string; message: string }) => void;
  /** The document was replaced by the relay's copy (after a refused change or an ordering error). */
  resynced: () => void;
  /** Access was revoked, or the document closed. */
  closed: (reason: 'revoked' | 'closed' | 'forbidden') => void;
  role: (role: Role) => void;
}

/** What a document session needs from the connection that carries it. */
export interface DocumentTransport {
  send(message: object): boolean;
  readonly connected: boolean;
  /** Ops per change the relay accepts. */
  readonly maxOps: number;
  readonly cursorThrottleMs: number;
}

interface Inflight {
  readonly seq: number;
  /** What was sent, at the revision it was made on: what a resend repeats. */
  readonly sentOps: Change;
  readonly sentRev: number;
  /** The same change, moved past remote changes that arrived since: used to transform. */
  ops: Change;
}

interface StoredPresence {
  session: string;
  user: UserInfo;
  /** At `this.rev`, the relay's coordinates. */
  selection: Selection | null;
  typing: boolean;
}

/**
 * One open document: the local copy and the client half of the protocol (Jupiter, as in
 * ot.js): at most one change in flight, local edits composed behind it, remote changes
 * transformed past both. It holds no socket; the client routes messages to it.
 */
export class DocumentSession extends Emitter<DocumentEvents> {
  private local: DocState = emptyDoc;
  /** The relay's revision this copy is based on. */
  private rev = 0;
  private inflight: Inflight | undefined;
  private buffer: Change | undefined;
  private nextSeq = 1;
  private everJoined = false;
  private joinedNow = false;
  private closedForGood = false;
  private currentRole: Role = 'editor';
  private readonly others = new Map<string, StoredPresence>();
  private wantedSelection: { selection: Selection | null } | undefined;
  private wantedTyping: boolean | undefined;
  private lastPresenceSentAt = 0;
  private presenceTimer: ReturnType<typeof setTimeout> | undefined;
  private joinWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(
    readonly id: string,
    /** The actor id of this client session: stable across reconnects. */
    private readonly actor: string,
    private readonly transport: DocumentTransport,
  ) {
    super();
  }

  // ---- reading ------------------------------------------------------------------------------

  /** Runs of text with attributes: the document as this user sees it, pending edits included. */
  get content(): DocState {
    return this.local;
  }

  get text(): string {
    return docText(this.local);
  }

  get length(): number {
    return docLength(this.local);
  }

  /** The relay revision this copy is based on. */
  get revision(): number {
    return this.rev;
  }

  get role(): Role {
    return this.currentRole;
  }

  /** True while local edits are pending or in flight. */
  get pending(): boolean {
    return this.inflight !== undefined || this.buffer !== undefined;
  }

  /** True while a change is sent and not yet acknowledged. */
  get changeInFlight(): boolean {
    return this.inflight !== undefined;
  }

  get joined(): boolean {
    return this.joinedNow;
  }

  /** Others in the document, with selections mapped into the local copy. */
  get presence(): RemotePresence[] {
    return [...this.others.values()].map((p) => ({ session: p.session, user: p.user, typing: p.typing, selection: p.selection ? this.toLocal(p.selection) : null }));
  }

  /** Resolves when every local edit is acknowledged by the relay (committed). */
  whenSynced(): Promise<void> {
    if (!this.pending) return Promise.resolve();
    return new Promise((resolve) => {
      const off = this.on('synced', () => {
        off();
        resolve();
      });
    });
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

  /** Applies ops locally at once and sends them when the relay is ready for them. Throws OtError on an invalid change. */
  submit(ops: Change): void {
    if (this.closedForGood) throw new Error(`document ${this.id} is closed`);
    if (this.currentRole === 'viewer') throw new Error('this user may only view the document');
    validateChange(this.local, ops, Number.MAX_SAFE_INTEGER);
    this.local = apply(this.local, ops);
    this.buffer = this.buffer ? compose(this.buffer, ops) : ops;
    if (this.buffer.length === 0) this.buffer = undefined;
    this.flush();
    if (!this.pending) this.emit('synced');
  }

  /** This user's cursor or selection in the local copy; null when the editor lost focus. */
  setSelection(selection: Selection | null): void {
    this.wantedSelection = { selection };
    this.schedulePresence();
  }

  setTyping(typing: boolean): void {
    this.wantedTyping = typing;
    this.schedulePresence();
  }

  // ---- protocol (called by the client) -----------------------------------------------------

  /** The join message for the current state: a rejoin asks only for what it missed. */
  joinMessage(): object {
    return this.everJoined ? { type: 'join', doc: this.id, rev: this.rev } : { type: 'join', doc: this.id };
  }

  waitJoined(): Promise<void> {
    if (this.joinedNow) return Promise.resolve();
    return new Promise((resolve, reject) => this.joinWaiters.push({ resolve, reject }));
  }

  connectionLost(): void {
    this.joinedNow = false;
  }

  handle(message: ServerMessage): void {
    switch (message.type) {
      case 'joined':
        this.onJoined(message);
        return;
      case 'change':
        this.onRemoteChange(message);
        this.emitPresence();
        return;
      case 'ack':
        this.onAck(message.seq, message.rev, message.count);
        return;
      case 'presence':
        // Messages are ordered, so it is at our revision; if not, keep the user without a cursor.
        this.others.set(message.session, { session: message.session, user: message.user, selection: message.rev === this.rev ? message.selection : null, typing: message.typing });
        this.emitPresence();
        return;
      case 'presence_left':
        if (this.others.delete(message.session)) this.emitPresence();
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
    if (!this.joinedNow || !this.transport.connected || this.inflight || !this.buffer) return;
    const max = Math.max(1, this.transport.maxOps);
    // Ops apply in sequence, so a prefix is a valid change and the rest applies after it.
    const ops = this.buffer.slice(0, max);
    const rest = this.buffer.slice(max);
    this.buffer = rest.length > 0 ? rest : undefined;
    this.inflight = { seq: this.nextSeq++, sentOps: ops, sentRev: this.rev, ops };
    this.sendInflight();
  }

  /** After `rate_limited`, or a rejoin: the relay deduplicates by (actor, seq), so resending is safe. */
  resendInflight(): void {
    if (this.inflight && this.joinedNow && this.transport.connected) this.sendInflight();
  }

  markClosed(): void {
    this.closeForGood('closed');
  }

  // ---- internals ---------------------------------------------------------------------------

  private sendInflight(): void {
    const inflight = this.inflight;
    if (!inflight) return;
    this.transport.send({ type: 'change', doc: this.id, clock: { actor: this.actor, seq: inflight.seq, rev: inflight.sentRev }, ops: inflight.sentOps });
  }

  private onJoined(message: Extract<ServerMessage, { type: 'joined' }>): void {
    this.currentRole = message.role;
    if (message.content) {
      // A first join, or a resynchronisation: the relay's copy replaces ours.
      this.local = message.content;
      this.rev = message.rev;
      this.inflight = undefined;
      this.buffer = undefined;
    } else {
      for (const change of message.changes ?? []) this.onRemoteChange({ doc: this.id, ...change });
    }
    this.others.clear();
    for (const p of message.presence) this.others.set(p.session, { session: p.session, user: p.user, selection: p.selection, typing: p.typing });
    const firstJoin = !this.everJoined;
    this.everJoined = true;
    this.joinedNow = true;
    for (const w of this.joinWaiters.splice(0)) w.resolve();
    if (!firstJoin) this.resendInflight();
    this.flush();
    this.emitPresence();
    this.sendPresenceIfDue();
  }

  private onRemoteChange(change: CommittedChangeWire & { doc: string }): void {
    if (change.clock.actor === this.actor) {
      // Our own change, seen on a rejoin: that is its ack.
      if (this.inflight && change.clock.seq === this.inflight.seq) this.onAck(change.clock.seq, change.rev, change.ops.length);
      return;
    }
    if (change.rev !== this.rev) {
      this.resync(`change at revision ${change.rev} while at ${this.rev}`);
      return;
    }
    let remote = change.ops;
    if (this.inflight) {
      const moved = transform(this.inflight.ops, remote, 'right');
      remote = transform(remote, this.inflight.ops, 'left');
      this.inflight.ops = moved;
    }
    if (this.buffer) {
      const moved = transform(this.buffer, remote, 'right');
      remote = transform(remote, this.buffer, 'left');
      this.buffer = moved.length > 0 ? moved : undefined;
    }
    this.local = apply(this.local, remote);
    this.rev = change.rev + change.ops.length;
    // A selection waiting to be sent is in local coordinates: it moves with the text.
    const waiting = this.wantedSelection?.selection;
    if (waiting) this.wantedSelection = { selection: transformSelection(waiting, remote) };
    for (const p of this.others.values()) if (p.selection) p.selection = transformSelection(p.selection, change.ops);
    if (remote.length > 0) this.emit('change', { ops: remote, user: change.user });
  }

  private onAck(seq: number, rev: number, count: number): void {
    if (!this.inflight || this.inflight.seq !== seq) return;
    this.inflight = undefined;
    this.rev = rev + count;
    this.flush();
    this.sendPresenceIfDue();
    if (!this.pending) this.emit('synced');
  }

  private onError(message: Extract<ServerMessage, { type: 'error' }>): void {
    if (message.ref === 'join' || (message.code === 'forbidden' && !this.joinedNow)) {
      const error = new Error(`${message.code}: ${message.message}`);
      for (const w of this.joinWaiters.splice(0)) w.reject(error);
      if (message.code === 'forbidden') this.closeForGood('forbidden');
      this.emit('error', { code: message.code, message: message.message });
      return;
    }
    this.emit('error', { code: message.code, message: message.message });
    if (message.code === 'rate_limited') {
      // The relay dropped messages without reading them; ours is deduplicated if it did arrive.
      setTimeout(() => this.resendInflight(), 1000);
      return;
    }
    if (message.seq !== undefined && this.inflight?.seq === message.seq) {
      // A refused change exists nowhere but here: keeping it would diverge.
      this.resync(`change ${message.seq} refused: ${message.code}`);
    }
  }

  /** Drops local pending edits and takes the relay's copy. */
  private resync(reason: string): void {
    this.inflight = undefined;
    this.buffer = undefined;
    this.everJoined = false;
    this.joinedNow = false;
    this.emit('error', { code: 'resync', message: reason });
    this.transport.send(this.joinMessage());
    void this.waitJoined().then(() => this.emit('resynced'), () => undefined);
  }

  private closeForGood(reason: 'revoked' | 'closed' | 'forbidden'): void {
    if (this.closedForGood) return;
    this.closedForGood = true;
    this.joinedNow = false;
    if (this.presenceTimer) clearTimeout(this.presenceTimer);
    this.emit('closed', reason);
  }

  /** A relay-coordinate selection as this user sees it (through the pending edits). */
  private toLocal(selection: Selection): Selection {
    let s = selection;
    if (this.inflight) s = transformSelection(s, this.inflight.ops);
    if (this.buffer) s = transformSelection(s, this.buffer);
    return s;
  }

  private emitPresence(): void {
    this.emit('presence', this.presence);
  }

  private schedulePresence(): void {
    const wait = this.lastPresenceSentAt + this.transport.cursorThrottleMs - Date.now();
    if (wait <= 0) {
      this.sendPresenceIfDue();
    } else if (!this.presenceTimer) {
      this.presenceTimer = setTimeout(() => {
        this.presenceTimer = undefined;
        this.sendPresenceIfDue();
      }, wait);
    }
  }

  /**
   * The relay needs a selection at a revision it knows, so it is sent only when nothing is
   * pending (the local copy then equals the relay's at `rev`); otherwise after the next ack.
   */
  private sendPresenceIfDue(): void {
    if ((!this.wantedSelection && this.wantedTyping === undefined) || !this.joinedNow || !this.transport.connected) return;
    if (this.wantedSelection && this.pending) return;
    const message: Record<string, unknown> = { type: 'presence', doc: this.id, rev: this.rev };
    if (this.wantedSelection) message.selection = this.wantedSelection.selection;
    if (this.wantedTyping !== undefined) message.typing = this.wantedTyping;
    this.wantedSelection = undefined;
    this.wantedTyping = undefined;
    this.lastPresenceSentAt = Date.now();
    this.transport.send(message);
  }
}

export type { PresenceState };
