import type { Submission } from '../engine/document.js';
import type { CommittedChange } from '../engine/ports.js';
import type { Logger } from '../log.js';
import type { Bus, BusHandlers, ForwardReply, Leases, RemotePresence } from './bus.js';
import type { RedisClient } from './redis-clients.js';
import { RedisLeases } from './redis-leases.js';
import { RedisPresenceStore } from './redis-presence.js';
import { TurnWrites } from './redis-turn-writes.js';
import {
  REPLICAS_KEY,
  changeOf,
  channelOf,
  decodeEnvelope,
  decodeInbox,
  docOfChannel,
  encodeChange,
  encodeInbox,
  encodeLeft,
  encodePresence,
  heartbeatKey,
  inboxOf,
  publishedBy,
  replicaOfInbox,
  type InboxMessage,
} from './redis-wire.js';

export interface RedisBusOptions {
  readonly replicaId: string;
  /** Commands (PUBLISH, presence writes, heartbeats); never queued while Redis is away. */
  readonly publisher: RedisClient;
  /** SUBSCRIBE only (a connection in subscriber mode can do nothing else). */
  readonly subscriber: RedisClient;
  /** How often the heartbeat is refreshed and dead replicas are looked for. */
  readonly livenessPeriodMs: number;
  /** Lifetime of the heartbeat key: a replica silent this long is dead. */
  readonly heartbeatTtlMs: number;
  readonly log: Logger;
  /** Counts every connection error and failed command (the outage itself is logged once). */
  readonly onError?: (role: 'publisher' | 'subscriber') => void;
  readonly onRemoteChange?: (change: CommittedChange) => void;
  /**
   * Sharded pub/sub (SSUBSCRIBE/SPUBLISH, Redis 7): on a cluster each channel lives on the node
   * of its slot, so fan-out capacity grows with the nodes; classic pub/sub would copy every
   * message to every node.
   */
  readonly sharded?: boolean;
  /** Lifetime of a document owner's lease. */
  readonly leaseTtlMs: number;
}

/** How often Redis's image of this replica's presence is compared with its tables (redis-presence.ts: sync). */
const PRESENCE_SYNC_PERIOD_MS = 1000;

/**
 * Cross-replica fan-out over Redis pub/sub, one channel per document, and shared presence in
 * Redis hashes. Redis is never the source of truth: a message lost while it is away is made
 * good from PostgreSQL (handlers.resync) and presence is rewritten by its owners, so every
 * failure here only delays delivery.
 */
export class RedisBus implements Bus {
  readonly kind = 'redis' as const;
  private handlers: BusHandlers | undefined;
  private readonly presenceStore: RedisPresenceStore;
  /** Documents this replica's clients have open: the channels we want, whatever Redis's state. */
  private readonly wanted = new Set<string>();
  /** True from start (and after any disconnect) until a recovery has run on both connections. */
  private degraded = true;
  private recovering = false;
  private outageLogged = false;
  private dropped = 0;
  private livenessTimer: NodeJS.Timeout | undefined;
  private livenessRunning = false;
  private presenceSyncTimer: NodeJS.Timeout | undefined;
  private presenceSyncRunning = false;
  private closed = false;
  private readonly turnWrites: TurnWrites;

  readonly leases: Leases;

  constructor(private readonly options: RedisBusOptions) {
    this.presenceStore = new RedisPresenceStore(options.publisher, options.replicaId);
    this.leases = new RedisLeases(options.publisher, options.replicaId, options.leaseTtlMs);
    this.turnWrites = new TurnWrites(options.publisher);
  }

