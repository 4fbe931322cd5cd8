import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectRaw, type RawClient } from '../support/raw-client.js';
import { devToken, getJson, startRelayProcess, type RelayProcess } from '../support/relay-process.js';
import { Editor, openAndHold, percentile, upgradeStatus } from '../support/upgrade.js';

const databaseUrl = inject('databaseUrl');
const MAX_CONNECTIONS = 60;
const MAX_MESSAGE_BYTES = 128 * 1024;
const MAX_BACKPRESSURE_BYTES = 256 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Hostile clients against one relay, and a well-behaved editor on the same relay that must
 * keep working: limits (handshake timeout, connection cap, frame size, message rate,
 * backpressure) close or refuse the offenders only.
 */
describe('hostile clients and limits', () => {
  let relay: RelayProcess;
  let token: string;
  const open: RawClient[] = [];

  const activeConnections = async () => ((await getJson(`${relay.url}/health`)).body as { active_connections: number }).active_connections;
  const steadyActiveConnections = async () => {
    let last = await activeConnections();
    for (let steady = 0, tries = 0; steady < 3 && tries < 50; tries++) {
      await sleep(200);
      const now = await activeConnections();
      steady = now === last ? steady + 1 : 0;
      last = now;
    }
    return last;
  };
  const connectJoined = async (doc: string, user = 'well-behaved') => {
    const client = await connectRaw(relay.wsUrl, user === 'well-behaved' ? token : await devToken(relay.url, user));
    open.push(client);
    client.send({ type: 'join', doc });
    const joined = await client.next('joined', (m) => m.doc === doc);
    return { client, joined };
  };

  beforeAll(async () => {
    relay = await startRelayProcess({
      env: {
        DATABASE_URL: databaseUrl,
        MAX_CONNECTIONS: String(MAX_CONNECTIONS),
        MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES),
        MAX_BACKPRESSURE_BYTES: String(MAX_BACKPRESSURE_BYTES),
        // Long enough that the connection-cap loop below finishes before its held
        // connections (which never join) time out, even on a loaded machine.
        HANDSHAKE_TIMEOUT_SECS: '5',
        RATE_LIMIT_MESSAGES_PER_SEC: '100',
        RATE_LIMIT_BURST: '200',
      },
    });
    token = await devToken(relay.url, 'well-behaved');
  });
  afterAll(async () => {
    for (const c of open) c.ws.terminate();
    const code = await relay?.stop();
    expect(code).toBe(0);
  });

  it('closes a connection that does not join within the handshake timeout with 4010', async () => {
    const idle = await connectRaw(relay.wsUrl, token);
    const { client: busy } = await connectJoined(randomUUID());
    const started = Date.now();
    const closed = await idle.closed();
    console.log(`idle connection closed after ${Date.now() - started} ms: ${closed.code} ${closed.reason}`);
    expect(closed.code).toBe(4010);
    await sleep(500);
    expect(busy.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('closes a connection that sends a frame over MAX_MESSAGE_BYTES: 1009, or 1006 far over it', async () => {
    const results: Record<string, number> = {};
    for (const [name, size] of [
      ['limit + 1', MAX_MESSAGE_BYTES + 1],
      ['3 × limit', MAX_MESSAGE_BYTES * 3],
      ['8 MiB', 8 << 20],
    ] as const) {
      const client = await connectRaw(relay.wsUrl, token);
      client.sendText(JSON.stringify({ type: 'ping', id: 'x'.repeat(size) }));
      results[name] = (await client.closed()).code;
    }
    console.log('close codes for oversized frames:', results);
    expect(results['limit + 1']).toBe(1009);
    // Past twice the limit uWebSockets.js itself drops the connection without a close frame,
    // as soon as it reads the frame header (see docs/security.md).
    expect(results['3 × limit']).toBe(1006);
    expect(results['8 MiB']).toBe(1006);
    // A frame at the limit is fine.
    const ok = await connectRaw(relay.wsUrl, token);
    const id = 'y'.repeat(MAX_MESSAGE_BYTES - 40);
    ok.sendText(JSON.stringify({ type: 'ping', id: id.slice(0, 64) }).padEnd(MAX_MESSAGE_BYTES, ' '));
    expect(await ok.next('pong')).toBeDefined();
    ok.close();
  });

  it('refuses upgrades past MAX_CONNECTIONS with 503 (a loop and a burst), never crashing, and recovers', async () => {
    // Sockets the earlier tests closed may take a moment to leave the count: wait until it is steady.
    const baseline = await steadyActiveConnections();
    const held: WebSocket[] = [];
    const statuses: number[] = [];
    // A client opening connections in a loop and holding them.
    for (let i = 0; i < MAX_CONNECTIONS + 20; i++) {
      statuses.push(await openAndHold(relay.wsUrl, token, held));
    }
    const accepted = statuses.filter((s) => s === 101).length;
    // A socket an earlier test closed may still be counted when the baseline is read and leave
    // during the loop; the cap itself is checked exactly below (never more than MAX open).
    expect(accepted).toBeGreaterThanOrEqual(MAX_CONNECTIONS - baseline);
    expect(accepted).toBeLessThanOrEqual(MAX_CONNECTIONS);
    expect(statuses.filter((s) => s === 503).length).toBe(MAX_CONNECTIONS + 20 - accepted);
    // A burst of concurrent upgrades at the limit: all refused, none over the cap.
    const burst = await Promise.all(Array.from({ length: 100 }, () => upgradeStatus(relay.wsUrl, token)));
    expect(burst.every((r) => r.status === 503)).toBe(true);
    expect(await activeConnections()).toBe(MAX_CONNECTIONS);
    for (const ws of held) ws.terminate();
    await sleep(300);
    // A burst from zero: never more than the cap open at once.
    const fromZero = await Promise.all(Array.from({ length: 120 }, () => upgradeStatus(relay.wsUrl, token)));
    expect(fromZero.filter((r) => r.status === 101).length).toBeGreaterThan(0);
    expect(fromZero.every((r) => r.status === 101 || r.status === 503)).toBe(true);
    await sleep(300);
    expect(await activeConnections()).toBe(baseline);
    expect((await upgradeStatus(relay.wsUrl, token)).status).toBe(101);
  });

  it('floods: a message flooder, a connection looper and a slow consumer are limited or closed while a well-behaved editor keeps editing', async () => {
    const doc = randomUUID();
    const firehoseDoc = randomUUID();
    const { client: good, joined } = await connectJoined(doc);
    const editor = new Editor(good, doc, joined.rev);
    await editor.insert('warm-up');

    // The slow consumer: joins the firehose document, then stops reading its socket.
    const slowToken = await devToken(relay.url, 'slow');
    const slow = new WebSocket(relay.wsUrl, ['relay.v1', `bearer.${slowToken}`]);
    const slowClosed = new Promise<{ code: number; reason: string }>((resolve) => slow.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    await new Promise<void>((resolve, reject) => {
      slow.once('open', () => resolve());
      slow.once('error', reject);
    });
    slow.send(JSON.stringify({ type: 'join', doc: firehoseDoc }));
    await new Promise<void>((resolve) => {
      slow.on('message', (data) => {
        if ((JSON.parse(data.toString()) as { type: string }).type === 'joined') resolve();
      });
    });
    const socket = (slow as unknown as { _socket: import('node:net').Socket })._socket;
    socket.pause();
    const { client: writer, joined: writerJoined } = await connectJoined(firehoseDoc, 'firehose-writer');
    const firehose = new Editor(writer, firehoseDoc, writerJoined.rev);

    const stopAt = Date.now() + 8000;
    const latencies: number[] = [];
    const wellBehaved = (async () => {
      for (let i = 0; Date.now() < stopAt; i++) {
        latencies.push(await editor.insert(`k${i}`));
        await sleep(25);
      }
    })();

    // The message flooder: as fast as it can.
    const flooder = await connectRaw(relay.wsUrl, await devToken(relay.url, 'flooder'));
    flooder.send({ type: 'join', doc });
    await flooder.next('joined');
    const flooderClosed = flooder.closed();
    let sent = 0;
    const flooding = (async () => {
      while (flooder.ws.readyState === WebSocket.OPEN && sent < 50_000) {
        for (let i = 0; i < 500 && flooder.ws.readyState === WebSocket.OPEN; i++, sent++) flooder.send({ type: 'ping', id: sent });
        await sleep(1);
      }
    })();

    // The connection looper: opens and holds connections until refused, then keeps trying.
    const looperStatuses: number[] = [];
    const looperHeld: WebSocket[] = [];
    const looping = (async () => {
      const loopToken = await devToken(relay.url, 'looper');
      while (Date.now() < stopAt - 2000 && looperStatuses.length < 400) {
        looperStatuses.push(await openAndHold(relay.wsUrl, loopToken, looperHeld));
      }
    })();

    // The firehose: big changes (insert 100 KB, then delete it) that the slow consumer must receive.
    let firehoseBytes = 0;
    const firehosing = (async () => {
      const chunk = 'z'.repeat(100_000);
      while (slow.readyState === WebSocket.OPEN && Date.now() < stopAt && firehoseBytes < 15e6) {
        await firehose.insert(chunk);
        firehose.seq++;
        const seq = firehose.seq;
        writer.send({ type: 'change', doc: firehoseDoc, clock: { actor: firehose.actor, seq, rev: firehose.rev }, ops: [{ type: 'delete', pos: 0, len: chunk.length }] });
        const ack = await writer.next('ack', (m) => m.doc === firehoseDoc && m.seq === seq);
        firehose.rev = ack.rev + ack.count;
        firehoseBytes += chunk.length;
        // Two messages per round: stay within the writer's own rate limit (100/s).
        await sleep(25);
      }
    })();

    const flooderResult = await flooderClosed;
    await Promise.all([wellBehaved, flooding, looping, firehosing]);
    const rateError = flooder.received.find((m) => m.type === 'error');
    console.log(`flooder: sent ${sent} messages, got ${flooder.received.filter((m) => m.type === 'pong').length} pongs, error ${JSON.stringify(rateError)}, closed ${flooderResult.code} ${flooderResult.reason}`);
    // The relay closes the flooder with 4029 (its log says so). A flooder that keeps writing
    // after the close frame can instead see 1006: its late frames reach a socket the relay has
    // closed, the relay's kernel answers with a reset, and a reset discards whatever is still
    // unread in the flooder's receive buffer: the close frame, and on a loaded machine the
    // rate_limited error and the pongs before it too (seen in a full run next to other work).
    expect(relay.output()).toMatch(/"user":"flooder".*"closing a client that floods messages"/);
    expect([4029, 1006]).toContain(flooderResult.code);
    if (flooderResult.code === 4029) expect(rateError).toMatchObject({ code: 'rate_limited' });

    const counts = looperStatuses.reduce<Record<string, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {});
    console.log(`connection looper: ${looperStatuses.length} attempts: ${JSON.stringify(counts)}`);
    expect(counts['503']).toBeGreaterThan(0);
    expect((counts['101'] ?? 0) + (counts['503'] ?? 0)).toBe(looperStatuses.length);

    // The slow consumer: read what is buffered, then see how the relay closed it.
    socket.resume();
    const slowResult = await Promise.race([slowClosed, sleep(10_000).then(() => ({ code: -1, reason: 'still open' }))]);
    console.log(`slow consumer: firehose sent ${(firehoseBytes / 1e6).toFixed(1)} MB, slow client saw close ${slowResult.code} ${JSON.stringify(slowResult.reason)}`);
    expect(slowResult.code).not.toBe(-1);
    expect([1006, 4008]).toContain(slowResult.code);

    console.log(
      `well-behaved editor during the floods: ${latencies.length} changes acked, latency p50 ${percentile(latencies, 50).toFixed(1)} ms, p95 ${percentile(latencies, 95).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms`,
    );
    expect(latencies.length).toBeGreaterThan(20);
    expect(percentile(latencies, 95)).toBeLessThan(2000);
    expect(good.ws.readyState).toBe(WebSocket.OPEN);
    for (const ws of looperHeld) ws.terminate();

    const metrics = await (await fetch(`http://127.0.0.1:${relay.metricsPort}/metrics`)).text();
    console.log(metrics.split('\n').filter((l) => l.startsWith('materi_connections_closed_total')).join('\n'));
    expect(metrics).toMatch(/materi_connections_closed_total\{reason="rate_limited"\} [1-9]/);
    expect(metrics).toMatch(/materi_connections_closed_total\{reason="max_connections"\} [1-9]/);
  });
});
