import { errors, jwtVerify } from 'jose';
import type { KeySource } from './keys.js';

/** Asymmetric algorithms only: `none` and HMAC (e.g. HS256 signed with a public key) never verify. */
export const ACCEPTED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

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

export class AuthError extends Error {
  override readonly name = 'AuthError';
  constructor(readonly reason: string) {
    super(reason);
  }
}

export interface VerifyOptions {
  readonly issuer: string | undefined;
  readonly audience: readonly string[] | undefined;
  readonly clockToleranceSecs: number;
  /** When set (> 0), a token whose `exp` is further than this after its `iat` (or now) is refused. */
  readonly maxLifetimeSecs?: number;
}

export async function verifyToken(token: string, keys: KeySource, options: VerifyOptions): Promise<Principal> {
  if (token.length === 0) throw new AuthError('missing token');
  if (token.length > MAX_TOKEN_LENGTH) throw new AuthError('token too long');
  try {
    const { payload } = await jwtVerify(token, keys.getKey, {
      algorithms: ACCEPTED_ALGORITHMS,
      clockTolerance: options.clockToleranceSecs,
      // A token without `exp` would hold a connection open forever; every issuer we serve sets one.
      requiredClaims: ['exp'],
      ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
      ...(options.audience !== undefined ? { audience: [...options.audience] } : {}),
    });
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 256) {
      throw new AuthError('token has no usable sub claim');
    }
    if (options.maxLifetimeSecs && payload.exp !== undefined) {
      // From whichever is earlier: a token cannot shorten its lifetime with an `iat` in the future.
      const nowSecs = Math.floor(Date.now() / 1000);
      const issuedAt = typeof payload.iat === 'number' ? Math.min(payload.iat, nowSecs) : nowSecs;
      if (payload.exp - issuedAt > options.maxLifetimeSecs + options.clockToleranceSecs) throw new AuthError('token lifetime exceeds the maximum');
    }
    const name = typeof payload.name === 'string' ? payload.name.slice(0, 100) : payload.sub;
    return { userId: payload.sub, name, expiresAt: payload.exp, claims: payload };
  } catch (err) {
    if (err instanceof AuthError) throw err;
    throw new AuthError(describeJoseError(err));
  }
}

/** A short reason that is safe to log: it never contains the token. */
function describeJoseError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JWTClaimValidationFailed) return err.claim === 'nbf' ? 'token not yet valid' : `claim check failed: ${err.claim}`;
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no matching key';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'bad signature';
  if (err instanceof errors.JWKSTimeout) return 'key service timed out';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'malformed token';
  if (err instanceof errors.JOSEError) return err.code.toLowerCase();
  return 'malformed token';
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
