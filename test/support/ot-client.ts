import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { apply, compose, docText, emptyDoc, transform } from '../../src/ot/index.js';
import type { Change, DocState, Op, Selection } from '../../src/ot/types.js';
import type { CommittedChangeWire, ServerMessage } from '../../src/protocol/messages.js';
import { randomEdit } from './random-edits.js';

export interface OtClientOptions {
  readonly doc: string;
  readonly user: string;
  /** Relay WebSocket URLs; the client starts on `first` and moves to the next one when a relay goes. */
  readonly wsUrls: readonly string[];
  readonly first?: number;
  readonly token: string;
}

/**
 * A protocol client for multi-replica tests, independent of the SDK: one change in flight,
 * local edits composed behind it, remote changes transformed against both (server side is
 * 'right' for the incoming change, so here the pending change is 'right' and the remote one
 * 'left'). After a disconnect it rejoins with its revision on the next relay and resends the
 * change in flight with the same sequence number (exactly-once is the relay's job).
 */
export class OtClient {
  readonly actor = randomUUID();
  doc: DocState = emptyDoc;
  rev = 0;
  joined = false;
  private inflight: { seq: number; ops: Change } | undefined;
  private buffer: Change | undefined;
  private seq = 0;
  private ws: WebSocket | undefined;
  private urlIndex: number;
  private stopped = false;
  private everJoined = false;
  /** seq → where it landed (acks, including acks of resends). */
  readonly acked = new Map<number, { rev: number; count: number }>();
  /** seq → when its first ack arrived (Date.now()). */
  readonly ackedAt = new Map<number, number>();
  /** Other users whose presence reached this client (from `joined` or `presence`). */
  readonly seenUsers = new Set<string>();
  /** Current presence by session, as this client knows it. */
  readonly presence = new Map<string, string>();
  /** Selection of each session as this client was last told it (from `joined` or `presence`). */
  readonly selections = new Map<string, Selection | null>();
  readonly errors: string[] = [];
  /** `${actor}/${seq}` of every change applied from elsewhere: a repeat is a bug. */
  readonly appliedRemote = new Set<string>();
  readonly duplicates: string[] = [];
  reconnects = 0;
  /** Close code and reason of every connection that ended. */
  readonly closes: string[] = [];
  /** The session of the current connection (a new one after each reconnect). */
  session: string | undefined;
  /** Called with the receive time of every remote change (for latency measurements). */
  onRemoteChange: ((change: CommittedChangeWire) => void) | undefined;

  constructor(private readonly options: OtClientOptions) {
    this.urlIndex = options.first ?? 0;
  }

  get text(): string {
    return docText(this.doc);
  }

  /** Sequence number of the change in flight, if any. */
  get inflightSeq(): number | undefined {
    return this.inflight?.seq;
  }

  /** Nothing in flight and nothing waiting. */
  get settled(): boolean {
    return this.inflight === undefined && this.buffer === undefined;
  }

  get docId(): string {
    return this.options.doc;
  }

  get user(): string {
    return this.options.user;
  }

  /** Index in wsUrls of the relay this client is on now. */
  get relayIndex(): number {
    return this.urlIndex % this.options.wsUrls.length;
  }

