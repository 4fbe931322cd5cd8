import { constants, createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, errors, importJWK, jwtVerify, SignJWT, type JWK, type JWTVerifyGetKey } from 'jose';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEV_AUDIENCE, DEV_ISSUER, loadOrCreateDevKeys } from '../../src/auth/dev-keys.js';
import { KeySet } from '../../src/auth/key-set.js';
import type { KeySource } from '../../src/auth/keys.js';
import { ACCEPTED_ALGORITHMS, AuthError, MAX_TOKEN_LENGTH, verifyToken, verifyTokenNow, type Principal, type VerifyOptions } from '../../src/auth/verify.js';

/**
 * The synchronous verifier (node:crypto) against the verifier it replaced (jose's jwtVerify
 * with the same options, then the same sub and lifetime rules): for every token, the same
 * decision and the same refusal reason.
 */

type Alg = (typeof ACCEPTED_ALGORITHMS)[number];
const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const nowSecs = () => Math.floor(Date.now() / 1000);

/** The verifier as it was before (src/auth/verify.ts with jose), kept here as the reference. */
async function referenceVerify(token: string, getKey: JWTVerifyGetKey, options: VerifyOptions): Promise<Principal> {
  if (token.length === 0) throw new AuthError('missing token');
  if (token.length > MAX_TOKEN_LENGTH) throw new AuthError('token too long');
  try {
    const { payload } = await jwtVerify(token, getKey, {
      algorithms: [...ACCEPTED_ALGORITHMS],
      clockTolerance: options.clockToleranceSecs,
      requiredClaims: ['exp'],
      ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
      ...(options.audience !== undefined ? { audience: [...options.audience] } : {}),
    });
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 256) throw new AuthError('token has no usable sub claim');
    if (options.maxLifetimeSecs && payload.exp !== undefined) {
      const now = nowSecs();
      const issuedAt = typeof payload.iat === 'number' ? Math.min(payload.iat, now) : now;
      if (payload.exp - issuedAt > options.maxLifetimeSecs + options.clockToleranceSecs) throw new AuthError('token lifetime exceeds the maximum');
    }
    const name = typeof payload.name === 'string' ? payload.name.slice(0, 100) : payload.sub;
    return { userId: payload.sub, name, expiresAt: payload.exp, claims: payload };
  } catch (err) {
    if (err instanceof AuthError) throw err;
    throw new AuthError(describeJoseError(err));
  }
}

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

interface Signer {
  readonly alg: Alg;
  readonly kid: string | undefined;
  readonly privateKey: KeyObject;
}

/** Signs exactly the header and payload given (objects are JSON-encoded, strings taken as they are). */
function signRaw(signer: Signer, header: unknown, payload: unknown): string {
  const encodedHeader = typeof header === 'string' ? header : b64url(header);
  const encodedPayload = typeof payload === 'string' ? payload : b64url(payload);
  const input = Buffer.from(`${encodedHeader}.${encodedPayload}`);
  return `${encodedHeader}.${encodedPayload}.${signBytes(signer.alg, signer.privateKey, input).toString('base64url')}`;
}

function signBytes(alg: Alg, key: KeyObject, input: Buffer): Buffer {
  const hash = alg === 'EdDSA' ? null : `sha${alg.slice(2)}`;
  if (alg.startsWith('RS')) return sign(hash, input, { key, padding: constants.RSA_PKCS1_PADDING });
  if (alg.startsWith('PS')) return sign(hash, input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 });
  if (alg.startsWith('ES')) return sign(hash, input, { key, dsaEncoding: 'ieee-p1363' });
  return sign(null, input, key);
}

