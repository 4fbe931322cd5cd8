import type { KeyObject } from 'node:crypto';
import { AuthError, Refusal } from './auth-error.js';
import { checkClaims } from './claims.js';
import { asciiBytes, decodeBase64url, parseCompactJws, type CompactJws } from './compact-jws.js';
import type { KeySet } from './key-set.js';
import type { KeySource } from './keys.js';
import type { SignatureBudget } from './signature-budget.js';
import { signatureValid, signatureValidOffThread } from './signature.js';

export { ACCEPTED_ALGORITHMS } from './compact-jws.js';
export { AuthError } from './auth-error.js';

/** Tokens longer than this are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 8192;

export interface Principal {
  /** The token's `sub`. */
  readonly userId: string;
  readonly name: string;
  /** Seconds since the epoch; undefined when the token has no `exp`. */
  readonly expiresAt: number | undefined;
  readonly claims: Readonly<Record<string, unknown>>;
}

export interface VerifyOptions {
  readonly issuer: string | undefined;
  readonly audience: readonly string[] | undefined;
  readonly clockToleranceSecs: number;
  /** When set (> 0), a token whose `exp` is further than this after its `iat` (or now) is refused. */
  readonly maxLifetimeSecs?: number;
}

/**
 * A verified token, or the verification still under way: waiting for the key set (a `kid` not
 * held yet, on a remote key set whose refetch may run), or for a signature checked off the
 * event loop (see SignatureChecks).
 */
export type Verification = { readonly principal: Principal } | { readonly pending: Promise<Principal> };

/**
 * Where a token's signature is checked: on the event loop (`inline`), on libuv's threadpool
 * (`off-thread`), or inline while failed checks stay within a SignatureBudget and off-thread
 * past it (upgrades: a flood of forged tokens must not stall the replica).
 */
export type SignatureChecks = 'inline' | 'off-thread' | SignatureBudget;

/**
 * Verifies a token with the keys held now, accepting and refusing exactly what jose's
 * jwtVerify did with our options (test/unit/auth-differential compares them), then our own
 * rules (`sub`, maximum lifetime). Throws AuthError with a reason that is safe to log. With a
 * held key and an inline check it returns the principal synchronously (node:crypto);
 * otherwise `pending`: the key source is fetching its keys again (no held key fits the
 * token), or the signature is checked off the event loop.
 */
export function verifyTokenNow(token: string, keys: KeySource, options: VerifyOptions, checks: SignatureChecks = 'inline'): Verification {
  if (token.length === 0) throw new AuthError('missing token');
  if (token.length > MAX_TOKEN_LENGTH) throw new AuthError('token too long');
  const jws = parseCompactJws(token);
  const held = keys.current();
  const key = held.select(jws.alg, jws.kid);
  const budget = typeof checks === 'string' ? undefined : checks;
  if (key !== undefined) {
    const inline = checks === 'inline' || (budget !== undefined && budget.inline);
    return inline ? { principal: verifyWithKey(jws, key, options, budget) } : { pending: verifyWithKeyOffThread(jws, key, options, budget) };
  }
  const fetched = keys.refetch();
  if (fetched === undefined) throw new AuthError(Refusal.noKey);
  return { pending: fetched.then(() => verifyWithNewKeys(jws, keys, held, options, budget)) };
}

/**
 * The same verification for callers that may wait (the HTTP API, `auth` messages, token
 * checks): the signature is checked off the event loop.
 */
export async function verifyToken(token: string, keys: KeySource, options: VerifyOptions): Promise<Principal> {
  const verification = verifyTokenNow(token, keys, options, 'off-thread');
  return 'principal' in verification ? verification.principal : verification.pending;
}

/** After a refetch: a key set that did not change (the fetch failed) still has no key for it. */
async function verifyWithNewKeys(jws: CompactJws, keys: KeySource, before: KeySet, options: VerifyOptions, budget: SignatureBudget | undefined): Promise<Principal> {
  const after = keys.current();
  const key = after === before ? undefined : after.select(jws.alg, jws.kid);
  if (key === undefined) throw new AuthError(Refusal.noKey);
  return verifyWithKeyOffThread(jws, key, options, budget);
}

/** What is signed, and the signature; AuthError when either part is not base64url. */
function signedParts(jws: CompactJws): { readonly signingInput: Buffer; readonly signature: Uint8Array } {
  const header = asciiBytes(jws.encodedHeader);
  const payload = asciiBytes(jws.encodedPayload);
  const signature = decodeBase64url(jws.encodedSignature);
  if (header === undefined || payload === undefined || signature === undefined) throw new AuthError(Refusal.malformed);
  return { signingInput: Buffer.concat([header, Buffer.from('.'), payload]), signature };
}

/** verifyWithKey with the signature checked on libuv's threadpool. */
async function verifyWithKeyOffThread(jws: CompactJws, key: KeyObject, options: VerifyOptions, budget: SignatureBudget | undefined): Promise<Principal> {
  const { signingInput, signature } = signedParts(jws);
  if (!(await signatureValidOffThread(jws.alg, key, signingInput, signature))) {
    budget?.failed();
    throw new AuthError(Refusal.badSignature);
  }
  return afterSignature(jws, options);
}

/** Signature, then the JWT's claims, then ours; in jose's order where the reasons differ. */
function verifyWithKey(jws: CompactJws, key: KeyObject, options: VerifyOptions, budget: SignatureBudget | undefined): Principal {
  const { signingInput, signature } = signedParts(jws);
  if (!signatureValid(jws.alg, key, signingInput, signature)) {
    budget?.failed();
    throw new AuthError(Refusal.badSignature);
  }
  return afterSignature(jws, options);
}

/** The checks after a valid signature: the payload's form, the JWT's claims, then ours. */
function afterSignature(jws: CompactJws, options: VerifyOptions): Principal {
  // A JWS with an unencoded payload can be valid, but a JWT never is.
  if (jws.unencodedPayload) throw new AuthError(Refusal.malformed);
  const nowSecs = Math.floor(Date.now() / 1000);
  const claims = checkClaims(jws.encodedPayload, options, nowSecs);
  return principalOf(claims, options, nowSecs);
}

function principalOf(claims: Readonly<Record<string, unknown>>, options: VerifyOptions, nowSecs: number): Principal {
  const { sub, exp, iat } = claims;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 256) throw new AuthError('token has no usable sub claim');
  // checkClaims made sure of it; the type system does not know.
  if (typeof exp !== 'number') throw new AuthError(Refusal.claim('exp'));
  if (options.maxLifetimeSecs) {
    // From whichever is earlier: a token cannot shorten its lifetime with an `iat` in the future.
    const issuedAt = typeof iat === 'number' ? Math.min(iat, nowSecs) : nowSecs;
    if (exp - issuedAt > options.maxLifetimeSecs + options.clockToleranceSecs) throw new AuthError('token lifetime exceeds the maximum');
  }
  const name = typeof claims.name === 'string' ? claims.name.slice(0, 100) : sub;
  return { userId: sub, name, expiresAt: exp, claims };
}

/**
 * True when one of `claims` carries `scope`: as a space-separated string (OAuth `scope`) or as
 * an array of strings (Azure AD and Okta put `scp` that way).
 */
export function hasScope(principal: Principal, scope: string, claims: readonly string[]): boolean {
  for (const name of claims) {
    const value = principal.claims[name];
    if (typeof value === 'string' && value.split(' ').includes(scope)) return true;
    if (Array.isArray(value) && value.includes(scope)) return true;
  }
  return false;
}
