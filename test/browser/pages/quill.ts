/*
 * A page with a real Quill 2 editor bound to a Relay document through @relay/client/quill, for
 * test/browser/quill.test.ts (bundled there by esbuild). `?doc=<uuid>&name=<user>` pick the
 * document and user; handles go to window.relayQuill.
 */
import Quill from 'quill';
import { RelayClient } from '../../../src/client/index.js';
import { bindQuill } from '../../../src/client/bindings/quill.js';

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const name = params.get('name') ?? 'quill-user';
  const documentId = params.get('doc') ?? '';
  const host = document.createElement('div');
  document.body.append(host);
  const quill = new Quill(host, { formats: ['bold', 'italic', 'link', 'header'] });
  const client = new RelayClient({
    url: `${location.origin.replace(/^http/, 'ws')}/collab`,
    token: async () => ((await (await fetch(`/dev/token?user=${encodeURIComponent(name)}&name=${encodeURIComponent(name)}`)).json()) as { token: string }).token,
  });
  const doc = await client.open(documentId);
  bindQuill(doc, quill);
  Object.assign(window, { relayQuill: { quill, doc } });
}

main().catch((err: unknown) => {
  document.title = `failed: ${err instanceof Error ? err.message : String(err)}`;
});