/** A PS* token whose PSS salt is not as long as the hash (RFC 7518 requires that it is). */
function pssWithSalt(keys: ReturnType<typeof buildKeys>, alg: 'PS256' | 'PS512', saltLength: number, claims: object): string {
  const signer = keys.signers.find((s) => s.alg === alg);
  if (!signer) throw new Error(`no ${alg} signer`);
  const input = `${b64url({ alg, kid: signer.kid })}.${b64url(claims)}`;
  const signature = sign(`sha${alg.slice(2)}`, Buffer.from(input), { key: signer.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
  return `${input}.${signature.toString('base64url')}`;
}

/** An ES256 token whose signature is DER (as OpenSSL makes it) instead of JWS's r||s. */
function derSigned(signer: Signer, claims: object): string {
  const input = `${b64url({ alg: 'ES256', kid: signer.kid })}.${b64url(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), signer.privateKey).toString('base64url')}`;
}

function keyPair(alg: Alg | 'RSA1024' | 'RSA') {
  if (alg === 'RSA1024') return generateKeyPairSync('rsa', { modulusLength: 1024 });
  if (alg === 'RSA' || alg.startsWith('RS') || alg.startsWith('PS')) return generateKeyPairSync('rsa', { modulusLength: 2048 });
  if (alg === 'EdDSA') return generateKeyPairSync('ed25519');
  const curves: Readonly<Record<string, string>> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };
  return generateKeyPairSync('ec', { namedCurve: curves[alg] ?? 'prime256v1' });
}

const ISSUER = 'https://issuer.example';
const AUDIENCE = ['relay', 'other'];

/** Keys of every family, as a JWKS, with the odd members a JWKS can have. */
function buildKeys() {
  const signers: Signer[] = [];
  const jwks: JWK[] = [];
  const add = (alg: Alg, kid: string | undefined, extra: Partial<JWK> = {}, pair = keyPair(alg)) => {
    const signer: Signer = { alg, kid, privateKey: pair.privateKey };
    jwks.push({ ...(pair.publicKey.export({ format: 'jwk' }) as JWK), ...(kid !== undefined ? { kid } : {}), ...extra });
    signers.push(signer);
    return { signer, pair };
  };
  for (const alg of ACCEPTED_ALGORITHMS) add(alg, `k-${alg}`, { alg, use: 'sig' });
  // One RSA key without `alg`: usable for RS* and PS* alike.
  const rsa = add('RS256', 'k-rsa-any');
  const rsaAsPss: Signer = { alg: 'PS384', kid: 'k-rsa-any', privateKey: rsa.pair.privateKey };
  const short = add('RS256', 'k-short', {}, keyPair('RSA1024')).signer;
  const encryption = add('ES256', 'k-enc', { use: 'enc' }).signer;
  const badOps = add('ES256', 'k-ops', { key_ops: ['verify', 'sign'] }).signer;
  const goodOps = add('ES384', 'k-ops-ok', { key_ops: ['verify'] }).signer;
  const badExt = add('ES256', 'k-ext', { ext: 'yes' as unknown as boolean }).signer;
  // Two P-521 keys without kid: a token without kid fits both.
  const twinA = add('ES512', undefined).signer;
  add('ES512', undefined);
  const stranger: Signer = { alg: 'ES256', kid: 'k-ES256', privateKey: keyPair('ES256').privateKey };
  return { signers, jwks, rsaAsPss, short, encryption, badOps, goodOps, badExt, twinA, stranger };
}

function tokenCases(keys: ReturnType<typeof buildKeys>): Array<[string, string]> {
  const now = nowSecs();
  const claims = { sub: 'alice', name: 'Alice', iss: ISSUER, aud: 'relay', iat: now, exp: now + 600 };
  const cases: Array<[string, string]> = [];
  const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
  for (const signer of [...keys.signers, keys.rsaAsPss]) {
    const header = { alg: signer.alg, ...(signer.kid !== undefined ? { kid: signer.kid } : {}), typ: 'JWT' };
    const name = `${signer.alg}/${signer.kid ?? 'no kid'}`;
    const valid = signRaw(signer, header, claims);
    const [h = '', p = '', s = ''] = valid.split('.');
    const variants: Record<string, string> = {
      valid,
      'tampered payload': `${h}.${b64url({ ...claims, sub: 'mallory' })}.${s}`,
      'tampered payload char': `${h}.${flip(p, 5)}.${s}`,
      'tampered signature': `${h}.${p}.${flip(s, 10)}`,
      'signature cut short': `${h}.${p}.${s.slice(0, -4)}`,
      'empty signature': `${h}.${p}.`,
      'wrong alg header': signRaw(signer, { ...header, alg: signer.alg === 'ES256' ? 'ES384' : signer.alg === 'RS256' ? 'PS256' : 'ES256' }, claims),
      'wrong alg, original signature': `${b64url({ ...header, alg: signer.alg === 'PS256' ? 'RS256' : 'PS256' })}.${p}.${s}`,
      'no typ': signRaw(signer, { alg: signer.alg, kid: signer.kid }, claims),
      'typ odd': signRaw(signer, { ...header, typ: 'at+jwt' }, claims),
      'expired beyond tolerance': signRaw(signer, header, { ...claims, exp: now - 60 }),
      'expired within tolerance': signRaw(signer, header, { ...claims, exp: now - 2 }),
      'nbf in the future': signRaw(signer, header, { ...claims, nbf: now + 60 }),
      'nbf within tolerance': signRaw(signer, header, { ...claims, nbf: now + 2 }),
      'nbf not a number': signRaw(signer, header, { ...claims, nbf: 'soon' }),
      'iat not a number': signRaw(signer, header, { ...claims, iat: '1' }),
      'iat in the future': signRaw(signer, header, { ...claims, iat: now + 3600 }),
      'missing exp': signRaw(signer, header, { ...claims, exp: undefined }),
      'exp a string': signRaw(signer, header, { ...claims, exp: String(now + 600) }),
      'exp null': signRaw(signer, header, { ...claims, exp: null }),
      'exp huge': signRaw(signer, header, `${b64url(JSON.stringify(claims).replace(/"exp":\d+/, '"exp":1e999'))}`),
      'wrong iss': signRaw(signer, header, { ...claims, iss: 'https://evil.example' }),
      'missing iss': signRaw(signer, header, { ...claims, iss: undefined }),
      'iss an array': signRaw(signer, header, { ...claims, iss: [ISSUER] }),
      'wrong aud': signRaw(signer, header, { ...claims, aud: 'elsewhere' }),
      'missing aud': signRaw(signer, header, { ...claims, aud: undefined }),
      'aud array with ours': signRaw(signer, header, { ...claims, aud: ['x', 'other'] }),
      'aud array without ours': signRaw(signer, header, { ...claims, aud: ['x', 'y'] }),
      'aud a number': signRaw(signer, header, { ...claims, aud: 7 }),
      'missing exp and iss': signRaw(signer, header, { ...claims, exp: undefined, iss: undefined }),
      'no sub': signRaw(signer, header, { ...claims, sub: undefined }),
      'sub empty': signRaw(signer, header, { ...claims, sub: '' }),
      'sub too long': signRaw(signer, header, { ...claims, sub: 'x'.repeat(257) }),
      'long name': signRaw(signer, header, { ...claims, name: 'n'.repeat(300) }),
      'long lifetime': signRaw(signer, header, { ...claims, exp: now + 90_000 }),
      'long lifetime from a future iat': signRaw(signer, header, { ...claims, iat: now + 80_000, exp: now + 90_000 }),
      'claims an array': signRaw(signer, header, [claims]),
      'claims not JSON': signRaw(signer, header, b64url('{"sub":')),
      'claims not UTF-8': signRaw(signer, header, Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')),
      'claims bad base64': signRaw(signer, header, `${p.slice(0, 8)}*${p.slice(9)}`),
      'claims with non-ASCII': signRaw(signer, header, `${p}é`),
      'claims with standard base64': signRaw(signer, header, Buffer.from(JSON.stringify(claims)).toString('base64')),
      'header with padding': signRaw(signer, `${h}==`.slice(0, h.length + ((4 - (h.length % 4)) % 4)), claims),
      'header with a space': signRaw(signer, `${h.slice(0, 4)} ${h.slice(4)}`, claims),
      'crit exp': signRaw(signer, { ...header, crit: ['exp'] }, claims),
      'crit empty': signRaw(signer, { ...header, crit: [] }, claims),
      'crit a string': signRaw(signer, { ...header, crit: 'b64' }, claims),
      'crit null': signRaw(signer, { ...header, crit: null }, claims),
      'crit b64 missing': signRaw(signer, { ...header, crit: ['b64'] }, claims),
      'crit b64 true': signRaw(signer, { ...header, crit: ['b64'], b64: true }, claims),
      'crit b64 false': signRaw(signer, { ...header, crit: ['b64'], b64: false }, JSON.stringify(claims)),
      'crit b64 false, base64 payload': signRaw(signer, { ...header, crit: ['b64'], b64: false }, claims),
      'crit b64 false, bad signature': `${b64url({ ...header, crit: ['b64'], b64: false })}.${p}.${s}`,
      'crit b64 false, non-ASCII payload': signRaw(signer, { ...header, crit: ['b64'], b64: false }, '{"sub":"é"}'),
      'crit b64 "false"': signRaw(signer, { ...header, crit: ['b64'], b64: 'false' }, claims),
      'crit b64 then other': signRaw(signer, { ...header, crit: ['b64', 'x'], b64: true }, claims),
      'b64 false without crit': signRaw(signer, { ...header, b64: false }, claims),
      'kid unknown': signRaw(signer, { ...header, kid: 'nobody' }, claims),
      'kid a number': signRaw(signer, { ...header, kid: 7 }, claims),
      'no kid': signRaw(signer, { alg: signer.alg }, claims),
      'extra dot': `${valid}.`,
      'four parts': `${h}.${p}.${s}.${s}`,
      'two parts': `${h}.${p}`,
      'signature bad base64': `${h}.${p}.${s.slice(0, 6)}+${s.slice(7)}`,
      'signature with padding': `${h}.${p}.${s}==`,
    };
    for (const [variant, token] of Object.entries(variants)) cases.push([`${name}: ${variant}`, token]);
  }
  const es256 = keys.signers.find((s) => s.alg === 'ES256');
  if (!es256) throw new Error('no ES256 signer');
  const claimsPart = b64url(claims);
  const hmac = (secret: string | Buffer) => {
    const h = b64url({ alg: 'HS256', kid: 'k-RS256' });
    return `${h}.${claimsPart}.${createHmac('sha256', secret).update(`${h}.${claimsPart}`).digest('base64url')}`;
  };
  const rsaJwk = keys.jwks.find((k) => k.kid === 'k-RS256');
  cases.push(
    ['empty', ''],
    ['too long', `${'a'.repeat(MAX_TOKEN_LENGTH)}.b.c`],
    ['huge header', signRaw(es256, { alg: 'ES256', kid: 'k-ES256', pad: 'x'.repeat(6000) }, claims)],
    ['alg none', `${b64url({ alg: 'none' })}.${claimsPart}.`],
    ['alg None', `${b64url({ alg: 'None', kid: 'k-ES256' })}.${claimsPart}.`],
    ['alg missing', signRaw(es256, { kid: 'k-ES256' }, claims)],
    ['alg empty', signRaw(es256, { alg: '', kid: 'k-ES256' }, claims)],
    ['alg a number', signRaw(es256, { alg: 256, kid: 'k-ES256' }, claims)],
    ['alg Ed25519', signRaw({ ...es256, alg: 'EdDSA', privateKey: keys.signers.find((s) => s.alg === 'EdDSA')?.privateKey ?? es256.privateKey }, { alg: 'Ed25519', kid: 'k-EdDSA' }, claims)],
    ['HS256 with the public key as JSON', hmac(JSON.stringify(rsaJwk))],
    ['HS256 with the public key as PEM', hmac(String(keyPair('RSA').publicKey.export({ format: 'pem', type: 'spki' })))],
    ['header not base64', `!!!.${claimsPart}.abc`],
    ['header not JSON', `${b64url('{"alg"')}.${claimsPart}.abc`],
    ['header an array', `${b64url(['ES256'])}.${claimsPart}.abc`],
    ['header null', `${b64url('null')}.${claimsPart}.abc`],
    ['header a string', `${b64url('"ES256"')}.${claimsPart}.abc`],
    ['header not UTF-8', `${Buffer.from([0x7b, 0xfe, 0x7d]).toString('base64url')}.${claimsPart}.abc`],
    ['header with standard base64 chars', `${Buffer.from('{"alg":"ES256","kid":"k-ES256","x":"?>?"}').toString('base64')}.${claimsPart}.abc`],
    ['dots only', '..'],
    ['one dot', 'a.b'],
    ['not a JWT', 'hello'],
    ['stranger key, known kid', signRaw(keys.stranger, { alg: 'ES256', kid: 'k-ES256' }, claims)],
    ['RSA key under 2048 bits', signRaw(keys.short, { alg: 'RS256', kid: 'k-short' }, claims)],
    ['RSA key under 2048 bits, bad signature', `${b64url({ alg: 'RS256', kid: 'k-short' })}.${claimsPart}.AAAA`],
    ['encryption key', signRaw(keys.encryption, { alg: 'ES256', kid: 'k-enc' }, claims)],
    ['key_ops with sign', signRaw(keys.badOps, { alg: 'ES256', kid: 'k-ops' }, claims)],
    ['key_ops verify', signRaw(keys.goodOps, { alg: 'ES384', kid: 'k-ops-ok' }, claims)],
    ['ext not boolean', signRaw(keys.badExt, { alg: 'ES256', kid: 'k-ext' }, claims)],
    ['two keys fit (no kid)', signRaw(keys.twinA, { alg: 'ES512' }, claims)],
    ['PS256 with a salt shorter than the hash', pssWithSalt(keys, 'PS256', 0, claims)],
    ['PS512 with the longest salt', pssWithSalt(keys, 'PS512', constants.RSA_PSS_SALTLEN_MAX_SIGN, claims)],
    ['ES256 signature DER-encoded', derSigned(es256, claims)],
    ['jose-signed', ''],
  );
  return cases;
}

const OPTIONS: Record<string, VerifyOptions> = {
  'issuer and audience': { issuer: ISSUER, audience: AUDIENCE, clockToleranceSecs: 5 },
  'no issuer or audience, no tolerance': { issuer: undefined, audience: undefined, clockToleranceSecs: 0 },
  'lifetime limit': { issuer: ISSUER, audience: ['relay'], clockToleranceSecs: 5, maxLifetimeSecs: 3600 },
  'empty audience list': { issuer: ISSUER, audience: [], clockToleranceSecs: 5 },
};

function heldSource(jwks: readonly JWK[]): KeySource {
  const held = KeySet.fromJwks({ keys: jwks });
  return { current: () => held, refetch: () => undefined, hasKeys: () => true, kind: 'remote', close: () => undefined };
}

async function outcome(verification: Promise<Principal>): Promise<string> {
  try {
    const principal = await verification;
    return `accepted ${principal.userId} ${principal.name} ${principal.expiresAt}`;
  } catch (err) {
    return err instanceof AuthError ? `refused: ${err.reason}` : `threw ${String(err)}`;
  }
}

describe('synchronous token verification, compared with jose', () => {
  const keys = buildKeys();
  const getKey = createLocalJWKSet({ keys: keys.jwks });
  const source = heldSource(keys.jwks);

  it('decides every token as jwtVerify does, with the same reason', async () => {
    const cases = tokenCases(keys);
    const es = keys.signers.find((s) => s.alg === 'ES384');
    const josePrivate = es ? await importJWK(es.privateKey.export({ format: 'jwk' }) as JWK, 'ES384') : undefined;
    if (josePrivate) {
      const signed = await new SignJWT({ name: 'Jo' }).setProtectedHeader({ alg: 'ES384', kid: 'k-ES384' }).setSubject('jo').setIssuer(ISSUER).setAudience('relay').setIssuedAt().setExpirationTime('10m').sign(josePrivate);
      cases[cases.length - 1] = ['jose-signed', signed];
    }
    const mismatches: string[] = [];
    const decisions = new Map<string, number>();
    for (const [optionName, options] of Object.entries(OPTIONS)) {
      for (const [name, token] of cases) {
        const expected = await outcome(referenceVerify(token, getKey, options));
        const actual = await outcome(verifyToken(token, source, options));
        // The same token checked on the event loop (what an upgrade does within its budget).
        const inline = await outcome(
          (async () => {
            const verification = verifyTokenNow(token, source, options, 'inline');
            return 'principal' in verification ? verification.principal : verification.pending;
          })(),
        );
        if (inline !== actual) mismatches.push(`${optionName} / ${name}: off the event loop ${actual}, on it ${inline}`);
        decisions.set(expected.startsWith('accepted') ? 'accepted' : expected, (decisions.get(expected.startsWith('accepted') ? 'accepted' : expected) ?? 0) + 1);
        if (expected !== actual) mismatches.push(`${optionName} / ${name}: jose ${expected}, sync ${actual}`);
      }
    }
    if (process.env.AUTH_DIFF_VERBOSE) console.log(cases.length, Object.fromEntries(decisions));
    expect(mismatches).toEqual([]);
    // The cases reach every kind of decision (a differential test that only refuses proves little).
    expect([...decisions.keys()].sort()).toEqual(
      expect.arrayContaining([
        'accepted',
        'refused: algorithm not allowed',
        'refused: bad signature',
        'refused: claim check failed: aud',
        'refused: claim check failed: exp',
        'refused: claim check failed: iat',
        'refused: claim check failed: iss',
        'refused: err_jose_not_supported',
        'refused: err_jwks_multiple_matching_keys',
        'refused: malformed token',
        'refused: missing token',
        'refused: no matching key',
        'refused: token expired',
        'refused: token has no usable sub claim',
        'refused: token lifetime exceeds the maximum',
        'refused: token not yet valid',
        'refused: token too long',
      ]),
    );
  }, 60_000);

  it('verifies a token whose key is held without waiting, and refuses synchronously', async () => {
    const es = keys.signers.find((s) => s.alg === 'ES256');
    if (!es) throw new Error('no ES256 signer');
    const now = nowSecs();
    const token = signRaw(es, { alg: 'ES256', kid: 'k-ES256' }, { sub: 'u', iss: ISSUER, aud: 'relay', exp: now + 60 });
    const verification = verifyTokenNow(token, source, OPTIONS['issuer and audience'] ?? { issuer: undefined, audience: undefined, clockToleranceSecs: 0 });
    expect('principal' in verification && verification.principal.userId).toBe('u');
    expect(() => verifyTokenNow(`${token}x`, source, { issuer: undefined, audience: undefined, clockToleranceSecs: 0 })).toThrow('bad signature');
    expect(() => verifyTokenNow(signRaw(es, { alg: 'ES256', kid: 'new' }, { sub: 'u', exp: now + 60 }), source, { issuer: undefined, audience: undefined, clockToleranceSecs: 0 })).toThrow('no matching key');
  });

  it('waits only for a key it does not hold, then verifies with the fetched set', async () => {
    const rotated = keyPair('ES256');
    const signer: Signer = { alg: 'ES256', kid: 'rotated', privateKey: rotated.privateKey };
    let held = KeySet.fromJwks({ keys: keys.jwks });
    let fetches = 0;
    const rotating: KeySource = {
      current: () => held,
      refetch: () => {
        fetches++;
        return Promise.resolve().then(() => {
          held = KeySet.fromJwks({ keys: [...keys.jwks, { ...(rotated.publicKey.export({ format: 'jwk' }) as JWK), kid: 'rotated' }] });
        });
      },
      hasKeys: () => true,
      kind: 'remote',
      close: () => undefined,
    };
    const options = { issuer: undefined, audience: undefined, clockToleranceSecs: 0 };
    const token = signRaw(signer, { alg: 'ES256', kid: 'rotated' }, { sub: 'r', exp: nowSecs() + 60 });
    const verification = verifyTokenNow(token, rotating, options);
    expect('pending' in verification).toBe(true);
    if ('pending' in verification) expect((await verification.pending).userId).toBe('r');
    expect(fetches).toBe(1);
    // Held now: no fetch, no wait.
    expect('principal' in verifyTokenNow(token, rotating, options)).toBe(true);
    // A fetch that changed nothing (it failed) refuses the token.
    const failing: KeySource = { ...rotating, current: () => KeySet.empty, refetch: () => Promise.resolve() };
    const stuck = verifyTokenNow(token, failing, options);
    await expect('pending' in stuck ? stuck.pending : Promise.resolve()).rejects.toThrow('no matching key');
  });

  it('verifies development tokens synchronously', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'auth-dev-'));
    try {
      const dev = await loadOrCreateDevKeys(join(dir, 'key.json'));
      const options = { issuer: DEV_ISSUER, audience: [DEV_AUDIENCE], clockToleranceSecs: 5 };
      const verification = verifyTokenNow(await dev.mint({ sub: 'dev-user', name: 'Dev' }), dev, options);
      expect('principal' in verification && verification.principal.name).toBe('Dev');
      expect(dev.refetch()).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
