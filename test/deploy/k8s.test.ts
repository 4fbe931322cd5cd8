import { beforeAll, describe, expect, it } from 'vitest';
import { ServiceAccount, ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { parse } from 'yaml';
import { VARIABLES, loadConfig, type Config } from '../../src/config.js';
import { Metrics } from '../../src/metrics.js';
import { field, isRecord, list, parseYamlDocuments, readText, run, text } from './tools.js';

/** Every kind the manifests use, with the kubernetes-models class that validates it against the API schema. */
const VALIDATORS: Record<string, (object: Record<string, unknown>) => void> = {
  'v1/ServiceAccount': (o) => Object.assign(new ServiceAccount(), o).validate(),
  'v1/ConfigMap': (o) => Object.assign(new ConfigMap(), o).validate(),
  'v1/Secret': (o) => Object.assign(new Secret(), o).validate(),
  'v1/Service': (o) => Object.assign(new Service(), o).validate(),
  'apps/v1/Deployment': (o) => Object.assign(new Deployment(), o).validate(),
  'batch/v1/Job': (o) => Object.assign(new Job(), o).validate(),
  'autoscaling/v2/HorizontalPodAutoscaler': (o) => Object.assign(new HorizontalPodAutoscaler(), o).validate(),
  'networking.k8s.io/v1/Ingress': (o) => Object.assign(new Ingress(), o).validate(),
  'networking.k8s.io/v1/NetworkPolicy': (o) => Object.assign(new NetworkPolicy(), o).validate(),
  'policy/v1/PodDisruptionBudget': (o) => Object.assign(new PodDisruptionBudget(), o).validate(),
};

/** Node's own variables the manifests may set besides the relay's (src/config.ts). */
const NODE_RUNTIME_VARIABLES = ['NODE_OPTIONS'];

async function render(dir: string): Promise<Array<Record<string, unknown>>> {
  // kubectl's built-in kustomize (Debian's kubernetes-client on CI; .ci/run installs it).
  return parseYamlDocuments(await run('kubectl', ['kustomize', dir])).filter(isRecord);
}

function kindOf(object: unknown): string {
  return `${text(field(object, 'apiVersion'))}/${text(field(object, 'kind'))}`;
}

function only(objects: ReadonlyArray<Record<string, unknown>>, kind: string): Record<string, unknown> {
  const found = objects.filter((o) => kindOf(o) === kind);
  expect(found, kind).toHaveLength(1);
  const object = found[0];
  if (!object) throw new Error(`no ${kind}`);
  return object;
}

function stringMap(value: unknown): Record<string, string> {
  if (!isRecord(value)) throw new Error(`expected a map, got ${JSON.stringify(value)}`);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, text(v)]));
}

