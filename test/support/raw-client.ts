import WebSocket from 'ws';
import type { ServerMessage } from '../../src/protocol/messages.js';

export interface RawClient {
  readonly ws: WebSocket;
  readonly received: ServerMessage[];
  send(message: unknown): void;
  sendText(text: string): void;
  /** Resolves with the first message (already received or future) matching the predicate. */
  next<T extends ServerMessage['type']>(type: T, where?: (m: Extract<ServerMessage, { type: T }>) => boolean, timeoutMs?: number): Promise<Extract<ServerMessage, { type: T }>>;
  closed(): Promise<{ code: number; reason: string }>;
  close(): void;
}

/** A bare protocol client for tests that must send exactly the frames they want. */
export function connectRaw(wsUrl: string, token: string | undefined, protocols: string[] = ['relay.v1']): Promise<RawClient> {
  const list = token === undefined ? protocols : [...protocols, `bearer.${token}`];
  const ws = new WebSocket(wsUrl, list);
  const received: ServerMessage[] = [];
  const waiters = new Set<() => void>();
  // Kept for the timeout message: a wait that ends in a timeout because the socket closed
  // (e.g. 1006 right after the hello) says so, instead of only listing what arrived.
  let closedWith: string | undefined;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      closedWith = `${code} ${reason.toString()}`.trim();
      resolve({ code, reason: reason.toString() });
    });
  });
  ws.on('message', (data) => {
    received.push(JSON.parse(data.toString()) as ServerMessage);
    for (const w of [...waiters]) w();
  });
  const client: RawClient = {
    ws,
    received,
    send: (message) => ws.send(JSON.stringify(message)),
    sendText: (text) => ws.send(text),
    next: (type, where, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        let index = 0;
        const check = () => {
          for (; index < received.length; index++) {
            const m = received[index];
            if (m && m.type === type && (!where || where(m as never))) {
              waiters.delete(check);
              clearTimeout(timer);
              index++;
              resolve(m as never);
              return;
            }
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const end = closedWith === undefined ? '' : `; the socket closed with ${closedWith}`;
          reject(new Error(`no ${type} message within ${timeoutMs} ms; got ${JSON.stringify(received.slice(-5))}${end}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    closed: () => closed,
    close: () => ws.close(),
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}
