/**
 * Upgrades check signatures on the event loop only while failed checks stay within a budget:
 * past it (a flood of forged tokens) checks move to libuv's threadpool, with the same
 * decisions, until the failures fall back under it.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KeySet } from '../../src/auth/key-set.js';
import type { KeySource } from '../../src/auth/keys.js';
import { SignatureBudget } from '../../src/auth/signature-budget.js';
import { verifyTokenNow, type Verification } from '../../src/auth/verify.js';

const OPTIONS = { issuer: undefined, audience: undefined, clockToleranceSecs: 0 };

function es256(): { privateKey: KeyObject; source: KeySource } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const held = KeySet.fromJwks({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k', alg: 'ES256' }] });
  return { privateKey, source: { current: () => held, refetch: () => undefined, hasKeys: () => true, kind: 'remote', close: () => undefined } };
}

function token(privateKey: KeyObject, sub: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${part({ alg: 'ES256', kid: 'k' })}.${part({ sub, exp: Math.floor(Date.now() / 1000) + 60 })}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

/** A token with a valid header and payload and someone else's signature. */
function forged(sub: string): string {
  const other = es256().privateKey;
  return token(other, sub);
}

async function settle(verification: () => Verification): Promise<string> {
  try {
    const v = verification();
    const principal = 'principal' in v ? v.principal : await v.pending;
    return `${'principal' in v ? 'inline' : 'off-thread'} accepted ${principal.userId}`;
  } catch (err) {
    return `refused ${(err as Error).message}`;
  }
}

describe('the signature budget of upgrades', () => {
  it('refills at its rate and never holds more than its burst', () => {
    let now = 0;
    const budget = new SignatureBudget(10, 3, () => now);
    expect(budget.inline).toBe(true);
    for (let i = 0; i < 3; i++) budget.failed();
    expect(budget.inline).toBe(false);
    now += 100; // one failure's worth at 10 a second
    expect(budget.inline).toBe(true);
    budget.failed();
    expect(budget.inline).toBe(false);
    now += 60_000;
    for (let i = 0; i < 3; i++) budget.failed();
    expect(budget.inline).toBe(false);
  });

  it('checks inline within the budget, off the event loop past it, with the same decisions, and inline again once failures stop', async () => {
    const { privateKey, source } = es256();
    let now = 0;
    const budget = new SignatureBudget(5, 5, () => now);
    const good = token(privateKey, 'alice');
    // Within the budget: synchronous, both ways.
    expect(await settle(() => verifyTokenNow(good, source, OPTIONS, budget))).toBe('inline accepted alice');
    expect(await settle(() => verifyTokenNow(forged('mallory'), source, OPTIONS, budget))).toBe('refused bad signature');
    // A flood of forged tokens spends it; from then on every check (good or forged) waits for
    // the threadpool, and forged ones still count.
    const flood: string[] = [];
    for (let i = 0; i < 8; i++) flood.push(await settle(() => verifyTokenNow(forged(`m${i}`), source, OPTIONS, budget)));
    expect(flood.every((outcome) => outcome === 'refused bad signature')).toBe(true);
    expect(budget.inline).toBe(false);
    expect(await settle(() => verifyTokenNow(good, source, OPTIONS, budget))).toBe('off-thread accepted alice');
    expect(await settle(() => verifyTokenNow(forged('late'), source, OPTIONS, budget))).toBe('refused bad signature');
    // The flood is over: the budget refills and checks come back to the event loop.
    now += 2000;
    expect(await settle(() => verifyTokenNow(good, source, OPTIONS, budget))).toBe('inline accepted alice');
  });

  it('always checks off the event loop when asked to', async () => {
    const { privateKey, source } = es256();
    expect(await settle(() => verifyTokenNow(token(privateKey, 'bob'), source, OPTIONS, 'off-thread'))).toBe('off-thread accepted bob');
    expect(await settle(() => verifyTokenNow(forged('eve'), source, OPTIONS, 'off-thread'))).toBe('refused bad signature');
  });
});
