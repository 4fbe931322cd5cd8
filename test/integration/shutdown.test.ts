import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { connectRaw } from '../support/raw-client.js';
import { devToken, getJson, startRelayProcess } from '../support/relay-process.js';

const databaseUrl = inject('databaseUrl');

describe('graceful shutdown', () => {
  it('fails readiness, tells clients to reconnect after a random delay, lets their changes commit, closes with 1012, exits 0', async () => {
    const relay = await startRelayProcess({
      env: { DATABASE_URL: databaseUrl, SHUTDOWN_DRAIN_SECS: '2', RECONNECT_MIN_DELAY_MS: '1000', RECONNECT_MAX_DELAY_MS: '4000' },
    });
    const doc = randomUUID();
    const client = await connectRaw(relay.wsUrl, await devToken(relay.url, 'stayer'));
    client.send({ type: 'join', doc });
    await client.next('joined');

    const exit = relay.stop('SIGTERM');
    const notice = await client.next('shutdown');
    expect(notice.reconnect_after_ms).toBeGreaterThanOrEqual(1000);
    expect(notice.reconnect_after_ms).toBeLessThanOrEqual(4000);

    // Draining: not ready, no new connections, but the joined client's change still commits.
    const ready = await getJson(`${relay.url}/ready`);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ status: 'not_ready' });
    await expect(connectRaw(relay.wsUrl, await devToken(relay.url, 'late'))).rejects.toThrow(/HTTP 503/);
    client.send({ type: 'change', doc, clock: { actor: randomUUID(), seq: 1, rev: 0 }, ops: [{ type: 'insert', pos: 0, text: 'last words' }] });
    expect(await client.next('ack')).toMatchObject({ seq: 1, rev: 0 });

    expect((await client.closed()).code).toBe(1012);
    expect(await exit).toBe(0);
  });
});
