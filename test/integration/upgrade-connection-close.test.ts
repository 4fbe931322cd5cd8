import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { devToken, startRelayProcess, type RelayProcess } from '../support/relay-process.js';

const databaseUrl = inject('databaseUrl');

interface RawUpgrade {
  /** Milliseconds from the 101 to the end of the TCP connection; undefined if it stayed open. */
  readonly closedAfterMs: number | undefined;
  readonly status: string;
  readonly firstFrame: string | undefined;
}

/**
 * One upgrade over a bare socket, with exactly the request headers given, watched for `holdMs`
 * after the 101: when the TCP connection ended, and the first WebSocket frame's text.
 */
function rawUpgrade(port: number, token: string, connection: string, holdMs: number): Promise<RawUpgrade> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let buffer = Buffer.alloc(0);
    let status = '';
    let openedAt: number | undefined;
    let closedAfterMs: number | undefined;
    let firstFrame: string | undefined;
    const finish = () => {
      socket.destroy();
      resolve({ closedAfterMs, status, firstFrame });
    };
    socket.on('connect', () => {
      socket.write(
        `GET /collab HTTP/1.1\r\nHost: relay\r\nConnection: ${connection}\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: relay.v1, bearer.${token}\r\n\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (openedAt === undefined) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        status = buffer.subarray(0, buffer.indexOf('\r\n')).toString('latin1');
        if (!status.includes(' 101 ')) return finish();
        openedAt = Date.now();
        buffer = buffer.subarray(end + 4);
        setTimeout(finish, holdMs);
      }
      firstFrame ??= textFrame(buffer);
    });
    socket.on('end', () => {
      if (openedAt !== undefined) closedAfterMs ??= Date.now() - openedAt;
      finish();
    });
    socket.on('close', () => {
      if (openedAt !== undefined) closedAfterMs ??= Date.now() - openedAt;
    });
    socket.on('error', () => finish());
  });
}

/** The payload of a complete unmasked server frame at the start of `data`, if there is one. */
function textFrame(data: Buffer): string | undefined {
  if (data.length < 2) return undefined;
  let length = (data[1] ?? 0) & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (data.length < 4) return undefined;
    length = data.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (data.length < 10) return undefined;
    length = Number(data.readBigUInt64BE(2));
    offset = 10;
  }
  return data.length < offset + length ? undefined : data.subarray(offset, offset + length).toString('utf8');
}

/**
 * uWebSockets.js 20.30 closed a WebSocket right after its 101 (1006, a FIN without a close
 * frame) when the upgrade ran inside res.cork() after an await and the socket's reallocation
 * kept its address (uNetworking/uWebSockets#1928). An upgrade request with `Connection: close`
 * made the stale HTTP state say "close" every time; a token whose key is held now upgrades
 * synchronously in the upgrade handler, which uWS handles correctly.
 */
describe('upgrades whose key is held open synchronously', () => {
  let relay: RelayProcess;

  beforeAll(async () => {
    relay = await startRelayProcess({ env: { DATABASE_URL: databaseUrl } });
  });
  afterAll(async () => {
    await relay?.stop();
  });

  it('20 upgrades sent with Connection: close stay open 200 ms after the 101 and get hello', async () => {
    const token = await devToken(relay.url, 'upgrader');
    const outcomes: RawUpgrade[] = [];
    for (let i = 0; i < 20; i++) outcomes.push(await rawUpgrade(relay.port, token, 'close', 200));
    expect(outcomes.map((o) => o.status)).toEqual(Array(20).fill('HTTP/1.1 101 Switching Protocols'));
    expect(outcomes.filter((o) => o.closedAfterMs !== undefined).map((o) => o.closedAfterMs)).toEqual([]);
    for (const o of outcomes) expect(JSON.parse(o.firstFrame ?? '{}')).toMatchObject({ type: 'hello', user: { id: 'upgrader' } });
    // The synchronous upgrade writes inside uWS's own cork: no warning about uncorked writes.
    expect(relay.output()).not.toContain('corked callback');
  });

  it('a bad token is still refused with 401 over the same raw request', async () => {
    const outcome = await rawUpgrade(relay.port, 'not.a.token', 'Upgrade', 0);
    expect(outcome.status).toBe('HTTP/1.1 401 Unauthorized');
  });
});
