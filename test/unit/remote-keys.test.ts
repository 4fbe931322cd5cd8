import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createRemoteKeySource } from '../../src/auth/remote-keys.js';
import { verifyToken } from '../../src/auth/verify.js';

const log = pino({ level: 'silent' });
const verify = { issuer: 'iss', audience: ['aud'], clockToleranceSecs: 0 };

async function key(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const sign = () => new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid }).setSubject('u').setIssuer('iss').setAudience('aud').setExpirationTime('5m').sign(privateKey);
  return { jwk, sign };
}

/** A JWKS endpoint whose keys and availability the test controls. */
async function jwksServer() {
  const state = { keys: [] as JWK[], up: true, requests: 0, extra: [] as unknown[] };
  const server: Server = createServer((_req, res) => {
    state.requests++;
    if (!state.up) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [...state.keys, ...state.extra] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/jwks`;
  return { state, url, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('remote JWKS key source', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('refetches on an unknown kid (rotation), at most once per cooldown, and keeps cached keys while the service is down', async () => {
    const server = await jwksServer();
    cleanups.push(server.close);
    const first = await key('one');
    server.state.keys = [first.jwk];
    let now = 0;
    const keys = await createRemoteKeySource({ url: server.url, cooldownMs: 1000, refreshMs: 3_600_000, now: () => now }, log);
    cleanups.push(() => keys.close());
    expect(server.state.requests).toBe(1);
    expect(keys.hasKeys()).toBe(true);
    expect((await verifyToken(await first.sign(), keys, verify)).userId).toBe('u');

    // Rotation inside the cooldown: refused without a fetch.
    const second = await key('two');
    server.state.keys = [second.jwk, first.jwk];
    await expect(verifyToken(await second.sign(), keys, verify)).rejects.toThrow('no matching key');
    expect(server.state.requests).toBe(1);
    now += 1000;
    expect((await verifyToken(await second.sign(), keys, verify)).userId).toBe('u');
    expect(server.state.requests).toBe(2);

    // A flood of unknown kids within one cooldown: one fetch at most.
    now += 1000;
    const stranger = await key('stranger');
    const results = await Promise.allSettled(Array.from({ length: 50 }, async () => verifyToken(await stranger.sign(), keys, verify)));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(server.state.requests).toBe(3);

    // Down: cached keys still verify; failed attempts are rate-limited too.
    server.state.up = false;
    now += 1000;
    await expect(verifyToken(await stranger.sign(), keys, verify)).rejects.toThrow('no matching key');
    await expect(verifyToken(await stranger.sign(), keys, verify)).rejects.toThrow('no matching key');
    expect(server.state.requests).toBe(4);
    expect(keys.state()).toMatchObject({ keys: 2, lastError: 'JWKS endpoint answered HTTP 503' });
    expect((await verifyToken(await first.sign(), keys, verify)).userId).toBe('u');
    expect(keys.hasKeys()).toBe(true);
  });

  it('ignores symmetric and private keys in the set', async () => {
    const server = await jwksServer();
    cleanups.push(server.close);
    const good = await key('good');
    server.state.keys = [good.jwk];
    server.state.extra = [{ kty: 'oct', k: 'c2VjcmV0', kid: 'hmac', alg: 'HS256' }, { ...good.jwk, kid: 'with-d', d: 'xxx' }, { ...good.jwk, kid: 'enc', use: 'enc' }, 'nonsense'];
    const keys = await createRemoteKeySource({ url: server.url, cooldownMs: 1000, refreshMs: 3_600_000 }, log);
    cleanups.push(() => keys.close());
    expect(keys.state().keys).toBe(1);
  });

  it('starts without keys when the service is down, and reports it', async () => {
    const server = await jwksServer();
    cleanups.push(server.close);
    server.state.up = false;
    const keys = await createRemoteKeySource({ url: server.url, cooldownMs: 50, refreshMs: 3_600_000 }, log);
    cleanups.push(() => keys.close());
    expect(keys.hasKeys()).toBe(false);
    const k = await key('later');
    server.state.keys = [k.jwk];
    server.state.up = true;
    // The background retry runs every cooldown while there are no keys.
    for (let i = 0; i < 40 && !keys.hasKeys(); i++) await new Promise((r) => setTimeout(r, 25));
    expect(keys.hasKeys()).toBe(true);
  });

  it('a hostile JWKS endpoint (endless chunked body, or one that drips) is cut off at 512 KiB or at the timeout, with one request per refresh', async () => {
    let requests = 0;
    let streamed = 0;
    const server: Server = createServer((req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' });
      const drip = req.url === '/drip';
      const chunk = Buffer.alloc(drip ? 1 : 64 * 1024, 0x20);
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer);
        streamed += chunk.length;
        res.write(chunk);
      }, drip ? 20 : 1);
      res.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
    const address = server.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const warnings: string[] = [];
    const spy = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });

    const started = Date.now();
    const flood = await createRemoteKeySource({ url: `${base}/flood`, cooldownMs: 60_000, refreshMs: 3_600_000, timeoutMs: 5000 }, spy);
    cleanups.push(() => flood.close());
    expect(flood.hasKeys()).toBe(false);
    expect(flood.state().lastError).toBe('JWKS response too large');
    expect(requests).toBe(1);
    // Stopped within a few chunks of the cap, not after gigabytes.
    expect(streamed).toBeLessThan(2 * 1024 * 1024);

    const dripStarted = Date.now();
    const drip = await createRemoteKeySource({ url: `${base}/drip`, cooldownMs: 60_000, refreshMs: 3_600_000, timeoutMs: 500 }, spy);
    cleanups.push(() => drip.close());
    expect(drip.state().lastError).toMatch(/did not answer within 500 ms/);
    expect(Date.now() - dripStarted).toBeLessThan(3000);
    expect(requests).toBe(2);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(warnings.join('')).toContain('could not fetch the JWKS');
  });
});
