import { base64url } from 'jose';
import { AuthError, Refusal } from './auth-error.js';

/** Asymmetric algorithms only: `none` and HMAC (e.g. HS256 signed with a public key) never verify. */
export const ACCEPTED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type AcceptedAlgorithm = (typeof ACCEPTED_ALGORITHMS)[number];

/** A compact JWS whose header passed every check that needs no key. */
export interface CompactJws {
  readonly alg: AcceptedAlgorithm;
  /** `kid` as the token has it (any JSON type: only a string can match a key). */
  readonly kid: unknown;
  readonly encodedHeader: string;
  readonly encodedPayload: string;
  readonly encodedSignature: string;
  /** `b64: false` under `crit`: a valid JWS, but never a JWT (refused once its signature is checked, like jose). */
  readonly unencodedPayload: boolean;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * The header checks of jose's compact JWS verification, in its order: three parts, a
 * base64url JSON object header, `crit` (only `b64` is understood), `b64`, then `alg`.
 * Throws AuthError with the reason jose's error maps to.
 */
export function parseCompactJws(token: string): CompactJws {
  const parts = token.split('.');
  const [encodedHeader, encodedPayload, encodedSignature] = parts;
  if (parts.length !== 3 || encodedHeader === undefined || encodedPayload === undefined || encodedSignature === undefined) throw new AuthError(Refusal.malformed);
  const header = decodeJsonObject(encodedHeader);
  if (header === undefined) throw new AuthError(Refusal.malformed);
  const b64 = payloadEncoding(header);
  const alg = header.alg;
  if (typeof alg !== 'string' || alg.length === 0) throw new AuthError(Refusal.malformed);
  if (!isAccepted(alg)) throw new AuthError(Refusal.algorithm);
  if (!b64 && asciiBytes(encodedPayload) === undefined) throw new AuthError(Refusal.malformed);
  return { alg, kid: header.kid, encodedHeader, encodedPayload, encodedSignature, unencodedPayload: !b64 };
}

/** base64url, strict UTF-8, JSON, a plain object: jose's reading of a header or claims set. */
export function decodeJsonObject(encoded: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64url(encoded);
  if (bytes === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(strictUtf8.decode(bytes));
  } catch {
    return undefined;
  }
  return isPlainObject(parsed) ? parsed : undefined;
}

/** jose's own decoder (its leniency, e.g. about padding, is part of what it accepts). */
export function decodeBase64url(encoded: string): Uint8Array | undefined {
  try {
    return base64url.decode(encoded);
  } catch {
    return undefined;
  }
}

/** The bytes of an ASCII string; undefined when it has other characters (jose refuses those). */
export function asciiBytes(text: string): Buffer | undefined {
  return NON_ASCII.test(text) ? undefined : Buffer.from(text, 'latin1');
}

/** Plain objects only (not arrays, not class instances), as jose's isObject. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Object.prototype.toString.call(value) !== '[object Object]') return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === null || Object.getPrototypeOf(prototype) === null;
}

/**
 * jose's `crit` and `b64` rules: `crit`, when present, is a non-empty array of non-empty
 * strings naming only `b64`, which must then be in the header as a boolean. Returns whether
 * the payload is base64url-encoded.
 */
function payloadEncoding(header: Readonly<Record<string, unknown>>): boolean {
  const crit = header.crit;
  if (crit === undefined) return true;
  if (!Array.isArray(crit) || crit.length === 0 || crit.some((name) => typeof name !== 'string' || name.length === 0)) throw new AuthError(Refusal.malformed);
  const names: readonly unknown[] = crit;
  for (const name of names) {
    if (name !== 'b64') throw new AuthError(Refusal.unsupportedExtension);
    if (!Object.hasOwn(header, 'b64') || header.b64 === undefined) throw new AuthError(Refusal.malformed);
  }
  if (typeof header.b64 !== 'boolean') throw new AuthError(Refusal.malformed);
  return header.b64;
}

function isAccepted(alg: string): alg is AcceptedAlgorithm {
  return (ACCEPTED_ALGORITHMS as readonly string[]).includes(alg);
}
