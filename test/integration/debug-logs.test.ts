import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger, wantsPrettyLogs } from '../../src/log.js';
import { connectRaw } from '../support/raw-client.js';
import { devToken, startRelayProcess, type RelayProcess } from '../support/relay-process.js';

const databaseUrl = inject('databaseUrl');

describe('logs', () => {
  let relay: RelayProcess;
  beforeAll(async () => {
    relay = await startRelayProcess({ env: { DATABASE_URL: databaseUrl, LOG_LEVEL: 'debug' } });
  });
  afterAll(async () => {
    await relay?.stop();
  });

  it('LOG_LEVEL=debug shows connect, join, commit batches, leave and auth failures, never tokens or text', async () => {
    const token = await devToken(relay.url, 'ada');
    const secretText = `secret-${randomUUID()}`;
    const doc = randomUUID();
    const client = await connectRaw(relay.wsUrl, token);
    client.send({ type: 'join', doc, rev: 0 });
    await client.next('joined');
    client.send({ type: 'change', doc, clock: { actor: randomUUID(), seq: 1, rev: 0 }, ops: [{ type: 'insert', pos: 0, text: secretText }] });
    await client.next('ack');
    client.send({ type: 'leave', doc });
    await client.next('left');
    client.close();
    await expect(connectRaw(relay.wsUrl, 'not.a.token')).rejects.toThrow();

    const wanted = ['client connected', 'joined a document', 'committed a batch', 'left a document', 'client disconnected', 'upgrade refused: bad token'];
    await expect.poll(() => wanted.filter((m) => !relay.output().includes(`"msg":"${m}"`)), { timeout: 10_000 }).toEqual([]);
    const output = relay.output();
    expect(output).not.toContain(token);
    expect(output).not.toContain(secretText);
    const batch = output.split('\n').find((l) => l.includes('"msg":"committed a batch"'));
    expect(JSON.parse(batch ?? '{}')).toMatchObject({ doc, changes: 1, ops: 1, fromRev: 0, toRev: 1 });
  });

  it('is JSON unless a person reads it: a terminal, outside production', () => {
    expect(wantsPrettyLogs('development', true)).toBe(true);
    expect(wantsPrettyLogs('development', false)).toBe(false);
    expect(wantsPrettyLogs('development', undefined)).toBe(false);
    expect(wantsPrettyLogs('production', true)).toBe(false);
    // Creating a pretty logger must work where pino-pretty is installed (the development setup).
    expect(() => createLogger('info', false, true).flush()).not.toThrow();
  });
});
