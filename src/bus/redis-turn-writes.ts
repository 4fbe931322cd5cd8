import { Cluster } from 'ioredis';
import type { NetStream } from 'ioredis/built/types.js';
import type { RedisClient } from './redis-clients.js';

/**
 * Commands written to one Redis connection in an event-loop turn leave in one socket write:
 * the first of them corks the socket, the end of the turn's I/O callbacks (setImmediate)
 * uncorks it. Each command still goes straight to the socket as ioredis writes it, so nothing
 * waits for the answers to earlier ones.
 *
 * This replaces ioredis's auto-pipelining on the publisher of one Redis (or a Sentinel
 * primary). In a perf profile of bench:replicas (hot document, 250 ops/s, 3 replicas) its
 * per-turn Pipeline (built, executed, every answer routed back through a promise and a
 * nextTick) was 7 % of a forwarding replica's CPU, for batches of one command at that rate;
 * it also keeps one pipeline in flight per connection, so a forward made while the previous
 * batch was unanswered waited for that answer. A Cluster keeps auto-pipelining (its commands
 * go to the node of each key's slot: redis-clients.ts).
 */
export class TurnWrites {
  private corked = false;

  constructor(private readonly client: RedisClient) {}

  /** Call before writing a command: it and the rest of this turn's commands leave together. */
  batch(): void {
    const client = this.client;
    if (this.corked || client instanceof Cluster) return;
    // The socket of this connection now; a reconnect during the turn makes a new one, and the
    // old one is uncorked all the same.
    const socket: NetStream | undefined = client.stream;
    if (!socket?.writable) return;
    this.corked = true;
    socket.cork();
    setImmediate(() => {
      this.corked = false;
      socket.uncork();
    });
  }
}
