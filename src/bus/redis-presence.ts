import type { RemotePresence } from './bus.js';
import type { RedisClient } from './redis-clients.js';
import { REPLICAS_KEY, decodePresenceEntry, encodePresenceEntry, presenceKey, replicaDocsKey } from './redis-wire.js';

/**
 * The shared presence table in Redis: one hash per document, one field per session. Only
 * single-key commands, so it works unchanged on Redis Cluster (keys of one document and of one
 * replica live in different slots).
 */
export class RedisPresenceStore {
  /** Documents already recorded in this replica's docs set (saves a SADD per cursor move). */
  private marked = new Set<string>();

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
    await this.client.hset(presenceKey(update.docId), update.state.session, encodePresenceEntry(update));
  }

  async remove(docId: string, session: string): Promise<void> {
    await this.client.hdel(presenceKey(docId), session);
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
