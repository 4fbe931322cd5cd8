import { AuthError, Refusal } from './auth-error.js';
import { decodeJsonObject } from './compact-jws.js';

export interface ClaimRules {
  readonly issuer: string | undefined;
  readonly audience: readonly string[] | undefined;
  readonly clockToleranceSecs: number;
}

/**
 * jose's claims-set checks with our options (`exp` required, issuer and audience when set,
 * the clock tolerance), in its order: the claims set is a JSON object; `iss`, `aud`, `exp`
 * present; `iss` and `aud` match; `iat` a number; `nbf` passed; `exp` a number and not passed.
 */
export function checkClaims(encodedPayload: string, rules: ClaimRules, nowSecs: number): Record<string, unknown> {
  const claims = decodeJsonObject(encodedPayload);
  if (claims === undefined) throw new AuthError(Refusal.malformed);
  const required = [...(rules.issuer !== undefined ? ['iss'] : []), ...(rules.audience !== undefined ? ['aud'] : []), 'exp'];
  for (const name of required) if (!Object.hasOwn(claims, name)) throw new AuthError(Refusal.claim(name));
  if (rules.issuer !== undefined && claims.iss !== rules.issuer) throw new AuthError(Refusal.claim('iss'));
  if (rules.audience !== undefined && !audienceMatches(claims.aud, rules.audience)) throw new AuthError(Refusal.claim('aud'));
  const tolerance = rules.clockToleranceSecs;
  // jose refuses a negative or non-finite tolerance as a TypeError, reported as malformed.
  if (!Number.isFinite(tolerance) || tolerance < 0) throw new AuthError(Refusal.malformed);
  if (claims.iat !== undefined && typeof claims.iat !== 'number') throw new AuthError(Refusal.claim('iat'));
  const nbf = claims.nbf;
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > nowSecs + tolerance)) throw new AuthError(Refusal.notYetValid);
  const exp = claims.exp;
  if (typeof exp !== 'number') throw new AuthError(Refusal.claim('exp'));
  if (exp <= nowSecs - tolerance) throw new AuthError(Refusal.expired);
  return claims;
}

/** A string `aud` among ours, or an array `aud` holding one of ours. */
function audienceMatches(aud: unknown, accepted: readonly string[]): boolean {
  if (typeof aud === 'string') return accepted.includes(aud);
  if (Array.isArray(aud)) {
    const members: readonly unknown[] = aud;
    return accepted.some((name) => members.includes(name));
  }
  return false;
}
