import { describe, expect, it } from 'vitest';
import { DocumentSession, type DocumentTransport } from '../../src/client/document.js';
import { randomDelay, refreshDelayMs, tokenExpiry } from '../../src/client/token.js';
import { docFromText } from '../../src/ot/index.js';
import type { ServerMessage } from '../../src/protocol/messages.js';

const DOC = '00000000-0000-4000-8000-0000000000aa';
const ACTOR = '00000000-0000-4000-8000-0000000000bb';
const OTHER = '00000000-0000-4000-8000-0000000000cc';

class FakeTransport implements DocumentTransport {
  readonly sent: Array<Record<string, unknown>> = [];
  connected = true;
  maxOps = 100;
  cursorThrottleMs = 0;
  send(message: object): boolean {
    this.sent.push(message as Record<string, unknown>);
    return true;
  }
  changes(): Array<{ clock: { seq: number; rev: number }; ops: unknown[] }> {
    return this.sent.filter((m) => m.type === 'change') as never;
  }
}

function joinedSession(text = ''): { doc: DocumentSession; transport: FakeTransport } {
  const transport = new FakeTransport();
  const doc = new DocumentSession(DOC, ACTOR, transport);
  doc.handle({ type: 'joined', doc: DOC, rev: 10, role: 'editor', presence: [], content: text ? docFromText(text) : [] });
  return { doc, transport };
}

const remote = (rev: number, ops: ServerMessage extends infer _ ? unknown[] : never, seq = 1): ServerMessage =>
  ({ type: 'change', doc: DOC, rev, ops, clock: { actor: OTHER, seq }, user: 'other' }) as ServerMessage;

