import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

export interface LoopResult {
  readonly latenciesMs: number[];
  readonly ops: number;
}

/**
 * One Relay client keeping one change in flight on a document until `until`: send, wait for
 * the ack (which follows the commit), send the next. Each change inserts at 0, valid at any
 * revision, so the client needs no OT of its own.
 */
export function relayClosedLoop(wsUrl: string, token: string, doc: string, until: number, opsPerChange = 1): Promise<LoopResult> {
  const ws = new WebSocket(wsUrl, ['relay.v1', `bearer.${token}`]);
  const actor = randomUUID();
  const latenciesMs: number[] = [];
  let rev = 0;
  let seq = 0;
  let sentAt = 0;
  let ops = 0;
  return new Promise((resolve, reject) => {
    const sendNext = () => {
      if (Date.now() >= until) {
        ws.close();
        return;
      }
      seq++;
      sentAt = performance.now();
      const change = Array.from({ length: opsPerChange }, () => ({ type: 'insert', pos: 0, text: 'x' }));
      ws.send(JSON.stringify({ type: 'change', doc, clock: { actor, seq, rev }, ops: change }));
    };
    ws.on('open', () => ws.send(JSON.stringify({ type: 'join', doc })));
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { type: string; rev: number; count: number; ops?: unknown[]; message?: string };
      if (m.type === 'joined') {
        rev = m.rev;
        sendNext();
      } else if (m.type === 'change') {
        rev = m.rev + (m.ops?.length ?? 0);
      } else if (m.type === 'ack') {
        latenciesMs.push(performance.now() - sentAt);
        ops += opsPerChange;
        rev = m.rev + m.count;
        sendNext();
      } else if (m.type === 'error') {
        reject(new Error(`relay error: ${m.message}`));
      }
    });
    ws.on('close', () => resolve({ latenciesMs, ops }));
    ws.on('error', reject);
  });
}
