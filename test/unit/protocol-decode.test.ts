import { describe, expect, it } from 'vitest';
import { decodeClientMessage } from '../../src/protocol/decode.js';

const doc = '0f8fad5b-d9cb-469f-a165-70867728950e';
const actor = 'b3c1a2d4-0000-4000-8000-000000000001';

function changeWithAttrs(attrsJson: string): string {
  return `{"type":"change","doc":"${doc}","clock":{"actor":"${actor}","seq":1,"rev":0},"ops":[{"type":"insert","pos":0,"text":"a","attrs":${attrsJson}}]}`;
}

describe('decoding attributes', () => {
  it('refuses a __proto__ attribute whatever its value (zod records skip that key)', () => {
    for (const value of ['{"x":{"y":1}}', '"s"', '1', '[1]']) {
      const decoded = decodeClientMessage(changeWithAttrs(`{"__proto__":${value}}`));
      expect(decoded.ok, value).toBe(false);
      if (!decoded.ok) {
        expect(decoded.code).toBe('bad_message');
        expect(decoded.message).toMatch(/__proto__/);
      }
    }
  });

  it('checks the value of every attribute, also in format ops', () => {
    const nested = decodeClientMessage(changeWithAttrs('{"bold":{"x":1}}'));
    expect(nested.ok).toBe(false);
    const format = decodeClientMessage(`{"type":"change","doc":"${doc}","clock":{"actor":"${actor}","seq":1,"rev":0},"ops":[{"type":"format","pos":0,"len":1,"attrs":{"__proto__":{"bold":true}}}]}`);
    expect(format.ok).toBe(false);
  });

  it('keeps accepting ordinary attributes', () => {
    const decoded = decodeClientMessage(changeWithAttrs('{"bold":true,"size":12,"font":"serif","link":null}'));
    expect(decoded.ok).toBe(true);
    if (decoded.ok && decoded.message.type === 'change') {
      expect(decoded.message.ops[0]).toEqual({ type: 'insert', pos: 0, text: 'a', attrs: { bold: true, size: 12, font: 'serif', link: null } });
    }
  });
});
