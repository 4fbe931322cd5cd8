import { createRemoteJWKSet } from 'jose';
import type { Logger } from '../log.js';
import type { KeySource } from './keys.js';

export interface RemoteKeyOptions {
  readonly url: string;
  /** A token with an unknown `kid` triggers a refetch at most this often. */
  readonly cooldownMs: number;
  /** Keys are refreshed in the background this often; a failed refresh keeps the cached keys. */
  readonly refreshMs: number;
}

/**
 * The identity service's JWKS via jose. The cache never expires by age: while the identity
 * service is down, the keys we already have keep verifying tokens, and the background refresh
 * keeps trying. Key rotation works through the refetch on an unknown `kid`.
 */
export async function createRemoteKeySource(options: RemoteKeyOptions, log: Logger): Promise<KeySource> {
  const jwks = createRemoteJWKSet(new URL(options.url), {
    cooldownDuration: options.cooldownMs,
    cacheMaxAge: Infinity,
    timeoutDuration: 5000,
  });
  const refresh = async () => {
    try {
      await jwks.reload();
    } catch (err) {
      log.warn({ err, jwks: options.url }, 'could not fetch the JWKS; cached keys stay in use');
    }
  };
  await refresh();
  const timer = setInterval(() => void refresh(), options.refreshMs);
  timer.unref();
  return {
    getKey: jwks,
    hasKeys: () => (jwks.jwks()?.keys.length ?? 0) > 0,
    kind: 'remote',
    close: () => clearInterval(timer),
  };
}
