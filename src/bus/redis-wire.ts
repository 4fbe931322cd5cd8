import { z } from 'zod';
import type { CommittedChange } from '../engine/ports.js';
import { ErrorCode } from '../protocol/codes.js';
import { opSchema, presenceData } from '../protocol/messages.js';
import type { DeleteOp, InsertOp } from '../ot/index.js';
import { isFields, isPlainOp, isRevision, isSeq } from '../protocol/field-checks.js';
import type { RemotePresence } from './bus.js';

/*
 * Everything the relay keeps in Redis, in one place (docs/operations.md, "Redis", describes it
 * for operators). Redis holds nothing that cannot be lost: PostgreSQL has every committed op,
 * and presence is rebuilt by the replicas that hold the sessions.
 */

const PREFIX = 'relay';

/** Pub/sub channel of one document: committed changes and presence of every replica. */
export const channelOf = (docId: string): string => `${PREFIX}:doc:${docId}`;
export const docOfChannel = (channel: string): string | undefined =>
  channel.startsWith(`${PREFIX}:doc:`) ? channel.slice(PREFIX.length + 5) : undefined;

/**
 * Hash of a document's presence: field = session id, value = a PresenceEntry as JSON, written
 * only by the replica holding the session (an image of its table: redis-presence.ts).
 */
export const presenceKey = (docId: string): string => `${PREFIX}:presence:${docId}`;
/** A replica's heartbeat: exists while the replica lives (expires when it stops refreshing it). */
export const heartbeatKey = (replica: string): string => `${PREFIX}:replica:${replica}`;
/** Documents in whose presence hash a replica has written, so its entries can be found when it dies. */
export const replicaDocsKey = (replica: string): string => `${PREFIX}:replica:${replica}:docs`;
/** Every replica that has heartbeated and was not yet found dead. */
export const REPLICAS_KEY = `${PREFIX}:replicas`;

/**
 * Pub/sub channel of role changes made through the management API (src/bus/revocations.ts):
 * one for the whole deployment, since every replica may hold connections of the user.
 */
export const ROLE_CHANGES_CHANNEL = `${PREFIX}:role-changes`;

/**
 * Lease of a document's owner replica: value = the owner's replica id, with a TTL the owner
 * keeps renewing while the document is open there. Losing it loses nothing: PostgreSQL still
 * orders every commit; a lost lease only means another replica may start committing too.
 */
export const ownerKey = (docId: string): string => `${PREFIX}:owner:${docId}`;
/** Pub/sub channel of one replica: changes forwarded to it as owner, and the owners' replies to them. */
export const inboxOf = (replica: string): string => `${PREFIX}:inbox:${replica}`;
export const replicaOfInbox = (channel: string): string | undefined =>
  channel.startsWith(`${PREFIX}:inbox:`) ? channel.slice(PREFIX.length + 7) : undefined;

/**
 * For each document, takes the lease when nobody holds it and renews it when we do; answers
 * the holders, in the order of the keys, whatever our role. One call renews every lease a
 * replica holds on one Redis (one round trip per renewal period instead of one per document).
 * KEYS = ownerKey of each document, ARGV[1] = our replica id, ARGV[2] = TTL in ms.
 */
export const CLAIM_LEASES_SCRIPT = `
local holders = {}
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if not holder then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    holder = ARGV[1]
  elseif holder == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
  end
  holders[i] = holder
end
return holders`;
/** Gives the lease up if we still hold it. KEYS[1] = ownerKey, ARGV[1] = our replica id. */
export const RELEASE_LEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

const selection = z.object({ anchor: z.number().int().nonnegative(), head: z.number().int().nonnegative() });
const presenceState = z.object({
  session: z.string(),
  user: z.object({ id: z.string(), name: z.string(), color: z.string() }),
  selection: selection.nullable(),
  typing: z.boolean(),
  data: presenceData.optional(),
});

/** `from` is the sender replica: a replica receives its own publications and ignores them. */
const envelope = z.discriminatedUnion('kind', [
  z.object({
    v: z.literal(1),
    from: z.string(),
    kind: z.literal('change'),
    rev: z.number().int().nonnegative(),
    ops: z.array(opSchema),
    actor: z.string(),
    seq: z.number().int().positive(),
    user: z.string(),
    at: z.number(),
  }),
  z.object({ v: z.literal(1), from: z.string(), kind: z.literal('presence'), rev: z.number().int().nonnegative(), state: presenceState }),
  z.object({ v: z.literal(1), from: z.string(), kind: z.literal('left'), session: z.string() }),
]);
export type Envelope = z.infer<typeof envelope>;

/** Messages on a replica's inbox: a change forwarded to the owner, and the owner's answer. */
const inboxMessage = z.discriminatedUnion('kind', [
  z.object({
    v: z.literal(1),
    from: z.string(),
    kind: z.literal('submit'),
    doc: z.string(),
    actor: z.string(),
    seq: z.number().int().positive(),
    rev: z.number().int().nonnegative(),
    ops: z.array(opSchema),
    user: z.string(),
  }),
  z.object({
    v: z.literal(1),
    from: z.string(),
    kind: z.literal('ack'),
    doc: z.string(),
    actor: z.string(),
    seq: z.number().int().positive(),
    rev: z.number().int().nonnegative(),
    count: z.number().int().nonnegative(),
    duplicate: z.boolean(),
  }),
  z.object({
    v: z.literal(1),
    from: z.string(),
    kind: z.literal('refused'),
    doc: z.string(),
    actor: z.string(),
    seq: z.number().int().positive(),
    code: z.enum(ErrorCode),
    message: z.string(),
  }),
  /** The receiver does not have the document open (so cannot be its owner): ask Redis again. */
  z.object({ v: z.literal(1), from: z.string(), kind: z.literal('not_owner'), doc: z.string(), actor: z.string(), seq: z.number().int().positive() }),
]);
export type InboxMessage = z.infer<typeof inboxMessage>;

