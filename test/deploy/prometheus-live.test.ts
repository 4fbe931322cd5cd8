import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../support/ports.js';
import { connectRaw, type RawClient } from '../support/raw-client.js';
import { devToken, getJson, startRelayProcess, type RelayProcess } from '../support/relay-process.js';
import { ROOT, field, list, readText, ruleExpressions, text } from './tools.js';

/** The PromQL of every panel of the Grafana dashboard. */
function panelExpressions(): Array<{ name: string; expr: string }> {
  const dashboard: unknown = JSON.parse(readText('grafana/relay-dashboard.json'));
  return list(field(dashboard, 'panels')).flatMap((panel) =>
    list(field(panel, 'targets')).map((target) => ({ name: text(field(panel, 'title')), expr: text(field(target, 'expr')) })),
  );
}

async function query(base: string, expr: string): Promise<{ status: string; error?: string; data?: { result: Array<{ value: [number, string] }> } }> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await res.json()) as { status: string; error?: string; data?: { result: Array<{ value: [number, string] }> } };
}

/**
 * Debian's Prometheus scrapes two running relays with the rules of prometheus/rules; every
 * dashboard panel and rule is evaluated through its HTTP API.
 */
describe('Prometheus scraping two relays', () => {
  const CLIENTS = [3, 2];
  const relays: RelayProcess[] = [];
  const clients: RawClient[] = [];
  let prometheus: ChildProcess | undefined;
  let dir: string;
  let base: string;
  let prometheusOutput = '';

  beforeAll(async () => {
    const env = { DATABASE_URL: inject('databaseUrl'), REDIS_URL: inject('redisUrl'), HANDSHAKE_TIMEOUT_SECS: '600' };
    relays.push(...(await Promise.all([startRelayProcess({ env }), startRelayProcess({ env })])));
    for (const [i, relay] of relays.entries()) {
      for (let n = 0; n < (CLIENTS[i] ?? 0); n++) clients.push(await connectRaw(relay.wsUrl, await devToken(relay.url, `user-${i}-${n}`)));
    }
    dir = await mkdtemp(join(tmpdir(), 'relay-prometheus-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const config = {
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [resolve(ROOT, 'prometheus/rules/relay.yaml'), resolve(ROOT, 'prometheus/rules/relay-recording.yaml')],
      scrape_configs: [{ job_name: 'relay', static_configs: [{ targets: relays.map((r) => `127.0.0.1:${r.metricsPort}`) }] }],
    };
    // JSON is YAML: no serializer needed.
    await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(config));
    prometheus = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    prometheus.stdout?.on('data', (c: Buffer) => (prometheusOutput += c.toString()));
    prometheus.stderr?.on('data', (c: Buffer) => (prometheusOutput += c.toString()));
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus?.once('exit', r));
      prometheus.kill('SIGTERM');
      await exited;
    }
    await Promise.all(relays.map((r) => r.stop()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('sees every connected client: sum(materi_websocket_connections_active) equals the clients connected', async () => {
    const expected = CLIENTS.reduce((a, b) => a + b, 0);
    const deadline = Date.now() + 60_000;
    let seen: string | undefined;
    while (Date.now() < deadline) {
      if (prometheus?.exitCode !== null) throw new Error(`prometheus exited:\n${prometheusOutput}`);
      const up = await query(base, 'sum(up{job="relay"})').catch(() => undefined);
      const sum = up?.data?.result[0]?.value[1] === '2' ? await query(base, 'sum(materi_websocket_connections_active)') : undefined;
      seen = sum?.data?.result[0]?.value[1];
      if (seen === String(expected)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(seen, prometheusOutput).toBe(String(expected));
    const perReplica = await query(base, 'materi_websocket_connections_active');
    expect(perReplica.data?.result.map((r) => Number(r.value[1])).sort()).toEqual([...CLIENTS].sort());
  });

  it('evaluates every dashboard panel and every rule expression without error', async () => {
    const expressions = [...panelExpressions(), ...ruleExpressions()];
    expect(expressions.length).toBeGreaterThan(25);
    for (const { name, expr } of expressions) {
      const answer = await query(base, expr);
      expect(answer.status, `${name}: ${expr}: ${answer.error ?? ''}`).toBe('success');
    }
    // The exported metrics the saturation alert and the readiness alerts read are there.
    const ready = await query(base, 'sum(materi_ready)');
    expect(ready.data?.result[0]?.value[1]).toBe('2');
    const saturation = await query(base, 'max(materi_websocket_connections_active / materi_max_connections)');
    expect(Number(saturation.data?.result[0]?.value[1])).toBeCloseTo(3 / 10000);
  });

  it('loads the rule files and evaluates them without error', async () => {
    const deadline = Date.now() + 45_000;
    for (;;) {
      const answer = (await (await fetch(`${base}/api/v1/rules`)).json()) as unknown;
      const rules = list(field(answer, 'data', 'groups')).flatMap((g) => list(field(g, 'rules')));
      expect(rules.length).toBe(ruleExpressions().length);
      const health = rules.map((r) => `${text(field(r, 'name'))}: ${text(field(r, 'health'))} ${String(field(r, 'lastError') ?? '')}`);
      for (const h of health) expect(h).not.toMatch(/: err/);
      if (health.every((h) => h.includes(': ok')) || Date.now() > deadline) {
        expect(health.filter((h) => !h.includes(': ok'))).toEqual([]);
        break;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  });

  it('the probe paths of the manifests answer on the relay', async () => {
    const relay = relays[0];
    if (!relay) throw new Error('no relay');
    expect((await getJson(`${relay.url}/health`)).status).toBe(200);
    expect(await getJson(`${relay.url}/ready`)).toMatchObject({ status: 200, body: { status: 'ready' } });
  });
});
