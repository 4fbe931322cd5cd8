import { afterEach, describe, expect, it, vi } from 'vitest';
import { DocumentSession, type DocumentMessage, type DocumentTransport } from '../../src/client/document.js';
import { silentLogger } from '../../src/client/logger.js';
import { Backoff, fullJitter } from '../../src/backoff.js';
import { tokenCheckUrl } from '../../src/client/token-check.js';
import { refreshDelayMs, tokenExpiry } from '../../src/client/token.js';
import { docFromText } from '../../src/ot/index.js';
import type { ServerMessage } from '../../src/protocol/messages.js';

const DOC = '00000000-0000-4000-8000-0000000000aa';
const ACTOR = '00000000-0000-4000-8000-0000000000bb';
const OTHER = '00000000-0000-4000-8000-0000000000cc';

class FakeTransport implements DocumentTransport {
  joinContent = false;
  packedJoin = false;
  readonly sent: Array<Record<string, unknown>> = [];
  connected = true;
  maxOps = 100;
  maxMessageBytes = 1_048_576;
  cursorThrottleMs = 0;
  reconnects: string[] = [];
  readonly logger = silentLogger;
  send(message: DocumentMessage): boolean {
    this.sent.push(message as Record<string, unknown>);
    return true;
  }
  retryDelayMs(): number {
    return 1000;
  }
  reconnect(reason: string): void {
    this.reconnects.push(reason);
  }
  changes(): Array<{ clock: { seq: number; rev: number }; ops: unknown[] }> {
    return this.sent.filter((m) => m.type === 'change') as never;
  }
}

const FRESH = '00000000-0000-4000-8000-0000000000dd';

