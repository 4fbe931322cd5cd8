import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type uWS from 'uWebSockets.js';
import type { Logger } from '../log.js';
import { handleAsync, sendText } from './http.js';

/** The demo bundle `npm run build` makes with esbuild (packages/client/build.mjs --demo); never committed. */
const demoBundle = resolve(dirname(fileURLToPath(import.meta.url)), '../../demo/demo.js');

/**
 * Development only: a page at `/` to try collaborative editing in two browser tabs: CodeMirror 6
 * through the client's binding, with labelled carets, a status badge and a document chooser.
 */
export function addDemoRoutes(app: uWS.TemplatedApp, log: Logger): void {
  app.get('/', (res) => sendText(res, 200, 'text/html; charset=utf-8', DEMO_PAGE));
  app.get('/favicon.ico', (res) => {
    res.writeStatus('204 No Content').end();
  });
  app.get('/demo.js', (res) => {
    handleAsync(
      res,
      async (state) => {
        let body: string;
        try {
          body = await readFile(demoBundle, 'utf8');
        } catch {
          if (!state.aborted) sendText(res, 404, 'text/javascript; charset=utf-8', 'document.body.textContent = "The demo is not built: run npm run build";');
          return;
        }
        if (!state.aborted) sendText(res, 200, 'text/javascript; charset=utf-8', body);
      },
      (err) => log.warn({ err }, 'serving the demo bundle failed'),
    );
  });
}

const DEMO_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Relay: collaborative editing demo</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 1.5rem auto; padding: 0 1rem; color: #222; }
  header { display: flex; flex-wrap: wrap; align-items: center; gap: .6rem; margin-bottom: .6rem; }
  h1 { font-size: 1.3rem; margin: 0 .6rem 0 0; }
  #status { padding: .1rem .6rem; border-radius: 1rem; font-size: 13px; color: white; background: #888; }
  #status[data-state=connected] { background: #2e7d32; }
  #status[data-state=offline], #status[data-state=unauthorized] { background: #c62828; }
  #status[data-state=reconnecting], #status[data-state=connecting] { background: #ef6c00; }
  #editor { border: 1px solid #ccc; border-radius: 4px; min-height: 18rem; }
  #editor .cm-editor { min-height: 18rem; }
  #editor .cm-content { padding-top: 1.2rem; }
  .who { display: inline-block; margin: 0 .4rem .3rem 0; padding: .1rem .5rem; border-radius: 1rem; color: white; font-size: 13px; }
  small, #doc-id { color: #666; font-size: 12px; }
</style>
</head>
<body>
<header>
  <h1>Relay</h1>
  <span id="status">connecting</span>
  <form id="chooser"><label>document <input id="doc-name" size="16"></label> <button>open</button></form>
  <button id="undo" title="Undo your own last edit (Ctrl/Cmd-Z)">undo</button>
  <button id="redo" title="Redo (Ctrl/Cmd-Shift-Z)">redo</button>
</header>
<p><small>You are <b id="me"></b>. Open this address in a second window and type in both. Others here: </small><span id="people"></span></p>
<div id="editor"></div>
<p><small>document id <span id="doc-id"></span></small></p>
<script type="module" src="/demo.js"></script>
</body>
</html>
`;
