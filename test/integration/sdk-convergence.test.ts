import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { RelayClient, type DocumentSession, type WebSocketConstructor } from '../../src/client/index.js';
import { readOpLog } from '../support/oplog.js';
import { freePort } from '../support/ports.js';
import { randomEdit, rng } from '../support/random-edits.js';
import { devToken, startRelayProcess, type RelayProcess } from '../support/relay-process.js';

const databaseUrl = inject('databaseUrl');

function sdkClient(relay: () => RelayProcess, user: string): RelayClient {
  return new RelayClient({
    url: relay().wsUrl,
    token: () => devToken(relay().url, user),
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    reconnect: { minDelayMs: 20, maxDelayMs: 250 },
  });
}

function edit(doc: DocumentSession, random: () => number): void {
  const e = randomEdit(doc.text, random);
  if (e.kind === 'insert') doc.insert(e.pos, e.text, e.attrs);
  else if (e.kind === 'delete') doc.delete(e.pos, e.len);
  else doc.format(e.pos, e.len, e.attrs);
}

/** Waits until every copy is at the op log's head with nothing pending. */
async function settle(docs: readonly DocumentSession[], docId: string, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const head = (await readOpLog(databaseUrl, docId)).revisions.length;
    if (docs.every((d) => !d.pending && d.joined && d.revision === head)) return head;
    if (Date.now() > deadline) {
      throw new Error(`not settled: head ${head}, clients ${JSON.stringify(docs.map((d) => ({ rev: d.revision, pending: d.pending, joined: d.joined })))}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('SDK clients through the real relay', () => {
  it('10 clients editing one document concurrently, dropped mid-change, converge to the op log', async () => {
    const relay = await startRelayProcess({ env: { DATABASE_URL: databaseUrl, CURSOR_THROTTLE_MS: '20' } });
    const docId = randomUUID();
    const clients = Array.from({ length: 10 }, (_, i) => sdkClient(() => relay, `editor-${i}`));
    try {
      const docs = await Promise.all(clients.map((c) => c.open(docId)));
      const seenPresence = docs.map(() => new Set<string>());
      docs.forEach((d, i) => d.on('presence', (list) => list.forEach((p) => seenPresence[i]?.add(p.user.id))));
      const errors: string[] = [];
      docs.forEach((d) => d.on('error', (e) => errors.push(`${e.code}: ${e.message}`)));
      let reconnects = 0;
      let droppedInFlight = 0;
      clients.forEach((c) => c.on('connected', () => reconnects++));

      await Promise.all(
        docs.map(async (doc, i) => {
          const random = rng(1000 + i);
          for (let step = 0; step < 60; step++) {
            edit(doc, random);
            if (random() < 0.3) doc.setSelection({ anchor: Math.floor(random() * (doc.length + 1)), head: Math.floor(random() * (doc.length + 1)) });
            // Dropped connections, often with a change in flight.
            if (random() < 0.04) {
              if (doc.changeInFlight) droppedInFlight++;
              clients[i]?.dropConnection();
            }
            await new Promise((r) => setTimeout(r, random() * 15));
          }
        }),
      );
      const head = await settle(docs, docId);
      expect(head).toBeGreaterThan(100);
      expect(reconnects).toBeGreaterThan(5);
      expect(droppedInFlight).toBeGreaterThan(2);

      const log = await readOpLog(databaseUrl, docId);
      const reference = docs[0]?.content;
      for (const doc of docs) expect(doc.content).toEqual(reference);
      expect(log.content).toEqual(reference);
      // Attributes survived the trip.
      expect(JSON.stringify(reference)).toMatch(/bold|italic|color/);
      expect(new Set(log.revisions).size).toBe(log.revisions.length);
      // No refused changes: every edit was valid, so none may have been rejected.
      expect(errors.filter((e) => !e.startsWith('rate_limited'))).toEqual([]);
      // Everyone saw the others.
      for (const [i, seen] of seenPresence.entries()) expect(seen.size, `client ${i}`).toBeGreaterThanOrEqual(9);
    } finally {
      for (const c of clients) c.close();
      await relay.stop();
    }
  });

  it('clients keep editing through a kill -9 of the relay and converge after it restarts', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const env = { DATABASE_URL: databaseUrl, RELAY_DATA_DIR: mkdtempSync(join(tmpdir(), 'relay-sdk-kill-')) };
    let relay = await startRelayProcess({ env, port, metricsPort });
    const docId = randomUUID();
    const clients = Array.from({ length: 5 }, (_, i) => sdkClient(() => relay, `survivor-${i}`));
    try {
      const docs = await Promise.all(clients.map((c) => c.open(docId)));
      let typing = true;
      const typists = docs.map(async (doc, i) => {
        const random = rng(77 + i);
        while (typing) {
          edit(doc, random);
          await new Promise((r) => setTimeout(r, 5 + random() * 20));
        }
      });
      await new Promise((r) => setTimeout(r, 800));
      relay.child.kill('SIGKILL');
      await relay.exited();
      // Edits made while the relay is down stay local and pending.
      await new Promise((r) => setTimeout(r, 300));
      relay = await startRelayProcess({ env, port, metricsPort });
      await new Promise((r) => setTimeout(r, 1200));
      typing = false;
      await Promise.all(typists);

      await settle(docs, docId);
      const log = await readOpLog(databaseUrl, docId);
      for (const doc of docs) expect(doc.content).toEqual(log.content);
      expect(new Set(log.changeKeys).size).toBeGreaterThan(0);
    } finally {
      for (const c of clients) c.close();
      await relay.stop();
    }
  });
});
