import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { expectConverged, randomActivity, replicasForSuite, startClients } from '../support/replicas.js';

const databaseUrl = inject('databaseUrl');
const redisUrl = inject('redisUrl');
const HEARTBEAT_TIMEOUT_MS = 3000;

describe('a replica killed with SIGKILL', () => {
  const suite = replicasForSuite(3, () => ({ DATABASE_URL: databaseUrl, REDIS_URL: redisUrl }));
  const { clients } = suite;

  it('its clients resume on the others exactly once, nothing acked is lost, its presence goes everywhere within the timeout', async () => {
    const docs = [randomUUID(), randomUUID()];
    clients.push(...(await startClients(suite.set.relays, docs, 12, 'k')));
    const victim = suite.set.relays[2];
    if (!victim) throw new Error('no relay');
    const onVictim = clients.filter((c) => c.relayIndex === 2);
    const survivors = clients.filter((c) => c.relayIndex !== 2);
    expect(onVictim.length).toBe(4);

    const activity = randomActivity(clients, 9000, 77);
    await new Promise((r) => setTimeout(r, 3000));
    // Everyone has seen the victim's clients by now.
    const deadSessions = new Set(onVictim.map((c) => c.session ?? ''));
    for (const s of survivors) for (const c of onVictim) if (c.docId === s.docId) expect(s.presence.has(c.session ?? '')).toBe(true);
    const killedAt = Date.now();
    await victim.stop('SIGKILL');

    // The victim's sessions vanish from every survivor's view within the heartbeat timeout.
    let goneAfterMs = -1;
    while (Date.now() - killedAt < HEARTBEAT_TIMEOUT_MS + 3000) {
      const lingering = survivors.some((s) => [...s.presence.keys()].some((session) => deadSessions.has(session)));
      if (!lingering) {
        goneAfterMs = Date.now() - killedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    console.log(`presence of the killed replica gone everywhere after ${goneAfterMs} ms`);
    expect(goneAfterMs).toBeGreaterThanOrEqual(0);
    // HEARTBEAT_TIMEOUT_SECS plus the latency of one maintenance pass.
    expect(goneAfterMs).toBeLessThan(HEARTBEAT_TIMEOUT_MS + 750);

    await activity;
    await expectConverged(clients, databaseUrl);
    for (const c of onVictim) {
      expect(c.reconnects).toBeGreaterThanOrEqual(1);
      expect(c.relayIndex % 3).not.toBe(2);
    }
    for (const c of clients) {
      expect(c.duplicates).toEqual([]);
      expect(c.errors.filter((e) => !e.startsWith('unavailable'))).toEqual([]);
    }
    // The moved clients' new sessions are seen by the others.
    for (const s of survivors) for (const c of onVictim) if (c.docId === s.docId) expect(s.presence.get(c.session ?? '')).toBe(c.user);
  });
});
