import { chmod, cp, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Copy, DockerfileParser, Env, From, JSONInstruction, type Instruction } from 'dockerfile-ast';
import { freePort } from '../support/ports.js';
import { startTestIdp, type TestIdp } from '../support/oidc.js';
import { ROOT, readText, run } from './tools.js';
// The package is CommonJS with an ES-style declaration: its default export is on .default.
import dockerignoreModule from '@balena/dockerignore';
const dockerignore = dockerignoreModule.default;

interface Stage {
  readonly name: string;
  readonly image: string;
  readonly instructions: Instruction[];
}

function stagesOf(content: string): Stage[] {
  const dockerfile = DockerfileParser.parse(content);
  const args = new Map(dockerfile.getInitialARGs().flatMap((a) => a.getProperties().map((p) => [p.getName(), p.getValue() ?? ''] as const)));
  const stages: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction instanceof From) {
      const image = (instruction.getImage() ?? '').replace(/\$\{(\w+)\}/g, (_, name: string) => args.get(name) ?? '');
      stages.push({ name: instruction.getBuildStage() ?? String(stages.length), image, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

const words = (i: Instruction) => i.getArguments().map((a) => a.getValue());
const ofKind = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.getKeyword() === keyword);
const jsonOf = (i: Instruction | undefined) => (i instanceof JSONInstruction ? i.getJSONStrings().map((s) => s.getJSONValue()) : []);

function envOf(stage: Stage): Record<string, string> {
  return Object.fromEntries(
    stage.instructions.filter((i): i is Env => i instanceof Env).flatMap((e) => e.getProperties().map((p) => [p.getName(), p.getValue() ?? ''])),
  );
}

const dockerfile = stagesOf(readText('Dockerfile'));
const runtime = dockerfile.at(-1);
const build = dockerfile.find((s) => s.name === 'build');

describe('Dockerfile (parsed)', () => {
  it('builds in stages and runs on Node 20 / Debian 12, as non-root uid 1000', () => {
    expect(build && runtime).toBeTruthy();
    if (!runtime) return;
    expect(runtime.image).toBe('node:20-bookworm-slim');
    expect(ofKind(runtime, 'USER').map((u) => words(u).join(' '))).toEqual(['1000:1000']);
    expect(ofKind(runtime, 'EXPOSE').flatMap(words)).toEqual(['8081', '9090']);
  });

  it('starts node directly (exec form, no shell or npm to swallow SIGTERM) and has a health check', () => {
    if (!runtime) return;
    const entrypoint = ofKind(runtime, 'ENTRYPOINT');
    expect(entrypoint).toHaveLength(1);
    expect(jsonOf(entrypoint[0])).toEqual(['node', 'dist/src/main.js']);
    expect(ofKind(runtime, 'CMD')).toHaveLength(0);
    const healthcheck = ofKind(runtime, 'HEALTHCHECK').map((h) => h.getTextContent());
    expect(healthcheck).toHaveLength(1);
    expect(healthcheck[0]).toMatch(/--interval=30s --timeout=10s --start-period=5s --retries=3/);
    expect(healthcheck[0]).toMatch(/CMD \["node", "-e", .*\/health/);
    expect(envOf(runtime)).toMatchObject({ NODE_ENV: 'production', BIND_ADDRESS: '0.0.0.0:8081', METRICS_PORT: '9090' });
  });

  it('installs dependencies in a layer of their own, before the sources are copied', () => {
    if (!build) return;
    const steps = build.instructions.map((i) => `${i.getKeyword()} ${words(i).join(' ')}`);
    expect(steps.indexOf('COPY package.json package-lock.json ./')).toBeLessThan(steps.findIndex((s) => s.startsWith('RUN npm ci')));
    expect(steps.findIndex((s) => s.startsWith('RUN npm ci'))).toBeLessThan(steps.indexOf('COPY src ./src'));
    expect(steps.at(-1)).toMatch(/^RUN npm prune --omit=dev/);
  });
});

/**
 * The image's build without Docker: the build stage's COPY and RUN steps in a temporary copy,
 * then the runtime stage's COPYs into a second folder made read-only, started with the
 * runtime ENV and ENTRYPOINT as uid 1000 (when this test runs as root), with /tmp writable.
 */
describe('Dockerfile (build steps run without Docker)', () => {
  let work: string;
  let idp: TestIdp;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'relay-image-'));
    await chmod(work, 0o755);
    idp = await startTestIdp(['alice']);
  });
  afterAll(async () => {
    await idp?.stop();
    if (work) {
      await run('chmod', ['-R', 'u+w', work]);
      await rm(work, { recursive: true, force: true });
    }
  });

  it('builds, prunes to production dependencies, and the pruned relay starts read-only as uid 1000 and answers /ready', async () => {
    if (!build || !runtime) throw new Error('no stages');
    const buildDir = join(work, 'build');
    const appDir = join(work, 'app');
    await mkdir(buildDir);
    for (const step of build.instructions) {
      const args = words(step);
      if (step.getKeyword() === 'COPY') await copyFrom(ROOT, args.slice(0, -1), buildDir, args.at(-1) ?? '.');
      if (step.getKeyword() === 'RUN') await run('sh', ['-c', step.getArgumentsContent() ?? ''], { cwd: buildDir, env: { ...process.env, NODE_ENV: undefined } });
    }
    const pruned = await readdir(join(buildDir, 'node_modules'));
    for (const dev of ['typescript', 'vitest', 'kubernetes-models']) expect(pruned, dev).not.toContain(dev);

    await mkdir(appDir);
    for (const step of ofKind(runtime, 'COPY')) {
      const args = words(step).filter((a) => !a.startsWith('--'));
      const from = step instanceof Copy ? step.getFromFlag()?.getValue() : undefined;
      const source = from === 'build' ? buildDir : ROOT;
      await copyFrom(source, args.slice(0, -1).map((a) => a.replace(/^\/app\//, '')), appDir, args.at(-1) ?? '.');
    }
    // Read-only working tree: nothing in it is writable by anyone.
    await run('chmod', ['-R', 'a-w', appDir]);
    expect((await stat(join(appDir, 'dist/src/main.js'))).mode & 0o222).toBe(0);

    const [port, metricsPort] = [await freePort(), await freePort()];
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: '/tmp',
      ...envOf(runtime),
      BIND_ADDRESS: `127.0.0.1:${port}`,
      METRICS_PORT: String(metricsPort),
      DATABASE_URL: inject('databaseUrl'),
      REDIS_URL: inject('redisUrl'),
      JWT_PUBLIC_KEY_URL: idp.jwksUrl,
    };
    const [command, ...args] = jsonOf(ofKind(runtime, 'ENTRYPOINT')[0]);
    const asRoot = process.getuid?.() === 0;
    const child = asRoot
      ? spawn('setpriv', ['--reuid=1000', '--regid=1000', '--clear-groups', '--', process.execPath, ...args], { cwd: appDir, env })
      : spawn(command === 'node' ? process.execPath : (command ?? ''), args, { cwd: appDir, env });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    try {
      const ready = await waitForReady(`http://127.0.0.1:${port}/ready`, () => child.exitCode, () => output);
      expect(ready).toMatchObject({ status: 'ready', checks: { database: 'ok', redis: 'ok', jwt_keys: 'ok' } });
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toContain('materi_websocket_connections_active');
      if (asRoot) expect(output).not.toMatch(/EACCES|EROFS/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    }
    expect(child.exitCode, output).toBe(0);
  }, 600_000);
});

/**
 * COPY semantics for the forms the Dockerfile uses: files into a folder ending in /, a folder to
 * a folder. From the build context (ROOT), only what .dockerignore lets through is sent to
 * Docker, so a source it leaves out fails the build here as it would there.
 */
async function copyFrom(from: string, sources: readonly string[], to: string, destination: string): Promise<void> {
  const sent = from === ROOT ? buildContextFilter() : () => true;
  for (const source of sources) {
    if (!sent(join(from, source))) throw new Error(`COPY ${source}: left out of the build context by .dockerignore`);
    const target = destination.endsWith('/') || destination === '.' ? join(to, destination, source.split('/').pop() ?? source) : join(to, destination);
    await mkdir(dirname(target), { recursive: true });
    await cp(join(from, source), target, { recursive: true, filter: sent });
  }
}

/** True for a path under ROOT that Docker would send as part of the build context. */
function buildContextFilter(): (path: string) => boolean {
  const rules = dockerignore().add(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));
  return (path) => {
    const inContext = relative(ROOT, path);
    return inContext === '' || !rules.ignores(inContext);
  };
}

async function waitForReady(url: string, exitCode: () => number | null, output: () => string): Promise<unknown> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exitCode() !== null) throw new Error(`the relay exited with ${exitCode()}:\n${output()}`);
    try {
      const res = await fetch(url);
      if (res.status === 200) return (await res.json()) as unknown;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`no 200 from ${url}:\n${output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
