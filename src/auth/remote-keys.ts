import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { JSONWebKeySet, JWK } from 'jose';
import type { Logger } from '../log.js';
import { KeySet } from './key-set.js';
import type { KeySource } from './keys.js';

export interface RemoteKeyOptions {
  readonly url: string;
  /**
   * Fetches of the JWKS, whatever triggers them (an unknown `kid`, a retry after a failure),
   * are at least this far apart, so a flood of tokens with made-up `kid`s costs the identity
   * service one request per cooldown, also while it is down.
   */
  readonly cooldownMs: number;
  /** Background refresh interval while fetches succeed. */
  readonly refreshMs: number;
  readonly timeoutMs?: number;
  readonly now?: () => number;
  readonly onFetchError?: () => void;
}

/** A JWKS larger than this is refused: the identity service is trusted, but not its proxy's error pages. */
const MAX_JWKS_BYTES = 512 * 1024;

/**
 * The identity service's JWKS, cached without an age limit: while the identity service is
 * down, the keys we already have keep verifying tokens. Rotation works through a refetch on
 * an unknown `kid`. We do not use jose's createRemoteJWKSet because its cooldown only counts
 * from the last successful fetch: while the service is down every bad `kid` would refetch.
 */
/** The identity service's keys, and what the last fetch saw (for tests and diagnostics). */
export interface RemoteKeySource extends KeySource {
  state(): { readonly keys: number; readonly lastError: string | undefined };
}

export async function createRemoteKeySource(options: RemoteKeyOptions, log: Logger): Promise<RemoteKeySource> {
  const now = options.now ?? Date.now;
  let held = KeySet.empty;
  let keyCount = 0;
  let lastAttemptAt = -Infinity;
  let lastError: string | undefined;
  let pending: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const fetchOnce = async (reason: string): Promise<void> => {
    lastAttemptAt = now();
    try {
      const jwks = await download(options.url, options.timeoutMs ?? 5000);
      held = KeySet.fromJwks(jwks);
      keyCount = held.size;
      if (lastError !== undefined) log.info({ jwks: options.url, keys: keyCount }, 'JWKS reachable again');
      lastError = undefined;
      log.debug({ jwks: options.url, keys: keyCount, reason }, 'JWKS fetched');
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
      options.onFetchError?.();
      log.warn({ jwks: options.url, reason, error: lastError, cached_keys: keyCount }, 'could not fetch the JWKS; cached keys stay in use');
    }
  };

  /** At most one fetch at a time, and none within the cooldown of the previous attempt (undefined then). */
  const refetch = (reason: string): Promise<void> | undefined => {
    if (pending) return pending;
    if (now() - lastAttemptAt < options.cooldownMs) return undefined;
    pending = fetchOnce(reason).finally(() => {
      pending = undefined;
    });
    return pending;
  };

  const schedule = () => {
    if (closed) return;
    // While the service is down (or we have no keys) retry soon; otherwise the slow refresh.
    const delay = lastError !== undefined || keyCount === 0 ? options.cooldownMs : options.refreshMs;
    timer = setTimeout(() => {
      void Promise.resolve(refetch('refresh')).finally(schedule);
    }, delay);
    timer.unref();
  };

  await refetch('start');
  schedule();

  return {
    // Verification reads the held set synchronously and asks for a refetch only for a token
    // no held key fits; a set that did not change (failed fetch) refuses it as before.
    current: () => held,
    refetch: () => refetch('unknown kid'),
    hasKeys: () => keyCount > 0,
    state: () => ({ keys: keyCount, lastError }),
    kind: 'remote',
    close: () => {
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
}

async function download(url: string, timeoutMs: number): Promise<JSONWebKeySet> {
  const text = await readCapped(url, timeoutMs);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error('JWKS response is not JSON');
  }
  const keys = (body as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) throw new Error('JWKS response has no keys array');
  // Only public signing keys: a symmetric (`oct`) key in the set would let anyone who saw the
  // set sign tokens, and encryption keys have no business verifying signatures.
  const usable = keys.filter((k): k is JWK => {
    if (typeof k !== 'object' || k === null) return false;
    const jwk = k as JWK;
    return (jwk.kty === 'RSA' || jwk.kty === 'EC' || jwk.kty === 'OKP') && (jwk.use === undefined || jwk.use === 'sig') && jwk.d === undefined;
  });
  return { keys: usable };
}

/**
 * One GET of the JWKS, streamed: the byte count is checked as chunks arrive (a chunked body
 * without a length cannot grow past the cap), and one deadline covers connecting, the headers
 * and the whole body (a server that drips bytes cannot hold the read open). A fresh socket per
 * fetch (no keep-alive pool), so there is no stale pooled socket to retry on: one request each.
 */
function readCapped(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
    let settled = false;
    const finish = (err: Error | undefined, text?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (err) {
        req.destroy();
        reject(err);
      } else {
        resolve(text ?? '');
      }
    };
    const req = request(target, { method: 'GET', agent: false, headers: { accept: 'application/json' } }, (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      // Redirects are not followed: the configured URL is the identity service's.
      if (status < 200 || status > 299) {
        res.resume();
        finish(new Error(`JWKS endpoint answered HTTP ${status}`));
        return;
      }
      if (Number(res.headers['content-length'] ?? 0) > MAX_JWKS_BYTES) {
        finish(new Error('JWKS response too large'));
        return;
      }
      const chunks: Buffer[] = [];
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > MAX_JWKS_BYTES) {
          finish(new Error('JWKS response too large'));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => finish(undefined, Buffer.concat(chunks).toString('utf8')));
      res.on('error', (err) => finish(err));
    });
    const deadline = setTimeout(() => finish(new Error(`JWKS endpoint did not answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => finish(err));
    req.end();
  });
}
