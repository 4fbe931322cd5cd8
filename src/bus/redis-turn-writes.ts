import { Cluster } from 'ioredis';
import type { NetStream } from 'ioredis/built/types.js';
import type { RedisClient } from './redis-clients.js';

/** A command written into the corked socket: `flushed` once it left, `settled` once answered (or failed). */
interface Sent {
  flushed: boolean;
  settled: boolean;
}

/**
 * The bus's commands to one Redis leave in batches, as with ioredis's auto-pipelining, without
 * its per-batch Pipeline: the first command corks the socket, and it is uncorked (one write for
 * all of them) once the turn's I/O callbacks are done (setImmediate) and every command of the
 * previous batch is answered. Waiting for those answers keeps auto-pipelining's batching under
 * load: a bus batcher that never waited (bab4a06) made fan-out slower in a quiet bench:replicas
 * run (README), with more, smaller writes on every hop.
 *
 * Why not auto-pipelining itself: in a perf profile of bench:replicas (hot document, 250 ops/s,
 * 3 replicas) building, executing and answering its Pipeline (a promise and a nextTick per
 * command) was 7 % of a forwarding replica's CPU, for batches of one command at that rate. A
 * Cluster keeps auto-pipelining (its commands go to the node of each key's slot).
 */
export class TurnWrites {
  /** The socket corked for the batch being gathered, if any. */
  private socket: NetStream | undefined;
  private batch: Sent[] = [];
  private turnDone = false;
  /** Commands of the last uncorked batch not answered yet. */
  private unanswered = 0;

  constructor(private readonly client: RedisClient) {}

  /** Writes one command (`write` calls the client) into this turn's batch. */
  send<T>(write: () => Promise<T>): Promise<T> {
    const client = this.client;
    if (client instanceof Cluster) return write();
    this.gather(client.stream);
    // Not corked (the socket is not writable): the command fails at once and waits for nothing.
    const sent: Sent = { flushed: this.socket === undefined, settled: false };
    if (this.socket) this.batch.push(sent);
    const answer = write();
    const settled = () => {
      sent.settled = true;
      if (sent.flushed) this.answered();
    };
    answer.then(settled, settled);
    return answer;
  }

  /** Corks `socket` for a new batch unless one is being gathered on it. */
  private gather(socket: NetStream | undefined): void {
    if (this.socket === socket) return;
    // A reconnect made a new socket: the old one's batch is gone with it, nothing to wait for.
    if (this.socket) this.reset();
    if (!socket?.writable) return;
    this.socket = socket;
    this.turnDone = false;
    socket.cork();
    setImmediate(() => {
      if (this.socket !== socket) return;
      this.turnDone = true;
      this.flush();
    });
  }

  private answered(): void {
    if (this.unanswered === 0) return;
    this.unanswered--;
    this.flush();
  }

  private flush(): void {
    const socket = this.socket;
    if (!socket || !this.turnDone || this.unanswered > 0) return;
    // Commands already answered (failed before they could leave) are not waited for.
    for (const sent of this.batch) sent.flushed = true;
    this.unanswered = this.batch.filter((sent) => !sent.settled).length;
    this.batch = [];
    this.socket = undefined;
    socket.uncork();
  }

  private reset(): void {
    this.socket?.uncork();
    this.socket = undefined;
    this.batch = [];
    this.unanswered = 0;
  }
}