function joinedSession(text = ''): { doc: DocumentSession; transport: FakeTransport } {
  const transport = new FakeTransport();
  const doc = new DocumentSession(DOC, ACTOR, transport, () => FRESH);
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

  it('offers to take content on a rejoin only with nothing pending and a relay that has the feature; applies it as one change, moving edits made meanwhile', () => {
    const { doc, transport } = joinedSession('hello world');
    doc.connectionLost();
    expect(doc.joinMessage()).toEqual({ type: 'join', doc: DOC, rev: 10 });
    transport.joinContent = true;
    expect(doc.joinMessage()).toEqual({ type: 'join', doc: DOC, rev: 10, acceptContent: true });
    // Typed while the join is on its way: buffered, never sent.
    doc.insert(11, '!');
    const changes: unknown[] = [];
    doc.on('change', (e) => changes.push(e.ops));
    doc.handle({ type: 'joined', doc: DOC, rev: 500, role: 'editor', presence: [], content: [{ text: 'hello ' }, { text: 'big', attrs: { bold: true } }, { text: ' world' }] });
    expect(doc.text).toBe('hello big world!');
    expect(doc.revision).toBe(500);
    expect(changes).toHaveLength(1);
    expect(transport.changes().at(-1)).toEqual({ type: 'change', doc: DOC, clock: { actor: ACTOR, seq: 1, rev: 500 }, ops: [{ type: 'insert', pos: 15, text: '!' }] });
    // With a change pending, a rejoin asks for the changes: its own may be among them.
    doc.connectionLost();
    expect(doc.joinMessage()).toEqual({ type: 'join', doc: DOC, rev: 500 });
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

  it("sends the application's presence data, shows others' data, and sends its own again after a rejoin", () => {
    const { doc, transport } = joinedSession('abc');
    doc.setPresenceData({ avatar: 'https://example.com/a.png', viewport: [0, 40] });
    expect(transport.sent.filter((m) => m.type === 'presence')).toEqual([{ type: 'presence', doc: DOC, rev: 10, data: { avatar: 'https://example.com/a.png', viewport: [0, 40] } }]);
    expect(() => doc.setPresenceData({ big: 'x'.repeat(2000) })).toThrow(RangeError);
    const user = { id: 'o', name: 'O', color: '#000000' };
    doc.handle({ type: 'presence', doc: DOC, rev: 10, session: 's1', user, selection: null, typing: false, data: { mode: 'insert' } });
    expect(doc.presence).toEqual([{ session: 's1', user, selection: null, typing: false, data: { mode: 'insert' } }]);
    doc.handle({ type: 'presence', doc: DOC, rev: 10, session: 's1', user, selection: null, typing: false });
    expect(doc.presence[0]).not.toHaveProperty('data');
    doc.connectionLost();
    transport.sent.length = 0;
    doc.handle({ type: 'joined', doc: DOC, rev: 10, role: 'editor', presence: [], changes: [] });
    expect(transport.sent.filter((m) => m.type === 'presence')).toEqual([{ type: 'presence', doc: DOC, rev: 10, data: { avatar: 'https://example.com/a.png', viewport: [0, 40] } }]);
    doc.setPresenceData(null);
    expect(transport.sent.filter((m) => m.type === 'presence').at(-1)).toEqual({ type: 'presence', doc: DOC, rev: 10, data: null });
  });

  it('keeps the last known selection of a presence update it cannot place (at another revision), instead of hiding the caret', () => {
    const { doc } = joinedSession('hello world');
    const user = { id: 'o', name: 'O', color: '#000000' };
    doc.handle({ type: 'presence', doc: DOC, rev: 10, session: 's1', user, selection: { anchor: 6, head: 6 }, typing: false });
    doc.handle({ type: 'presence', doc: DOC, rev: 12, session: 's1', user, selection: { anchor: 8, head: 8 }, typing: true });
    expect(doc.presence).toEqual([{ session: 's1', user, selection: { anchor: 6, head: 6 }, typing: true }]);
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

describe('client document session: packed first joins', () => {
  const snapshot = { rev: 3, text: 'hello world', runs: '6,5.0', attrs: [{ bold: true }] };
  const after = (rev: number, ops: unknown[]) => ({ rev, ops, clock: { actor: OTHER, seq: rev }, user: 'other' }) as never;

  it('asks for the packed form only on a first join to a relay that has the feature, and takes snapshot plus changes', () => {
    const transport = new FakeTransport();
    const doc = new DocumentSession(DOC, ACTOR, transport, () => FRESH);
    expect(doc.joinMessage()).toEqual({ type: 'join', doc: DOC });
    transport.packedJoin = true;
    expect(doc.joinMessage()).toEqual({ type: 'join', doc: DOC, packed: true });
    doc.handle({ type: 'joined', doc: DOC, rev: 5, role: 'editor', presence: [], snapshot, changes: [after(3, [{ type: 'insert', pos: 0, text: '>' }]), after(4, [{ type: 'delete', pos: 6, len: 6 }])] });
    expect(doc.joined).toBe(true);
    expect(doc.revision).toBe(5);
    expect(doc.content).toEqual([{ text: '>hello' }]);
    // A rejoin asks for what it missed, not for a snapshot.
    doc.connectionLost();
    expect(doc.joinMessage()).toEqual({ type: 'join', doc: DOC, rev: 5 });
  });

  it.each([
    ['a damaged snapshot', { ...snapshot, runs: '6,99' }, [], 3],
    ['a gap after the snapshot', snapshot, [after(4, [{ type: 'insert', pos: 0, text: '>' }])], 5],
    ['changes that end short of the revision', snapshot, [after(3, [{ type: 'insert', pos: 0, text: '>' }])], 9],
    ['a change that does not fit', snapshot, [after(3, [{ type: 'delete', pos: 5, len: 50 }])], 4],
  ])('resyncs asking for content after %s', (_what, snap, changes, rev) => {
    const transport = new FakeTransport();
    transport.packedJoin = true;
    const doc = new DocumentSession(DOC, ACTOR, transport, () => FRESH);
    const errors: unknown[] = [];
    doc.on('error', (e) => errors.push(e));
    doc.handle({ type: 'joined', doc: DOC, rev, role: 'editor', presence: [], snapshot: snap, changes });
    expect(doc.joined).toBe(false);
    expect(errors).toEqual([expect.objectContaining({ code: 'resync' })]);
    expect(transport.sent.at(-1)).toEqual({ type: 'join', doc: DOC });
  });
});

describe('client document session: refusals and recovery', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('continues under a fresh actor from seq 1 after a refused change, since the relay never consumed that seq', async () => {
    const { doc, transport } = joinedSession('abc');
    doc.insert(0, 'x');
    const synced = doc.whenSynced();
    doc.handle({ type: 'error', code: 'invalid_op', message: 'no', doc: DOC, seq: 1, ref: 'change' });
    expect(doc.actor).toBe(FRESH);
    doc.insert(0, 'lost'); // made during the resync, on a copy about to be replaced
    doc.handle({ type: 'joined', doc: DOC, rev: 12, role: 'editor', presence: [], content: docFromText('abcde') });
    await synced;
    expect(doc.text).toBe('abcde');
    doc.insert(0, 'y');
    expect(transport.changes().at(-1)).toEqual({ type: 'change', doc: DOC, clock: { actor: FRESH, seq: 1, rev: 12 }, ops: [{ type: 'insert', pos: 0, text: 'y' }] });
  });

  it('applies the old actor\'s change as anyone else\'s if it commits after the resync after all', () => {
    const { doc } = joinedSession('ab');
    doc.insert(2, 'c');
    doc.handle({ type: 'change', doc: DOC, rev: 9, ops: [], clock: { actor: OTHER, seq: 1 }, user: 'o' }); // out of order: resync
    expect(doc.actor).toBe(FRESH);
    doc.handle({ type: 'joined', doc: DOC, rev: 10, role: 'editor', presence: [], content: docFromText('ab') });
    doc.handle({ type: 'change', doc: DOC, rev: 10, ops: [{ type: 'insert', pos: 2, text: 'c' }], clock: { actor: ACTOR, seq: 1 }, user: 'me' });
    expect(doc.text).toBe('abc');
    expect(doc.rev).toBe(11);
  });

  it('treats a frame the relay could not decode (no seq) as a refusal of the change in flight', () => {
    const { doc, transport } = joinedSession('abc');
    doc.insert(0, 'x');
    doc.handle({ type: 'error', code: 'bad_message', message: 'ops.0: bad', doc: DOC, ref: 'change' });
    expect(transport.sent.at(-1)).toEqual({ type: 'join', doc: DOC });
    expect(doc.pending).toBe(false);
  });

  it('keeps a change the relay could not take for now (unavailable) and asks for a reconnect; the rejoin resends it', () => {
    const { doc, transport } = joinedSession('abc');
    doc.insert(0, 'x');
    doc.handle({ type: 'error', code: 'unavailable', message: 'shutting down', doc: DOC, seq: 1, ref: 'change' });
    expect(transport.reconnects).toHaveLength(1);
    expect(doc.pending).toBe(true);
    doc.connectionLost();
    doc.handle({ type: 'joined', doc: DOC, rev: 10, role: 'editor', presence: [], changes: [] });
    expect(transport.changes().map((c) => c.clock)).toEqual([
      { actor: ACTOR, seq: 1, rev: 10 },
      { actor: ACTOR, seq: 1, rev: 10 },
    ]);
  });

  it('resynchronises when an ack does not follow the changes it saw', () => {
    const { doc, transport } = joinedSession('abc');
    doc.insert(0, 'x');
    doc.handle({ type: 'ack', doc: DOC, seq: 1, rev: 14, count: 1 });
    expect(transport.sent.at(-1)).toEqual({ type: 'join', doc: DOC });
  });

  it('ignores a repeated ack and a repeated own change that it already counted', () => {
    const { doc, transport } = joinedSession('abc');
    doc.insert(0, 'x');
    doc.handle({ type: 'ack', doc: DOC, seq: 1, rev: 10, count: 1 });
    doc.handle({ type: 'ack', doc: DOC, seq: 1, rev: 10, count: 1 });
    doc.handle({ type: 'change', doc: DOC, rev: 10, ops: [{ type: 'insert', pos: 0, text: 'x' }], clock: { actor: ACTOR, seq: 1 }, user: 'me' });
    expect(doc.text).toBe('xabc');
    expect(doc.rev).toBe(11);
    expect(transport.sent.filter((m) => m.type === 'join')).toHaveLength(0);
  });

  it('rejects waiting opens on forbidden, and retries a join the relay could not serve just now', async () => {
    vi.useFakeTimers();
    const transport = new FakeTransport();
    const refused = new DocumentSession(DOC, ACTOR, transport);
    const opening = refused.waitJoined();
    refused.handle({ type: 'error', code: 'forbidden', message: 'no role', doc: DOC, ref: 'join' });
    await expect(opening).rejects.toThrow(/forbidden/);
    expect(refused.closed).toBe(true);

    const later = new DocumentSession(DOC, ACTOR, transport);
    const joined = later.waitJoined();
    later.handle({ type: 'error', code: 'unavailable', message: 'try again', doc: DOC, ref: 'join' });
    expect(transport.sent).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(transport.sent).toEqual([{ type: 'join', doc: DOC }]);
    later.handle({ type: 'joined', doc: DOC, rev: 0, role: 'viewer', presence: [], content: [] });
    await joined;
    expect(() => later.insert(0, 'x')).toThrow(/view/);
  });

  it('close() leaves the document and fails a pending whenSynced()', async () => {
    const { doc, transport } = joinedSession('abc');
    doc.insert(0, 'x');
    const synced = doc.whenSynced();
    doc.close();
    expect(transport.sent.at(-1)).toEqual({ type: 'leave', doc: DOC });
    await expect(synced).rejects.toThrow(/closed/);
    expect(() => doc.insert(0, 'y')).toThrow(/closed/);
  });

  it('sends the typing flag at once but holds the selection until nothing is pending, moved by later local edits', () => {
    const { doc, transport } = joinedSession('abc');
    doc.insert(0, 'x');
    doc.setSelection({ anchor: 1, head: 1 });
    doc.setTyping(true);
    doc.insert(0, 'yy');
    expect(transport.sent.filter((m) => m.type === 'presence')).toEqual([{ type: 'presence', doc: DOC, rev: 10, typing: true }]);
    doc.handle({ type: 'ack', doc: DOC, seq: 1, rev: 10, count: 1 });
    doc.handle({ type: 'ack', doc: DOC, seq: 2, rev: 11, count: 1 });
    expect(transport.sent.filter((m) => m.type === 'presence').at(-1)).toEqual({ type: 'presence', doc: DOC, rev: 12, selection: { anchor: 3, head: 3 } });
  });

  it('throttles selections to one per cursorThrottleMs and always sends the last one', async () => {
    vi.useFakeTimers();
    const { doc, transport } = joinedSession('abcdef');
    transport.cursorThrottleMs = 50;
    for (let i = 0; i <= 5; i++) doc.setSelection({ anchor: i, head: i });
    const sent = () => transport.sent.filter((m) => m.type === 'presence').map((m) => m.selection);
    expect(sent()).toEqual([{ anchor: 0, head: 0 }]);
    await vi.advanceTimersByTimeAsync(49);
    expect(sent()).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sent()).toEqual([{ anchor: 0, head: 0 }, { anchor: 5, head: 5 }]);
  });

  it('splits a change larger than a frame into several changes sent one after another', () => {
    const { doc, transport } = joinedSession();
    transport.maxMessageBytes = 2048;
    const text = 'x'.repeat(5000);
    doc.insert(0, text);
    let rev = 10;
    let sent = '';
    for (let seq = 1; transport.changes().length >= seq; seq++) {
      const change = transport.changes()[seq - 1];
      const op = change?.ops[0] as { text: string };
      expect(JSON.stringify(change).length).toBeLessThan(2048);
      sent += op.text;
      doc.handle({ type: 'ack', doc: DOC, seq, rev, count: 1 });
      rev += 1;
    }
    expect(sent).toBe(text);
    expect(doc.pending).toBe(false);
  });
});

describe('client timing helpers', () => {
  it('draws reconnect delays with full jitter under a ceiling that doubles up to the cap', () => {
    const top = new Backoff(500, 10_000, () => 0.9999999);
    expect(Array.from({ length: 7 }, () => top.next())).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    top.reset();
    expect(top.next()).toBe(500);
    expect(new Backoff(500, 10_000, () => 0).next()).toBe(0);
    const draws = Array.from({ length: 1000 }, () => fullJitter(200));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThanOrEqual(200);
    expect(new Set(draws).size).toBeGreaterThan(50);
  });

  it('maps the collab URL to its token check endpoint', () => {
    expect(tokenCheckUrl('wss://relay.example.com/collab')).toBe('https://relay.example.com/collab/check-token');
    expect(tokenCheckUrl('ws://127.0.0.1:8080/collab/?access_token=x')).toBe('http://127.0.0.1:8080/collab/check-token');
    expect(tokenCheckUrl('not a url')).toBeUndefined();
  });

  it('reads exp from a JWT and refreshes a minute early, or halfway through a short lifetime', () => {
    const payload = Buffer.from(JSON.stringify({ sub: 'a', exp: 2_000_000_000 })).toString('base64url');
    expect(tokenExpiry(`h.${payload}.s`)).toBe(2_000_000_000);
    expect(tokenExpiry('garbage')).toBeUndefined();
    expect(refreshDelayMs(1000, 1000 * 1000 - 600_000)).toBe(540_000);
    expect(refreshDelayMs(1000, 1000 * 1000 - 60_000)).toBe(30_000);
  });
});
