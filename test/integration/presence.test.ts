import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectRaw, type RawClient } from '../support/raw-client.js';
import { devToken, startRelayProcess, type RelayProcess } from '../support/relay-process.js';

const databaseUrl = inject('databaseUrl');

describe('presence and heartbeats', () => {
  let relay: RelayProcess;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    relay = await startRelayProcess({
      env: { DATABASE_URL: databaseUrl, CURSOR_THROTTLE_MS: '100', TYPING_DEBOUNCE_MS: '300', HEARTBEAT_INTERVAL_SECS: '1', HEARTBEAT_TIMEOUT_SECS: '3' },
    });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await relay.stop();
  });

  async function joined(user: string, doc: string): Promise<RawClient> {
    const c = await connectRaw(relay.wsUrl, await devToken(relay.url, user));
    clients.push(c);
    c.send({ type: 'join', doc });
    await c.next('joined');
    return c;
  }

  it('throttles cursor updates per connection but always delivers the last one', async () => {
    const doc = randomUUID();
    const a = await joined('ann', doc);
    const b = await joined('ben', doc);
    await a.next('presence', (p) => p.user.id === 'ben');
    const before = b.received.length;
    for (let i = 0; i < 20; i++) a.send({ type: 'presence', doc, rev: 0, selection: { anchor: 0, head: 0 } });
    a.send({ type: 'presence', doc, rev: 0, selection: null });
    // The final state (no selection) arrives, within a couple of throttle windows.
    const last = await b.next('presence', (p) => b.received.indexOf(p) >= before && p.user.id === 'ann' && p.selection === null);
    expect(last.session).toBeTruthy();
    await new Promise((r) => setTimeout(r, 250));
    const seen = b.received.slice(before).filter((m) => m.type === 'presence' && m.user.id === 'ann');
    expect(seen.length).toBeLessThan(6);
  });

  it('moves cursors with committed changes and tells newcomers where everyone is', async () => {
    const doc = randomUUID();
    const a = await joined('cat', doc);
    const actor = randomUUID();
    a.send({ type: 'change', doc, clock: { actor, seq: 1, rev: 0 }, ops: [{ type: 'insert', pos: 0, text: 'hello world' }] });
    await a.next('ack');
    a.send({ type: 'presence', doc, rev: 1, selection: { anchor: 6, head: 11 } });
    await new Promise((r) => setTimeout(r, 150));
    a.send({ type: 'change', doc, clock: { actor, seq: 2, rev: 1 }, ops: [{ type: 'insert', pos: 0, text: '>> ' }] });
    await a.next('ack', (m) => m.seq === 2);
    const b = await joined('dan', doc);
    const joinedB = b.received.find((m) => m.type === 'joined');
    expect(joinedB?.type === 'joined' && joinedB.presence).toEqual([
      { session: expect.any(String), user: { id: 'cat', name: 'cat', color: expect.stringMatching(/^#/) }, selection: { anchor: 9, head: 14 }, typing: false },
    ]);
  });

  it('shows typing and clears it after the debounce; drops presence on leave and on disconnect', async () => {
    const doc = randomUUID();
    const a = await joined('eve', doc);
    const b = await joined('fay', doc);
    const start = b.received.length;
    a.send({ type: 'presence', doc, rev: 0, typing: true });
    await b.next('presence', (p) => b.received.indexOf(p) >= start && p.user.id === 'eve' && p.typing);
    await b.next('presence', (p) => b.received.indexOf(p) >= start && p.user.id === 'eve' && !p.typing);

    const sessionA = (await a.next('hello')).session;
    a.send({ type: 'leave', doc });
    expect(await b.next('presence_left')).toEqual({ type: 'presence_left', doc, session: sessionA });

    const c = await joined('gus', doc);
    const sessionC = (await c.next('hello')).session;
    c.ws.terminate();
    await b.next('presence_left', (m) => m.session === sessionC);
  });

  /** Issue 13: a user's caret vanished from everyone's editor TYPING_DEBOUNCE_MS after they stopped typing. */
  it('keeps the selection when the typing indicator clears after the debounce', async () => {
    const doc = randomUUID();
    const a = await joined('hal', doc);
    const b = await joined('ida', doc);
    a.send({ type: 'change', doc, clock: { actor: randomUUID(), seq: 1, rev: 0 }, ops: [{ type: 'insert', pos: 0, text: 'hello world' }] });
    await a.next('ack');
    a.send({ type: 'presence', doc, rev: 1, selection: { anchor: 11, head: 11 }, typing: true });
    // A caret move after the typing update went out, before the debounce clears typing.
    await new Promise((r) => setTimeout(r, 150));
    a.send({ type: 'presence', doc, rev: 1, selection: { anchor: 6, head: 6 } });
    const start = b.received.length;
    const cleared = await b.next('presence', (p) => b.received.indexOf(p) >= start && p.user.id === 'hal' && !p.typing);
    expect(cleared.selection).toEqual({ anchor: 6, head: 6 });
  });

  it('moves a kept selection only by what was committed after it (a typing update from behind)', async () => {
    const doc = randomUUID();
    const a = await joined('jon', doc);
    const b = await joined('kim', doc);
    a.send({ type: 'change', doc, clock: { actor: randomUUID(), seq: 1, rev: 0 }, ops: [{ type: 'insert', pos: 0, text: 'hello world' }] });
    await a.next('ack');
    a.send({ type: 'presence', doc, rev: 1, selection: { anchor: 6, head: 6 } });
    await b.next('presence', (p) => p.user.id === 'jon' && p.selection?.head === 6);
    b.send({ type: 'change', doc, clock: { actor: randomUUID(), seq: 1, rev: 1 }, ops: [{ type: 'insert', pos: 0, text: '>> ' }] });
    await b.next('ack');
    // jon has not seen kim's change yet: its typing update names revision 1; the caret is at 9 now.
    const start = b.received.length;
    a.send({ type: 'presence', doc, rev: 1, typing: true });
    const typing = await b.next('presence', (p) => b.received.indexOf(p) >= start && p.user.id === 'jon' && p.typing);
    expect(typing.rev).toBe(2);
    expect(typing.selection).toEqual({ anchor: 9, head: 9 });
  });

  it("relays the application's presence data untouched, keeps it across updates, and refuses an oversized one", async () => {
    const doc = randomUUID();
    const a = await joined('lea', doc);
    const b = await joined('max', doc);
    const data = { avatar: 'https://example.com/lea.png', viewport: { from: 0, to: 40 }, tags: ['é', 1, true, null] };
    a.send({ type: 'presence', doc, rev: 0, data });
    expect((await b.next('presence', (p) => p.user.id === 'lea' && p.data !== undefined)).data).toEqual(data);
    // A later cursor move without data keeps it; a newcomer gets it in `joined`.
    const start = b.received.length;
    a.send({ type: 'presence', doc, rev: 0, selection: { anchor: 0, head: 0 } });
    const moved = await b.next('presence', (p) => b.received.indexOf(p) >= start && p.user.id === 'lea');
    expect(moved.data).toEqual(data);
    const c = await joined('ned', doc);
    const joinedC = c.received.find((m) => m.type === 'joined');
    expect(joinedC?.type === 'joined' && joinedC.presence.find((p) => p.user.id === 'lea')?.data).toEqual(data);
    a.send({ type: 'presence', doc, rev: 0, data: { big: 'x'.repeat(2000) } });
    const refused = await a.next('error');
    expect(refused).toMatchObject({ code: 'bad_message', ref: 'presence', message: 'data: presence data is larger than 1024 bytes as JSON' });
    a.send({ type: 'presence', doc, rev: 0, data: null });
    await b.next('presence', (p) => p.user.id === 'lea' && p.data === undefined && b.received.indexOf(p) > b.received.indexOf(moved));
  });

  it('closes a connection that stops answering within HEARTBEAT_TIMEOUT_SECS (4009)', async () => {
    // A raw TCP client that completes the upgrade and then never reads or answers pings.
    const token = await devToken(relay.url, 'mute');
    const socket = connect(relay.port, '127.0.0.1');
    let response = '';
    socket.on('data', (d: Buffer) => (response += d.toString('latin1')));
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(
      [
        'GET /collab HTTP/1.1',
        `Host: 127.0.0.1:${relay.port}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        `Sec-WebSocket-Protocol: relay.v1, bearer.${token}`,
        '',
        '',
      ].join('\r\n'),
    );
    const started = Date.now();
    const closedAt = await new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
    expect(response).toContain('101 Switching Protocols');
    // A close frame: 0x88, then the status code 4009 (0x0fa9).
    expect(response).toContain('\x88');
    expect(response).toContain('\x0f\xa9');
    expect(closedAt - started).toBeGreaterThanOrEqual(2500);
    expect(closedAt - started).toBeLessThan(8000);
  });
});
