import type { Submission } from '../engine/document.js';
import type { CommittedChange } from '../engine/ports.js';
import type { ErrorCode } from '../protocol/codes.js';
import type { PresenceState } from '../protocol/messages.js';

/** Presence as it travels between replicas: at the sender's head revision, tagged with its replica. */
export interface RemotePresence {
  readonly docId: string;
  readonly rev: number;
  readonly replica: string;
  readonly state: PresenceState;
}

/** The owner's answer to a forwarded change, addressed to the replica that forwarded it. */
export type ForwardReply =
  | { readonly kind: 'ack'; readonly actor: string; readonly seq: number; readonly rev: number; readonly count: number; readonly duplicate: boolean }
  | { readonly kind: 'refused'; readonly actor: string; readonly seq: number; readonly code: ErrorCode; readonly message: string }
  /** The addressee does not have the document open, so it is not the owner: ask again. */
  | { readonly kind: 'not_owner'; readonly actor: string; readonly seq: number };

/**
 * Who owns a document: a lease per document, held by the replica that orders its changes.
 * `claim` takes each document's lease when it is free and renews it when it is ours, all in one
 * round trip; it answers each document's holder.
 */
export interface Leases {
  /** Lifetime of a lease from the moment its claim was sent. */
  readonly ttlMs: number;
  claim(docIds: readonly string[]): Promise<ReadonlyMap<string, string>>;
  release(docId: string): Promise<void>;
}

/** What a replica does with messages from the others. */
export interface BusHandlers {
  change(docId: string, change: CommittedChange): void;
  presence(update: RemotePresence): void;
  presenceLeft(docId: string, session: string, replica: string): void;
  /**
   * The bus may have missed messages: catch up from the log. With a document id, only that one
   * (its subscription just became effective); without, every open document (Redis came back).
   */
  resync(docId?: string): void;
  /** A replica stopped heartbeating: forget its clients' presence; returns how many entries went. */
  dropReplicaPresence(replica: string): number;
  /**
   * Presence is kept in one place, the open documents' presence tables; the bus asks them when
   * Redis needs rewriting. This replica's own sessions, at each document's head revision:
   */
  ownPresence(): RemotePresence[];
  /** Sessions of other replicas this replica knows in an open document, with their replica. */
  remoteSessions(docId: string): { readonly session: string; readonly replica: string }[];
  /** A change another replica's client made, sent to us as the document's owner. */
  forwarded(docId: string, from: string, sub: Submission): void;
  /** The owner's answer to a change we forwarded. */
  replied(docId: string, reply: ForwardReply): void;
}

/**
 * Cross-replica fan-out. Ordering never depends on it (PostgreSQL orders each document); it
 * only makes other replicas learn of changes and presence quickly.
 */
export interface Bus {
  readonly kind: 'in-process' | 'redis';
  start(handlers: BusHandlers): Promise<void>;
  /** A replica receives a document's messages only while its clients have it open. */
  subscribe(docId: string): void;
  unsubscribe(docId: string): void;
  publishChange(docId: string, change: CommittedChange): void;
  publishPresence(update: RemotePresence): void;
  publishPresenceLeft(docId: string, session: string, replica: string): void;
  /** Presence other replicas hold for a document, for a client joining here. */
  presenceOf(docId: string): Promise<RemotePresence[]>;
  /** Sends a client's change to the document's owner. */
  forward(owner: string, docId: string, sub: Submission): void;
  /** Answers a forwarded change to the replica it came from. */
  reply(to: string, docId: string, reply: ForwardReply): void;
  /** Document ownership; undefined: no shared state to hold leases in (one replica commits alone). */
  readonly leases: Leases | undefined;
  /** undefined: nothing to check (in-process). */
  readonly ping: (() => Promise<boolean>) | undefined;
  close(): Promise<void>;
}
