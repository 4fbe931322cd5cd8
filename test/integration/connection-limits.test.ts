import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { RelayClient, type DocumentSession, type WebSocketConstructor } from '../../src/client/index.js';
import { readOpLog } from '../support/oplog.js';
import { connectRaw, type RawClient } from '../support/raw-client.js';
import { devToken, startRelayProcess, type RelayProcess } from '../support/relay-process.js';

const databaseUrl = inject('databaseUrl');

/** Connection-level protocol edges and limits, against the real relay with its default limits. */
describe('connection limits and protocol edges', () => {
  let relay: RelayProcess;
  const clients: RawClient[] = [];
  const sdks: RelayClient[] = [];

  beforeAll(async () => {
    relay = await startRelayProcess({ env: { DATABASE_URL: databaseUrl } });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const c of sdks) c.close();
    await relay.stop();
  });

  async function client(user = `user-${randomUUID().slice(0, 8)}`): Promise<RawClient> {
    const c = await connectRaw(relay.wsUrl, await devToken(relay.url, user));
    clients.push(c);
    await c.next('hello');
    return c;
  }

  function sdk(user: string, on: RelayProcess = relay): RelayClient {
    const c = new RelayClient({ url: on.wsUrl, token: () => devToken(on.url, user), WebSocket: WebSocket as unknown as WebSocketConstructor });
    sdks.push(c);
    return c;
  }

  it('a rejoin refused with bad_clock is followed by left, and nothing more of the document arrives', async () => {
    const doc = randomUUID();
    const a = await client();
    const b = await client();
    a.send({ type: 'join', doc });
    await a.next('joined');
    b.send({ type: 'join', doc });
    await b.next('joined');
    a.send({ type: 'join', doc, rev: 999 });
    expect(await a.next('error', (m) => m.ref === 'join')).toMatchObject({ code: 'bad_clock', doc });
    expect(await a.next('left')).toEqual({ type: 'left', doc, reason: 'rejoin_refused' });
    b.send({ type: 'change', doc, clock: { actor: randomUUID(), seq: 1, rev: 0 }, ops: [{ type: 'insert', pos: 0, text: 'x' }] });
    await b.next('ack');
    a.send({ type: 'ping', id: 'after' });
    await a.next('pong');
    expect(a.received.filter((m) => m.type === 'change')).toHaveLength(0);
  });

  it('a text frame that is not UTF-8 fails the connection (logged and counted); others carry on', async () => {
    const bad = await client('not-utf8');
    const closed = bad.closed();
    bad.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    // uWebSockets.js fails the connection without a close frame (docs/protocol.md: 1006).
    expect((await closed).code).toBe(1006);
    const other = await client();
    other.send({ type: 'ping', id: 1 });
    await other.next('pong');
    expect(relay.output()).toContain('a text frame was not valid UTF-8');
  });

  it('a flood of large frames runs out of the byte budget and is closed with 4029 long before the message budget', async () => {
    const flooder = await client('flooder');
    // Joined first, so a relay slowed by other work cannot end the connection for want of a
    // join (4010, the handshake timeout) before the byte budget runs out.
    flooder.send({ type: 'join', doc: randomUUID() });
    await flooder.next('joined');
    const frame = 'x'.repeat(900 * 1024);
    const closed = flooder.closed();
    let sent = 0;
    // 40 frames are far below the message burst (400) but 36 MB, far past the byte burst (8 MiB).
    for (; sent < 40 && flooder.ws.readyState === WebSocket.OPEN; sent++) {
      flooder.sendText(frame);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect((await flooder.next('error', (m) => m.code === 'rate_limited')).message).toMatch(/bytes per second/);
    expect((await closed).code).toBe(4029);
    expect(relay.output()).toContain('"budget":"bytes"');

    // Reconnecting at once does not buy a fresh budget: the flooder cools down first (429 with
    // Retry-After), while anyone else connects as usual.
    const flooderToken = await devToken(relay.url, 'flooder');
    const refused = await new Promise<{ status: number; retryAfter: string | undefined }>((resolve, reject) => {
      const ws = new WebSocket(relay.wsUrl, ['relay.v1', `bearer.${flooderToken}`]);
      ws.once('open', () => reject(new Error('the flooder reconnected at once')));
      ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] }));
    });
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    await client('bystander');
  });

  it("a user's connections share one byte budget: opening more connections does not multiply it", async () => {
    const frame = 'y'.repeat(900 * 1024);
    const connections = [await client('many-tabs'), await client('many-tabs'), await client('many-tabs'), await client('many-tabs')];
    // 4 × 3 frames = 10.8 MB: within four separate 8 MiB bursts, past one shared burst.
    for (let round = 0; round < 3; round++) for (const c of connections) if (c.ws.readyState === WebSocket.OPEN) c.sendText(frame);
    const limited = await Promise.race(connections.map((c) => c.next('error', (m) => m.code === 'rate_limited').then(() => true)));
    expect(limited).toBe(true);
  });

  it('two SDK clients streaming 1,000 characters a second each, and a large paste, are never rate-limited', async () => {
    // A message limit below any editor's change rate: changes within the flow control (one in
    // flight per document) do not count against it, however low it is; presence and the rest do
    // (so this test sends none).
    const tight = await startRelayProcess({ env: { DATABASE_URL: databaseUrl, RATE_LIMIT_MESSAGES_PER_SEC: '2', RATE_LIMIT_BURST: '4' } });
    try {
      await streamAndPaste(tight);
    } finally {
      for (const c of sdks.splice(0)) c.close();
      await tight.stop();
    }
  });

  async function streamAndPaste(on: RelayProcess): Promise<void> {
    const docId = randomUUID();
    const errors: string[] = [];
    const writers = await Promise.all(
      ['agent-1', 'agent-2'].map((u) => {
        const c = sdk(u, on);
        // The relay's rate_limited error names no document: the SDK reports it as a warning.
        c.on('warning', (w) => errors.push(w));
        return c.open(docId);
      }),
    );
    writers.forEach((d) => d.on('error', (e) => errors.push(`${e.code}: ${e.message}`)));
    const seconds = 3;
    const stream = (doc: DocumentSession, letter: string) =>
      new Promise<void>((resolve) => {
        let typed = 0;
        const started = Date.now();
        const timer = setInterval(() => {
          // Catch up to 1,000 characters per second since the start, one insert per character.
          const due = Math.min(seconds * 1000, Math.floor(Date.now() - started));
          for (; typed < due; typed++) {
            doc.insert(doc.text.length, letter);
          }
          if (typed >= seconds * 1000) {
            clearInterval(timer);
            resolve();
          }
        }, 4);
      });
    await Promise.all([stream(writers[0] as DocumentSession, 'a'), stream(writers[1] as DocumentSession, 'b')]);
    // A paste of 3 MiB: split by the SDK into frames under MAX_MESSAGE_BYTES.
    (writers[0] as DocumentSession).insert(0, 'p'.repeat(3 * 1024 * 1024));
    await Promise.all(writers.map((d) => d.whenSynced()));
    const deadline = Date.now() + 30_000;
    let head = 0;
    while (Date.now() < deadline) {
      head = (await readOpLog(databaseUrl, docId)).revisions.length;
      if (writers.every((d) => !d.pending && d.revision === head)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(errors.filter((e) => e.includes('rate limit') || e.startsWith('rate_limited'))).toEqual([]);
    const text = (writers[0] as DocumentSession).text;
    expect((writers[1] as DocumentSession).text).toBe(text);
    expect(text.split('a').length - 1).toBe(seconds * 1000);
    expect(text.split('b').length - 1).toBe(seconds * 1000);
    expect(text.split('p').length - 1).toBe(3 * 1024 * 1024);
  }
});
