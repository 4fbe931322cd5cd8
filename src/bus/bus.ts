import type { CommittedChange } from '../engine/ports.js';
import type { PresenceState } from '../protocol/messages.js';

/** Presence as it travels between replicas: at the sender's head revision, tagged with its replica. */
export interface RemotePresence {
  readonly docId: string;
  readonly rev: number;
  readonly replica: string;
  readonly state: PresenceState;
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
  /** undefined: nothing to check (in-process). */
  readonly ping: (() => Promise<boolean>) | undefined;
  close(): Promise<void>;
}
