import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { conflictsOf, expectConverged, longestAckGap, metricOf, ownerOf, replicasForSuite, startClients, typeSteadily } from '../support/replicas.js';
import type { RelayProcess } from '../support/relay-process.js';

const databaseUrl = inject('databaseUrl');
const redisUrl = inject('redisUrl');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForOwner(relays: readonly RelayProcess[], doc: string, timeoutMs = 10_000): Promise<RelayProcess> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const owner = await ownerOf(redisUrl, relays, doc);
    if (owner) return owner;
    if (Date.now() > deadline) throw new Error(`no replica took ownership of ${doc}`);
    await sleep(100);
  }
}

const commitsOf = (relay: RelayProcess) => metricOf(relay, 'materi_commit_latency_seconds_count');

describe('document ownership over three replicas', () => {
  const suite = replicasForSuite(3, () => ({ DATABASE_URL: databaseUrl, REDIS_URL: redisUrl }));
  const { clients } = suite;

  it('a hot document with writers on three replicas: one owner commits, nothing is rolled back, all converge', async () => {
    const doc = randomUUID();
    const writers = await startClients(suite.set.relays, [doc], 9, 'hot');
    clients.push(...writers);
    expect(new Set(writers.map((w) => w.relayIndex)).size).toBe(3);
    const owner = await waitForOwner(suite.set.relays, doc);
    // Warm-up: the lease is taken and every replica knows the owner.
    await typeSteadily(writers, 1500, 11);
    const conflictsBefore = await conflictsOf(suite.set.relays);
    const commitsBefore = await Promise.all(suite.set.relays.map(commitsOf));
    const acksBefore = writers.map((w) => w.acked.size);
    await typeSteadily(writers, 5000, 12);
    await expectConverged(writers, databaseUrl);
    const commitsAfter = await Promise.all(suite.set.relays.map(commitsOf));
    expect(await conflictsOf(suite.set.relays)).toBe(conflictsBefore);
    // Only the owner wrote to the op log; the others forwarded, and their writers were acked.
    suite.set.relays.forEach((relay, i) => {
      if (relay === owner) expect(commitsAfter[i]).toBeGreaterThan(commitsBefore[i] ?? 0);
      else expect(commitsAfter[i]).toBe(commitsBefore[i]);
    });
    writers.forEach((w, i) => expect(w.acked.size).toBeGreaterThan(acksBefore[i] ?? 0));
    for (const w of writers) {
      expect(w.errors).toEqual([]);
      expect(w.closes.filter((close) => !/^(1006|4008) /.test(close))).toEqual([]);
    }
    expect(await ownerOf(redisUrl, suite.set.relays, doc)).toBe(owner);
  });

  it('kill -9 of the owner under load: another replica takes over, writes resume within 3 s, nothing acked lost or duplicated', async () => {
    const doc = randomUUID();
    const writers = await startClients(suite.set.relays, [doc], 9, 'fail');
    clients.push(...writers);
    const owner = await waitForOwner(suite.set.relays, doc);
    const victim = suite.set.relays.indexOf(owner);
    const survivors = writers.filter((w) => w.relayIndex !== victim);
    const typing = typeSteadily(writers, 9000, 21);
    await sleep(3000);
    const killedAt = Date.now();
    await owner.stop('SIGKILL');
    await typing;
    const others = suite.set.relays.filter((r) => r !== owner);
    const successor = await waitForOwner(others, doc);
    expect(successor).not.toBe(owner);
    const gap = longestAckGap(survivors, killedAt - 500, killedAt + 5000);
    console.log(`writes on the surviving replicas resumed after a gap of ${gap} ms (kill -9 of the owner)`);
    expect(gap).toBeLessThan(3000);
    await expectConverged(writers, databaseUrl);
    for (const w of writers) {
      expect(w.duplicates).toEqual([]);
      expect(w.errors.filter((e) => !e.startsWith('unavailable'))).toEqual([]);
    }
    for (const w of writers.filter((w) => !survivors.includes(w))) expect(w.reconnects).toBeGreaterThanOrEqual(1);
  });
});
