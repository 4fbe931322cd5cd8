import type { Leases } from './bus.js';
import type { RedisClient } from './redis-clients.js';
import { CLAIM_LEASE_SCRIPT, RELEASE_LEASE_SCRIPT, ownerKey } from './redis-wire.js';

/** Document ownership leases in Redis: one key per document (single-key scripts, so Cluster-safe). */
export class RedisLeases implements Leases {
  constructor(
    private readonly client: RedisClient,
    private readonly replicaId: string,
    readonly ttlMs: number,
  ) {}

  async claim(docId: string): Promise<string> {
    const holder: unknown = await this.client.eval(CLAIM_LEASE_SCRIPT, 1, ownerKey(docId), this.replicaId, String(this.ttlMs));
    if (typeof holder !== 'string') throw new Error('unexpected answer to a lease claim');
    return holder;
  }

  async release(docId: string): Promise<void> {
    await this.client.eval(RELEASE_LEASE_SCRIPT, 1, ownerKey(docId), this.replicaId);
  }
}
