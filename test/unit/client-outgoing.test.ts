import { describe, expect, it } from 'vitest';
import { checkWireLimits, takeChange } from '../../src/client/outgoing.js';
import { apply, docFromText, docText, validateChange } from '../../src/ot/index.js';
import type { Change, DocState } from '../../src/ot/types.js';

const frameBytes = (ops: Change): number => new TextEncoder().encode(JSON.stringify({ type: 'change', doc: '00000000-0000-4000-8000-000000000000', clock: { actor: '00000000-0000-4000-8000-000000000000', seq: 9007199254740991, rev: 9007199254740991 }, ops })).length;

/** Sends the whole buffer as the relay would receive it: change after change, each valid where it applies. */
function sendAll(doc: DocState, ops: Change, maxOps: number, maxBytes: number): { doc: DocState; changes: Change[] } {
  const changes: Change[] = [];
  let rest = ops;
  let state = doc;
  while (rest.length > 0) {
    const next = takeChange(rest, maxOps, maxBytes);
    expect(next.first.length).toBeGreaterThan(0);
    validateChange(state, next.first, maxOps);
    state = apply(state, next.first);
    changes.push(next.first);
    rest = next.rest;
  }
  return { doc: state, changes };
}

describe('fitting changes to the relay limits', () => {
  it('leaves a change that fits alone', () => {
    const ops: Change = [{ type: 'insert', pos: 0, text: 'hi' }, { type: 'delete', pos: 3, len: 1 }];
    expect(takeChange(ops, 100, 1_048_576)).toEqual({ first: ops, rest: [] });
  });

  it('cuts a long buffer at maxOps; the rest applies after the first part', () => {
    const doc = docFromText('abcdefgh');
    const ops: Change = [0, 2, 4, 6].map((pos) => ({ type: 'format', pos, len: 1, attrs: { bold: true } }));
    const { doc: after, changes } = sendAll(doc, ops, 3, 1_048_576);
    expect(changes.map((c) => c.length)).toEqual([3, 1]);
    expect(after).toEqual(apply(doc, ops));
  });

  it('splits an insert too large for one frame into consecutive inserts, never inside a surrogate pair', () => {
    const text = 'a😀é'.repeat(3000) + '\n"quoted"\\'.repeat(500);
    const doc = docFromText('[]');
    const ops: Change = [{ type: 'insert', pos: 1, text, attrs: { bold: true } }, { type: 'delete', pos: 0, len: 1 }];
    const { doc: after, changes } = sendAll(doc, ops, 100, 4096);
    expect(changes.length).toBeGreaterThan(5);
    for (const change of changes) expect(frameBytes(change)).toBeLessThanOrEqual(4096);
    expect(docText(after)).toBe(text + ']');
    expect(after).toEqual(apply(doc, ops));
  });

  it('refuses attributes the relay would not decode, before anything is sent', () => {
    expect(() => checkWireLimits([{ type: 'format', pos: 0, len: 1, attrs: { link: 'x'.repeat(1025) } }])).toThrow(/longer than 1024/);
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, true]));
    expect(() => checkWireLimits([{ type: 'insert', pos: 0, text: 'a', attrs: many }])).toThrow(/at most 32/);
    expect(() => checkWireLimits([{ type: 'insert', pos: 0, text: 'a', attrs: { link: 'x'.repeat(1024) } }])).not.toThrow();
  });
});
