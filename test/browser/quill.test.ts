import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readOpLog } from '../support/oplog.js';
import { startRelayProcess, type RelayProcess } from '../support/relay-process.js';

/*
 * Quill 2 in Debian's chromium, bound through @relay/client/quill, against a real relay: text
 * and formats typed by real keystrokes travel both ways and end in the relay's op log.
 */

const databaseUrl = inject('databaseUrl');
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface QuillHandles {
  quill: { getContents(): { ops: unknown[] }; setSelection(index: number, length: number): void; formatLine(index: number, length: number, name: string, value: unknown, source: string): void };
  doc: { content: unknown; pending: boolean; revision: number; text: string };
}
declare global {
  interface Window {
    relayQuill?: QuillHandles;
  }
}

let relay: RelayProcess;
let browser: Browser;
let bundle: string;
let stylesheet: string;

/**
 * The test page runs under the relay's origin (so /dev/token and /collab are same-origin): a
 * real loopback document from the relay (Chromium refuses a loopback WebSocket to a document
 * Playwright made up), rewritten with the page's markup; its script and Quill's core stylesheet
 * are served by Playwright. Without that stylesheet (`white-space: pre-wrap`) Chromium types a
 * trailing space as U+00A0, as it would on a real page that forgot it.
 */
async function openQuill(context: BrowserContext, name: string, docId: string): Promise<Page> {
  await context.route(`${relay.url}/quill-test.js`, (route) => route.fulfill({ contentType: 'text/javascript', body: bundle }));
  await context.route(`${relay.url}/quill-test.css`, (route) => route.fulfill({ contentType: 'text/css', body: stylesheet }));
  const page = await context.newPage();
  await page.goto(`${relay.url}/health?doc=${docId}&name=${name}`);
  await page.setContent('<!doctype html><meta charset="utf-8"><title>quill</title><link rel="stylesheet" href="/quill-test.css"><body><script type="module" src="/quill-test.js"></script></body>');
  await page.waitForFunction(() => window.relayQuill !== undefined || document.title.startsWith('failed'));
  expect(await page.title()).toBe('quill');
  expect(await page.evaluate(() => getComputedStyle(document.querySelector('.ql-editor') ?? document.body).whiteSpace)).toBe('pre-wrap');
  return page;
}

/** Both editors show the same Delta, nothing is pending, and the relay's op log holds the same runs. */
async function converged(pages: Page[], docId: string): Promise<unknown> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const states = await Promise.all(pages.map((p) => p.evaluate(() => ({ delta: window.relayQuill?.quill.getContents().ops, content: window.relayQuill?.doc.content, pending: window.relayQuill?.doc.pending, rev: window.relayQuill?.doc.revision }))));
    const first = states[0];
    if (first && states.every((s) => !s.pending && s.rev === first.rev && JSON.stringify(s.delta) === JSON.stringify(first.delta))) {
      const log = await readOpLog(databaseUrl, docId);
      if (log.revisions.length === first.rev) {
        expect(log.content).toEqual(first.content);
        return first.delta;
      }
    }
    if (Date.now() > deadline) throw new Error(`not converged: ${JSON.stringify(states)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Quill in a real browser', () => {
  beforeAll(async () => {
    const built = await build({ entryPoints: [resolve(import.meta.dirname, 'pages/quill.ts')], bundle: true, format: 'esm', target: 'es2022', write: false, logLevel: 'warning' });
    bundle = built.outputFiles[0]?.text ?? '';
    stylesheet = await readFile(resolve(import.meta.dirname, '../../node_modules/quill/dist/quill.core.css'), 'utf8');
    relay = await startRelayProcess({ env: { DATABASE_URL: databaseUrl } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  });
  afterAll(async () => {
    await browser?.close();
    await relay?.stop();
  });

  it('text and formats typed in two Quill editors (bold by keyboard, a header line, concurrent typing) converge with the relay', async () => {
    const docId = randomUUID();
    const [ca, cb] = [await browser.newContext(), await browser.newContext()];
    const a = await openQuill(ca, 'ada', docId);
    const b = await openQuill(cb, 'bob', docId);
    await a.click('.ql-editor');
    await a.keyboard.type('Title');
    await a.keyboard.press('Enter');
    await a.keyboard.type('Hello world');
    await converged([a, b], docId);

    // B makes "world" bold with Ctrl+B and the first line a header; A types at the end meanwhile.
    await b.click('.ql-editor');
    await b.evaluate(() => window.relayQuill?.quill.setSelection(12, 5));
    await Promise.all([b.keyboard.press('Control+b'), a.keyboard.type(' again', { delay: 10 })]);
    // Quill has no default key for headers: the toolbar's call, as the user's.
    await b.evaluate(() => window.relayQuill?.quill.formatLine(2, 0, 'header', 1, 'user'));
    const delta = await converged([a, b], docId);
    expect(delta).toEqual([
      { insert: 'Title' },
      { insert: '\n', attributes: { header: 1 } },
      { insert: 'Hello ' },
      { insert: 'world', attributes: { bold: true } },
      { insert: ' again\n' },
    ]);

    // B types inside the bold word: Quill carries the format on, and A shows it.
    await b.evaluate(() => window.relayQuill?.quill.setSelection(14, 0));
    await b.keyboard.type('RR');
    expect(await converged([a, b], docId)).toEqual([
      { insert: 'Title' },
      { insert: '\n', attributes: { header: 1 } },
      { insert: 'Hello ' },
      { insert: 'woRRrld', attributes: { bold: true } },
      { insert: ' again\n' },
    ]);
    await ca.close();
    await cb.close();
  });
});
