import { z } from 'zod';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { createRedisClient, redisTargetOf, type RedisClient } from './redis-clients.js';
import { ROLE_CHANGES_CHANNEL } from './redis-wire.js';

/** A user's role on a document changed (granted, changed or revoked): the new one is in PostgreSQL. */
export interface RoleChange {
  readonly docId: string;
  readonly userId: string;
}

export interface RoleChangeHandlers {
  /** Another replica changed the role: forget what is cached and re-check its connections. */
  changed(change: RoleChange): void;
  /** Changes may have been lost (the channel was down): forget every cached role. */
  missed(): void;
}

/**
 * Tells every other replica of role changes made through this one's management API, so that
 * a revocation applies to their connections at once instead of after PERMISSION_CACHE_TTL.
 * The message carries no role: receivers read it from PostgreSQL, so two changes racing
 * through different replicas cannot leave a replica with the older one.
 */
export interface RoleChangeChannel {
  readonly kind: 'in-process' | 'redis';
  start(handlers: RoleChangeHandlers): Promise<void>;
  publish(change: RoleChange): void;
  close(): Promise<void>;
}

/**
 * Replicas in one process (a single replica, or several in a unit test), sharing `peers`.
 * A replica's own changes are applied by its API directly, so it is not told of them again.
 */
export class InProcessRoleChanges implements RoleChangeChannel {
  readonly kind = 'in-process' as const;
  private handlers: RoleChangeHandlers | undefined;

  constructor(private readonly peers: Set<InProcessRoleChanges> = new Set()) {}

  async start(handlers: RoleChangeHandlers): Promise<void> {
    this.handlers = handlers;
    this.peers.add(this);
  }

  publish(change: RoleChange): void {
    for (const peer of this.peers) {
      // Asynchronous like the real channel: a handler never runs inside the publisher's call.
      if (peer !== this) queueMicrotask(() => peer.handlers?.changed(change));
    }
  }

  async close(): Promise<void> {
    this.peers.delete(this);
  }
}

const message = z.object({ v: z.literal(1), from: z.string(), doc: z.string(), user: z.string() });

export function encodeRoleChange(from: string, change: RoleChange): string {
  return JSON.stringify({ v: 1, from, doc: change.docId, user: change.userId } satisfies z.infer<typeof message>);
}

/** undefined for anything that is not a well-formed message (another version, another writer). */
export function decodeRoleChange(text: string): (RoleChange & { readonly from: string }) | undefined {
  try {
    const parsed = message.safeParse(JSON.parse(text));
    return parsed.success ? { from: parsed.data.from, docId: parsed.data.doc, userId: parsed.data.user } : undefined;
  } catch {
    return undefined;
  }
}

export interface RedisRoleChangesOptions {
  readonly replicaId: string;
  /** PUBLISH only; never queued by ioredis while Redis is away (we keep our own bounded queue). */
  readonly publisher: RedisClient;
  /** Our own subscriber connection: the document bus's may be resubscribing or sharded. */
  readonly subscriber: RedisClient;
  readonly log: Logger;
  /**
   * Sharded pub/sub (SSUBSCRIBE/SPUBLISH, Redis 7) on a Redis Cluster, like the document
   * channels: the channel lives on the node of its slot, and no classic channel is used.
   */
  readonly sharded: boolean;
  readonly onError?: () => void;
  /** Changes kept for publication while Redis is away; past it the oldest are dropped. */
  readonly maxPending?: number;
}

/**
 * Role changes over one pub/sub channel that every replica subscribes to (sharded on a Redis
 * Cluster: one channel, so one node carries it; role changes are rare).
 *
 * Nothing here is the source of truth: a subscriber that was cut off (or saw Redis restart)
 * assumes it missed changes and forgets every cached role (handlers.missed), and a change that
 * could not be published is published when Redis is back.
 */
export class RedisRoleChanges implements RoleChangeChannel {
  readonly kind = 'redis' as const;
  private handlers: RoleChangeHandlers | undefined;
  /** Changes not yet published, by `doc:user`: several changes to one pair need one message (receivers read the role). */
  private readonly pending = new Map<string, RoleChange>();
  private closed = false;
  private outageLogged = false;
  /** The latest subscription attempt (one per connection of the subscriber). */
  private subscribing: Promise<void> | undefined;

