import ShareDBClient from 'sharedb/lib/client/index.js';
import { type as textUnicode } from 'ot-text-unicode';
import WebSocket from 'ws';
import { RelayClient, type DocumentHandle, type WebSocketLike } from '../src/client/index.js';

/*
 * The clients of the typing benchmark: the Relay SDK, and ShareDB's own client as the peer.
 * Each sees its frames through a tap, which tells the tracker when a change left, when it
 * was acked and when it was applied, by the id the protocol gives it.
 */

/** What the tap reads off the wire. Ids are `${actor or source}/${seq}`. */
export interface WireEvents {
  sent(id: string): void;
  acked(id: string): void;
  applied(id: string): void;
  /** Something the client was told went wrong, or did about it (a resync drops pending edits). */
  problem(description: string): void;
}

export interface TypingClient {
  readonly text: string;
  /** The text's length, without building the text. */
  readonly length: number;
  /** Nothing typed here is waiting to be sent or acknowledged. */
  readonly settled: boolean;
  /** Inserts `char` at `pos` (0 ≤ pos ≤ text length). */
  insert(pos: number, char: string): void;
  close(): void;
}

/**
 * A WHATWG-style socket over `ws` (what both clients take) that hands every frame to the
 * tap: outgoing before it leaves, incoming after the client has handled it (applied).
 */
class TappedSocket implements WebSocketLike {
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  private readonly ws: WebSocket;

  constructor(url: string, protocols: string[] | undefined, private readonly tap: { out(text: string): void; in(text: string): void }) {
    this.ws = new WebSocket(url, protocols);
    this.ws.on('open', () => this.onopen?.({}));
    this.ws.on('message', (data: Buffer) => {
      const text = data.toString('utf8');
      this.onmessage?.({ data: text });
      this.tap.in(text);
    });
    this.ws.on('close', (code: number, reason: Buffer) => this.onclose?.({ code, reason: reason.toString() }));
    this.ws.on('error', (err) => this.onerror?.(err));
  }

  get readyState(): number {
    return this.ws.readyState;
  }

  send(data: string): void {
    this.tap.out(data);
    this.ws.send(data);
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }
}

interface RelayFrame {
  readonly type?: string;
  readonly seq?: number;
  readonly clock?: { readonly actor?: string; readonly seq?: number };
}

/** A Relay SDK client with one open document. */
export async function openRelayClient(wsUrl: string, token: string, docId: string, events: WireEvents): Promise<TypingClient> {
  let actor = '';
  const tap = {
    out(text: string) {
      const m = JSON.parse(text) as RelayFrame;
      if (m.type === 'change' && m.clock?.actor) {
        actor = m.clock.actor;
        events.sent(`${m.clock.actor}/${m.clock.seq}`);
      }
    },
    in(text: string) {
      const m = JSON.parse(text) as RelayFrame;
      if (m.type === 'change' && m.clock) events.applied(`${m.clock.actor}/${m.clock.seq}`);
      else if (m.type === 'ack') events.acked(`${actor}/${m.seq}`);
    },
  };
  const Socket = class extends TappedSocket {
    constructor(url: string, protocols: string[]) {
      super(url, protocols, tap);
    }
  };
  const client = new RelayClient({ url: wsUrl, token: () => token, WebSocket: Socket });
  const doc: DocumentHandle = await client.open(docId);
  doc.on('error', (e) => events.problem(`${e.code}: ${e.message}`));
  doc.on('resynced', () => events.problem('resynced: the local copy was replaced by the relay\'s'));
  return {
    get text() {
      return doc.text;
    },
    get length() {
      return doc.length;
    },
    get settled() {
      return !doc.pending;
    },
    insert: (pos, char) => doc.insert(pos, char),
    close: () => client.close(),
  };
}

ShareDBClient.types.register(textUnicode);

interface ShareDBFrame {
  readonly a?: string;
  readonly src?: string;
  readonly seq?: number;
  readonly op?: unknown;
}

/** A ShareDB client (text-unicode type) subscribed to one document; `create` makes it first. */
export async function openShareDBClient(url: string, docId: string, create: boolean, events: WireEvents): Promise<TypingClient> {
  let connection: InstanceType<typeof ShareDBClient.Connection> | undefined;
  const tap = {
    out(text: string) {
      const m = JSON.parse(text) as ShareDBFrame;
      if (m.a === 'op' && m.op !== undefined && connection) events.sent(`${m.src ?? connection.id}/${m.seq}`);
    },
    in(text: string) {
      const m = JSON.parse(text) as ShareDBFrame;
      if (m.a !== 'op' || !connection || m.src === undefined) return;
      // The submitter gets its op back without the op: that is its ack.
      if (m.src === connection.id) events.acked(`${m.src}/${m.seq}`);
      else events.applied(`${m.src}/${m.seq}`);
    },
  };
  const socket = new TappedSocket(url, undefined, tap);
  connection = new ShareDBClient.Connection(socket as unknown as ConstructorParameters<typeof ShareDBClient.Connection>[0]);
  const doc = connection.get('docs', docId);
  doc.on('error', (err) => events.problem(`sharedb: ${err.message}`));
  await new Promise<void>((resolve, reject) => doc.subscribe((err) => (err ? reject(err) : resolve())));
  if (create && !doc.type) await new Promise<void>((resolve, reject) => doc.create('', 'text-unicode', (err) => (err ? reject(err) : resolve())));
  const open = connection;
  return {
    get text() {
      return typeof doc.data === 'string' ? doc.data : '';
    },
    get length() {
      return typeof doc.data === 'string' ? doc.data.length : 0;
    },
    get settled() {
      return !doc.hasWritePending();
    },
    insert: (pos, char) => doc.submitOp(pos === 0 ? [char] : [pos, char]),
    close: () => open.close(),
  };
}
