import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics.js';
import { alertNames, readText, ruleExpressions, run } from './tools.js';

/** Checked by Debian's promtool (`.ci/run` installs the prometheus package). */
describe('prometheus rules', () => {
  it('pass promtool check rules', async () => {
    const out = await run('promtool', ['check', 'rules', 'prometheus/rules/relay.yaml', 'prometheus/rules/relay-recording.yaml']);
    expect(out).toContain('SUCCESS');
  });

  it('pass their promtool unit tests, which make every alert fire and not fire', async () => {
    const out = await run('promtool', ['test', 'rules', 'prometheus/tests/relay.test.yaml']);
    expect(out).toContain('SUCCESS');
    const tests = readText('prometheus/tests/relay.test.yaml');
    for (const alert of alertNames()) {
      const blocks = tests.split(`alertname: ${alert}\n`).slice(1);
      expect(blocks.some((b) => /^\s*exp_alerts: \[\]/.test(b)), `${alert} has a test where it stays silent`).toBe(true);
      expect(blocks.some((b) => /^\s*exp_alerts:\n\s*- exp_labels/.test(b)), `${alert} has a test where it fires`).toBe(true);
    }
  });

  it('keep the spec alerts and name only metrics the relay exports', async () => {
    expect(alertNames()).toEqual(expect.arrayContaining(['RelayHighLatency', 'RelayConnectionDrop', 'RelayHighErrorRate']));
    const exported = (await new Metrics().registry.getMetricsAsJSON()).map((m) => m.name);
    const series = new Set(exported.flatMap((n) => [n, `${n}_bucket`, `${n}_sum`, `${n}_count`]));
    series.add('up');
    for (const { name, expr } of ruleExpressions()) {
      for (const metric of expr.match(/\b(materi_[a-z_]+|up)\b(?=[{[\s)])/g) ?? []) expect(series.has(metric), `${name} uses ${metric}`).toBe(true);
    }
  });

  it('have a runbook section in docs/operations.md for every alert', () => {
    const doc = readText('docs/operations.md');
    for (const alert of alertNames()) expect(doc, alert).toMatch(new RegExp(`^#+ ${alert}$`, 'm'));
  });
});
