import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { docText } from '../../src/ot/index.js';
import { readOpLog } from '../support/oplog.js';
import { startRelayProcess, type RelayProcess } from '../support/relay-process.js';

/*
 * The demo page in Debian's chromium (no browser download), against a real relay: two pages
 * edit one document through the CodeMirror binding.
 */

const databaseUrl = inject('databaseUrl');
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let relay: RelayProcess;
let browser: Browser;

/** Runs in the page: the demo exposes its client, document and view as window.relayDemo. */
interface DemoHandles {
  doc: { text: string; pending: boolean; revision: number; id: string };
  view: { state: { doc: { toString(): string }; selection: { main: { head: number } } }; posAtDOM(node: Node): number; dispatch(spec: unknown): void; focus(): void };
}
declare global {
  interface Window {
    relayDemo?: DemoHandles;
  }
}

async function openDemo(context: BrowserContext, name: string, docName: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${relay.url}/?name=${encodeURIComponent(name)}#${encodeURIComponent(docName)}`);
  await page.waitForFunction(() => window.relayDemo !== undefined && document.getElementById('status')?.dataset.state === 'connected');
  return page;
}

const text = (page: Page): Promise<string> => page.evaluate(() => window.relayDemo?.doc.text ?? '');
const editorText = (page: Page): Promise<string> => page.evaluate(() => window.relayDemo?.view.state.doc.toString() ?? '');
const setCaret = (page: Page, pos: number): Promise<void> =>
  page.evaluate((p) => {
    window.relayDemo?.view.focus();
    window.relayDemo?.view.dispatch({ selection: { anchor: p } });
  }, pos);

