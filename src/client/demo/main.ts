/*
 * The development demo at `/`: CodeMirror 6 through relayCollab, bundled by esbuild at build
 * time (packages/client/build.mjs) into dist/demo/demo.js. Not part of the client package.
 */
import { defaultKeymap } from '@codemirror/commands';
import { EditorView, drawSelection, highlightActiveLine, keymap, lineNumbers } from '@codemirror/view';
import { RelayClient, type ClientStatus, type DocumentSession, type RemotePresence } from '../index.js';
import { relayCollab, relayRedo, relayUndo } from '../bindings/codemirror.js';

const NAMES = ['Ada', 'Grace', 'Linus', 'Barbara', 'Ken', 'Margaret', 'Dennis', 'Frances'];
// Symbols every system font has (a machine without an emoji font would show boxes).
const AVATARS = ['★', '◆', '●', '▲', '♣', '♠', '♥', '♪'];

/** The same avatar for the same name in every tab. */
function avatarFor(name: string): string {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + (ch.codePointAt(0) ?? 0)) >>> 0;
  return AVATARS[hash % AVATARS.length] ?? '●';
}

/** The lines this user can see: sent as presence data so the others know where they look. */
function visibleLines(view: EditorView): { from: number; to: number } {
  const ranges = view.visibleRanges;
  const first = ranges[0]?.from ?? 0;
  const last = ranges.at(-1)?.to ?? 0;
  return { from: view.state.doc.lineAt(first).number, to: view.state.doc.lineAt(last).number };
}

/** A person's tag: avatar and name from the presence data and token, where they look in its title. */
function personTag(p: RemotePresence): HTMLElement {
  const tag = document.createElement('span');
  tag.className = 'who';
  tag.style.background = p.user.color;
  const avatar = typeof p.data?.['avatar'] === 'string' ? `${p.data['avatar']} ` : '';
  tag.textContent = `${avatar}${p.user.name}${p.typing ? ' ✎' : ''}`;
  tag.dataset.user = p.user.name;
  tag.dataset.typing = String(p.typing);
  const viewport = p.data?.['viewport'];
  if (viewport && typeof viewport === 'object' && 'from' in viewport && 'to' in viewport) tag.title = `sees lines ${String(viewport.from)}–${String(viewport.to)}`;
  return tag;
}

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} missing`);
  return found as T;
}

/** Any document name → a stable document id (a UUID built from SHA-256 of the name). */
async function documentIdFor(name: string): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`relay-demo:${name}`))).slice(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function describe(status: ClientStatus, now: number): string {
  const pending = status.pending > 0 ? ` · ${status.pending} pending` : '';
  switch (status.state) {
    case 'reconnecting':
      return `reconnecting in ${Math.max(0, Math.ceil((status.at - now) / 1000))} s${pending}`;
    case 'unauthorized':
      return `token refused: ${status.reason}`;
    default:
      return `${status.state}${pending}`;
  }
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const name = params.get('name') ?? `${NAMES[Math.floor(Math.random() * NAMES.length)]} ${Math.floor(Math.random() * 100)}`;
  const docName = decodeURIComponent(location.hash.slice(1)) || 'welcome';
  const chooser = element<HTMLInputElement>('doc-name');
  chooser.value = docName;
  element<HTMLFormElement>('chooser').addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = encodeURIComponent(chooser.value.trim() || 'welcome');
    location.reload();
  });
  element('me').textContent = name;

  const client = new RelayClient({
    url: `${location.origin.replace(/^http/, 'ws')}/collab`,
    token: async () => {
      const res = await fetch(`/dev/token?user=${encodeURIComponent(name.replace(/\W+/g, '-'))}&name=${encodeURIComponent(name)}`);
      return ((await res.json()) as { token: string }).token;
    },
    reconnect: { minDelayMs: 300, maxDelayMs: 5000 },
  });
  const badge = element('status');
  const render = (): void => {
    const status = client.status;
    badge.textContent = describe(status, Date.now());
    badge.dataset.state = status.state;
  };
  client.on('status', render);
  setInterval(render, 250);

  const doc: DocumentSession = await client.open(await documentIdFor(docName));
  element('doc-id').textContent = doc.id;
  const view = new EditorView({
    parent: element('editor'),
    doc: doc.text,
    extensions: [
      lineNumbers(), drawSelection(), highlightActiveLine(), keymap.of(defaultKeymap), EditorView.lineWrapping, relayCollab(doc),
      EditorView.updateListener.of((update) => {
        if (update.viewportChanged || update.docChanged || update.geometryChanged) share();
      }),
    ],
  });
  // Presence data: an avatar and the visible lines, sent only when they change.
  const avatar = params.get('avatar') ?? avatarFor(name);
  let shared = '';
  function share(): void {
    const data = { avatar, viewport: visibleLines(view) };
    if (JSON.stringify(data) === shared) return;
    shared = JSON.stringify(data);
    doc.setPresenceData(data);
  }
  share();
  element('undo').addEventListener('click', () => relayUndo(doc, view));
  element('redo').addEventListener('click', () => relayRedo(doc, view));

  const people = element('people');
  doc.on('presence', (presence) => {
    people.replaceChildren(...presence.map(personTag));
  });
  // For the browser tests (test/browser) and for poking around in the console.
  Object.assign(window, { relayDemo: { client, doc, view } });
  view.focus();
}

main().catch((err: unknown) => {
  const badge = document.getElementById('status');
  if (badge) badge.textContent = `failed: ${err instanceof Error ? err.message : String(err)}`;
});