  async start(): Promise<void> {
    this.open();
    const deadline = Date.now() + 20_000;
    while (!this.joined) {
      if (Date.now() > deadline) throw new Error(`${this.options.user} did not join: ${this.errors.join('; ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  stop(): void {
    this.stopped = true;
    this.ws?.close();
  }

  /** A random local edit, applied at once and sent when nothing is in flight. */
  edit(random: () => number): void {
    const e = randomEdit(this.text, random);
    const op: Op =
      e.kind === 'insert'
        ? e.attrs
          ? { type: 'insert', pos: e.pos, text: e.text, attrs: e.attrs }
          : { type: 'insert', pos: e.pos, text: e.text }
        : e.kind === 'delete'
          ? { type: 'delete', pos: e.pos, len: e.len }
          : { type: 'format', pos: e.pos, len: e.len, attrs: e.attrs };
    this.localChange([op]);
  }

  localChange(ops: Change): void {
    this.doc = apply(this.doc, ops);
    this.buffer = this.buffer ? compose(this.buffer, ops) : ops;
    this.flush();
  }

  moveCursor(random: () => number): void {
    const length = this.text.length;
    const anchor = Math.floor(random() * (length + 1));
    this.send({ type: 'presence', doc: this.options.doc, rev: this.rev, selection: { anchor, head: anchor } });
  }

  /** A caret at `pos` of the current text. */
  setCursor(pos: number): void {
    this.send({ type: 'presence', doc: this.options.doc, rev: this.rev, selection: { anchor: pos, head: pos } });
  }

  // ---- connection ----------------------------------------------------------------------------

  private open(): void {
    const url = this.options.wsUrls[this.urlIndex % this.options.wsUrls.length] ?? '';
    const ws = new WebSocket(url, ['relay.v1', `bearer.${this.options.token}`]);
    this.ws = ws;
    this.joined = false;
    ws.on('message', (data) => this.received(JSON.parse(data.toString()) as ServerMessage));
    ws.on('error', () => undefined);
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return;
      this.closes.push(`${code} ${reason.toString()}`);
      this.joined = false;
      if (this.stopped) return;
      // Next relay: the one we were on may be gone for good.
      this.urlIndex++;
      this.reconnects++;
      setTimeout(() => this.open(), 100 + Math.floor(Math.random() * 200));
    });
    ws.on('unexpected-response', () => ws.terminate());
  }

  private send(message: unknown): void {
    if (this.ws?.readyState === WebSocket.OPEN && this.joined) this.ws.send(JSON.stringify(message));
  }

  private join(): void {
    const message = this.everJoined ? { type: 'join', doc: this.options.doc, rev: this.rev } : { type: 'join', doc: this.options.doc };
    this.ws?.send(JSON.stringify(message));
  }

  private flush(): void {
    if (this.buffer?.length === 0) this.buffer = undefined; // edits that cancelled out
    if (this.inflight || !this.buffer || !this.joined) return;
    this.inflight = { seq: ++this.seq, ops: this.buffer };
    this.buffer = undefined;
    this.sendInflight();
  }

  private sendInflight(): void {
    if (!this.inflight) return;
    this.send({ type: 'change', doc: this.options.doc, clock: { actor: this.actor, seq: this.inflight.seq, rev: this.rev }, ops: this.inflight.ops });
  }

  private received(m: ServerMessage): void {
    switch (m.type) {
      case 'hello':
        this.session = m.session;
        this.join();
        return;
      case 'joined':
        if (m.content) {
          if (this.everJoined) throw new Error('a rejoin with rev must get changes, not content');
          this.doc = m.content;
          this.rev = m.rev;
        }
        for (const c of m.changes ?? []) this.remote(c);
        for (const p of m.presence) {
          this.notePresence(p.session, p.user.id);
          this.selections.set(p.session, p.selection);
        }
        this.joined = true;
        this.everJoined = true;
        // A change still in flight was not in the changes above: resend it, same seq.
        this.sendInflight();
        this.flush();
        return;
      case 'change':
        this.remote(m);
        return;
      case 'ack': {
        if (!this.inflight || m.seq !== this.inflight.seq) {
          // An ack of a resend already answered: must agree with the first one.
          const first = this.acked.get(m.seq);
          if (!first || first.rev !== m.rev || first.count !== m.count) this.errors.push(`unexpected ack ${JSON.stringify(m)}`);
          return;
        }
        this.acked.set(m.seq, { rev: m.rev, count: m.count });
        this.ackedAt.set(m.seq, Date.now());
        this.rev = m.rev + m.count;
        this.inflight = undefined;
        this.flush();
        return;
      }
      case 'presence':
        this.notePresence(m.session, m.user.id);
        this.selections.set(m.session, m.selection);
        return;
      case 'presence_left':
        this.presence.delete(m.session);
        return;
      case 'error':
        if (this.inflight && m.seq === this.inflight.seq && this.inflight.ops.length === 0) {
          // A resend that remote changes reduced to nothing and that was never committed: the
          // relay refuses empty changes and has not used the number, so it is reused.
          this.inflight = undefined;
          this.seq--;
          this.flush();
          return;
        }
        this.errors.push(`${m.code}: ${m.message}`);
        if (m.ref === 'join') setTimeout(() => this.join(), 300);
        // A change refused as unavailable (relay shutting down) is resent after the reconnect.
        return;
      default:
        return;
    }
  }

  private notePresence(session: string, user: string): void {
    this.presence.set(session, user);
    if (user !== this.options.user) this.seenUsers.add(user);
  }

  private remote(c: CommittedChangeWire): void {
    if (c.rev + c.ops.length <= this.rev) return;
    if (c.rev !== this.rev) {
      this.errors.push(`gap: at ${this.rev}, got a change at ${c.rev}`);
      return;
    }
    if (c.clock.actor === this.actor) {
      // Our change in flight, committed before we rejoined: it is its ack.
      if (this.inflight && c.clock.seq === this.inflight.seq) {
        this.acked.set(c.clock.seq, { rev: c.rev, count: c.ops.length });
        this.ackedAt.set(c.clock.seq, Date.now());
        this.rev = c.rev + c.ops.length;
        this.inflight = undefined;
      } else {
        this.errors.push(`own change ${c.clock.seq} came back unexpectedly`);
      }
      return;
    }
    const key = `${c.clock.actor}/${c.clock.seq}`;
    if (this.appliedRemote.has(key)) this.duplicates.push(key);
    this.appliedRemote.add(key);
    let ops = c.ops;
    if (this.inflight) {
      const theirs = transform(ops, this.inflight.ops, 'left');
      this.inflight = { seq: this.inflight.seq, ops: transform(this.inflight.ops, ops, 'right') };
      ops = theirs;
    }
    if (this.buffer) {
      const theirs = transform(ops, this.buffer, 'left');
      this.buffer = transform(this.buffer, ops, 'right');
      ops = theirs;
    }
    this.doc = apply(this.doc, ops);
    this.rev = c.rev + c.ops.length;
    this.onRemoteChange?.(c);
  }
}
