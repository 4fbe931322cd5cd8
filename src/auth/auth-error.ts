export class AuthError extends Error {
  override readonly name = 'AuthError';
  constructor(readonly reason: string) {
    super(reason);
  }
}

/**
 * Refusal reasons, worded as jose's errors were described before verification became
 * synchronous (clients and dashboards read them; the differential test holds them to jose).
 */
export const Refusal = {
  malformed: 'malformed token',
  algorithm: 'algorithm not allowed',
  noKey: 'no matching key',
  badSignature: 'bad signature',
  expired: 'token expired',
  notYetValid: 'token not yet valid',
  /** A `crit` header naming an extension other than `b64` (jose: ERR_JOSE_NOT_SUPPORTED). */
  unsupportedExtension: 'err_jose_not_supported',
  /** Several keys fit a token (no `kid` and no other way to tell; jose: ERR_JWKS_MULTIPLE_MATCHING_KEYS). */
  multipleKeys: 'err_jwks_multiple_matching_keys',
  claim: (name: string) => `claim check failed: ${name}`,
} as const;
