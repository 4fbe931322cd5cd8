import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { RelayClient, type WebSocketConstructor } from '../../src/client/index.js';
import { devToken, startRelayProcess, type RelayProcess } from '../support/relay-process.js';

const databaseUrl = inject('databaseUrl');

describe('a refused token through the real relay', () => {
  let relay: RelayProcess;
  beforeAll(async () => {
    relay = await startRelayProcess({ env: { DATABASE_URL: databaseUrl } });
  });
  afterAll(async () => {
    await relay?.stop();
  });

  it('check-token answers 200 for a good token and 401 for a bad one, with CORS', async () => {
    const good = await fetch(`${relay.url}/collab/check-token`, { headers: { authorization: `Bearer ${await devToken(relay.url, 'ada')}` } });
    expect(good.status).toBe(200);
    expect(good.headers.get('access-control-allow-origin')).toBe('*');
    const bad = await fetch(`${relay.url}/collab/check-token`, { headers: { authorization: 'Bearer not.a.token' } });
    expect(bad.status).toBe(401);
    const preflight = await fetch(`${relay.url}/collab/check-token`, { method: 'OPTIONS' });
    expect(preflight.headers.get('access-control-allow-headers')).toBe('authorization');
  });

  it('open() rejects with unauthorized and the client stops retrying', async () => {
    let attempts = 0;
    const client = new RelayClient({
      url: relay.wsUrl,
      token: () => {
        attempts++;
        return 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.forged';
      },
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      reconnect: { minDelayMs: 10, maxDelayMs: 20 },
    });
    const reasons: string[] = [];
    client.on('unauthorized', ({ reason }) => reasons.push(reason));
    await expect(client.open(randomUUID())).rejects.toMatchObject({ code: 'unauthorized' });
    expect(reasons).toHaveLength(1);
    expect(client.status.state).toBe('unauthorized');
    await new Promise((r) => setTimeout(r, 300));
    expect(attempts).toBe(1);
    client.close();
  });
});
