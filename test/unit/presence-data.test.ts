import { describe, expect, it } from 'vitest';
import { decodeClientMessage } from '../../src/protocol/decode.js';
import { PRESENCE_DATA_LIMITS, presenceDataProblem } from '../../src/protocol/presence-data.js';
import { decodeEnvelope, decodePresenceEntry, encodePresence, encodePresenceEntry } from '../../src/bus/redis-wire.js';

const DOC = '00000000-0000-4000-8000-0000000000aa';
const frame = (data: unknown): string => JSON.stringify({ type: 'presence', doc: DOC, rev: 0, data });

describe('presence data (the application payload of a presence update)', () => {
  it('accepts a JSON object within the bounds, and null to remove it', () => {
    const data = { avatar: 'https://example.com/a.png', viewport: { from: 0, to: 120 }, tags: ['x', 1, true, null] };
    expect(decodeClientMessage(frame(data))).toEqual({ ok: true, message: { type: 'presence', doc: DOC, rev: 0, data } });
    expect(decodeClientMessage(frame(null))).toEqual({ ok: true, message: { type: 'presence', doc: DOC, rev: 0, data: null } });
  });

  it('is at most maxBytes of UTF-8 JSON: exactly at the limit passes, one byte more does not', () => {
    const overhead = JSON.stringify({ s: '' }).length;
    const atLimit = { s: 'é'.repeat((PRESENCE_DATA_LIMITS.maxBytes - overhead) / 2) };
    expect(new TextEncoder().encode(JSON.stringify(atLimit)).length).toBe(PRESENCE_DATA_LIMITS.maxBytes);
    expect(presenceDataProblem(atLimit)).toBeUndefined();
    expect(presenceDataProblem({ s: `${atLimit.s}x` })).toMatch(/larger than 1024 bytes/);
    // Escapes count as written: a quote is two bytes in JSON.
    expect(presenceDataProblem({ s: '"'.repeat(600) })).toMatch(/larger than/);
  });

  it('refuses what is not a bounded JSON object with a bad_message naming the field, never throwing', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const cases = [
      frame([1, 2]),
      frame('avatar'),
      frame({ a: { b: { c: { d: { e: 1 } } } } }),
      frame({ big: 'x'.repeat(100_000) }),
      `{"type":"presence","doc":"${DOC}","rev":0,"data":{"__proto__":{"x":1}}}`,
      `{"type":"presence","doc":"${DOC}","rev":0,"data":{"a":${deep}}}`,
    ];
    for (const text of cases) {
      const result = decodeClientMessage(text);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.code).toBe('bad_message');
        expect(result.message).toMatch(/^data: presence data/);
      }
    }
  });

  it('checks values a client builds (not only parsed JSON): no undefined, functions, NaN, class instances or cycles', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [{ a: undefined }, { f: () => 1 }, { n: Number.NaN }, { d: new Date(0) }, cyclic, new Map()]) {
      expect(presenceDataProblem(bad)).toBeTypeOf('string');
    }
    expect(presenceDataProblem(Object.create(null) as object)).toBeUndefined();
  });
});

describe('presence data between replicas (the Redis wire)', () => {
  it('travels in presence envelopes and entries untouched', () => {
    const state = { session: 's1', user: { id: 'u', name: 'U', color: '#123456' }, selection: null, typing: false, data: { avatar: 'a.png', viewport: [1, 2] } };
    const update = { docId: DOC, rev: 3, replica: 'r1', state };
    expect(decodeEnvelope(encodePresence(update))).toMatchObject({ kind: 'presence', state });
    expect(decodePresenceEntry(DOC, encodePresenceEntry(update))).toEqual(update);
  });
});