describe('k8s (kubectl kustomize k8s)', () => {
  let objects: Array<Record<string, unknown>>;
  let adapter: Array<Record<string, unknown>>;
  let container: unknown;
  let configMap: Record<string, string>;
  let config: Config;

  beforeAll(async () => {
    [objects, adapter] = await Promise.all([render('k8s'), render('k8s/prometheus-adapter')]);
    container = list(field(only(objects, 'apps/v1/Deployment'), 'spec', 'template', 'spec', 'containers'))[0];
    configMap = stringMap(field(only(objects, 'v1/ConfigMap'), 'data'));
    // The configuration a pod gets: the config map, and the secrets (placeholders of the right form).
    config = loadConfig({ ...configMap, DATABASE_URL: 'postgresql://u:p@db:5432/relay', REDIS_URL: 'redis://redis:6379' });
  });

  it('renders every object the issue asks for, each valid against the Kubernetes API schema', () => {
    const secretExample = parseYamlDocuments(readText('k8s/secret.example.yaml')).filter(isRecord);
    for (const object of [...objects, ...adapter, ...secretExample]) {
      const validate = VALIDATORS[kindOf(object)];
      expect(validate, `a validator for ${kindOf(object)}`).toBeDefined();
      expect(() => validate?.(object), `${kindOf(object)} ${text(field(object, 'metadata', 'name'))}`).not.toThrow();
    }
    expect(objects.map(kindOf).sort()).toEqual(
      [
        'apps/v1/Deployment', 'autoscaling/v2/HorizontalPodAutoscaler', 'batch/v1/Job', 'networking.k8s.io/v1/Ingress',
        'networking.k8s.io/v1/NetworkPolicy', 'policy/v1/PodDisruptionBudget', 'v1/ConfigMap', 'v1/Service', 'v1/ServiceAccount',
      ].sort(),
    );
  });

  it('sets only variables the relay reads, with values it accepts, and every one production requires', () => {
    const known = new Set([...VARIABLES.map((v) => v.name), ...NODE_RUNTIME_VARIABLES]);
    const job = list(field(only(objects, 'batch/v1/Job'), 'spec', 'template', 'spec', 'containers'))[0];
    const names = [
      ...Object.keys(configMap),
      ...list(field(container, 'env')).map((e) => text(field(e, 'name'))),
      ...list(field(job, 'env')).map((e) => text(field(e, 'name'))),
    ];
    for (const name of names) expect(known.has(name), `${name} is read by the relay`).toBe(true);
    const required = VARIABLES.filter((v) => v.group === 'required').map((v) => v.name);
    for (const name of required) expect(names, name).toContain(name);
    expect(config.nodeEnv).toBe('production');
    // The config map's name is generated; the deployment must use the generated one.
    expect(text(field(list(field(container, 'envFrom'))[0], 'configMapRef', 'name'))).toBe(text(field(only(objects, 'v1/ConfigMap'), 'metadata', 'name')));
  });

  it('probes and ports match the addresses and paths the relay serves', () => {
    const ports = Object.fromEntries(list(field(container, 'ports')).map((p) => [text(field(p, 'name')), field(p, 'containerPort')]));
    expect(ports).toEqual({ websocket: config.bind.port, metrics: config.metricsPort });
    expect(field(container, 'livenessProbe', 'httpGet')).toEqual({ path: '/health', port: config.bind.port });
    expect(field(container, 'readinessProbe', 'httpGet')).toEqual({ path: '/ready', port: config.bind.port });
    expect(field(container, 'startupProbe', 'httpGet')).toEqual({ path: '/health', port: config.bind.port });
    const annotations = stringMap(field(only(objects, 'apps/v1/Deployment'), 'spec', 'template', 'metadata', 'annotations'));
    expect(annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(config.metricsPort), 'prometheus.io/path': '/metrics' });
    const servicePorts = list(field(only(objects, 'v1/Service'), 'spec', 'ports')).map((p) => [field(p, 'name'), field(p, 'port'), field(p, 'targetPort')]);
    expect(servicePorts).toEqual([['websocket', 80, config.bind.port], ['metrics', config.metricsPort, config.metricsPort]]);
    expect(field(only(objects, 'v1/Service'), 'spec', 'sessionAffinity')).toBe('ClientIP');
    const path = field(only(objects, 'networking.k8s.io/v1/Ingress'), 'spec', 'rules', 0, 'http', 'paths', 0);
    expect(path).toMatchObject({ path: '/collab', backend: { service: { name: 'relay', port: { number: 80 } } } });
    const policyPorts = list(field(only(objects, 'networking.k8s.io/v1/NetworkPolicy'), 'spec', 'ingress')).map((rule) => field(rule, 'ports', 0, 'port'));
    expect(policyPorts).toEqual([config.bind.port, config.metricsPort]);
  });

  it('gives the drain time to finish: grace period > preStop sleep + SHUTDOWN_DRAIN_SECS', () => {
    const command = list(field(container, 'lifecycle', 'preStop', 'exec', 'command')).map(text).join(' ');
    const sleep = Number(/sleep (\d+)/.exec(command)?.[1]);
    const grace = field(only(objects, 'apps/v1/Deployment'), 'spec', 'template', 'spec', 'terminationGracePeriodSeconds');
    expect(sleep).toBe(15);
    expect(grace).toBeGreaterThan(sleep + config.shutdownDrainSecs);
  });

  it("keeps the spec's security settings: uid 1000, read-only root, only /tmp writable", () => {
    const pod = field(only(objects, 'apps/v1/Deployment'), 'spec', 'template', 'spec');
    expect(field(pod, 'securityContext')).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000 });
    expect(field(container, 'securityContext')).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(field(container, 'volumeMounts')).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(field(container, 'resources')).toEqual({ requests: { memory: '512Mi', cpu: '500m' }, limits: { memory: '2Gi', cpu: '2000m' } });
  });

  it("scales on the adapter's pods metric made from the relay's connection gauge", async () => {
    const hpa = only(objects, 'autoscaling/v2/HorizontalPodAutoscaler');
    const pods = list(field(hpa, 'spec', 'metrics')).find((m) => field(m, 'type') === 'Pods');
    const hpaMetric = text(field(pods, 'pods', 'metric', 'name'));
    expect(field(pods, 'pods', 'target')).toEqual({ type: 'AverageValue', averageValue: '3000' });
    expect(field(hpa, 'spec')).toMatchObject({ minReplicas: 3, maxReplicas: 20 });

    const relayMetric = (await new Metrics().connectionsActive.get()).name;
    const rules = list(field(parse(text(field(only(adapter, 'v1/ConfigMap'), 'data', 'config.yaml'))), 'rules'));
    const rule = rules.find((r) => text(field(r, 'seriesQuery')).startsWith(`${relayMetric}{`));
    expect(rule, `an adapter rule for ${relayMetric}`).toBeDefined();
    // Apply the adapter's renaming (Go regexp ${1} → JavaScript $1) to the relay's metric name.
    const renamed = relayMetric.replace(new RegExp(text(field(rule, 'name', 'matches'))), text(field(rule, 'name', 'as')).replace(/\$\{(\d+)\}/g, '$$$1'));
    expect(renamed).toBe(hpaMetric);
    expect(text(field(rule, 'metricsQuery'))).toContain('<<.Series>>');
  });
});
