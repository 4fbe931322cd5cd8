import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/* The @relay/client package as a user gets it: built, packed with npm pack, installed into a scratch project. */

const root = resolve(import.meta.dirname, '../..');
const scratch = mkdtempSync(join(tmpdir(), 'relay-client-scratch-'));

describe('the @relay/client package', () => {
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('packs with ESM bundles and declarations only, installs, and works from a scratch project', () => {
    execFileSync(process.execPath, [join(root, 'packages/client/build.mjs')], { cwd: root, stdio: 'pipe' });
    const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], { cwd: join(root, 'packages/client'), encoding: 'utf8' })) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const tarball = packed[0];
    if (!tarball) throw new Error('npm pack produced nothing');
    const files = tarball.files.map((f) => f.path);
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/codemirror.js');
    expect(files).toContain('dist/types/client/index.d.ts');
    expect(files.filter((f) => f.includes('server') || f.includes('/store/') || f.includes('/engine/'))).toEqual([]);
    for (const file of files.filter((f) => f.endsWith('.js'))) {
      const code = readFileSync(join(root, 'packages/client', file), 'utf8');
      // Imports only: `node:` alone also matches minified object keys such as `{node:o}`.
      expect(code).not.toMatch(/uWebSockets|ioredis|from ?"zod"|from ?"node:|import\(?"node:|require\("node:/);
    }

    writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', join(scratch, tarball.filename)], { cwd: scratch, stdio: 'pipe' });
    writeFileSync(
      join(scratch, 'main.mjs'),
      `import { RelayClient, invert, transform, UndoManager } from '@relay/client';
import { deltaToOps } from '@relay/client/quill';
import { diffToOps } from '@relay/client/textarea';
class NoSocket { constructor() { this.readyState = 0; } send() {} close() {} }
const client = new RelayClient({ url: 'ws://127.0.0.1:1/collab', token: () => 't', WebSocket: NoSocket, tokenCheck: false });
console.log(JSON.stringify({
  status: client.status.state,
  ops: deltaToOps({ ops: [{ retain: 2 }, { insert: 'x' }] }),
  diff: diffToOps('ab', 'axb'),
  inverse: invert([{ type: 'insert', pos: 0, text: 'a' }], []),
  moved: transform([{ type: 'insert', pos: 1, text: 'b' }], [{ type: 'insert', pos: 0, text: 'a' }], 'right'),
  undo: typeof UndoManager,
}));
client.close();
`,
    );
    const out = JSON.parse(execFileSync(process.execPath, ['main.mjs'], { cwd: scratch, encoding: 'utf8' })) as Record<string, unknown>;
    expect(out).toEqual({
      status: 'connecting',
      ops: [{ type: 'insert', pos: 2, text: 'x' }],
      diff: [{ type: 'insert', pos: 1, text: 'x' }],
      inverse: [{ type: 'delete', pos: 0, len: 1 }],
      moved: [{ type: 'insert', pos: 2, text: 'b' }],
      undo: 'function',
    });
    expect(readdirSync(join(scratch, 'node_modules/@relay/client/dist'))).toContain('types');
  });

  it('declarations need neither zod nor skipLibCheck: a strict scratch project type-checks against them', () => {
    const declarations = join(scratch, 'node_modules/@relay/client/dist/types');
    const all = readdirSync(declarations, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.d.ts'));
    expect(all.length).toBeGreaterThan(0);
    for (const file of all) expect(readFileSync(join(declarations, file), 'utf8')).not.toMatch(/zod/);
    // The CodeMirror binding's declarations name its peer dependencies: install the versions we build with.
    const peers = ['@codemirror/state', '@codemirror/view'].map((name) => `${name}@${(JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version}`);
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', ...peers], { cwd: scratch, stdio: 'pipe' });
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM'], strict: true, noEmit: true, skipLibCheck: false, types: [] }, files: ['app.ts'] }),
    );
    writeFileSync(
      join(scratch, 'app.ts'),
      `import { RelayClient, PRESENCE_DATA_LIMITS, type DocumentHandle, type PresenceData, type RemotePresence } from '@relay/client';
import { relayCollab } from '@relay/client/codemirror';
import { bindQuill, type QuillLike } from '@relay/client/quill';
import { bindTextarea } from '@relay/client/textarea';
import type { Extension } from '@codemirror/state';

export async function start(quill: QuillLike, area: HTMLTextAreaElement): Promise<Extension> {
  const client = new RelayClient({ url: 'wss://relay.example.com/collab', token: async () => 'token' });
  const doc: DocumentHandle = await client.open('0f8f8e8e-0000-4000-8000-000000000000');
  const data: PresenceData = { avatar: 'a.png', viewport: { from: 0, to: PRESENCE_DATA_LIMITS.maxBytes } };
  doc.setPresenceData(data);
  doc.on('presence', (people: readonly RemotePresence[]) => people.map((p) => p.data?.['avatar']));
  bindQuill(doc, quill);
  bindTextarea(doc, area);
  return relayCollab(doc);
}
`,
    );
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(scratch, 'tsconfig.json')], { cwd: scratch, encoding: 'utf8' });
  });
});