/** Both pages show the same text, nothing pending, equal to the relay's op log replayed. */
async function converged(pages: Page[]): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const states = await Promise.all(pages.map((p) => p.evaluate(() => ({ text: window.relayDemo?.doc.text, pending: window.relayDemo?.doc.pending, rev: window.relayDemo?.doc.revision, id: window.relayDemo?.doc.id, shown: window.relayDemo?.view.state.doc.toString() }))));
    const first = states[0];
    if (first?.id && states.every((s) => !s.pending && s.text === first.text && s.shown === s.text && s.rev === first.rev)) {
      const log = await readOpLog(databaseUrl, first.id);
      if (log.revisions.length === first.rev) {
        expect(docText(log.content)).toBe(first.text);
        return first.text ?? '';
      }
    }
    if (Date.now() > deadline) throw new Error(`not converged: ${JSON.stringify(states)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the demo in a real browser', () => {
  beforeAll(async () => {
    relay = await startRelayProcess({ env: { DATABASE_URL: databaseUrl, CURSOR_THROTTLE_MS: '20', TYPING_DEBOUNCE_MS: '1500' } });
    // Playwright gives every launch a fresh temporary profile (--user-data-dir) of its own.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  });
  afterAll(async () => {
    await browser?.close();
    await relay?.stop();
  });

  it('two pages typing concurrently (same position, over a selection) end identical and equal to the relay', async () => {
    const [ca, cb] = [await browser.newContext(), await browser.newContext()];
    const a = await openDemo(ca, 'Ada', 'concurrent');
    const b = await openDemo(cb, 'Bob', 'concurrent');
    await setCaret(a, 0);
    await a.keyboard.type('hello world');
    await converged([a, b]);
    await setCaret(a, 5);
    await setCaret(b, 5);
    await Promise.all([a.keyboard.type(' AAA', { delay: 5 }), b.keyboard.type(' BBB', { delay: 5 })]);
    await converged([a, b]);
    // B selects "hello" and types over it while A types inside it.
    await b.evaluate(() => window.relayDemo?.view.dispatch({ selection: { anchor: 0, head: 5 } }));
    await setCaret(a, 2);
    await Promise.all([b.keyboard.type('HEY', { delay: 5 }), a.keyboard.type('xx', { delay: 5 })]);
    const final = await converged([a, b]);
    // Keystrokes at one position interleave in any order OT allows; none is lost or doubled.
    const count = (c: string): number => final.split(c).length - 1;
    expect([count('A'), count('B'), count('x'), count('H'), count('E'), count('Y')]).toEqual([3, 3, 2, 1, 1, 1]);
    expect(final).toMatch(/world$/);
    await ca.close();
    await cb.close();
  });

  it("shows A's labelled caret at the right place in B and moves it when B types before it; saves a screenshot", async () => {
    const [ca, cb] = [await browser.newContext({ viewport: { width: 640, height: 420 } }), await browser.newContext({ viewport: { width: 640, height: 420 } })];
    const a = await openDemo(ca, 'Ada', 'carets');
    const b = await openDemo(cb, 'Bob', 'carets');
    await setCaret(a, 0);
    await a.keyboard.type('Relay keeps everyone in step.\nType here and in the other window.');
    await converged([a, b]);
    await setCaret(a, 6);
    const caretIn = (page: Page): Promise<number | undefined> =>
      page.evaluate(() => {
        const el = document.querySelector('.cm-relay-caret');
        return el ? window.relayDemo?.view.posAtDOM(el) : undefined;
      });
    await b.waitForFunction(() => document.querySelector('.cm-relay-caret-label')?.textContent === 'Ada');
    await expect.poll(() => caretIn(b), { timeout: 10_000 }).toBe(6);
    // Issue 13: when A's typing indicator cleared (TYPING_DEBOUNCE_MS later), A's caret vanished.
    await b.waitForFunction(() => document.querySelector('#people .who[data-user="Ada"]')?.getAttribute('data-typing') === 'false');
    expect(await caretIn(b)).toBe(6);
    // A's presence data (avatar, visible lines) reached B.
    expect(await b.evaluate(() => { const tag = document.querySelector('#people .who[data-user="Ada"]'); return [tag?.textContent, tag?.getAttribute('title')]; })).toEqual(['♥ Ada', 'sees lines 1–2']);
    await setCaret(b, 0);
    await b.keyboard.type('>> ');
    await expect.poll(() => caretIn(b), { timeout: 10_000 }).toBe(9);
    await converged([a, b]);
    await b.keyboard.press('End');
    await expect.poll(() => caretIn(b), { timeout: 10_000 }).toBe(9);
    const shots = await Promise.all([a.screenshot(), b.screenshot()]);
    await saveSideBySide(b, shots);
    await ca.close();
    await cb.close();
  });

  it('A offline keeps typing; back online its edits arrive exactly once', async () => {
    const [ca, cb] = [await browser.newContext(), await browser.newContext()];
    const a = await openDemo(ca, 'Ada', 'offline');
    const b = await openDemo(cb, 'Bob', 'offline');
    await setCaret(a, 0);
    await a.keyboard.type('start.');
    await converged([a, b]);
    await ca.setOffline(true);
    await a.waitForFunction(() => document.getElementById('status')?.dataset.state === 'offline');
    await a.keyboard.type(' offline-one');
    await a.keyboard.type(' offline-two');
    expect(await a.evaluate(() => document.getElementById('status')?.textContent)).toMatch(/offline · \d+ pending/);
    await setCaret(b, 0);
    await b.keyboard.type('B:');
    await ca.setOffline(false);
    const final = await converged([a, b]);
    expect(final).toBe('B:start. offline-one offline-two');
    await ca.close();
    await cb.close();
  });

  it("undo in A after B's edits removes only A's text", async () => {
    const [ca, cb] = [await browser.newContext(), await browser.newContext()];
    const a = await openDemo(ca, 'Ada', 'undo');
    const b = await openDemo(cb, 'Bob', 'undo');
    await setCaret(b, 0);
    await b.keyboard.type('[bob]');
    await converged([a, b]);
    await setCaret(a, 5);
    await a.keyboard.type(' ada-typed');
    await converged([a, b]);
    await setCaret(b, 0);
    await b.keyboard.type('<b2>');
    await converged([a, b]);
    await a.keyboard.press('Control+z');
    expect(await converged([a, b])).toBe('<b2>[bob]');
    expect(await editorText(a)).toBe(await text(a));
    await a.keyboard.press('Control+Shift+z');
    expect(await converged([a, b])).toBe('<b2>[bob] ada-typed');
    await ca.close();
    await cb.close();
  });
});

/**
 * Puts two screenshots side by side (drawn by the browser itself): into docs/img/demo.png with
 * UPDATE_SCREENSHOT=1 (the README's picture), else into the system's temporary folder, so a
 * test run leaves the working tree as it found it.
 */
async function saveSideBySide(page: Page, shots: Buffer[]): Promise<void> {
  const urls = shots.map((s) => `data:image/png;base64,${s.toString('base64')}`);
  const composer = await page.context().newPage();
  await composer.setViewportSize({ width: 1296, height: 436 });
  await composer.setContent(`<body style="margin:0;background:#ddd;display:flex;gap:16px;padding:8px">${urls.map((u) => `<img src="${u}" style="width:640px;box-shadow:0 1px 4px #0004">`).join('')}</body>`);
  const path = process.env.UPDATE_SCREENSHOT === '1' ? resolve(import.meta.dirname, '../../docs/img/demo.png') : join(tmpdir(), 'relay-demo.png');
  await composer.screenshot({ path });
  await composer.close();
}
