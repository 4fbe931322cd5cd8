import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import postgres from 'postgres';
import { connectRaw, type RawClient } from '../support/raw-client.js';
import { startTestRedis, type TestRedis } from '../support/redis.js';
import { devToken, documentsApi, startRelayProcess, type RelayProcess } from '../support/relay-process.js';
import { startReplicas, type ReplicaSet } from '../support/replicas.js';
import { Editor } from '../support/upgrade.js';

const databaseUrl = inject('databaseUrl');
const redisUrl = inject('redisUrl');

/** The management API of one relay, called as the product's backend (development admin token). */
async function managementApi(relay: RelayProcess) {
  const res = await fetch(`${relay.url}/dev/token?user=backend&scope=relay:admin`);
  const admin = ((await res.json()) as { token: string }).token;
  return (method: string, path: string, body?: unknown) => documentsApi(relay.url, method, path, admin, body);
}

/** A document with an owner and the given members, created through `api`. */
async function createDocument(api: Awaited<ReturnType<typeof managementApi>>, members: Record<string, string>): Promise<string> {
  const created = await api('POST', '', { title: 'revocations', owner: 'olivia' });
  expect(created.status).toBe(201);
  const doc = String(created.body?.id);
  for (const [user, role] of Object.entries(members)) expect((await api('PUT', `/${doc}/members/${user}`, { role })).status).toBe(200);
  return doc;
}

async function joined(relay: RelayProcess, user: string, doc: string, clients: RawClient[]): Promise<{ client: RawClient; rev: number; role: string }> {
  const client = await connectRaw(relay.wsUrl, await devToken(relay.url, user));
  clients.push(client);
  await client.next('hello');
  client.send({ type: 'join', doc });
  const j = await client.next('joined', (m) => m.doc === doc);
  return { client, rev: j.rev, role: j.role };
}

/** Through replica A's API, a document where edith edits and victor views; both joined on replica B. */
async function editorAndViewerOnB(set: ReplicaSet, clients: RawClient[]) {
  const [a, b] = set.relays;
  if (!a || !b) throw new Error('two relays expected');
  const api = await managementApi(a);
  const doc = await createDocument(api, { edith: 'editor', victor: 'viewer' });
  const edith = await joined(b, 'edith', doc, clients);
  const victor = await joined(b, 'victor', doc, clients);
  return { api, doc, edith, victor };
}

/** materi_permission_lookups_total of one relay. */
async function lookups(relay: RelayProcess): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${relay.metricsPort}/metrics`)).text();
  const match = /^materi_permission_lookups_total (\d+)/m.exec(text);
  if (!match?.[1]) throw new Error('materi_permission_lookups_total is not exported');
  return Number(match[1]);
}

describe('role changes pushed between replicas (Redis)', () => {
  let set: ReplicaSet;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    // A long cache: without the push, replica B would keep the old role for five minutes.
    set = await startReplicas(2, { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, ACCESS_POLICY: 'acl', PERMISSION_CACHE_TTL: '300' });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await set?.stop();
  });

  it("a revocation through replica A's API removes the user from the document on replica B within a second; a role change arrives live", async () => {
    const { api, doc, edith, victor } = await editorAndViewerOnB(set, clients);
    expect([edith.role, victor.role]).toEqual(['editor', 'viewer']);

    let started = Date.now();
    expect((await api('PUT', `/${doc}/members/victor`, { role: 'editor' })).status).toBe(200);
    expect(await victor.client.next('role', (m) => m.doc === doc, 1000)).toMatchObject({ role: 'editor' });
    console.log(`role change through replica A reached replica B's connection in ${Date.now() - started} ms`);
    await new Editor(victor.client, doc, victor.rev).insert('promoted');

    started = Date.now();
    expect((await api('DELETE', `/${doc}/members/edith`)).status).toBe(204);
    expect(await edith.client.next('error', (m) => m.ref === 'access', 1000)).toMatchObject({ code: 'forbidden', doc });
    expect(await edith.client.next('left', (m) => m.doc === doc, 1000)).toMatchObject({ reason: 'revoked' });
    console.log(`revocation through replica A took effect on replica B in ${Date.now() - started} ms (PERMISSION_CACHE_TTL=300 s)`);
    // Removed for real: a change is refused, a new join too.
    edith.client.send({ type: 'change', doc, clock: { actor: randomUUID(), seq: 1, rev: 1 }, ops: [{ type: 'insert', pos: 0, text: 'ghost' }] });
    expect(await edith.client.next('error', (m) => m.ref === 'change')).toMatchObject({ code: 'not_joined' });
    edith.client.send({ type: 'join', doc });
    expect(await edith.client.next('error', (m) => m.ref === 'join')).toMatchObject({ code: 'forbidden' });
  });

  it('a grant through replica A lets a user whose join B just refused in at once (the cached "no role" is dropped)', async () => {
    const [a, b] = set.relays;
    if (!a || !b) throw new Error('two relays expected');
    const api = await managementApi(a);
    const doc = await createDocument(api, {});
    const rita = await connectRaw(b.wsUrl, await devToken(b.url, 'rita'));
    clients.push(rita);
    await rita.next('hello');
    rita.send({ type: 'join', doc });
    expect(await rita.next('error', (m) => m.ref === 'join')).toMatchObject({ code: 'forbidden' });
    expect((await api('PUT', `/${doc}/members/rita`, { role: 'viewer' })).status).toBe(200);
    // B's subscriber gets the change while this HTTP reply travels; give it a moment.
    await new Promise((r) => setTimeout(r, 200));
    const before = rita.received.length;
    rita.send({ type: 'join', doc });
    expect(await rita.next('joined', (m) => m.doc === doc, 2000)).toMatchObject({ role: 'viewer' });
    expect(rita.received.slice(before).filter((m) => m.type === 'error')).toEqual([]);
  });
});

