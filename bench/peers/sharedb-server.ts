/**
 * A ShareDB server for the side-by-side benchmark, run as its own process like the relay:
 * sharedb-postgres (every op and its snapshot committed in PostgreSQL before the ack, as the
 * relay does), the `text-unicode` OT type, WebSocket transport. Env: DATABASE_URL, PORT;
 * SHAREDB_STORE=memory uses ShareDB's in-memory store instead (not durable: a ceiling).
 */
import ShareDB from 'sharedb';
import PostgresDB from 'sharedb-postgres';
import WebSocketJSONStream from '@teamwork/websocket-json-stream';
import { type as textUnicode } from 'ot-text-unicode';
import postgres from 'postgres';
import { WebSocketServer } from 'ws';

const databaseUrl = process.env.DATABASE_URL ?? '';
const port = Number(process.env.PORT ?? 0);

const inMemory = process.env.SHAREDB_STORE === 'memory';
// The adapter's schema (structure.sql of sharedb-postgres 5).
const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined });
if (!inMemory) await sql.unsafe(`
  CREATE TABLE IF NOT EXISTS ops (collection varchar(255) NOT NULL, doc_id varchar(255) NOT NULL, version integer NOT NULL, operation jsonb NOT NULL, PRIMARY KEY (collection, doc_id, version));
  CREATE TABLE IF NOT EXISTS snapshots (collection varchar(255) NOT NULL, doc_id varchar(255) NOT NULL, doc_type varchar(255), version integer NOT NULL, data jsonb, metadata jsonb, PRIMARY KEY (collection, doc_id));`);
await sql.end();

ShareDB.types.register(textUnicode);
const backend = inMemory ? new ShareDB() : new ShareDB({ db: PostgresDB({ connectionString: databaseUrl, max: 20 }) });
const wss = new WebSocketServer({ host: '127.0.0.1', port });
wss.on('connection', (ws) => {
  const stream = new WebSocketJSONStream(ws);
  // A client that leaves while ShareDB writes to it is not a server failure.
  stream.on('error', () => ws.terminate());
  backend.listen(stream);
});
wss.on('listening', () => {
  const address = wss.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : port}\n`);
});
process.on('SIGTERM', () => {
  wss.close();
  backend.close(() => process.exit(0));
});
