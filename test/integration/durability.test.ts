import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { docText } from '../../src/ot/index.js';
import { connectRaw, type RawClient } from '../support/raw-client.js';
import { readOpLog } from '../support/oplog.js';
import { freePort } from '../support/ports.js';
import { devToken, startRelayProcess } from '../support/relay-process.js';

const databaseUrl = inject('databaseUrl');

/**
 * A writer that keeps one change in flight, remembers every ack, and after a lost connection
 * rejoins with its revision and resends its in-flight change with the same sequence number.
 */
class Writer {
  readonly actor = randomUUID();
  readonly acked = new Map<number, { rev: number; count: number }>();
  private seq = 0;
  private rev = 0;
  private inflight: { seq: number; text: string } | undefined;
  private client: RawClient | undefined;
  private stopped = false;

  constructor(
    private readonly name: string,
    private readonly doc: string,
    private readonly relayUrl: () => string,
    private readonly wsUrl: () => string,
  ) {}

  async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.session();
      } catch {
        // connection refused while the relay is down: try again
      }
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
    }
  }

  stop(): void {
    this.stopped = true;
    this.client?.close();
  }

  private async session(): Promise<void> {
    const client = await connectRaw(this.wsUrl(), await devToken(this.relayUrl(), this.name));
    this.client = client;
    const closed = client.closed();
    client.ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { type: string; rev: number; count: number; seq: number; ops: unknown[]; clock?: { actor: string; seq: number }; changes?: Array<{ rev: number; ops: unknown[]; clock: { actor: string; seq: number } }> };
      if (m.type === 'joined') {
        for (const c of m.changes ?? []) {
          this.rev = c.rev + c.ops.length;
          // Our own in-flight change among the missed ones: that is its ack.
          if (c.clock.actor === this.actor && this.inflight?.seq === c.clock.seq) {
            this.acked.set(c.clock.seq, { rev: c.rev, count: c.ops.length });
            this.inflight = undefined;
          }
        }
        if (!m.changes) this.rev = m.rev;
        this.sendNext(client);
      } else if (m.type === 'change') {
        this.rev = m.rev + m.ops.length;
      } else if (m.type === 'ack') {
        this.acked.set(m.seq, { rev: m.rev, count: m.count });
        this.rev = m.rev + m.count;
        this.inflight = undefined;
        this.sendNext(client);
      }
    });
    client.send(this.seq === 0 ? { type: 'join', doc: this.doc } : { type: 'join', doc: this.doc, rev: this.rev });
    await closed;
  }

  private sendNext(client: RawClient): void {
    if (this.stopped) return;
    if (!this.inflight) {
      this.seq++;
      this.inflight = { seq: this.seq, text: `${this.name}${this.seq};` };
    }
    // Inserting at 0 is valid at any revision, so a resend needs no transform on our side.
    client.send({ type: 'change', doc: this.doc, clock: { actor: this.actor, seq: this.inflight.seq, rev: this.rev }, ops: [{ type: 'insert', pos: 0, text: this.inflight.text }] });
  }
}

describe('durability', () => {
  it('keeps every acked op through kill -9 of the relay, and resent changes apply exactly once', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const env = { DATABASE_URL: databaseUrl, RELAY_DATA_DIR: mkdtempSync(join(tmpdir(), 'relay-kill-')) };
    let relay = await startRelayProcess({ env, port, metricsPort });
    const doc = randomUUID();
    const writers = Array.from({ length: 5 }, (_, i) => new Writer(`w${i}`, doc, () => relay.url, () => relay.wsUrl));
    const running = writers.map((w) => w.run());

    await new Promise((r) => setTimeout(r, 1500));
    const ackedBeforeKill = writers.map((w) => new Set(w.acked.keys()));
    relay.child.kill('SIGKILL');
    await relay.exited();
    const survivors = await readOpLog(databaseUrl, doc);
    const committed = new Set(survivors.changeKeys);
    for (const [i, w] of writers.entries()) {
      for (const seq of ackedBeforeKill[i] ?? []) expect(committed.has(`${w.actor}/${seq}`), `${w.actor}/${seq} was acked`).toBe(true);
    }
    expect(ackedBeforeKill.reduce((n, s) => n + s.size, 0)).toBeGreaterThan(20);

    relay = await startRelayProcess({ env, port, metricsPort });
    await new Promise((r) => setTimeout(r, 1500));
    for (const w of writers) w.stop();
    await Promise.all(running);
    await relay.stop();

    const log = await readOpLog(databaseUrl, doc);
    // No revision twice, and every change (actor/seq) exactly once: one insert each.
    expect(new Set(log.revisions).size).toBe(log.revisions.length);
    expect(new Set(log.changeKeys).size).toBe(log.changeKeys.length);
    const text = docText(log.content);
    for (const w of writers) {
      expect(w.acked.size).toBeGreaterThan(ackedBeforeKill[writers.indexOf(w)]?.size ?? 0);
      for (const seq of w.acked.keys()) {
        expect(log.changeKeys).toContain(`${w.actor}/${seq}`);
        expect(text.split(`w${writers.indexOf(w)}${seq};`).length - 1, `w${writers.indexOf(w)}${seq}`).toBe(1);
      }
    }
  });
});