describe('idle connections and the permission cache', () => {
  let relay: RelayProcess;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    // TTL 1 s: cached roles expire every second and the re-check pass runs every second.
    relay = await startRelayProcess({ env: { DATABASE_URL: databaseUrl, ACCESS_POLICY: 'acl', PERMISSION_CACHE_TTL: '1' } });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await relay?.stop();
  });

  it('idle connections cause no permission lookup over many cache lifetimes; an edit brings the expired roles of its document to a re-check', async () => {
    const api = await managementApi(relay);
    const users = Array.from({ length: 10 }, (_, i) => `idle${i}`);
    const docs = [await createDocument(api, Object.fromEntries(users.map((u) => [u, 'editor']))), await createDocument(api, Object.fromEntries(users.map((u) => [u, 'viewer'])))];
    const members: Array<{ client: RawClient; rev: number }> = [];
    for (const doc of docs) for (const user of users) members.push(await joined(relay, user, doc, clients));

    const before = await lookups(relay);
    // Five cache lifetimes and five passes; the old pass looked every pair up each time (100).
    await new Promise((r) => setTimeout(r, 5000));
    const idle = (await lookups(relay)) - before;
    console.log(`permission lookups by 20 idle connections over 5 s (PERMISSION_CACHE_TTL=1): ${idle}`);
    expect(idle).toBe(0);

    // One edit of the first document: its 10 (document, user) pairs are due, the other's not.
    const first = members[0];
    if (!first) throw new Error('no member');
    const atEdit = await lookups(relay);
    await new Editor(first.client, docs[0] ?? '', first.rev).insert('wake up');
    await new Promise((r) => setTimeout(r, 2500));
    const afterEdit = (await lookups(relay)) - atEdit;
    console.log(`permission lookups in the 2.5 s after one edit (10 users on the edited document, 10 on an idle one): ${afterEdit}`);
    // Each pair of the edited document once (then confirmed at the new revision); none of the other.
    expect(afterEdit).toBe(10);
  });
});

describe('role changes across a Redis outage', () => {
  let redis: TestRedis;
  let set: ReplicaSet;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    // Its own Redis: this one is stopped and restarted.
    redis = await startTestRedis();
    set = await startReplicas(2, { DATABASE_URL: databaseUrl, REDIS_URL: redis.url, ACCESS_POLICY: 'acl', PERMISSION_CACHE_TTL: '300' });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await set?.stop();
    await redis?.stop();
  });

  it('a revocation made while Redis is down reaches the other replica when it is back, and what was changed behind the API meanwhile is re-checked', async () => {
    const { api, doc, edith, victor } = await editorAndViewerOnB(set, clients);

    await redis.stop();
    await new Promise((r) => setTimeout(r, 500));
    // A keeps the change for Redis; nobody edits the document, so B has no other reason to look.
    expect((await api('DELETE', `/${doc}/members/edith`)).status).toBe(204);
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined });
    try {
      await sql`UPDATE document_permissions SET role = 'editor' WHERE document_id = ${doc} AND user_id = 'victor'`;
    } finally {
      await sql.end();
    }
    await new Promise((r) => setTimeout(r, 1000));
    expect(edith.client.received.filter((m) => m.type === 'left')).toEqual([]);

    const restarted = Date.now();
    await redis.restart();
    expect(await edith.client.next('left', (m) => m.doc === doc, 20_000)).toMatchObject({ reason: 'revoked' });
    console.log(`revocation made during the outage applied on replica B ${Date.now() - restarted} ms after Redis restarted`);
    // B's subscription came back: it forgot its cached roles and re-checked every connection.
    expect(await victor.client.next('role', (m) => m.doc === doc, 20_000)).toMatchObject({ role: 'editor' });
    console.log(`role changed behind the API during the outage applied on replica B ${Date.now() - restarted} ms after Redis restarted`);
  });
});
