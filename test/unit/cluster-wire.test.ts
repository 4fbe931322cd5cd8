import { describe, expect, it } from 'vitest';
import { decodeEnvelope, decodeInbox, encodeChange, encodeInbox, encodeLeft, encodePresence, publishedBy } from '../../src/bus/redis-wire.js';

const change = { rev: 3, ops: [{ type: 'insert' as const, pos: 0, text: 'a' }], actor: 'actor-1', seq: 1, userId: 'u', committedAt: 1 };
const presence = {
  docId: 'doc',
  rev: 3,
  replica: 'replica-a',
  state: { session: 's', user: { id: 'u', name: 'U', color: '#000000' }, selection: null, typing: false },
};

describe('a replica recognises its own publications without decoding them', () => {
  it('knows every envelope it encodes as its own, and another replica\'s as not', () => {
    for (const text of [encodeChange('replica-a', change), encodePresence(presence), encodeLeft('replica-a', 's')]) {
      expect(decodeEnvelope(text)?.from).toBe('replica-a');
      expect(publishedBy('replica-a', text)).toBe(true);
      expect(publishedBy('replica-b', text)).toBe(false);
      // A replica id that is a prefix of another's is not mistaken for it.
      expect(publishedBy('replica-', text)).toBe(false);
    }
  });

  it('does not take a look-alike that is not one of our envelopes for ours', () => {
    expect(publishedBy('replica-a', '{"v":2,"from":"replica-a","kind":"left","session":"s"}')).toBe(false);
    expect(publishedBy('replica-a', 'not json')).toBe(false);
    expect(publishedBy('a"b', encodeLeft('a"b', 's'))).toBe(true);
  });
});

describe('the messages of every keystroke are decoded by hand, accepting what the schema accepts', () => {
  const base = { v: 1, from: 'replica-a', kind: 'change', rev: 3, ops: [{ type: 'insert', pos: 0, text: 'a' }], actor: 'actor-1', seq: 1, user: 'u', at: 5 };
  const submit = { v: 1, from: 'replica-a', kind: 'submit', doc: 'd', actor: 'actor-1', seq: 2, rev: 3, ops: [{ type: 'delete', pos: 1, len: 2 }], user: 'u' };
  const ack = { v: 1, from: 'replica-a', kind: 'ack', doc: 'd', actor: 'actor-1', seq: 2, rev: 3, count: 1, duplicate: false };
  const json = (value: unknown) => JSON.stringify(value);

  it('decodes plain changes, submits and acks to the same values as before, extra envelope keys dropped', () => {
    expect(decodeEnvelope(json({ ...base, extra: true }))).toEqual(base);
    expect(decodeEnvelope(encodeChange('replica-a', change))).toEqual({ ...base, at: 1 });
    expect(decodeInbox(json(submit))).toEqual(submit);
    expect(decodeInbox(encodeInbox({ ...submit, v: 1, kind: 'submit', ops: [{ type: 'insert', pos: 0, text: 'x' }] }))).toEqual({ ...submit, ops: [{ type: 'insert', pos: 0, text: 'x' }] });
    expect(decodeInbox(json(ack))).toEqual(ack);
  });

  it('leaves the rest to the schema: attributes and format ops pass, odd ops and fields do not', () => {
    const rich = [
      { type: 'insert', pos: 0, text: 'a', attrs: { bold: true } },
      { type: 'format', pos: 0, len: 1, attrs: { bold: null } },
    ];
    expect(decodeEnvelope(json({ ...base, ops: rich }))?.kind).toBe('change');
    expect(decodeInbox(json({ ...submit, ops: rich }))?.kind).toBe('submit');
    const badOps: unknown[] = [
      [{ type: 'insert', pos: 0, text: 'a', extra: 1 }],
      [{ type: 'insert', pos: '0', text: 'a' }],
      [{ type: 'insert', pos: 0, text: 1 }],
      [{ type: 'delete', pos: 0 }],
      [{ type: 'delete', pos: 0, len: 1, text: 'a' }],
      [{ type: 'move', pos: 0, len: 1 }],
      [null],
      'ops',
    ];
    for (const ops of badOps) {
      expect(decodeEnvelope(json({ ...base, ops }))).toBeUndefined();
      expect(decodeInbox(json({ ...submit, ops }))).toBeUndefined();
    }
    const badFields: Record<string, unknown>[] = [{ v: 2 }, { from: 1 }, { rev: -1 }, { rev: 1.5 }, { rev: 2 ** 60 }, { seq: 0 }, { actor: null }, { user: 1 }];
    for (const bad of badFields) {
      expect(decodeEnvelope(json({ ...base, ...bad }))).toBeUndefined();
      expect(decodeInbox(json({ ...submit, ...bad }))).toBeUndefined();
    }
    expect(decodeEnvelope(json({ ...base, at: 'now' }))).toBeUndefined();
    expect(decodeInbox(json({ ...submit, doc: 7 }))).toBeUndefined();
    expect(decodeInbox(json({ ...ack, count: -1 }))).toBeUndefined();
    expect(decodeInbox(json({ ...ack, duplicate: 'no' }))).toBeUndefined();
    expect(decodeInbox(json({ ...ack, kind: 'nack' }))).toBeUndefined();
    // JSON.parse makes __proto__ an own key: refused by the schema, not mistaken for a plain op.
    expect(decodeEnvelope(json(base).replace('"text":"a"', '"text":"a","__proto__":{}'))).toBeUndefined();
    expect(decodeEnvelope(json(base).replace('"text":"a"', '"text":"a","attrs":{"__proto__":1}'))).toBeUndefined();
    expect(decodeEnvelope('[1]')).toBeUndefined();
    expect(decodeInbox('null')).toBeUndefined();
  });
});
