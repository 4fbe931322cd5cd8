import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { RelayClient, type WebSocketConstructor } from '../../src/client/index.js';
import { apply, docText } from '../../src/ot/index.js';
import type { Op } from '../../src/ot/types.js';
import { readOpLog } from '../support/oplog.js';
import { devToken, startRelayProcess } from '../support/relay-process.js';
import { load, traceHasAstral, tracesAvailable, txnToChange } from '../support/traces.js';

const databaseUrl = inject('databaseUrl');

/**
 * A real editing session (seph-blog1 from Joseph Gentle's editing-traces, CC BY 4.0) typed
 * through the live relay by the SDK while another client watches: both, and the op log, end
 * in exactly the trace's final text.
 */
describe.skipIf(!tracesAvailable())('real trace through the live relay', () => {
  it('seph-blog1 typed by one client ends as endContent at the author, an observer and in the op log', async () => {
    const trace = load('seph-blog1');
    const relay = await startRelayProcess({ env: { DATABASE_URL: databaseUrl } });
    const connect = (user: string) =>
      new RelayClient({ url: relay.wsUrl, token: () => devToken(relay.url, user), WebSocket: WebSocket as unknown as WebSocketConstructor });
    const author = connect('seph');
    const reader = connect('reader');
    try {
      const docId = randomUUID();
      const doc = await author.open(docId);
      const watching = await reader.open(docId);
      const astral = traceHasAstral(trace);
      // Like an editor flushing its keystrokes once per frame: 25 transactions per submit.
      let local = doc.content;
      let frame: Op[] = [];
      for (const [i, txn] of trace.txns.entries()) {
        const change = txnToChange(txn, local, astral);
        local = apply(local, change);
        frame.push(...change);
        if (frame.length > 0 && (i % 25 === 24 || i === trace.txns.length - 1)) {
          doc.submit(frame);
          frame = [];
          if (i % 2000 < 25) await new Promise((r) => setImmediate(r));
        }
      }
      expect(doc.text).toBe(trace.endContent);
      await doc.whenSynced();
      const deadline = Date.now() + 30_000;
      while (watching.revision !== doc.revision && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(watching.text).toBe(trace.endContent);
      expect(docText((await readOpLog(databaseUrl, docId)).content)).toBe(trace.endContent);
    } finally {
      author.close();
      reader.close();
      await relay.stop();
    }
  });
});
