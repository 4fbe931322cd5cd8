/**
 * What a client's receipt of a change costs (`npm run bench:replicas-receipts`): the part of
 * bench:replicas' generator that is the SDK. In the hot step every keystroke is received by 49
 * clients, so this is most of that process's work, and what every browser editor of a busy
 * document pays. 50 SDK clients (RelayClient, one document) on in-memory sockets, fed by a
 * sequencer that orders their changes the way the relay does and sends the frames the relay
 * sends (`change` to the others, `ack` to the author). Each round some clients type one
 * character at a random position; their changes are committed and delivered within the round,
 * in commit order, so a typist's own change is still in flight while earlier ones arrive (the
 * SDK transforms them past it, as in the real workload). No sockets, no relay: only the SDK's
 * receive path (JSON.parse, routing, transform, apply, events) is timed, per `change` frame.
 * Builds are compared in one run, alternately, each in a fresh process.
 *
 * Options (env):
 *   BENCH_BUILDS      name=path/to/build/root,… (a checkout with dist/ built; default: this one)
 *   BENCH_CLIENTS     clients on the document (50)
 *   BENCH_KEYSTROKES  keystrokes per round of measurement (6000)
 *   BENCH_TYPISTS     clients typing per round (10)
 *   BENCH_REPEATS     processes per build (5)
 */
import { describeEnvironment } from './environment.js';
import { askChild, hasNumbers, medianRange, readBuilds } from './builds.js';
import { transform, type Change } from '../src/ot/index.js';
import { decodeClientMessage } from '../src/protocol/decode.js';
import type { ClientMessage } from '../src/protocol/messages.js';
import type { RelayClient as RelayClientType, WebSocketLike } from '../src/client/index.js';

const DOC = '5f0c3a1e-7d1b-4b8e-9a51-3a2f1c0d9e77';
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const LIMITS = { maxOps: 100, maxMessageBytes: 1_048_576, cursorThrottleMs: 50, heartbeatIntervalSecs: 3600 };

interface RoundResult {
  readonly receipts: number;
  readonly receiptUs: number;
  readonly cpuUsPerKeystroke: number;
  readonly wallUsPerKeystroke: number;
}

/** One client's socket: frames out go to the sequencer's inbox, frames in are timed if they are changes. */
class MemorySocket implements WebSocketLike {
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;

  constructor(
    readonly index: number,
    private readonly outbox: (from: MemorySocket, text: string) => void,
  ) {}

  send(data: string): void {
    this.outbox(this, data);
  }

  close(): void {
    this.readyState = 3;
  }
}

/** The relay's ordering, in memory: transform past what committed since the client's revision. */
class Sequencer {
  private readonly log: { rev: number; ops: Change }[] = [];
  private head = 0;
  readonly sockets: MemorySocket[] = [];
  private readonly inbox: { from: MemorySocket; text: string }[] = [];
  receipts = 0;
  receiptMs = 0;
  measuring = false;

  receive(from: MemorySocket, text: string): void {
    this.inbox.push({ from, text });
  }

  /** Commits what came in, in arrival order, delivering each commit before the next. */
  process(): void {
    while (this.inbox.length > 0) {
      const next = this.inbox.shift();
      if (!next) continue;
      // The relay's own decoder: the SDK's frames must pass it here too.
      const decoded = decodeClientMessage(next.text);
      if (!decoded.ok) throw new Error(`the SDK sent a frame the relay refuses: ${decoded.message}`);
      this.handle(next.from, decoded.message);
    }
  }

  private handle(from: MemorySocket, frame: ClientMessage): void {
    if (frame.type === 'join') {
      const presence = this.sockets.filter((s) => s !== from && s.readyState === 1).map((s) => ({ session: `s${s.index}`, user: user(s.index), selection: null, typing: false }));
      this.deliver(from, JSON.stringify({ type: 'joined', doc: DOC, rev: this.head, role: 'editor', presence, content: [] }));
      const joinedText = JSON.stringify({ type: 'presence', doc: DOC, rev: this.head, session: `s${from.index}`, user: user(from.index), selection: null, typing: false });
      for (const s of this.sockets) if (s !== from && s.readyState === 1) this.deliver(s, joinedText);
      return;
    }
    if (frame.type !== 'change') return;
    let ops = frame.ops;
    for (const entry of this.log) if (entry.rev >= frame.clock.rev) ops = transform(ops, entry.ops, 'right');
    const rev = this.head;
    if (ops.length > 0) {
      this.log.push({ rev, ops });
      this.head += ops.length;
      const text = JSON.stringify({ type: 'change', doc: DOC, rev, ops, clock: { actor: frame.clock.actor, seq: frame.clock.seq }, user: `u${from.index}` });
      for (const s of this.sockets) if (s !== from) this.deliver(s, text, true);
    }
    this.deliver(from, JSON.stringify({ type: 'ack', doc: DOC, seq: frame.clock.seq, rev, count: ops.length }));
  }

