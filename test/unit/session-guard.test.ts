import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { KeySet } from '../../src/auth/key-set.js';
import type { KeySource } from '../../src/auth/keys.js';
import { Metrics } from '../../src/metrics.js';
import { Connection } from '../../src/server/connection.js';
import { RateLimiter } from '../../src/server/rate-limit.js';
import { SessionGuard } from '../../src/server/session-guard.js';

async function signer() {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256', use: 'sig' };
  const set = KeySet.fromJwks({ keys: [jwk] });
  let held = set;
  let release: () => void = () => undefined;
  let gate: Promise<void> = Promise.resolve();
  // While held, the key is "not fetched yet": verification waits for the test's release, so
  // the connection closes while a token is being verified.
  const keys: KeySource = {
    current: () => held,
    refetch: () =>
      gate.then(() => {
        held = set;
      }),
    hasKeys: () => true,
    kind: 'remote',
    close: () => undefined,
  };
  return {
    keys,
    hold: () => {
      held = KeySet.empty;
      gate = new Promise((r) => (release = r));
    },
    release: () => release(),
    sign: (exp: string | number) => new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setSubject('u').setIssuedAt().setExpirationTime(exp).sign(privateKey),
  };
}

function guardFor(keys: KeySource) {
  const connections = new Set<Connection>();
  const guard = new SessionGuard({
    keys,
    verify: { issuer: undefined, audience: undefined, clockToleranceSecs: 0 },
    access: { effectiveRole: () => Promise.resolve(undefined), invalidate: () => undefined, policy: 'acl' } as never,
    metrics: new Metrics(),
    log: pino({ level: 'silent' }),
    now: Date.now,
    connections: () => connections,
    evict: () => undefined,
  });
  return guard;
}

function connection(expiresAt: number): Connection {
  return new Connection('s', { userId: 'u', name: 'u', expiresAt, claims: {} }, { id: 'u', name: 'u', color: '#000000' }, Date.now(), new RateLimiter({ messagesPerSec: 10, messageBurst: 10, bytesPerSec: 1e6, bytesBurst: 1e6 }, Date.now()), () => undefined);
}

describe('session guard', () => {
  it('arms no expiry timer for a connection that closed while its fresh token was verified', async () => {
    const s = await signer();
    const guard = guardFor(s.keys);
    const closedMeanwhile: Connection[] = [];
    for (let i = 0; i < 20; i++) {
      const c = connection(Math.floor(Date.now() / 1000) + 60);
      guard.scheduleExpiry(c);
      expect(c.expiryTimer).toBeDefined();
      s.hold();
      const pending = guard.reauthenticate(c, await s.sign('10h'));
      // What CollabServer.closed does.
      c.detach();
      c.clearTimers();
      s.release();
      await pending;
      closedMeanwhile.push(c);
    }
    // Nothing holds these connections any more: no timer of theirs is armed.
    expect(closedMeanwhile.filter((c) => c.expiryTimer !== undefined)).toHaveLength(0);
  });

  it('still extends an open connection with a fresh token', async () => {
    const s = await signer();
    const guard = guardFor(s.keys);
    const c = connection(Math.floor(Date.now() / 1000) + 60);
    guard.scheduleExpiry(c);
    await guard.reauthenticate(c, await s.sign('10h'));
    expect(c.principal.expiresAt).toBeGreaterThan(Math.floor(Date.now() / 1000) + 3600);
    expect(c.expiryTimer).toBeDefined();
    c.detach();
    c.clearTimers();
  });
});

describe('maximum token lifetime', () => {
  it('refuses a token valid until 2200 when JWT_MAX_LIFETIME_SECS is set, and accepts it when not', async () => {
    const { verifyToken } = await import('../../src/auth/verify.js');
    const s = await signer();
    const until2200 = Math.floor(Date.UTC(2200, 0, 1) / 1000);
    const longLived = await s.sign(until2200);
    const limited = { issuer: undefined, audience: undefined, clockToleranceSecs: 5, maxLifetimeSecs: 86_400 };
    await expect(verifyToken(longLived, s.keys, limited)).rejects.toThrow('token lifetime exceeds the maximum');
    expect((await verifyToken(await s.sign('1h'), s.keys, limited)).userId).toBe('u');
    expect((await verifyToken(longLived, s.keys, { ...limited, maxLifetimeSecs: 0 })).userId).toBe('u');
  });
});
