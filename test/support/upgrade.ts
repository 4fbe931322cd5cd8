import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import type { RawClient } from './raw-client.js';

/**
 * The HTTP status of an upgrade attempt: 101 when the socket opened (it is closed again at
 * once), else what the relay answered before the upgrade.
 */
export function upgradeStatus(wsUrl: string, token: string | undefined, via: 'protocol' | 'query' = 'protocol'): Promise<{ status: number; body: string }> {
  const url = via === 'query' && token !== undefined ? `${wsUrl}?access_token=${encodeURIComponent(token)}` : wsUrl;
  const protocols = via === 'protocol' && token !== undefined ? ['relay.v1', `bearer.${token}`] : ['relay.v1'];
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { maxPayload: 1 << 20 });
    ws.once('open', () => {
      ws.terminate();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (err) => {
      // The unexpected-response path also emits an error after it; only a bare error counts.
      setTimeout(() => reject(err), 50);
    });
  });
}

/**
 * The HTTP status of an upgrade attempt whose socket, when it opens (101), is kept open in
 * `held` for the caller to close; -1 when the attempt failed without an answer.
 */
export function openAndHold(wsUrl: string, token: string, held: WebSocket[]): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl, ['relay.v1', `bearer.${token}`]);
    ws.once('open', () => {
      held.push(ws);
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve(-1));
  });
}

/** Sends one insert and resolves with its ack latency in ms; tracks the client's revision. */
export class Editor {
  readonly actor = randomUUID();
  seq = 0;
  rev: number;

  constructor(
    readonly client: RawClient,
    readonly doc: string,
    rev: number,
  ) {
    this.rev = rev;
    client.ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { type: string; doc?: string; rev?: number; ops?: unknown[] };
      if (m.type === 'change' && m.doc === doc && m.rev !== undefined) this.rev = Math.max(this.rev, m.rev + (m.ops?.length ?? 0));
    });
  }

  async insert(text: string, timeoutMs = 10_000): Promise<number> {
    const seq = ++this.seq;
    const started = performance.now();
    this.client.send({ type: 'change', doc: this.doc, clock: { actor: this.actor, seq, rev: this.rev }, ops: [{ type: 'insert', pos: 0, text }] });
    const ack = this.client.next('ack', (m) => m.doc === this.doc && m.seq === seq, timeoutMs);
    const refused = this.client.next('error', (m) => m.doc === this.doc && m.seq === seq, timeoutMs).then((e) => {
      throw new Error(`change ${seq} refused: ${e.code} ${e.message}`);
    });
    // The waiter that loses the race times out later; that is not a failure.
    ack.catch(() => undefined);
    refused.catch(() => undefined);
    const reply = await Promise.race([ack, refused]);
    this.rev = Math.max(this.rev, reply.rev + reply.count);
    return performance.now() - started;
  }
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
