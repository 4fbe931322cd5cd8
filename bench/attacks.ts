import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { relayClosedLoop } from './closed-loop.js';
import { describeEnvironment, median, percentile } from './environment.js';
import { devToken, startBenchPostgres, startBenchRelay } from './processes.js';

/*
 * A bystander's ack latency while another connection floods 1 MB frames the relay rejects
 * (issue 9 item 5), with the byte budget off (as before it existed) and on (defaults), in one
 * run on one PostgreSQL. The flooder reconnects whenever it is closed.
 */
const SECONDS = Number(process.env.ATTACK_SECONDS ?? 6);

async function flood(wsUrl: string, token: string, until: number): Promise<{ frames: number; closes: number }> {
  const frame = `{"type":"nonsense","pad":"${'x'.repeat(1000 * 1000)}"}`;
  let frames = 0;
  let closes = 0;
  while (Date.now() < until) {
    await new Promise<void>((done) => {
      const ws = new WebSocket(wsUrl, ['relay.v1', `bearer.${token}`]);
      const pump = () => {
        while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 4_000_000 && Date.now() < until) {
          ws.send(frame);
          frames++;
        }
        if (ws.readyState === WebSocket.OPEN && Date.now() < until) setTimeout(pump, 1);
        else if (ws.readyState === WebSocket.OPEN) ws.close();
      };
      ws.on('open', pump);
      ws.on('message', () => undefined);
      ws.on('close', () => {
        closes++;
        done();
      });
      ws.on('error', () => undefined);
    });
  }
  return { frames, closes };
}

async function measure(label: string, env: Record<string, string>, databaseUrl: string): Promise<void> {
  const relay = await startBenchRelay({ DATABASE_URL: databaseUrl, RATE_LIMIT_MESSAGES_PER_SEC: '200', RATE_LIMIT_BURST: '400', ...env });
  try {
    const token = await devToken(relay.url, 'bystander');
    const quiet = await relayClosedLoop(relay.wsUrl, token, randomUUID(), Date.now() + SECONDS * 1000);
    const until = Date.now() + SECONDS * 1000;
    const [attacked, flooder] = await Promise.all([relayClosedLoop(relay.wsUrl, token, randomUUID(), until), flood(relay.wsUrl, await devToken(relay.url, 'flooder'), until)]);
    const show = (l: number[]) => {
      const sorted = [...l].sort((a, b) => a - b);
      return `p50 ${median(sorted).toFixed(2)} ms, p95 ${percentile(sorted, 95).toFixed(2)} ms (${sorted.length} acks)`;
    };
    console.log(`${label}: bystander alone ${show(quiet.latenciesMs)}; under the flood ${show(attacked.latenciesMs)}; flooder sent ${flooder.frames} frames of 1 MB, was closed ${flooder.closes} times`);
  } finally {
    await relay.stop();
  }
}

async function main(): Promise<void> {
  console.log(describeEnvironment());
  const pg = await startBenchPostgres();
  try {
    await measure('byte budget off (before)', { RATE_LIMIT_BYTES_PER_SEC: '1000000000000', RATE_LIMIT_BYTES_BURST: '1000000000000' }, pg.url);
    await measure('byte budget on (after, defaults)', {}, pg.url);
  } finally {
    await pg.stop();
  }
}

void main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
