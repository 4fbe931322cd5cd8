import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK, type JSONWebKeySet } from 'jose';
import { KeySet } from './key-set.js';
import type { KeySource } from './keys.js';

export const DEV_ISSUER = 'relay-dev';
export const DEV_AUDIENCE = 'relay';

export interface DevKeys extends KeySource {
  readonly jwks: JSONWebKeySet;
  /** Signs a token for development and tests. */
  mint(claims: { sub: string; name?: string; ttlSecs?: number; extra?: Record<string, unknown> }): Promise<string>;
}

interface StoredKey {
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

/**
 * Development auth: an ES256 key made on first start and kept in the data folder (so tokens
 * survive restarts), its public half served as a JWKS, and a minting function that the
 * loopback-only `/dev/token` endpoint uses.
 */
export async function loadOrCreateDevKeys(file: string): Promise<DevKeys> {
  const stored = await loadOrCreate(file);
  const privateKey = await importJWK(stored.privateJwk, 'ES256');
  const jwks: JSONWebKeySet = { keys: [stored.publicJwk] };
  const held = KeySet.fromJwks(jwks);
  return {
    kind: 'development',
    jwks,
    current: () => held,
    // The development key is the only one there is: an unknown kid has nothing to fetch.
    refetch: () => undefined,
    hasKeys: () => true,
    close: () => undefined,
    mint: async ({ sub, name, ttlSecs = 3600, extra = {} }) =>
      new SignJWT({ ...extra, ...(name !== undefined ? { name } : {}) })
        .setProtectedHeader({ alg: 'ES256', kid: stored.publicJwk.kid ?? 'dev', typ: 'JWT' })
        .setSubject(sub)
        .setIssuer(DEV_ISSUER)
        .setAudience(DEV_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSecs)
        .sign(privateKey),
  };
}

async function loadOrCreate(file: string): Promise<StoredKey> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as StoredKey;
  } catch {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = `dev-${Date.now().toString(36)}`;
    const stored: StoredKey = {
      privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256' },
      publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' },
    };
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify(stored), { mode: 0o600 });
    return stored;
  }
}
