import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apply, docText, emptyDoc } from '../../src/ot/index.js';
import type { Change, DocState } from '../../src/ot/types.js';
import { connectRaw, type RawClient } from '../support/raw-client.js';
import { devToken, getJson, startRelayProcess, type RelayProcess } from '../support/relay-process.js';

const databaseUrl = inject('databaseUrl');

/** The document as the op log in Postgres has it. */
async function contentFromLog(docId: string): Promise<string> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined });
  try {
    const rows = await sql<{ operation_type: string; position: number; content: string | null; length: number | null; attributes: Record<string, string> | null }[]>`
      SELECT operation_type, position, content, length, attributes FROM operations WHERE document_id = ${docId} ORDER BY revision`;
    let doc: DocState = emptyDoc;
    for (const r of rows) {
      const op: Change[number] =
        r.operation_type === 'insert'
          ? { type: 'insert', pos: r.position, text: r.content ?? '' }
          : r.operation_type === 'delete'
            ? { type: 'delete', pos: r.position, len: r.length ?? 0 }
            : { type: 'format', pos: r.position, len: r.length ?? 0, attrs: r.attributes ?? {} };
      doc = apply(doc, [op]);
    }
    return docText(doc);
  } finally {
    await sql.end();
  }
}

describe('/collab protocol against the real relay', () => {
  let relay: RelayProcess;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    relay = await startRelayProcess({
      env: { DATABASE_URL: databaseUrl, MAX_MESSAGE_BYTES: '65536', OPERATION_BATCH_SIZE: '20', SNAPSHOT_INTERVAL_OPS: '10', DOCUMENT_IDLE_SECS: '1' },
    });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await relay.stop();
    if (process.env.DEBUG_RELAY) console.log(relay.output().split('\n').filter((l) => l.includes('"level":40') || l.includes('"level":50')).join('\n'));
  });

  async function client(user = `user-${randomUUID().slice(0, 8)}`): Promise<RawClient> {
    const c = await connectRaw(relay.wsUrl, await devToken(relay.url, user));
    clients.push(c);
    await c.next('hello');
    return c;
  }

  it('refuses an upgrade without a token or with a bad one (401, before the upgrade)', async () => {
    await expect(connectRaw(relay.wsUrl, undefined)).rejects.toThrow(/HTTP 401/);
    await expect(connectRaw(relay.wsUrl, 'not.a.jwt')).rejects.toThrow(/HTTP 401/);
    // The token also works in the access_token query parameter.
    const viaQuery = await connectRaw(`${relay.wsUrl}?access_token=${await devToken(relay.url, 'q')}`, undefined);
    expect((await viaQuery.next('hello')).user.id).toBe('q');
    viaQuery.close();
  });

  it('joins with content, broadcasts changes to others, acks the author, and rejoins with only missed changes', async () => {
    const doc = randomUUID();
    const a = await client('alice');
    const b = await client('bob');
    a.send({ type: 'join', doc });
    expect(await a.next('joined')).toMatchObject({ doc, rev: 0, content: [], role: 'editor' });
    b.send({ type: 'join', doc });
    const bJoined = await b.next('joined');
    expect(bJoined.presence.map((p) => p.user.id)).toEqual(['alice']);

    const actor = randomUUID();
    a.send({ type: 'change', doc, clock: { actor, seq: 1, rev: 0 }, ops: [{ type: 'insert', pos: 0, text: 'hello', attrs: { bold: true } }] });
    expect(await a.next('ack')).toEqual({ type: 'ack', doc, seq: 1, rev: 0, count: 1 });
    expect(await b.next('change')).toMatchObject({ doc, rev: 0, clock: { actor, seq: 1 }, user: 'alice', ops: [{ type: 'insert', pos: 0, text: 'hello' }] });
    // The author gets an ack, never its own change back.
    expect(a.received.filter((m) => m.type === 'change')).toHaveLength(0);

    b.send({ type: 'leave', doc });
    await b.next('left');
    a.send({ type: 'change', doc, clock: { actor, seq: 2, rev: 1 }, ops: [{ type: 'insert', pos: 5, text: ' world' }] });
    await a.next('ack', (m) => m.seq === 2);
    b.send({ type: 'join', doc, rev: 1 });
    const rejoined = await b.next('joined', (m) => m.rev === 2);
    expect(rejoined.content).toBeUndefined();
    expect(rejoined.changes).toEqual([{ rev: 1, ops: [{ type: 'insert', pos: 5, text: ' world' }], clock: { actor, seq: 2 }, user: 'alice' }]);
  });

  it('rejoins from revision 0 of a long log with the content when the client takes it and it is smaller; otherwise with the changes', async () => {
    const doc = randomUUID();
    const writer = await client('long-writer');
    writer.send({ type: 'join', doc });
    await writer.next('joined');
    const actor = randomUUID();
    for (let seq = 1; seq <= 10; seq++) {
      const ops: Change = Array.from({ length: 20 }, (_, i) => ({ type: 'insert', pos: (seq - 1) * 20 + i, text: 'x' }));
      writer.send({ type: 'change', doc, clock: { actor, seq, rev: (seq - 1) * 20 }, ops });
      await writer.next('ack', (m) => m.seq === seq);
    }
    const hello = await client('long-reader');
    expect(hello.received.find((m) => m.type === 'hello')).toMatchObject({ features: expect.arrayContaining(['join_content']) });
    // 200 one-character ops against 200 characters: the content is smaller.
    hello.send({ type: 'join', doc, rev: 0, acceptContent: true });
    const withContent = await hello.next('joined');
    expect(withContent).toMatchObject({ rev: 200 });
    expect(withContent.changes).toBeUndefined();
    expect(docText(withContent.content ?? [])).toBe('x'.repeat(200));
    // A client that does not say it takes content (every client before this flag) gets changes.
    const older = await client('long-reader-2');
    older.send({ type: 'join', doc, rev: 0 });
    const withChanges = await older.next('joined');
    expect(withChanges.content).toBeUndefined();
    expect(withChanges.changes).toHaveLength(10);
    // One small change behind: the change is smaller than the content.
    writer.send({ type: 'change', doc, clock: { actor, seq: 11, rev: 200 }, ops: [{ type: 'insert', pos: 200, text: 'y' }] });
    await writer.next('ack', (m) => m.seq === 11);
    const recent = await client('long-reader-3');
    recent.send({ type: 'join', doc, rev: 200, acceptContent: true });
    const oneChange = await recent.next('joined');
    expect(oneChange.content).toBeUndefined();
    expect(oneChange.changes?.map((c) => c.rev)).toEqual([200]);
  });

  it('answers a resend of a committed change after a reconnect with its original ack, applying it once', async () => {
    const doc = randomUUID();
    const actor = randomUUID();
    const first = await client('carol');
    first.send({ type: 'join', doc });
    await first.next('joined');
    const change = { type: 'change', doc, clock: { actor, seq: 1, rev: 0 }, ops: [{ type: 'insert', pos: 0, text: 'once' }] };
    first.send(change);
    const ack = await first.next('ack');
    first.close();

    const again = await client('carol');
    again.send({ type: 'join', doc, rev: 0 });
    const joined = await again.next('joined');
    expect(joined.changes?.map((c) => c.clock)).toEqual([{ actor, seq: 1 }]);
    again.send(change);
    expect(await again.next('ack')).toEqual(ack);
    expect(await contentFromLog(doc)).toBe('once');
  });

  it('gives each bad frame its documented error, applies nothing, and carries on for everyone', async () => {
    const doc = randomUUID();
    const good = await client('good');
    const bad = await client('bad');
    for (const c of [good, bad]) {
      c.send({ type: 'join', doc });
      await c.next('joined');
    }
    const goodActor = randomUUID();
    good.send({ type: 'change', doc, clock: { actor: goodActor, seq: 1, rev: 0 }, ops: [{ type: 'insert', pos: 0, text: 'ab😀cd' }] });
    await good.next('ack');
    await bad.next('change');

    const actor = randomUUID();
    const cases: Array<[string, () => void, string, RegExp?]> = [
      ['malformed JSON', () => bad.sendText('{"type": "join", '), 'bad_message', /not valid JSON/],
      ['a JSON array', () => bad.sendText('[1,2]'), 'bad_message'],
      ['an unknown type', () => bad.send({ type: 'teleport', doc }), 'unknown_type'],
      ['a doc that is not a UUID', () => bad.send({ type: 'join', doc: 'x' }), 'bad_message', /UUID/],
      ['an op on a document not joined', () => bad.send({ type: 'change', doc: randomUUID(), clock: { actor, seq: 1, rev: 0 }, ops: [{ type: 'insert', pos: 0, text: 'x' }] }), 'not_joined'],
      ['an out-of-range position', () => bad.send({ type: 'change', doc, clock: { actor, seq: 1, rev: 1 }, ops: [{ type: 'insert', pos: 99, text: 'x' }] }), 'invalid_op', /out_of_range/],
      ['a surrogate split', () => bad.send({ type: 'change', doc, clock: { actor, seq: 1, rev: 1 }, ops: [{ type: 'insert', pos: 3, text: 'x' }] }), 'invalid_op', /surrogate/],
      ['a lone surrogate in text', () => bad.send({ type: 'change', doc, clock: { actor, seq: 1, rev: 1 }, ops: [{ type: 'insert', pos: 0, text: '\ud83d' }] }), 'invalid_op'],
      ['a clock from the future', () => bad.send({ type: 'change', doc, clock: { actor, seq: 1, rev: 500 }, ops: [{ type: 'insert', pos: 0, text: 'x' }] }), 'bad_clock'],
      ['a skipped sequence number', () => bad.send({ type: 'change', doc, clock: { actor, seq: 9, rev: 1 }, ops: [{ type: 'insert', pos: 0, text: 'x' }] }), 'bad_clock'],
      ["another user's actor", () => bad.send({ type: 'change', doc, clock: { actor: goodActor, seq: 2, rev: 1 }, ops: [{ type: 'insert', pos: 0, text: 'x' }] }), 'bad_clock', /another user/],
      ['too many ops', () => bad.send({ type: 'change', doc, clock: { actor, seq: 1, rev: 1 }, ops: Array.from({ length: 21 }, () => ({ type: 'insert', pos: 0, text: 'x' })) }), 'invalid_op', /at most 20/],
      ['an empty change', () => bad.send({ type: 'change', doc, clock: { actor, seq: 1, rev: 1 }, ops: [] }), 'invalid_op'],
      ['a negative length', () => bad.send({ type: 'change', doc, clock: { actor, seq: 1, rev: 1 }, ops: [{ type: 'delete', pos: 0, len: -1 }] }), 'invalid_op'],
    ];
    for (const [name, sendIt, code, message] of cases) {
      const before = bad.received.length;
      sendIt();
      const error = await bad.next('error', (m) => bad.received.indexOf(m) >= before);
      expect(error.code, name).toBe(code);
      if (message) expect(error.message, name).toMatch(message);
    }
    // Still connected and served.
    bad.send({ type: 'ping', id: 7 });
    expect(await bad.next('pong')).toEqual({ type: 'pong', id: 7 });
    // The good client never saw any of it and keeps editing.
    good.send({ type: 'change', doc, clock: { actor: goodActor, seq: 2, rev: 1 }, ops: [{ type: 'delete', pos: 0, len: 2 }] });
    await good.next('ack', (m) => m.seq === 2);
    expect(good.received.filter((m) => m.type === 'change' || m.type === 'error')).toHaveLength(0);
    expect(await contentFromLog(doc)).toBe('😀cd');

    // An oversized frame closes only that connection, with 1009.
    bad.sendText(JSON.stringify({ type: 'ping', id: 'x'.repeat(70_000) }));
    expect((await bad.closed()).code).toBe(1009);
    good.send({ type: 'ping' });
    await good.next('pong');
  });

  it('writes snapshots every N ops and serves the same content after a restart, then unloads idle documents', async () => {
    const doc = randomUUID();
    const c = await client('snap');
    c.send({ type: 'join', doc });
    await c.next('joined');
    const actor = randomUUID();
    for (let seq = 1; seq <= 25; seq++) {
      c.send({ type: 'change', doc, clock: { actor, seq, rev: seq - 1 }, ops: [{ type: 'insert', pos: seq - 1, text: String(seq % 10) }] });
      await c.next('ack', (m) => m.seq === seq);
    }
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined });
    try {
      let revisions: number[] = [];
      for (let i = 0; i < 50 && revisions.length < 2; i++) {
        revisions = (await sql<{ revision: number }[]>`SELECT revision::int FROM document_packed_snapshots WHERE document_id = ${doc} ORDER BY revision`).map((r) => r.revision);
        if (revisions.length < 2) await new Promise((r) => setTimeout(r, 100));
      }
      expect(revisions.length).toBeGreaterThanOrEqual(2);
      expect(revisions.every((r) => r >= 10)).toBe(true);
    } finally {
      await sql.end();
    }
    const loaded = async () => ((await getJson(`${relay.url}/health`)).body as { active_documents: number }).active_documents;
    const before = await loaded();
    c.send({ type: 'leave', doc });
    await c.next('left');
    // Other tests' clients keep their documents open; this one must go after DOCUMENT_IDLE_SECS.
    let now = await loaded();
    for (let i = 0; i < 40 && now >= before; i++) {
      await new Promise((r) => setTimeout(r, 100));
      now = await loaded();
    }
    expect(now).toBe(before - 1);
    // Loading again goes through the snapshot plus the tail.
    c.send({ type: 'join', doc });
    const joined = await c.next('joined', (m) => m.doc === doc && m.rev > 0);
    expect(joined.rev).toBe(25);
    expect(docText(joined.content ?? [])).toBe('1234567890123456789012345');
  });

  it('serves the try-it page and its bundled script in development, and nothing else of the installation', async () => {
    const page = await fetch(`${relay.url}/`);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('src="/demo.js"');
    const bundle = await fetch(`${relay.url}/demo.js`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-type')).toContain('javascript');
    expect(await bundle.text()).toContain('relay-caret');
    for (const path of ['/sdk/client/index.js', '/sdk/store/db.js', '/demo/../src/config.js', '/demo.js.map', '/config.js']) {
      expect((await fetch(`${relay.url}${path}`)).status, path).toBe(404);
    }
  });

  it('counts operations, latency, presence and connections in /metrics', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${relay.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/materi_operations_processed_total\{operation_type="insert",status="success"\} [1-9]/);
    expect(metrics).toMatch(/materi_operations_processed_total\{operation_type="insert",status="error"\} [1-9]/);
    expect(metrics).toMatch(/materi_operation_latency_seconds_count [1-9]/);
    expect(metrics).toMatch(/materi_presence_broadcasts_total [1-9]/);
    expect(metrics).toMatch(/materi_websocket_connections_active [1-9]/);
  });
});