export function encodeInbox(message: InboxMessage): string {
  return JSON.stringify(message);
}

/** undefined for anything that is not a well-formed inbox message. */
export function decodeInbox(text: string): InboxMessage | undefined {
  try {
    const value: unknown = JSON.parse(text);
    const fast = plainInbox(value);
    if (fast) return fast;
    const parsed = inboxMessage.safeParse(value);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/*
 * The change, submit and ack of every keystroke are checked by hand before the schemas: in a
 * perf profile of bench:replicas (hot document, 3 replicas) zod's generic walk of them was a
 * visible share of a non-owner's CPU. A hand check accepts only what its schema accepts and
 * yields the same value; whatever it does not take (another op type, attributes, another kind)
 * goes to the schema, which keeps the last word.
 */

/**
 * The ops when every one is plain (isPlainOp), as they are: JSON.parse made them and nobody
 * else holds them. undefined sends the message to the schema.
 */
function plainOps(value: unknown): (InsertOp | DeleteOp)[] | undefined {
  return Array.isArray(value) && value.every(isPlainOp) ? value : undefined;
}

/** A submit of plain ops, or an ack, checked by hand; undefined: ask the schema. */
function plainInbox(value: unknown): InboxMessage | undefined {
  if (!isFields(value) || value.v !== 1 || typeof value.from !== 'string' || typeof value.doc !== 'string' || typeof value.actor !== 'string' || !isSeq(value.seq)) return undefined;
  const { from, doc, actor, seq } = value;
  if (value.kind === 'submit') {
    const ops = plainOps(value.ops);
    if (!ops || !isRevision(value.rev) || typeof value.user !== 'string') return undefined;
    return { v: 1, from, kind: 'submit', doc, actor, seq, rev: value.rev, ops, user: value.user };
  }
  if (value.kind === 'ack' && isRevision(value.rev) && isRevision(value.count) && typeof value.duplicate === 'boolean') {
    return { v: 1, from, kind: 'ack', doc, actor, seq, rev: value.rev, count: value.count, duplicate: value.duplicate };
  }
  return undefined;
}

const presenceEntry = z.object({ replica: z.string(), rev: z.number().int().nonnegative(), state: presenceState });

export function encodeChange(from: string, change: CommittedChange): string {
  return JSON.stringify({
    v: 1,
    from,
    kind: 'change',
    rev: change.rev,
    ops: change.ops,
    actor: change.actor,
    seq: change.seq,
    user: change.userId,
    at: change.committedAt,
  });
}

export function encodePresence(update: RemotePresence): string {
  return JSON.stringify({ v: 1, from: update.replica, kind: 'presence', rev: update.rev, state: update.state } satisfies Envelope);
}

export function encodeLeft(from: string, session: string): string {
  return JSON.stringify({ v: 1, from, kind: 'left', session } satisfies Envelope);
}

/**
 * Whether `text` is an envelope `replica` published: every encoder above writes `v` and `from`
 * first, so a replica can drop its own publications (Redis sends them back to it) without
 * parsing and validating each of them.
 */
export function publishedBy(replica: string, text: string): boolean {
  return text.startsWith(`{"v":1,"from":${JSON.stringify(replica)},`);
}

/** undefined for anything that is not a well-formed envelope (another version, another writer). */
export function decodeEnvelope(text: string): Envelope | undefined {
  try {
    const value: unknown = JSON.parse(text);
    const fast = plainChange(value);
    if (fast) return fast;
    const parsed = envelope.safeParse(value);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** A change of plain ops checked by hand; undefined: ask the schema. */
function plainChange(value: unknown): Envelope | undefined {
  if (!isFields(value) || value.v !== 1 || value.kind !== 'change' || typeof value.from !== 'string') return undefined;
  const ops = plainOps(value.ops);
  const { rev, actor, seq, user, at } = value;
  if (!ops || !isRevision(rev) || typeof actor !== 'string' || !isSeq(seq) || typeof user !== 'string' || typeof at !== 'number' || !Number.isFinite(at)) return undefined;
  return { v: 1, from: value.from, kind: 'change', rev, ops, actor, seq, user, at };
}

export function changeOf(e: Extract<Envelope, { kind: 'change' }>): CommittedChange {
  return { rev: e.rev, ops: e.ops, actor: e.actor, seq: e.seq, userId: e.user, committedAt: e.at };
}

export function encodePresenceEntry(update: RemotePresence): string {
  return JSON.stringify({ replica: update.replica, rev: update.rev, state: update.state });
}

export function decodePresenceEntry(docId: string, text: string): RemotePresence | undefined {
  try {
    const parsed = presenceEntry.safeParse(JSON.parse(text));
    return parsed.success ? { docId, rev: parsed.data.rev, replica: parsed.data.replica, state: parsed.data.state } : undefined;
  } catch {
    return undefined;
  }
}