describe('client document session', () => {
  it('keeps one change in flight and composes edits made meanwhile into the next one', () => {
    const { doc, transport } = joinedSession();
    doc.insert(0, 'a');
    doc.insert(1, 'b');
    doc.insert(2, 'c');
    expect(transport.changes()).toEqual([{ type: 'change', doc: DOC, clock: { actor: ACTOR, seq: 1, rev: 10 }, ops: [{ type: 'insert', pos: 0, text: 'a' }] }]);
    doc.handle({ type: 'ack', doc: DOC, seq: 1, rev: 10, count: 1 });
    expect(transport.changes()[1]).toEqual({ type: 'change', doc: DOC, clock: { actor: ACTOR, seq: 2, rev: 11 }, ops: [{ type: 'insert', pos: 1, text: 'bc' }] });
    expect(doc.text).toBe('abc');
  });

  it('transforms a remote change past its pending edits, and its pending edits past the remote change', () => {
    const { doc, transport } = joinedSession('hello');
    doc.insert(5, '!');
    doc.insert(0, '>');
    doc.handle(remote(10, [{ type: 'insert', pos: 0, text: 'oh, ' }]));
    // Same position: the committed text goes first, as on the relay.
    expect(doc.text).toBe('oh, >hello!');
    expect(doc.revision).toBe(11);
    // The in-flight change is acked at the relay's revision; the buffered one follows, moved.
    doc.handle({ type: 'ack', doc: DOC, seq: 1, rev: 11, count: 1 });
    expect(doc.revision).toBe(12);
    expect(transport.changes()[1]?.clock).toEqual({ actor: ACTOR, seq: 2, rev: 12 });
  });

  it('uses the committed op count from the ack, which can differ from what it sent', () => {
    const { doc } = joinedSession('abcdef');
    doc.delete(1, 4);
    doc.handle({ type: 'ack', doc: DOC, seq: 1, rev: 10, count: 2 });
    expect(doc.revision).toBe(12);
  });

  it('treats its own change among the missed ones of a rejoin as the ack, and resends an unacked one with the same seq', () => {
    const { doc, transport } = joinedSession('x');
    doc.insert(1, 'y');
    doc.connectionLost();
    // Rejoin: the relay had committed it before the connection went.
    expect(doc.joinMessage()).toEqual({ type: 'join', doc: DOC, rev: 10 });
    doc.handle({ type: 'joined', doc: DOC, rev: 11, role: 'editor', presence: [], changes: [{ rev: 10, ops: [{ type: 'insert', pos: 1, text: 'y' }], clock: { actor: ACTOR, seq: 1 }, user: 'me' }] });
    expect(doc.pending).toBe(false);
    expect(doc.revision).toBe(11);
    expect(doc.text).toBe('xy');

    doc.insert(2, 'z');
    doc.connectionLost();
    doc.handle({ type: 'joined', doc: DOC, rev: 11, role: 'editor', presence: [], changes: [] });
    const resends = transport.changes().filter((c) => c.clock.seq === 2);
    expect(resends).toHaveLength(2);
    expect(resends[1]).toEqual(resends[0]);
  });

  it('resynchronises after the relay refuses its change (a refused change exists nowhere else)', async () => {
    const { doc, transport } = joinedSession('abc');
    const events: string[] = [];
    doc.on('error', (e) => events.push(e.code));
    doc.on('resynced', () => events.push('resynced'));
    doc.insert(0, 'x');
    doc.handle({ type: 'error', code: 'invalid_op', message: 'no', doc: DOC, seq: 1, ref: 'change' });
    expect(transport.sent.at(-1)).toEqual({ type: 'join', doc: DOC });
    doc.handle({ type: 'joined', doc: DOC, rev: 10, role: 'editor', presence: [], content: docFromText('abc') });
    expect(doc.text).toBe('abc');
    expect(doc.pending).toBe(false);
    await Promise.resolve();
    expect(events).toEqual(['invalid_op', 'resync', 'resynced']);
  });

  it('maps remote cursors through remote changes and its own pending edits', () => {
    const { doc } = joinedSession('hello world');
    const user = { id: 'o', name: 'O', color: '#000000' };
    doc.handle({ type: 'presence', doc: DOC, rev: 10, session: 's1', user, selection: { anchor: 6, head: 11 }, typing: false });
    doc.insert(0, '>> ');
    expect(doc.presence[0]?.selection).toEqual({ anchor: 9, head: 14 });
    doc.handle(remote(10, [{ type: 'delete', pos: 0, len: 6 }]));
    expect(doc.text).toBe('>> world');
    expect(doc.presence[0]?.selection).toEqual({ anchor: 3, head: 8 });
    doc.handle({ type: 'presence_left', doc: DOC, session: 's1' });
    expect(doc.presence).toEqual([]);
  });

  it('sends its selection only at a revision the relay knows', () => {
    const { doc, transport } = joinedSession('abc');
    doc.insert(0, 'x');
    doc.setSelection({ anchor: 1, head: 1 });
    expect(transport.sent.filter((m) => m.type === 'presence')).toHaveLength(0);
    doc.handle({ type: 'ack', doc: DOC, seq: 1, rev: 10, count: 1 });
    expect(transport.sent.filter((m) => m.type === 'presence')).toEqual([{ type: 'presence', doc: DOC, rev: 11, selection: { anchor: 1, head: 1 } }]);
  });

  it('moves a selection waiting for an ack with the remote changes that arrive meanwhile', () => {
    const { doc, transport } = joinedSession('hello');
    doc.insert(5, '!');
    doc.setSelection({ anchor: 0, head: 5 });
    doc.handle(remote(10, [{ type: 'insert', pos: 0, text: 'oh, ' }]));
    doc.handle({ type: 'ack', doc: DOC, seq: 1, rev: 11, count: 1 });
    expect(transport.sent.filter((m) => m.type === 'presence')).toEqual([{ type: 'presence', doc: DOC, rev: 12, selection: { anchor: 4, head: 9 } }]);
  });

  it('splits a buffer larger than the relay allows into sequential changes', () => {
    const { doc, transport } = joinedSession('0123456789');
    transport.maxOps = 2;
    doc.insert(0, 'x');
    for (const pos of [3, 6, 9]) doc.format(pos, 1, { bold: true });
    doc.handle({ type: 'ack', doc: DOC, seq: 1, rev: 10, count: 1 });
    expect(transport.changes()[1]?.ops).toHaveLength(2);
    doc.handle({ type: 'ack', doc: DOC, seq: 2, rev: 11, count: 2 });
    expect(transport.changes()[2]?.ops).toHaveLength(1);
  });

  it('rejects local edits that are invalid before sending anything', () => {
    const { doc, transport } = joinedSession('ab');
    expect(() => doc.insert(5, 'x')).toThrow(/beyond the document/);
    expect(() => doc.insert(0, '\ud83d')).toThrow();
    expect(transport.changes()).toHaveLength(0);
  });
});

describe('client timing helpers', () => {
  it('draws reconnect delays uniformly within [min, max]', () => {
    expect(randomDelay(500, 10_000, () => 0)).toBe(500);
    expect(randomDelay(500, 10_000, () => 0.9999999)).toBe(10_000);
    const draws = Array.from({ length: 1000 }, () => randomDelay(100, 200));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...draws)).toBeLessThanOrEqual(200);
    expect(new Set(draws).size).toBeGreaterThan(50);
  });

  it('reads exp from a JWT and refreshes a minute early, or halfway through a short lifetime', () => {
    const payload = Buffer.from(JSON.stringify({ sub: 'a', exp: 2_000_000_000 })).toString('base64url');
    expect(tokenExpiry(`h.${payload}.s`)).toBe(2_000_000_000);
    expect(tokenExpiry('garbage')).toBeUndefined();
    expect(refreshDelayMs(1000, 1000 * 1000 - 600_000)).toBe(540_000);
    expect(refreshDelayMs(1000, 1000 * 1000 - 60_000)).toBe(30_000);
  });
});
