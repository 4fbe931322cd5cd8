import { PRESENCE_MAX_LAG_OPS } from '../engine/document.js';
import type { RemotePresence } from './bus.js';
import type { RedisClient } from './redis-clients.js';
import { REPLICAS_KEY, decodePresenceEntry, encodePresenceEntry, presenceKey, replicaDocsKey } from './redis-wire.js';

/**
 * An entry this many revisions behind its document's head is written again: a joiner moves it
 * to its head only within PRESENCE_MAX_LAG_OPS (further back it is cleared), so an idle cursor
 * on a busy document would otherwise vanish for everyone who joins later.
 */
export const PRESENCE_REFRESH_LAG_OPS = Math.floor(PRESENCE_MAX_LAG_OPS / 2);

/**
 * The image in Redis of each replica's own presence, for replicas that join a document or come
 * back late: one hash per document, one field per session, written only by the replica that
 * holds the session (the table in its engine is the one authoritative copy; `sync` makes this
 * image match it). Only single-key commands, so it works unchanged on Redis Cluster (keys of
 * one document and of one replica live in different slots).
 */
export class RedisPresenceStore {
  /** Documents already recorded in this replica's docs set (saves a SADD per cursor move). */
  private marked = new Set<string>();
  /** Revision of each entry we wrote, by document and session: what `sync` compares with. */
  private readonly written = new Map<string, Map<string, number>>();

  constructor(
    private readonly client: RedisClient,
    private readonly replicaId: string,
  ) {}

  async write(update: RemotePresence): Promise<void> {
    if (!this.marked.has(update.docId)) {
      // Recorded before the entry, so a replica that dies right after writing is still cleaned up.
      await this.client.sadd(replicaDocsKey(this.replicaId), update.docId);
      this.marked.add(update.docId);
    }
    const ofDoc = this.written.get(update.docId) ?? new Map<string, number>();
    this.written.set(update.docId, ofDoc);
    ofDoc.set(update.state.session, update.rev);
    await this.client.hset(presenceKey(update.docId), update.state.session, encodePresenceEntry(update));
  }

  async remove(docId: string, session: string): Promise<void> {
    const ofDoc = this.written.get(docId);
    ofDoc?.delete(session);
    if (ofDoc?.size === 0) this.written.delete(docId);
    await this.client.hdel(presenceKey(docId), session);
  }

  /**
   * Makes the image match this replica's table (`own`, at each document's head): entries that
   * fell PRESENCE_REFRESH_LAG_OPS behind, or were never written (Redis was away), are written;
   * entries of sessions that left meanwhile are removed. Returns how many commands it sent.
   */
  async sync(own: readonly RemotePresence[]): Promise<number> {
    const held = new Set(own.map((u) => `${u.docId}\u0000${u.state.session}`));
    // Decided before the first await: a session that joins while this runs is not in `own`.
    const gone = [...this.written].flatMap(([docId, sessions]) => [...sessions.keys()].filter((s) => !held.has(`${docId}\u0000${s}`)).map((session) => ({ docId, session })));
    const stale = own.filter((u) => {
      const rev = this.written.get(u.docId)?.get(u.state.session);
      return rev === undefined || u.rev - rev >= PRESENCE_REFRESH_LAG_OPS;
    });
    // Independent commands: sent together, none waiting for another's answer (one round trip).
    await Promise.all([...stale.map((update) => this.write(update)), ...gone.map(({ docId, session }) => this.remove(docId, session))]);
    return stale.length + gone.length;
  }

  async list(docId: string): Promise<RemotePresence[]> {
    const fields = await this.client.hgetall(presenceKey(docId));
    const entries: RemotePresence[] = [];
    for (const text of Object.values(fields)) {
      const entry = decodePresenceEntry(docId, text);
      if (entry) entries.push(entry);
    }
    return entries;
  }

  /** Redis may have lost our records (restarted, or we were presumed dead): write them again. */
  forgetMarks(): void {
    this.marked = new Set();
  }

  /** Removes a dead replica's entries and records. Idempotent: every replica may do it at once. */
  async bury(replica: string): Promise<void> {
    const docs = await this.client.smembers(replicaDocsKey(replica));
    for (const docId of docs) {
      const fields = await this.client.hgetall(presenceKey(docId));
      const theirs = Object.entries(fields)
        .filter(([, text]) => decodePresenceEntry(docId, text)?.replica === replica)
        .map(([session]) => session);
      if (theirs.length > 0) await this.client.hdel(presenceKey(docId), ...theirs);
    }
    await this.client.del(replicaDocsKey(replica));
    await this.client.srem(REPLICAS_KEY, replica);
  }
}
