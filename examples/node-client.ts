/**
 * Two editors on one document, in Node, against a relay started with `npm start`:
 *
 *   npm run build && node dist/examples/node-client.js [document-uuid]
 *
 * Development tokens come from the relay's loopback-only /dev/token endpoint; in production
 * the token provider returns your identity service's access token.
 */
import WebSocket from 'ws';
import { RelayClient, type WebSocketConstructor } from '../src/client/index.js';

const relay = process.env.RELAY_URL ?? 'http://localhost:8081';
const documentId = process.argv[2] ?? crypto.randomUUID();

function connect(user: string): RelayClient {
  return new RelayClient({
    url: `${relay.replace(/^http/, 'ws')}/collab`,
    token: async () => ((await (await fetch(`${relay}/dev/token?user=${user}`)).json()) as { token: string }).token,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
  });
}

const alice = connect('alice');
const bob = connect('bob');
const [a, b] = await Promise.all([alice.open(documentId), bob.open(documentId)]);

b.on('change', ({ ops, user }) => console.log(`bob sees ${user}:`, JSON.stringify(ops), '→', JSON.stringify(b.text)));
b.on('presence', (people) => console.log('bob sees presence:', people.map((p) => `${p.user.name}@${JSON.stringify(p.selection)}`).join(', ')));

// Concurrent edits: both type at the start of the document at the same moment.
a.insert(0, 'Hello from Alice. ');
b.insert(0, 'Bob was here. ', { bold: true });
a.setSelection({ anchor: 0, head: 5 });

await Promise.all([a.whenSynced(), b.whenSynced()]);
await new Promise((r) => setTimeout(r, 200));
console.log(`document ${documentId} at revision ${a.revision}`);
console.log('alice:', JSON.stringify(a.text));
console.log('bob:  ', JSON.stringify(b.text));
console.log(a.text === b.text ? 'converged' : 'DIVERGED');
alice.close();
bob.close();