  constructor(private readonly options: RedisRoleChangesOptions) {}

  async start(handlers: RoleChangeHandlers): Promise<void> {
    this.handlers = handlers;
    const { publisher, subscriber } = this.options;
    for (const client of [publisher, subscriber]) {
      client.on('error', (err: unknown) => this.outage(err));
      client.on('close', () => {
        if (!this.closed) this.outage(undefined);
      });
    }
    subscriber.on('ready', () => {
      this.subscribing = this.subscribe();
    });
    publisher.on('ready', () => this.flush());
    subscriber.on(this.options.sharded ? 'smessage' : 'message', (channel: string, text: string) => {
      if (channel === ROLE_CHANGES_CHANNEL) this.received(text);
    });
    // Connecting does not hold up the start (as for the document bus): until Redis answers,
    // other replicas' changes apply here once cached roles expire.
    const timeout = new Promise<void>((r) => setTimeout(r, 3000).unref());
    await Promise.race([Promise.allSettled([publisher.connect(), subscriber.connect()]), timeout]);
    // Listening before the subscription is effective would lose changes published meanwhile.
    await Promise.race([this.subscribing, timeout]);
  }

  publish(change: RoleChange): void {
    if (this.closed) return;
    this.pending.delete(keyOf(change));
    this.pending.set(keyOf(change), change);
    const oldest = this.pending.keys().next().value;
    if (this.pending.size > (this.options.maxPending ?? 10_000) && oldest !== undefined) {
      this.pending.delete(oldest);
      this.options.log.warn('too many role changes waiting for Redis: the oldest was dropped (other replicas apply it once their cached role expires)');
    }
    this.flush();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.options.subscriber.disconnect();
    this.options.publisher.disconnect();
  }

  private flush(): void {
    const { publisher, replicaId } = this.options;
    if (this.closed || publisher.status !== 'ready') return;
    for (const [key, change] of [...this.pending]) {
      this.pending.delete(key);
      const text = encodeRoleChange(replicaId, change);
      (this.options.sharded ? publisher.spublish(ROLE_CHANGES_CHANNEL, text) : publisher.publish(ROLE_CHANGES_CHANNEL, text)).catch((err: unknown) => {
        // Kept for the next 'ready' unless a newer change to the pair is waiting already.
        if (!this.pending.has(key)) this.pending.set(key, change);
        this.outage(err);
      });
    }
  }

  /**
   * Runs at every (re)connection of the subscriber: whatever was published while it was not
   * subscribed is lost, so every cached role is forgotten once the subscription is effective.
   */
  private async subscribe(): Promise<void> {
    try {
      const { subscriber, sharded } = this.options;
      await (sharded ? subscriber.ssubscribe(ROLE_CHANGES_CHANNEL) : subscriber.subscribe(ROLE_CHANGES_CHANNEL));
    } catch (err) {
      // The connection went again: the next 'ready' retries.
      this.outage(err);
      return;
    }
    this.handlers?.missed();
    if (this.outageLogged) this.options.log.info('redis available again: role changes are received; cached roles were forgotten');
    this.outageLogged = false;
  }

  private received(text: string): void {
    const change = decodeRoleChange(text);
    if (!change || change.from === this.options.replicaId) return;
    this.handlers?.changed({ docId: change.docId, userId: change.userId });
  }

  private outage(err: unknown): void {
    if (this.closed) return;
    this.options.onError?.();
    if (this.outageLogged) return;
    this.outageLogged = true;
    this.options.log.warn({ err }, 'redis unavailable: until it is back, role changes made on other replicas apply here only once cached roles expire');
  }
}

/** Redis when it is configured (the same target as the document bus), in-process otherwise. */
export function createRoleChangeChannel(config: Config, replicaId: string, log: Logger, onError: () => void): RoleChangeChannel {
  const target = redisTargetOf(config);
  if (!target) return new InProcessRoleChanges();
  return new RedisRoleChanges({
    replicaId,
    publisher: createRedisClient(target, 'publisher'),
    subscriber: createRedisClient(target, 'subscriber'),
    log,
    sharded: target.kind === 'cluster',
    onError,
  });
}

const keyOf = (change: RoleChange) => `${change.docId}:${change.userId}`;
