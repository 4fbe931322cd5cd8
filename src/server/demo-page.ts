import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type uWS from 'uWebSockets.js';
import type { Logger } from '../log.js';
import { handleAsync, sendJson, sendText } from './http.js';

/** dist/src, where the compiled SDK, OT and protocol modules live. */
const compiledSrc = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Development only: a page at `/` to try collaborative editing in two browser tabs, and the
 * SDK's ES modules under /sdk/ for it. Only the three folders the SDK needs are served, by
 * name pattern, so nothing else of the installation can be read through it.
 */
export function addDemoRoutes(app: uWS.TemplatedApp, log: Logger): void {
  app.get('/', (res) => sendText(res, 200, 'text/html; charset=utf-8', DEMO_PAGE));
  app.get('/favicon.ico', (res) => {
    res.writeStatus('204 No Content').end();
  });
  app.get('/sdk/:folder/:file', (res, req) => {
    const folder = req.getParameter(0) ?? '';
    const file = req.getParameter(1) ?? '';
    if (!['client', 'ot', 'protocol'].includes(folder) || !/^[a-z][a-z-]*\.js$/.test(file)) {
      sendJson(res, 404, { error: 'not_found' });
      return;
    }
    handleAsync(
      res,
      async (state) => {
        let body: string;
        try {
          body = await readFile(resolve(compiledSrc, folder, file), 'utf8');
        } catch {
          if (!state.aborted) sendJson(res, 404, { error: 'not_found' });
          return;
        }
        if (!state.aborted) sendText(res, 200, 'text/javascript; charset=utf-8', body);
      },
      (err) => log.warn({ err }, 'serving an SDK module failed'),
    );
  });
}

const DEMO_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Relay: try it in two tabs</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  textarea { width: 100%; height: 22rem; font: 15px/1.5 ui-monospace, monospace; padding: .6rem; box-sizing: border-box; }
  #status { color: #666; font-size: 13px; }
  .who { display: inline-block; margin: 0 .6rem .3rem 0; padding: .1rem .5rem; border-radius: 1rem; color: white; font-size: 13px; }
  code { background: #f3f3f3; padding: 0 .3rem; }
</style>
</head>
<body>
<h1>Relay</h1>
<p>Open this page in a second tab (same address, including the <code>#document</code> part) and type in both.</p>
<p id="status">connecting…</p>
<div id="people"></div>
<textarea id="editor" spellcheck="false" disabled></textarea>
<script type="module">
import { RelayClient, transformPosition } from '/sdk/client/index.js';

const names = ['Ada', 'Grace', 'Linus', 'Barbara', 'Ken', 'Margaret', 'Dennis', 'Frances'];
const name = names[Math.floor(Math.random() * names.length)] + ' ' + Math.floor(Math.random() * 100);
if (!/^#[0-9a-f-]{36}$/i.test(location.hash)) location.hash = crypto.randomUUID();
const docId = location.hash.slice(1);
const editor = document.getElementById('editor');
const status = document.getElementById('status');
const people = document.getElementById('people');

const client = new RelayClient({
  url: location.origin.replace(/^http/, 'ws') + '/collab',
  token: async () => (await (await fetch('/dev/token?user=' + encodeURIComponent(name.replace(/\\s/g, '-')) + '&name=' + encodeURIComponent(name))).json()).token,
  reconnect: { minDelayMs: 300, maxDelayMs: 3000 },
});
client.on('connected', () => (status.textContent = 'connected as ' + name + ' — document ' + docId));
client.on('disconnected', ({ reconnectInMs }) => (status.textContent = 'disconnected; reconnecting in ' + reconnectInMs + ' ms'));
const doc = await client.open(docId);
let shown = doc.text;
editor.value = shown;
editor.disabled = false;

// A local edit: the smallest delete + insert turning the old text into the new one.
editor.addEventListener('input', () => {
  const next = editor.value;
  let start = 0;
  while (start < shown.length && start < next.length && shown[start] === next[start]) start++;
  let end = 0;
  while (end < shown.length - start && end < next.length - start && shown[shown.length - 1 - end] === next[next.length - 1 - end]) end++;
  // Never split a surrogate pair.
  const high = (s, i) => i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff;
  while (high(shown, start) || high(next, start)) start--;
  while (end > 0 && (high(shown, shown.length - end) || high(next, next.length - end))) end--;
  const ops = [];
  if (shown.length - start - end > 0) ops.push({ type: 'delete', pos: start, len: shown.length - start - end });
  if (next.length - start - end > 0) ops.push({ type: 'insert', pos: start, text: next.slice(start, next.length - end) });
  if (ops.length) doc.submit(ops);
  shown = doc.text;
  doc.setTyping(true);
  sendSelection();
});

// A remote edit: show the new text and keep the caret on the same characters.
doc.on('change', ({ ops }) => {
  const a = transformPosition(editor.selectionStart, ops, 'before');
  const b = transformPosition(editor.selectionEnd, ops, 'before');
  shown = doc.text;
  editor.value = shown;
  editor.setSelectionRange(a, b);
  renderPeople();
});
doc.on('resynced', () => { shown = doc.text; editor.value = shown; });

function sendSelection() {
  doc.setSelection(document.activeElement === editor ? { anchor: editor.selectionStart, head: editor.selectionEnd } : null);
}
for (const event of ['keyup', 'mouseup', 'focus', 'blur']) editor.addEventListener(event, sendSelection);

function renderPeople() {
  people.replaceChildren(...doc.presence.map((p) => {
    const tag = document.createElement('span');
    tag.className = 'who';
    tag.style.background = p.user.color;
    tag.textContent = p.user.name + (p.selection ? ' @' + p.selection.head : '') + (p.typing ? ' ✎' : '');
    return tag;
  }));
}
doc.on('presence', renderPeople);
</script>
</body>
</html>
`;
