/**
 * Issue 12 (b): a joined frame larger than MAX_BACKPRESSURE_BYTES is one legitimate frame, not
 * a slow consumer. uWS counts it in the socket's backlog and, with closeOnBackpressureLimit,
 * dropped the joiner (1006, no close frame) at the next frame sent to it (a change or presence
 * of another member) while it was still reading the content: four writers joining a 3 MiB
 * document at once under the default 4 MiB limit did this.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { connectRaw, type RawClient } from '../support/raw-client.js';
import { devToken, startRelayProcess, type RelayProcess } from '../support/relay-process.js';

const databaseUrl = inject('databaseUrl');
const MAX_BACKPRESSURE_BYTES = 256 * 1024;
/** Past what loopback socket buffers hold, so the relay keeps most of each joined frame. */
const CHUNK_CHARS = 400_000;
const CHUNKS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('joining a document whose joined frame is past MAX_BACKPRESSURE_BYTES', () => {
  let relay: RelayProcess;
  const open: RawClient[] = [];

  beforeAll(async () => {
    relay = await startRelayProcess({
      env: { DATABASE_URL: databaseUrl, MAX_BACKPRESSURE_BYTES: String(MAX_BACKPRESSURE_BYTES), MAX_DOCUMENT_CHARS: String(2 * CHUNKS * CHUNK_CHARS) },
    });
  });
  afterAll(async () => {
    for (const c of open) c.ws.terminate();
    expect(await relay?.stop()).toBe(0);
  });

  it('keeps a joiner that reads its content slowly while others edit, and it gets every change', async () => {
    const doc = randomUUID();
    const writer = await connectRaw(relay.wsUrl, await devToken(relay.url, 'writer'));
    open.push(writer);
    writer.send({ type: 'join', doc });
    await writer.next('joined');
    const actor = randomUUID();
    // Two UTF-8 bytes a character: a joined frame of about 3.2 MB, past the 256 KiB limit.
    for (let seq = 1; seq <= CHUNKS; seq++) {
      writer.send({ type: 'change', doc, clock: { actor, seq, rev: seq - 1 }, ops: [{ type: 'insert', pos: 0, text: 'é'.repeat(CHUNK_CHARS) }] });
      await writer.next('ack', (m) => m.seq === seq);
    }

    const joiners = await Promise.all([0, 1, 2, 3].map(async (i) => connectRaw(relay.wsUrl, await devToken(relay.url, `joiner-${i}`))));
    open.push(...joiners);
    for (const joiner of joiners) {
      joiner.send({ type: 'join', doc });
      // Not reading: the joined frame stays in the relay's buffer for this socket.
      joiner.ws.pause();
    }
    await sleep(1000);
    const edits = 20;
    for (let seq = CHUNKS + 1; seq <= CHUNKS + edits; seq++) {
      writer.send({ type: 'change', doc, clock: { actor, seq, rev: CHUNKS }, ops: [{ type: 'insert', pos: 0, text: 'x' }] });
      await writer.next('ack', (m) => m.seq === seq);
    }
    await sleep(500);
    for (const joiner of joiners) joiner.ws.resume();
    for (const joiner of joiners) {
      const joined = await joiner.next('joined', undefined, 30_000);
      const seen = () => joined.rev + joiner.received.filter((m) => m.type === 'change').length;
      for (let waited = 0; seen() < CHUNKS + edits && waited < 50; waited++) await sleep(100);
      const changes = joiner.received.filter((m) => m.type === 'change');
      expect(joined.rev + changes.length).toBe(CHUNKS + edits);
      expect(joiner.ws.readyState).toBe(WebSocket.OPEN);
    }
  }, 120_000);
});
