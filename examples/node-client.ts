/**
 * Two editors on one document, in Node, against a relay started with `npm start`:
 *
 *   npm run build && node dist/examples/node-client.js [document-uuid]
 *
 * RELAY_URL (default http://localhost:8081) names another relay. Development tokens come from
 * the relay's loopback-only /dev/token endpoint; in production the token provider returns
 * your identity service's access token.
 */
import WebSocket from 'ws';
import { RelayClient, type WebSocketConstructor } from '../src/client/index.js';

const relay = process.env.RELAY_URL ?? 'http://localhost:8081';
const documentId = process.argv[2] ?? crypto.randomUUID();

async function devToken(user: string): Promise<string> {
  const response = await fetch(`${relay}/dev/token?user=${encodeURIComponent(user)}`);
  if (!response.ok) throw new Error(`GET /dev/token: HTTP ${response.status}`);
  return ((await response.json()) as { token: string }).token;
}

function connect(user: string): RelayClient {
  const client = new RelayClient({
    url: `${relay.replace(/^http/, 'ws')}/collab`,
    // Called for every connection and before the token expires.
    token: () => devToken(user),
    // Node 20 has no global WebSocket; browsers need no such option.
    WebSocket: WebSocket as unknown as WebSocketConstructor,
  });
  client.on('warning', (message) => console.warn(`${user}: ${message}`));
  return client;
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
// Each has its own change acknowledged; give the other's a moment to arrive.
const deadline = Date.now() + 5000;
while ((a.rev !== b.rev || a.text !== b.text) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

console.log(`document ${documentId} at revision ${a.rev}`);
console.log('alice:', JSON.stringify(a.text));
console.log('bob:  ', JSON.stringify(b.text));
console.log(a.text === b.text ? 'converged' : 'DIVERGED');
a.close();
b.close();
alice.close();
bob.close();
process.exitCode = a.text === b.text ? 0 : 1;
