import { Cluster } from 'ioredis';
import type { Leases } from './bus.js';
import type { RedisClient } from './redis-clients.js';
import { CLAIM_LEASES_SCRIPT, RELEASE_LEASE_SCRIPT, ownerKey } from './redis-wire.js';

/** Keys per script call: bounds how long one call holds Redis (a script blocks it while it runs). */
const KEYS_PER_CALL = 500;

/**
 * Document ownership leases in Redis, one key per document. On one Redis (or a Sentinel
 * primary) every claim of a renewal goes out as one pipeline of scripts of up to 500 keys:
 * one round trip. On a Cluster, keys of different documents live in different slots and a
 * script may only touch one: each document is claimed by its own call, all sent at once.
 */
export class RedisLeases implements Leases {
  constructor(
    private readonly client: RedisClient,
    private readonly replicaId: string,
    readonly ttlMs: number,
  ) {}

  async claim(docIds: readonly string[]): Promise<ReadonlyMap<string, string>> {
    const groups = this.client instanceof Cluster ? docIds.map((d) => [d]) : chunks(docIds, KEYS_PER_CALL);
    const answers = await this.send(groups);
    const holders = new Map<string, string>();
    groups.forEach((group, g) => {
      const answer = answers[g];
      if (!Array.isArray(answer) || answer.length !== group.length) throw new Error('unexpected answer to a lease claim');
      group.forEach((docId, i) => {
        const holder: unknown = answer[i];
        if (typeof holder !== 'string') throw new Error('unexpected answer to a lease claim');
        holders.set(docId, holder);
      });
    });
    return holders;
  }

  async release(docId: string): Promise<void> {
    await this.client.eval(RELEASE_LEASE_SCRIPT, 1, ownerKey(docId), this.replicaId);
  }

  private async send(groups: readonly (readonly string[])[]): Promise<unknown[]> {
    const args = (group: readonly string[]) => [CLAIM_LEASES_SCRIPT, group.length, ...group.map(ownerKey), this.replicaId, String(this.ttlMs)] as const;
    if (this.client instanceof Cluster) return Promise.all(groups.map((group) => this.client.eval(...args(group))));
    const pipeline = this.client.pipeline();
    for (const group of groups) pipeline.eval(...args(group));
    const results = (await pipeline.exec()) ?? [];
    return results.map(([err, answer]) => {
      if (err) throw err;
      return answer;
    });
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
