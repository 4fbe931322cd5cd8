import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { AuthError, Refusal } from './auth-error.js';
import type { AcceptedAlgorithm } from './compact-jws.js';

/** What a key must be for an algorithm: jose's table (kty, curve), and Node's name for the type. */
interface KeyKind {
  readonly kty: 'RSA' | 'EC' | 'OKP';
  readonly crv?: 'P-256' | 'P-384' | 'P-521' | 'Ed25519';
  readonly nodeType: 'rsa' | 'ec' | 'ed25519';
  readonly nodeCurve?: string;
}

const RSA: KeyKind = { kty: 'RSA', nodeType: 'rsa' };
const KIND: Readonly<Record<AcceptedAlgorithm, KeyKind>> = {
  RS256: RSA, RS384: RSA, RS512: RSA, PS256: RSA, PS384: RSA, PS512: RSA,
  ES256: { kty: 'EC', crv: 'P-256', nodeType: 'ec', nodeCurve: 'prime256v1' },
  ES384: { kty: 'EC', crv: 'P-384', nodeType: 'ec', nodeCurve: 'secp384r1' },
  ES512: { kty: 'EC', crv: 'P-521', nodeType: 'ec', nodeCurve: 'secp521r1' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', nodeType: 'ed25519' },
};

/** jose refuses RSA keys under 2048 bits (as a TypeError, reported as a malformed token). */
const MIN_RSA_BITS = 2048;

type Imported = KeyObject | 'unusable';

/**
 * A set of public verification keys (a JWKS), looked up synchronously. Which key a token may
 * use follows jose's createLocalJWKSet exactly (kid, kty and curve for the alg, the key's own
 * `alg`, `use`, `key_ops`, `ext`); several fitting keys is an error, as there. Each key is
 * imported once into a KeyObject, on first use.
 */
export class KeySet {
  static readonly empty = new KeySet([]);

  private readonly imported = new Map<number, Imported>();

  private constructor(private readonly keys: readonly Readonly<Record<string, unknown>>[]) {}

  /**
   * Throws (like jose's createLocalJWKSet) when `jwks` is not `{keys: [objects]}`, and when a
   * key has a private part: both sources hold public keys only, and a private JWK would
   * otherwise verify as its public half where jose refuses it.
   */
  static fromJwks(jwks: unknown): KeySet {
    const snapshot: unknown = structuredClone(jwks);
    if (!isRecord(snapshot) || !Array.isArray(snapshot.keys)) throw new Error('JSON Web Key Set malformed');
    const members: readonly unknown[] = snapshot.keys;
    const keys = members.map((key) => {
      if (!isRecord(key) || Array.isArray(key)) throw new Error('JSON Web Key Set malformed');
      if (key.d !== undefined || key.priv !== undefined) throw new Error('JSON Web Key Set members must be public keys');
      return key;
    });
    return new KeySet(keys);
  }

  get size(): number {
    return this.keys.length;
  }

  /**
   * The key for a token's `alg` and `kid`, or undefined when none fits (`no matching key`, or
   * a refetch for a remote set). Throws AuthError when several fit or the fitting key cannot
   * be used for the algorithm.
   */
  select(alg: AcceptedAlgorithm, kid: unknown): KeyObject | undefined {
    const kind = KIND[alg];
    const fitting: number[] = [];
    this.keys.forEach((jwk, index) => {
      if (fits(jwk, kind, alg, kid)) fitting.push(index);
    });
    const [index] = fitting;
    if (index === undefined) return undefined;
    if (fitting.length > 1) throw new AuthError(Refusal.multipleKeys);
    const key = this.importKey(index, kind);
    if (key === 'unusable') throw new AuthError(Refusal.malformed);
    if (kind.kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) throw new AuthError(Refusal.malformed);
    return key;
  }

  private importKey(index: number, kind: KeyKind): Imported {
    const cached = this.imported.get(index);
    if (cached !== undefined) return cached;
    const imported = importPublicKey(this.keys[index] ?? {}, kind);
    this.imported.set(index, imported);
    return imported;
  }
}

/** jose's isUsableJWK. */
function fits(jwk: Readonly<Record<string, unknown>>, kind: KeyKind, alg: AcceptedAlgorithm, kid: unknown): boolean {
  const keyOps = jwk.key_ops;
  if (jwk.ext !== undefined && typeof jwk.ext !== 'boolean') return false;
  if (keyOps !== undefined && !(Array.isArray(keyOps) && uniqueStrings(keyOps) && keyOps.includes('verify'))) return false;
  if (jwk.kty !== kind.kty) return false;
  if (kid !== undefined && !(typeof kid === 'string' && kid === jwk.kid)) return false;
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  return kind.crv === undefined || jwk.crv === kind.crv;
}

function uniqueStrings(values: readonly unknown[]): boolean {
  return values.every((value, index) => typeof value === 'string' && values.indexOf(value) === index);
}

/**
 * A KeyObject of the kind the algorithm needs, or 'unusable' where jose's WebCrypto import
 * fails: key material Node cannot read, or `key_ops` allowing more than `verify` (a public
 * key cannot be imported for other uses).
 */
function importPublicKey(jwk: Readonly<Record<string, unknown>>, kind: KeyKind): Imported {
  const keyOps = jwk.key_ops;
  if (Array.isArray(keyOps) && keyOps.some((op) => op !== 'verify')) return 'unusable';
  let key: KeyObject;
  try {
    key = createPublicKey({ key: toNodeJwk(jwk), format: 'jwk' });
  } catch {
    return 'unusable';
  }
  if (key.asymmetricKeyType !== kind.nodeType) return 'unusable';
  if (kind.nodeCurve !== undefined && key.asymmetricKeyDetails?.namedCurve !== kind.nodeCurve) return 'unusable';
  return key;
}

/** The members Node reads for a public key; the others (kid, alg, use, ...) it does not need. */
function toNodeJwk(jwk: Readonly<Record<string, unknown>>): JsonWebKey {
  const out: JsonWebKey = {};
  for (const name of ['kty', 'crv', 'x', 'y', 'n', 'e'] as const) {
    const value = jwk[name];
    if (typeof value === 'string') out[name] = value;
    else if (value !== undefined) throw new Error(`JWK member ${name} is not a string`);
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
