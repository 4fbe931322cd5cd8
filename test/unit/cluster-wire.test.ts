import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeChange, encodeLeft, encodePresence, publishedBy } from '../../src/bus/redis-wire.js';

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