  private deliver(to: MemorySocket, text: string, timed = false): void {
    if (!timed || !this.measuring) {
      to.onmessage?.({ data: text });
      return;
    }
    const start = performance.now();
    to.onmessage?.({ data: text });
    this.receiptMs += performance.now() - start;
    this.receipts++;
  }
}

const user = (i: number) => ({ id: `u${i}`, name: `user ${i}`, color: '#336699' });

/** In a child: this build's SDK under the workload; prints nothing, answers over IPC. */
async function runBuild(root: string, clients: number, keystrokes: number, typists: number): Promise<RoundResult> {
  const { RelayClient } = (await import(`${root}/dist/src/client/index.js`)) as { RelayClient: typeof RelayClientType };
  const sequencer = new Sequencer();
  const docs: Awaited<ReturnType<RelayClientType['open']>>[] = [];
  for (let i = 0; i < clients; i++) {
    const Socket = class extends MemorySocket {
      constructor() {
        super(i, (from, text) => {
          sequencer.receive(from, text);
          // Joins are answered at once; changes wait for the round's commit step.
          if (text.includes('"type":"join"')) sequencer.process();
        });
        sequencer.sockets.push(this);
        setImmediate(() => {
          this.readyState = 1;
          this.onopen?.({});
          this.onmessage?.({ data: JSON.stringify({ type: 'hello', protocol: 1, session: `s${i}`, user: user(i), limits: LIMITS, features: [] }) });
        });
      }
    };
    const client = new RelayClient({ url: 'ws://memory/collab', token: () => 'token', WebSocket: Socket, tokenCheck: false });
    docs.push(await client.open(DOC));
  }
  const typeRound = () => {
    for (let t = 0; t < typists; t++) {
      const doc = docs[Math.floor(Math.random() * docs.length)];
      doc?.insert(Math.floor(Math.random() * (doc.length + 1)), LETTERS[Math.floor(Math.random() * LETTERS.length)] ?? 'x');
    }
    sequencer.process();
  };
  // Warm-up: the JIT settles before anything is timed.
  for (let typed = 0; typed < keystrokes / 4; typed += typists) typeRound();
  sequencer.measuring = true;
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  let typed = 0;
  for (; typed < keystrokes; typed += typists) typeRound();
  const cpu = process.cpuUsage(cpuBefore);
  const wallMs = performance.now() - wallBefore;
  const texts = new Set(docs.map((d) => d.text));
  if (texts.size !== 1) throw new Error(`clients diverged: ${texts.size} different texts`);
  return { receipts: sequencer.receipts, receiptUs: (sequencer.receiptMs * 1000) / sequencer.receipts, cpuUsPerKeystroke: (cpu.user + cpu.system) / typed, wallUsPerKeystroke: (wallMs * 1000) / typed };
}

function runChild(root: string, clients: number, keystrokes: number, typists: number): Promise<RoundResult> {
  const isResult = (m: unknown): m is RoundResult => hasNumbers(m, ['receipts', 'receiptUs', 'cpuUsPerKeystroke', 'wallUsPerKeystroke']);
  return askChild(import.meta.filename, ['--child', root, String(clients), String(keystrokes), String(typists)], isResult, `the child for ${root}`);
}

async function main(): Promise<void> {
  const env = process.env;
  const builds = readBuilds(env.BENCH_BUILDS);
  const clients = Number(env.BENCH_CLIENTS ?? 50);
  const keystrokes = Number(env.BENCH_KEYSTROKES ?? 6000);
  const typists = Number(env.BENCH_TYPISTS ?? 10);
  const repeats = Number(env.BENCH_REPEATS ?? 5);
  console.log(describeEnvironment());
  console.log(`${clients} SDK clients on one document, ${keystrokes} keystrokes measured per process (${typists} typists per round), ${repeats} processes per build, alternating`);
  const results = new Map<string, RoundResult[]>(builds.map((b) => [b.name, []]));
  for (let r = 0; r < repeats; r++) {
    for (const build of builds) {
      const result = await runChild(build.root, clients, keystrokes, typists);
      results.get(build.name)?.push(result);
      console.log(`${build.name} [${r + 1}/${repeats}]: ${result.receiptUs.toFixed(2)} µs per receipt (${result.receipts} receipts), ${result.cpuUsPerKeystroke.toFixed(0)} µs CPU (${result.wallUsPerKeystroke.toFixed(0)} µs wall) per keystroke`);
    }
  }
  console.log('\n| build | µs per receipt of a change, median (range) | µs CPU per keystroke, all clients and the sequencer, median (range) |');
  console.log('|---|---|---|');
  for (const [name, list] of results) {
    console.log(`| ${name} | ${medianRange(list.map((x) => x.receiptUs), 2)} | ${medianRange(list.map((x) => x.cpuUsPerKeystroke), 0)} |`);
  }
}

if (process.argv[2] === '--child') {
  const [root = '.', clients = '50', keystrokes = '6000', typists = '10'] = process.argv.slice(3);
  const result = await runBuild(root, Number(clients), Number(keystrokes), Number(typists));
  process.send?.(result, () => process.exit(0));
} else {
  await main();
}