  readonly ping = async (): Promise<boolean> => {
    const { publisher, subscriber } = this.options;
    if (publisher.status !== 'ready' || subscriber.status !== 'ready') return false;
    const answer = await Promise.race([publisher.ping(), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 1000).unref())]);
    return answer === 'PONG';
  };

  async start(handlers: BusHandlers): Promise<void> {
    this.handlers = handlers;
    const { publisher, subscriber, log } = this.options;
    for (const [role, client] of [['publisher', publisher], ['subscriber', subscriber]] as const) {
      client.on('error', (err: unknown) => this.outage(role, err));
      client.on('close', () => {
        if (this.closed) return;
        this.degraded = true;
        this.outage(role, undefined);
      });
      client.on('ready', () => void this.recover());
    }
    subscriber.on(this.options.sharded ? 'smessage' : 'message', (channel: string, text: string) => this.received(channel, text));
    // Connecting does not hold up the start: the replica serves its own clients without Redis
    // and recovers when it appears.
    const connecting = Promise.allSettled([publisher.connect(), subscriber.connect()]);
    const ready = await Promise.race([connecting.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 3000).unref())]);
    if (!ready || publisher.status !== 'ready' || subscriber.status !== 'ready') {
      log.warn('redis is not reachable yet: serving local clients only until it is');
    }
    this.livenessTimer = setInterval(() => void this.liveness(), this.options.livenessPeriodMs);
    this.livenessTimer.unref();
    this.presenceSyncTimer = setInterval(() => void this.syncPresence(), PRESENCE_SYNC_PERIOD_MS);
    this.presenceSyncTimer.unref();
  }

  subscribe(docId: string): void {
    this.wanted.add(docId);
    const { subscriber } = this.options;
    if (subscriber.status !== 'ready') return; // recover() subscribes to everything wanted
    this.listen([channelOf(docId)]).then(
      // Changes published between loading the document and this point were missed.
      () => this.handlers?.resync(docId),
      (err: unknown) => this.outage('subscriber', err),
    );
  }

  unsubscribe(docId: string): void {
    this.wanted.delete(docId);
    const { subscriber } = this.options;
    if (subscriber.status !== 'ready') return;
    const leaving = this.options.sharded ? subscriber.sunsubscribe(channelOf(docId)) : subscriber.unsubscribe(channelOf(docId));
    leaving.catch(() => undefined);
  }

  forward(owner: string, docId: string, sub: Submission): void {
    const { replicaId } = this.options;
    this.send(owner, { v: 1, from: replicaId, kind: 'submit', doc: docId, actor: sub.actor, seq: sub.seq, rev: sub.baseRev, ops: [...sub.ops], user: sub.userId });
  }

  reply(to: string, docId: string, reply: ForwardReply): void {
    this.send(to, { v: 1, from: this.options.replicaId, doc: docId, ...reply });
  }

  publishChange(docId: string, change: CommittedChange): void {
    this.publish(docId, encodeChange(this.options.replicaId, change));
  }

  /** Not kept here: after an outage, recover() rewrites what the presence tables hold (handlers.ownPresence). */
  publishPresence(update: RemotePresence): void {
    if (!this.usable()) return;
    this.presenceStore.write(update).catch((err: unknown) => this.outage('publisher', err));
    this.publish(update.docId, encodePresence(update));
  }

  publishPresenceLeft(docId: string, session: string, replica: string): void {
    if (!this.usable()) return;
    this.presenceStore.remove(docId, session).catch((err: unknown) => this.outage('publisher', err));
    this.publish(docId, encodeLeft(replica, session));
  }

  async presenceOf(docId: string): Promise<RemotePresence[]> {
    return (await this.presenceStore.list(docId)).filter((e) => e.replica !== this.options.replicaId);
  }

  async close(): Promise<void> {
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    if (this.presenceSyncTimer) clearInterval(this.presenceSyncTimer);
    const { publisher, subscriber, replicaId } = this.options;
    // A clean exit removes our traces at once instead of waiting for the heartbeat to expire.
    if (this.usable()) {
      try {
        for (const update of this.handlers?.ownPresence() ?? []) await this.presenceStore.remove(update.docId, update.state.session);
        await publisher.del(heartbeatKey(replicaId));
        await this.presenceStore.bury(replicaId);
      } catch (err) {
        this.options.log.debug({ err }, 'redis clean-up on close failed; the heartbeat will expire');
      }
    }
    this.closed = true;
    subscriber.disconnect();
    publisher.disconnect();
  }

  // ---- receiving -------------------------------------------------------------------------

  private received(channel: string, text: string): void {
    if (replicaOfInbox(channel) !== undefined) {
      this.receivedInInbox(text);
      return;
    }
    // An owner gets each of its commits back: the most common message on its subscription.
    if (publishedBy(this.options.replicaId, text)) return;
    const docId = docOfChannel(channel);
    const envelope = decodeEnvelope(text);
    const handlers = this.handlers;
    if (!docId || !envelope || !handlers) return;
    if (envelope.from === this.options.replicaId) return;
    switch (envelope.kind) {
      case 'change': {
        const change = changeOf(envelope);
        this.options.onRemoteChange?.(change);
        handlers.change(docId, change);
        return;
      }
      case 'presence':
        handlers.presence({ docId, rev: envelope.rev, replica: envelope.from, state: envelope.state });
        return;
      case 'left':
        handlers.presenceLeft(docId, envelope.session, envelope.from);
        return;
    }
  }

  private receivedInInbox(text: string): void {
    const message = decodeInbox(text);
    const handlers = this.handlers;
    if (!message || !handlers) return;
    switch (message.kind) {
      case 'submit':
        handlers.forwarded(message.doc, message.from, { actor: message.actor, seq: message.seq, baseRev: message.rev, ops: message.ops, userId: message.user });
        return;
      case 'ack':
        handlers.replied(message.doc, { kind: 'ack', actor: message.actor, seq: message.seq, rev: message.rev, count: message.count, duplicate: message.duplicate });
        return;
      case 'refused':
        handlers.replied(message.doc, { kind: 'refused', actor: message.actor, seq: message.seq, code: message.code, message: message.message });
        return;
      case 'not_owner':
        handlers.replied(message.doc, { kind: 'not_owner', actor: message.actor, seq: message.seq });
        return;
    }
  }

  // ---- outages and recovery ------------------------------------------------------------------

  private usable(): boolean {
    return !this.closed && this.options.publisher.status === 'ready';
  }

  private publish(docId: string, text: string): void {
    this.publishOn(channelOf(docId), text);
  }

  /** A forwarded change or reply that cannot leave is resent by its forwarder (ownership.ts). */
  private send(replica: string, message: InboxMessage): void {
    this.publishOn(inboxOf(replica), encodeInbox(message));
  }

  private publishOn(channel: string, text: string): void {
    if (!this.usable()) {
      this.dropped++;
      return;
    }
    const { publisher, sharded } = this.options;
    this.turnWrites.send(() => (sharded ? publisher.spublish(channel, text) : publisher.publish(channel, text))).catch((err: unknown) => {
      this.dropped++;
      this.outage('publisher', err);
    });
  }

  private listen(channels: string[]): Promise<unknown> {
    const { subscriber, sharded } = this.options;
    return sharded ? subscriber.ssubscribe(...channels) : subscriber.subscribe(...channels);
  }

  private outage(role: 'publisher' | 'subscriber', err: unknown): void {
    if (!this.closed) this.options.onError?.(role);
    if (this.closed || this.outageLogged) return;
    this.outageLogged = true;
    this.options.log.warn({ err, role }, 'redis unavailable: cross-replica delivery paused; local clients are still served and PostgreSQL keeps ordering');
  }

  /**
   * Runs once both connections are ready after a start or an outage: subscribe to every open
   * document, then catch them all up from PostgreSQL (what was published meanwhile is lost),
   * then put presence right (Redis may have restarted empty, and peers may have presumed us
   * dead and dropped our sessions).
   */
  private async recover(): Promise<void> {
    const { publisher, subscriber, log } = this.options;
    if (!this.degraded || this.recovering || this.closed) return;
    if (publisher.status !== 'ready' || subscriber.status !== 'ready') return;
    this.recovering = true;
    this.degraded = false;
    try {
      // Sharded channels are subscribed one by one: each may live on another node.
      const channels = [inboxOf(this.options.replicaId), ...[...this.wanted].map(channelOf)];
      if (this.options.sharded) for (const channel of channels) await this.listen([channel]);
      else await this.listen(channels);
      this.handlers?.resync();
      await this.heartbeat();
      await this.restoreOwnPresence();
      await this.reconcileRemotePresence();
      if (this.outageLogged) {
        log.info({ documents: this.wanted.size, dropped_publications: this.dropped }, 'redis available again: resubscribed and caught up from PostgreSQL');
      }
      this.outageLogged = false;
      this.dropped = 0;
    } catch (err) {
      // Lost the connection again while recovering: the next 'ready' runs it again.
      this.degraded = true;
      this.outage('publisher', err);
    } finally {
      this.recovering = false;
    }
    if (this.degraded && publisher.status === 'ready' && subscriber.status === 'ready') void this.recover();
  }

  private async restoreOwnPresence(): Promise<void> {
    this.presenceStore.forgetMarks();
    for (const update of this.handlers?.ownPresence() ?? []) {
      await this.presenceStore.write(update);
      // Published too: replicas that dropped these sessions learn them back.
      this.publish(update.docId, encodePresence(update));
    }
  }

  /**
   * Presence of other replicas as Redis holds it now: sessions that left while we were cut off
   * go, the others are refreshed. A peer that has not recovered yet looks absent here; its own
   * recovery republishes its sessions, which brings them back.
   */
  private async reconcileRemotePresence(): Promise<void> {
    const handlers = this.handlers;
    if (!handlers) return;
    for (const docId of this.wanted) {
      const entries = await this.presenceOf(docId);
      const present = new Set(entries.map((e) => e.state.session));
      for (const { session, replica } of handlers.remoteSessions(docId)) {
        if (!present.has(session)) handlers.presenceLeft(docId, session, replica);
      }
      for (const e of entries) handlers.presence(e);
    }
  }

  /** Keeps Redis's image of our presence at most PRESENCE_REFRESH_LAG_OPS behind our tables. */
  private async syncPresence(): Promise<void> {
    if (this.presenceSyncRunning || this.degraded || !this.usable()) return;
    this.presenceSyncRunning = true;
    try {
      await this.presenceStore.sync(this.handlers?.ownPresence() ?? []);
    } catch (err) {
      this.outage('publisher', err);
    } finally {
      this.presenceSyncRunning = false;
    }
  }

  // ---- replica liveness ----------------------------------------------------------------------

  /** Refreshes our heartbeat; if we had been presumed dead meanwhile, puts our presence back. */
  private async heartbeat(): Promise<void> {
    const { publisher, replicaId, heartbeatTtlMs } = this.options;
    await publisher.set(heartbeatKey(replicaId), String(Date.now()), 'PX', heartbeatTtlMs);
    const added = await publisher.sadd(REPLICAS_KEY, replicaId);
    if (added === 1 && !this.recovering && (this.handlers?.ownPresence().length ?? 0) > 0) {
      this.options.log.warn('this replica had been presumed dead by its peers: writing its presence again');
      await this.restoreOwnPresence();
    }
  }

  /**
   * The maintenance pass, on every replica: a replica whose heartbeat key expired is dead; its
   * sessions are dropped here and its entries removed from Redis (every replica may do the
   * latter at once; it is idempotent).
   */
  private async liveness(): Promise<void> {
    if (this.livenessRunning || this.degraded || !this.usable()) return;
    this.livenessRunning = true;
    const { publisher, replicaId, log } = this.options;
    try {
      await this.heartbeat();
      const candidates = new Set(await publisher.smembers(REPLICAS_KEY));
      for (const docId of this.wanted) for (const { replica } of this.handlers?.remoteSessions(docId) ?? []) candidates.add(replica);
      candidates.delete(replicaId);
      for (const replica of candidates) {
        if ((await publisher.exists(heartbeatKey(replica))) === 1) continue;
        const dropped = this.handlers?.dropReplicaPresence(replica) ?? 0;
        await this.presenceStore.bury(replica);
        log.info({ replica, dropped_sessions: dropped }, 'replica stopped heartbeating: its presence was dropped');
      }
    } catch (err) {
      this.outage('publisher', err);
    } finally {
      this.livenessRunning = false;
    }
  }
}
