// Minimal typings for the two peer-benchmark packages that ship none.
declare module 'sharedb-postgres' {
  import type ShareDB from 'sharedb';
  function PostgresDB(options: { connectionString: string; max?: number }): ShareDB.DB & { close(): Promise<void> };
  export default PostgresDB;
}

declare module '@teamwork/websocket-json-stream' {
  import type { Duplex } from 'node:stream';
  import type WebSocket from 'ws';
  export default class WebSocketJSONStream extends Duplex {
    constructor(ws: WebSocket);
  }
}
