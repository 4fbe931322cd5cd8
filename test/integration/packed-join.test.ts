/**
 * Issue 12, cold joins: a first join that takes the packed form (`join.packed`, hello feature
 * `packed_join`) gets the latest snapshot as stored plus the changes since, instead of the
 * content serialised from the document. Whatever the form, the copy must be the same document
 * at the same revision: right after the engine wrote a snapshot (the base moved in memory), and
 * after a cold load (the base read from PostgreSQL). The relay's tree is built after the frame
 * has gone out; a snapshot and log that cannot be built (a damaged database) must be refused
 * with stable codes, and leave the relay and other documents untouched.
 */
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { RelayClient, type WebSocketConstructor } from '../../src/client/index.js';
import { docFromPackedJoin } from '../../src/client/packed-join.js';
import { Doc } from '../../src/ot/document.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { connectRaw, type RawClient } from '../support/raw-client.js';
import { devToken, getJson, startRelayProcess, type RelayProcess } from '../support/relay-process.js';

const databaseUrl = inject('databaseUrl');
const SNAPSHOT_INTERVAL_OPS = 50;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Joined = Extract<ServerMessage, { type: 'joined' }>;

describe('packed first joins', () => {
  let relay: RelayProcess;
  const open: RawClient[] = [];

  beforeAll(async () => {
    relay = await startRelayProcess({ env: { DATABASE_URL: databaseUrl, SNAPSHOT_INTERVAL_OPS: String(SNAPSHOT_INTERVAL_OPS), DOCUMENT_IDLE_SECS: '1' } });
  });
  afterAll(async () => {
    for (const c of open) c.ws.terminate();
    expect(await relay?.stop()).toBe(0);
  });

  async function client(user: string): Promise<RawClient> {
    const c = await connectRaw(relay.wsUrl, await devToken(relay.url, user));
    open.push(c);
    const hello = await c.next('hello');
    expect(hello.features).toContain('packed_join');
    return c;
  }

  /** Joins, takes the reply, leaves. */
  async function joinOnce(c: RawClient, doc: string, packed: boolean): Promise<Joined> {
    // next() also finds frames received before: only this join's reply counts.
    c.received.length = 0;
    c.send(packed ? { type: 'join', doc, packed: true } : { type: 'join', doc });
    const joined = await c.next('joined', (m) => m.doc === doc);
    c.send({ type: 'leave', doc });
    await c.next('left', (m) => m.doc === doc);
    return joined;
  }

  /** The document a joined frame describes, whatever its form. */
  function copyOf(joined: Joined): Doc {
    if (joined.content) return Doc.fromRuns(joined.content);
    if (!joined.snapshot) throw new Error('joined without content or snapshot');
    const copy = docFromPackedJoin(joined.snapshot, joined.changes ?? [], joined.rev);
    if (typeof copy === 'string') throw new Error(copy);
    return copy;
  }

  /** `count` changes of one 100-character insert each at the end, bold and plain in turn: many runs. */
  async function write(doc: string, count: number): Promise<void> {
    const writer = await client('writer');
    writer.send({ type: 'join', doc });
    const { rev } = await writer.next('joined');
    const actor = randomUUID();
    for (let i = 0; i < count; i++) {
      const text = String.fromCharCode(97 + (i % 26)).repeat(100);
      writer.send({ type: 'change', doc, clock: { actor, seq: i + 1, rev: rev + i }, ops: [{ type: 'insert', pos: (rev + i) * 100, text, ...(i % 2 === 0 ? { attrs: { bold: true } } : {}) }] });
      await writer.next('ack', (m) => m.seq === i + 1);
    }
    writer.close();
  }

  async function unloaded(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if (((await getJson(`${relay.url}/health`)).body as { active_documents: number }).active_documents === 0) return;
      await sleep(100);
    }
    throw new Error('the relay kept the document loaded');
  }

  it('sends the snapshot the engine just wrote plus the changes since, and the same document after a cold load', async () => {
    const doc = randomUUID();
    const reader = await client('reader');
    await write(doc, SNAPSHOT_INTERVAL_OPS + 3);

    // The snapshot at revision 50 is written in slices after the commit: wait for the base to move.
    let packed = await joinOnce(reader, doc, true);
    for (let i = 0; i < 50 && packed.snapshot?.rev !== SNAPSHOT_INTERVAL_OPS; i++) {
      await sleep(100);
      packed = await joinOnce(reader, doc, true);
    }
    const content = await joinOnce(reader, doc, false);
    expect(content.content).toBeDefined();
    expect(packed.snapshot?.rev).toBe(SNAPSHOT_INTERVAL_OPS);
    expect(packed.changes?.map((c) => c.rev)).toEqual(Array.from({ length: 3 }, (_, i) => SNAPSHOT_INTERVAL_OPS + i));
    expect(packed.rev).toBe(SNAPSHOT_INTERVAL_OPS + 3);
    expect(copyOf(packed).equals(copyOf(content))).toBe(true);

    await unloaded();
    const cold = await joinOnce(reader, doc, true);
    expect(cold.snapshot?.rev).toBe(SNAPSHOT_INTERVAL_OPS);
    expect(cold.rev).toBe(SNAPSHOT_INTERVAL_OPS + 3);
    expect(copyOf(cold).equals(copyOf(content))).toBe(true);

    // An SDK client asks for the packed form and ends up with the same text.
    const sdk = new RelayClient({ url: relay.wsUrl, token: () => devToken(relay.url, 'sdk'), WebSocket: WebSocket as unknown as WebSocketConstructor });
    try {
      const session = await sdk.open(doc);
      expect(session.text).toBe(copyOf(content).text());
      expect(session.content).toEqual(copyOf(content).runs());
    } finally {
      sdk.close();
    }
  }, 60_000);

  it('refuses content joins and changes of a document whose snapshot and log do not fit, and nothing else', async () => {
    const doc = randomUUID();
    await write(doc, SNAPSHOT_INTERVAL_OPS + 3);
    const reader = await client('reader-damaged');
    let packed = await joinOnce(reader, doc, true);
    for (let i = 0; i < 50 && packed.snapshot?.rev !== SNAPSHOT_INTERVAL_OPS; i++) {
      await sleep(100);
      packed = await joinOnce(reader, doc, true);
    }
    expect(packed.snapshot?.rev).toBe(SNAPSHOT_INTERVAL_OPS);
    await unloaded();
    // An op after the snapshot now points far beyond the document: only a damaged database does that.
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined });
    try {
      await sql`UPDATE operations SET position = 99999999 WHERE document_id = ${doc} AND revision = ${SNAPSHOT_INTERVAL_OPS + 2}`;
    } finally {
      await sql.end();
    }

    // A packed first join is answered from the snapshot before the tree is built...
    reader.received.length = 0;
    reader.send({ type: 'join', doc, packed: true });
    const cold = await reader.next('joined', (m) => m.doc === doc);
    expect(cold.snapshot?.rev).toBe(SNAPSHOT_INTERVAL_OPS);
    // ...and its change is then refused with a stable code, not retried as if the database were down.
    reader.send({ type: 'change', doc, clock: { actor: randomUUID(), seq: 1, rev: cold.rev }, ops: [{ type: 'insert', pos: 0, text: 'x' }] });
    const refused = await reader.next('error', (m) => m.doc === doc && m.ref === 'change');
    expect(refused.code).toBe('internal_error');
    // A join that needs the content is refused as a failed load was.
    const other = await client('reader-damaged-2');
    other.send({ type: 'join', doc });
    const error = await other.next('error', (m) => m.doc === doc && m.ref === 'join');
    expect(error.code).toBe('unavailable');

    // The relay is up and another document works.
    expect((await getJson(`${relay.url}/health`)).status).toBe(200);
    const fine = randomUUID();
    await write(fine, 2);
    expect((await joinOnce(other, fine, false)).rev).toBe(2);
  }, 60_000);

  it('answers with content when that is smaller (a short document with no snapshot)', async () => {
    const doc = randomUUID();
    const reader = await client('reader-small');
    const writer = await client('writer-small');
    writer.send({ type: 'join', doc });
    await writer.next('joined');
    writer.send({ type: 'change', doc, clock: { actor: randomUUID(), seq: 1, rev: 0 }, ops: [{ type: 'insert', pos: 0, text: 'hello' }] });
    await writer.next('ack');
    const joined = await joinOnce(reader, doc, true);
    expect(joined.snapshot).toBeUndefined();
    expect(joined.content).toEqual([{ text: 'hello' }]);
  }, 30_000);
});
