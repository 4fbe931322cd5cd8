import { constants, verify, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto';
import type { AcceptedAlgorithm } from './compact-jws.js';

type Hash = 'sha256' | 'sha384' | 'sha512';

const HASH: Readonly<Record<AcceptedAlgorithm, Hash | null>> = {
  RS256: 'sha256', RS384: 'sha384', RS512: 'sha512',
  PS256: 'sha256', PS384: 'sha384', PS512: 'sha512',
  ES256: 'sha256', ES384: 'sha384', ES512: 'sha512',
  EdDSA: null,
};

/**
 * Checks a JWS signature with node:crypto, synchronously, with the parameters WebCrypto (and
 * so jose) uses: PKCS#1 v1.5 for RS*, PSS with a salt as long as the hash for PS*, ECDSA
 * signatures as r||s (JWS, RFC 7518 3.4) for ES*, Ed25519 for EdDSA. The key was chosen for
 * the algorithm (type and curve) by KeySet. False also for a signature OpenSSL cannot parse.
 */
export function signatureValid(alg: AcceptedAlgorithm, key: KeyObject, signingInput: Buffer, signature: Uint8Array): boolean {
  const hash = HASH[alg];
  try {
    return verify(hash, signingInput, keyInput(alg, key), signature);
  } catch {
    return false;
  }
}

/** {@link signatureValid} on libuv's threadpool (`crypto.verify` with a callback), off the event loop. */
export function signatureValidOffThread(alg: AcceptedAlgorithm, key: KeyObject, signingInput: Buffer, signature: Uint8Array): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      verify(HASH[alg], signingInput, keyInput(alg, key), signature, (err, valid) => resolve(err === null && valid));
    } catch {
      resolve(false);
    }
  });
}

function keyInput(alg: AcceptedAlgorithm, key: KeyObject): VerifyKeyObjectInput | KeyObject {
  if (alg.startsWith('RS')) return { key, padding: constants.RSA_PKCS1_PADDING };
  if (alg.startsWith('PS')) return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 };
  if (alg.startsWith('ES')) return { key, dsaEncoding: 'ieee-p1363' };
  return key;
}
