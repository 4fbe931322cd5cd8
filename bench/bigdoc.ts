/**
 * `npm run bench:bigdoc`: the relay on one long, richly formatted document (issue 12, 9.4),
 * against a real relay process and embedded PostgreSQL, for this build and optionally another
 * (BENCH_BEFORE_MAIN=/path/to/other/dist/src/main.js: before/after in one run; add
 * BENCH_BEFORE_RUN_LIST=1 when that build predates packed snapshots and join_content).
 *
 * Per build, a database holding a document of 100,000 ops, 1,000,000 characters and 100,000
 * runs (written straight into the op log; its snapshot 250 ops before the head) and:
 * 1. cold join: a client joins it while no replica has it loaded (DOCUMENT_IDLE_SECS=1 unloads
 *    it between rounds): time from join to the joined frame, and that frame's size; then the
 *    client types one character at once, and the time from join to its ack (the relay may
 *    build the document's tree after the frame: this is when the user's first edit is safe); first joins
 *    (here and in phase 3) ask for the packed form, as the SDK does, where the relay has it;
 *    before that, what the loaded document adds to the relay's heap and RSS after a full
 *    collection (the probe collects on request: the relay runs with --expose-gc);
 * 2. rejoin from revision 0 while it is loaded (offering to take content where the relay
 *    announces join_content): time and frame size;
 * 3. committed ops/s and ack latency with BENCH_WRITERS clients (joined first, one after
 *    another, before the clock starts) each keeping one single-character insert at a random
 *    position in flight, on a 1,000-character document and
 *    then on the big one, for BENCH_SECS each; then the big one again while one more client
 *    joins it (a first join, as in 1) and leaves, once every BENCH_JOIN_EVERY_MS
 *    (1000). The relay's event-loop delay (p99, max) over each phase is sampled every
 *    millisecond by bench/event-loop-probe.ts. Snapshots (every SNAPSHOT_INTERVAL_OPS=500 ops)
 *    happen during the big phases.
 * The byte budget per connection is raised so the join loop is not slowed by it (it would be:
 * the joined frames are charged to it), and MAX_BACKPRESSURE_BYTES so a 7 MiB frame of changes
 * reaches the client at all.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import WebSocket from 'ws';
import { connectDatabase } from '../src/store/db.js';
import { BIG, seedBigDocument } from './bigdoc-seed.js';
import { describeEnvironment, median, percentile } from './environment.js';
import { devToken, startBenchPostgres, startBenchRelay, type BenchRelay } from './processes.js';
import { readEventLoopDelay, type EventLoopDelay } from './event-loop-reader.js';

const SECS = Number(process.env.BENCH_SECS ?? 10);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const JOIN_EVERY_MS = Number(process.env.BENCH_JOIN_EVERY_MS ?? 1000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PROBE_ARGS = ['--expose-gc', '--import', resolve(import.meta.dirname, 'event-loop-probe.js')];

interface Frame {
  readonly type: string;
  readonly [key: string]: unknown;
}

/** A bare client: frames in, with waiting for one of a type. */
class Client {
  private readonly waiters = new Set<() => void>();
  readonly inbox: { frame: Frame; bytes: number; at: number }[] = [];
  private closedWith: string | undefined;
  /** The `hello` frame's `features`: what this relay build understands. */
  features: readonly string[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('close', (code: number, reason: Buffer) => {
      this.closedWith = `${code} ${reason.toString()}`;
      for (const w of [...this.waiters]) w();
    });
    ws.on('message', (data: Buffer) => {
      // Arrival time before this process parses the frame: the relay's part is what is measured.
      const at = performance.now();
      this.inbox.push({ frame: JSON.parse(data.toString()) as Frame, bytes: data.length, at });
      for (const w of [...this.waiters]) w();
    });
  }

  static async open(url: string, token: string): Promise<Client> {
    const ws = new WebSocket(url, ['relay.v1', `bearer.${token}`], { maxPayload: 256 * 2 ** 20 });
    const client = new Client(ws);
    const hello = await client.next((f) => f.type === 'hello');
    client.features = Array.isArray(hello.frame.features) ? hello.frame.features.filter((f): f is string => typeof f === 'string') : [];
    return client;
  }

  /** A first join, in the packed form (what the SDK asks for) where the relay has it. */
  firstJoin(doc: string): void {
    this.send(this.features.includes('packed_join') ? { type: 'join', doc, packed: true } : { type: 'join', doc });
  }

  send(message: object): void {
    this.ws.send(JSON.stringify(message));
  }

  /** The first frame (received from now on or already waiting) matching `where`; removed from the inbox. */
  next(where: (f: Frame) => boolean, timeoutMs = 120_000, what = 'a frame'): Promise<{ frame: Frame; bytes: number; at: number }> {
    return new Promise((resolvePromise, reject) => {
      const check = () => {
        const i = this.inbox.findIndex((m) => where(m.frame));
        if (i < 0 && this.closedWith !== undefined) {
          this.waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`closed (${this.closedWith}) while waiting for ${what}`));
          return true;
        }
        if (i < 0) return false;
        const [found] = this.inbox.splice(i, 1);
        this.waiters.delete(check);
        clearTimeout(timer);
        if (found) resolvePromise(found);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      if (!check()) this.waiters.add(check);
    });
  }

  close(): void {
    this.ws.close();
  }
}

interface Build {
  readonly name: string;
  readonly main: string;
}

interface Target {
  readonly relay: BenchRelay;
  readonly probeFile: string;
  readonly bigDoc: string;
  readonly smallDoc: string;
  readonly joinContent: boolean;
}

async function startTarget(build: Build, pgUrl: string, admin: postgres.Sql, packed: boolean): Promise<Target> {
  const database = `bench_bigdoc_${build.name}_${randomUUID().slice(0, 8)}`;
  await admin.unsafe(`CREATE DATABASE ${database}`);
  const url = pgUrl.replace(/\/[^/]*$/, `/${database}`);
  const probeFile = join(mkdtempSync(join(tmpdir(), 'relay-bench-loop-')), 'event-loop.json');
  const relay = await startBenchRelay(
    {
      DATABASE_URL: url,
      BENCH_EVENT_LOOP_FILE: probeFile,
      DOCUMENT_IDLE_SECS: '1',
      RATE_LIMIT_BYTES_PER_SEC: String(2 ** 30),
      RATE_LIMIT_BYTES_BURST: String(2 ** 30),
      // The rejoin from revision 0 as changes is a 7 MiB frame: past the default 4 MiB a client is dropped.
      MAX_BACKPRESSURE_BYTES: String(64 * 2 ** 20),
    },
    build.main,
    PROBE_ARGS,
  );
  // The relay has migrated the database; the document goes straight into the op log.
  const sql = connectDatabase(url, { max: 2, maxLifetimeSecs: 3600, idleTimeoutSecs: 600 });
  const bigDoc = randomUUID();
  const t0 = performance.now();
  await seedBigDocument(sql, bigDoc, BIG, randomUUID(), 'seed', packed);
  await sql.end();
  console.log(`  ${build.name}: seeded ${BIG.ops.toLocaleString('en-US')} ops in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { relay, probeFile, bigDoc, smallDoc: randomUUID(), joinContent: packed };
}

/** The relay's event-loop delay since the previous call (its probe starts over each time). */
function eventLoopDelay(target: Target): Promise<EventLoopDelay | undefined> {
  const pid = target.relay.child.pid;
  return pid === undefined ? Promise.resolve(undefined) : readEventLoopDelay(pid, target.probeFile);
}

async function loadedDocuments(target: Target): Promise<number> {
  return ((await (await fetch(`${target.relay.url}/health`)).json()) as { active_documents: number }).active_documents;
}

interface JoinFigures {
  readonly coldMs: number[];
  /** From the cold join to the ack of a change sent as soon as the joined frame arrived. */
  readonly firstEditMs: number[];
  readonly coldBytes: number;
  readonly coldForm: string;
  readonly rejoinMs: number[];
  readonly rejoinBytes: number;
  readonly rejoinForm: string;
  /** What the loaded document adds to the relay's heap and RSS (after a full collection). */
  readonly heldBytes: { readonly heap: number; readonly rss: number } | undefined;
}

async function measureJoins(target: Target): Promise<JoinFigures> {
  const coldMs: number[] = [];
  const firstEditMs: number[] = [];
  const actor = randomUUID();
  let coldBytes = 0;
  let coldForm = '';
  const client = await Client.open(target.relay.wsUrl, await devToken(target.relay.url, 'joiner'));
  // Memory first, on a relay that never loaded the document (later, RSS would also move with
  // what the allocator kept from earlier loads): heap and RSS after a full collection, unloaded
  // and then held open by this client (joined as the SDK joins).
  const unloaded = (await eventLoopDelay(target))?.memory;
  client.firstJoin(target.bigDoc);
  await client.next((f) => f.type === 'joined');
  const loaded = (await eventLoopDelay(target))?.memory;
  const heldBytes = unloaded && loaded ? { heap: loaded.heapUsedBytes - unloaded.heapUsedBytes, rss: loaded.rssBytes - unloaded.rssBytes } : undefined;
  client.send({ type: 'leave', doc: target.bigDoc });
  await client.next((f) => f.type === 'left');
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < 100 && (await loadedDocuments(target)) > 0; i++) await sleep(100);
    const t0 = performance.now();
    client.firstJoin(target.bigDoc);
    const joined = await client.next((f) => f.type === 'joined');
    coldMs.push(joined.at - t0);
    coldBytes = joined.bytes;
    coldForm = joined.frame.snapshot !== undefined ? 'snapshot + changes' : 'content';
    client.send({ type: 'change', doc: target.bigDoc, clock: { actor, seq: round + 1, rev: Number(joined.frame.rev) }, ops: [{ type: 'insert', pos: 0, text: 'c' }] });
    firstEditMs.push((await client.next((f) => f.type === 'ack')).at - t0);
    client.send({ type: 'leave', doc: target.bigDoc });
    await client.next((f) => f.type === 'left');
  }
  // Rejoins from revision 0 while another member keeps the document loaded.
  const holder = await Client.open(target.relay.wsUrl, await devToken(target.relay.url, 'holder'));
  holder.firstJoin(target.bigDoc);
  await holder.next((f) => f.type === 'joined');
  const rejoinMs: number[] = [];
  let rejoinBytes = 0;
  let rejoinForm = '';
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = performance.now();
    client.send(target.joinContent ? { type: 'join', doc: target.bigDoc, rev: 0, acceptContent: true } : { type: 'join', doc: target.bigDoc, rev: 0 });
    const joined = await client.next((f) => f.type === 'joined');
    rejoinMs.push(joined.at - t0);
    rejoinBytes = joined.bytes;
    rejoinForm = joined.frame.content !== undefined ? 'content' : 'changes';
    client.send({ type: 'leave', doc: target.bigDoc });
    await client.next((f) => f.type === 'left');
  }
  holder.close();
  client.close();
  return { coldMs, firstEditMs, coldBytes, coldForm, rejoinMs, rejoinBytes, rejoinForm, heldBytes };
}

interface LoadFigures {
  readonly opsPerSec: number;
  readonly ackP50Ms: number;
  readonly ackP99Ms: number;
  readonly joins: number;
  readonly loopP99Ms: number | undefined;
  readonly loopMaxMs: number | undefined;
}

interface Writer {
  readonly client: Client;
  readonly doc: string;
  readonly index: number;
  /** The head as this writer knows it, and the document length (every writer only inserts). */
  rev: number;
  length: number;
}

/** A writer joined to `doc` (before the clock starts: joining a large document is not writing). */
async function openWriter(target: Target, doc: string, index: number): Promise<Writer> {
  const client = await Client.open(target.relay.wsUrl, await devToken(target.relay.url, `writer-${index}`));
  client.send({ type: 'join', doc });
  const joined = (await client.next((f) => f.type === 'joined' || f.type === 'error', 120_000, `writer ${index}'s joined`)).frame;
  if (joined.type === 'error') throw new Error(`writer ${index}: join refused: ${String(joined.code)}: ${String(joined.message)}`);
  const length = Array.isArray(joined.content) ? (joined.content as { text: string }[]).reduce((n, r) => n + r.text.length, 0) : 0;
  const writer: Writer = { client, doc, index, rev: Number(joined.rev), length };
  client.ws.on('message', (data: Buffer) => {
    const f = JSON.parse(data.toString()) as Frame;
    if (f.type === 'change') {
      writer.rev = Math.max(writer.rev, Number(f.rev) + (f.ops as unknown[]).length);
      writer.length += (f.ops as unknown[]).length;
    }
  });
  return writer;
}

/** A single-character insert at a random position, one in flight, until `until`. */
async function write(w: Writer, until: number, acks: number[]): Promise<void> {
  const { client, doc, index } = w;
  const actor = randomUUID();
  for (let seq = 1; performance.now() < until; seq++) {
    const t0 = performance.now();
    client.send({ type: 'change', doc, clock: { actor, seq, rev: w.rev }, ops: [{ type: 'insert', pos: Math.floor(Math.random() * (w.length + 1)), text: 'x' }] });
    const ack = (await client.next((f) => (f.type === 'ack' && f.seq === seq) || f.type === 'error', 120_000, `writer ${index}'s ack of ${seq}`)).frame;
    if (ack.type === 'error') throw new Error(`writer ${index}: ${String(ack.code)}: ${String(ack.message)}`);
    acks.push(performance.now() - t0);
    w.rev = Math.max(w.rev, Number(ack.rev) + Number(ack.count));
    w.length += 1;
    client.inbox.length = 0;
  }
  client.close();
}

/** Joins and leaves `doc` once every JOIN_EVERY_MS until `until`; returns how many joins completed. */
async function joinLoop(target: Target, doc: string, until: number): Promise<number> {
  const client = await Client.open(target.relay.wsUrl, await devToken(target.relay.url, 'looper'));
  let joins = 0;
  for (let next = performance.now(); performance.now() < until; next += JOIN_EVERY_MS) {
    await sleep(Math.max(0, next - performance.now()));
    client.firstJoin(doc);
    await client.next((f) => f.type === 'joined');
    client.send({ type: 'leave', doc });
    await client.next((f) => f.type === 'left');
    client.inbox.length = 0;
    joins++;
  }
  client.close();
  return joins;
}

async function measureLoad(target: Target, doc: string, joining: boolean): Promise<LoadFigures> {
  const acks: number[] = [];
  // One after another. A writer's socket was sometimes dropped (1006) 1 ms after its hello,
  // before its join was read: not backpressure but a uWebSockets bug in upgrades made inside
  // res.cork() after an await (uNetworking/uWebSockets#1928). Relays since 15ed8f7 upgrade
  // synchronously when the token's key is held, as here; a "before" build older than that can
  // still end a run this way.
  const writers: Writer[] = [];
  for (let i = 0; i < WRITERS; i++) writers.push(await openWriter(target, doc, i));
  await eventLoopDelay(target);
  const start = performance.now();
  const until = start + SECS * 1000;
  const [joins] = await Promise.all([joining ? joinLoop(target, doc, until) : Promise.resolve(0), ...writers.map((w) => write(w, until, acks))]);
  const elapsed = (performance.now() - start) / 1000;
  const loop = await eventLoopDelay(target);
  const sorted = [...acks].sort((a, b) => a - b);
  return { opsPerSec: acks.length / elapsed, ackP50Ms: percentile(sorted, 50), ackP99Ms: percentile(sorted, 99), joins: joins ?? 0, loopP99Ms: loop?.p99Ms, loopMaxMs: loop?.maxMs };
}

/** The small document: 1,000 characters in one change, committed through the relay. */
async function seedSmall(target: Target): Promise<void> {
  const client = await Client.open(target.relay.wsUrl, await devToken(target.relay.url, 'small-seed'));
  client.send({ type: 'join', doc: target.smallDoc });
  await client.next((f) => f.type === 'joined');
  client.send({ type: 'change', doc: target.smallDoc, clock: { actor: randomUUID(), seq: 1, rev: 0 }, ops: [{ type: 'insert', pos: 0, text: 'y'.repeat(1000) }] });
  await client.next((f) => f.type === 'ack');
  client.close();
}

const ms = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '–' : v < 10 ? v.toFixed(1) : v.toFixed(0));
const kib = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KiB`;

async function main(): Promise<void> {
  console.log(`# bench:bigdoc — ${describeEnvironment()}`);
  console.log(`document: ${BIG.ops.toLocaleString('en-US')} ops, ${BIG.chars.toLocaleString('en-US')} chars, ${BIG.ops.toLocaleString('en-US')} runs, snapshot ${BIG.tailOps} ops before the head; ${WRITERS} writers, ${SECS} s per phase, ${ROUNDS} join rounds`);
  const builds: Build[] = [{ name: 'after', main: resolve(import.meta.dirname, '../src/main.js') }];
  if (process.env.BENCH_BEFORE_MAIN) builds.unshift({ name: 'before', main: process.env.BENCH_BEFORE_MAIN });
  const pg = await startBenchPostgres();
  const admin = postgres(pg.url, { max: 1, onnotice: () => undefined });
  const rows: { build: string; joins: JoinFigures; small: LoadFigures; big: LoadFigures; bigJoined: LoadFigures }[] = [];
  try {
    for (const build of builds) {
      // A build older than the packed form (BENCH_BEFORE_RUN_LIST=1) cannot read one: it gets the run-list snapshot it writes.
      const target = await startTarget(build, pg.url, admin, build.name === 'after' || process.env.BENCH_BEFORE_RUN_LIST !== '1');
      try {
        const joins = await measureJoins(target);
        console.log(`  ${build.name}: joins measured`);
        await seedSmall(target);
        const small = await measureLoad(target, target.smallDoc, false);
        console.log(`  ${build.name}: small document measured`);
        const big = await measureLoad(target, target.bigDoc, false);
        console.log(`  ${build.name}: big document measured`);
        const bigJoined = await measureLoad(target, target.bigDoc, true);
        rows.push({ build: build.name, joins, small, big, bigJoined });
      } finally {
        await target.relay.stop();
      }
    }
  } finally {
    await admin.end();
    await pg.stop();
  }
  console.log('\n## Joins of the big document (median of rounds)\n');
  console.log('| build | cold join | first edit acked | joined frame | sent as | rejoin from rev 0 | its frame | sent as |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.build} | ${ms(median(r.joins.coldMs))} ms | ${ms(median(r.joins.firstEditMs))} ms | ${kib(r.joins.coldBytes)} | ${r.joins.coldForm} | ${ms(median(r.joins.rejoinMs))} ms | ${kib(r.joins.rejoinBytes)} | ${r.joins.rejoinForm} |`);
  const mib = (bytes: number | undefined): string => (bytes === undefined ? '–' : `${(bytes / 2 ** 20).toFixed(1)} MiB`);
  console.log('\n## Memory held by the loaded big document (relay heap and RSS after a full collection, loaded minus unloaded)\n');
  console.log('| build | heap | RSS |');
  console.log('|---|---|---|');
  for (const r of rows) console.log(`| ${r.build} | ${mib(r.joins.heldBytes?.heap)} | ${mib(r.joins.heldBytes?.rss)} |`);
  console.log(`\n## Committed ops/s, ${WRITERS} writers, one change in flight each (the last phase: one more client joins every ${JOIN_EVERY_MS} ms)\n`);
  console.log('| build | document | ops/s | ack p50 | ack p99 | joins done | event loop p99 | max | big/small ops/s |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const phases = [['1,000 chars', r.small], ['1M chars, 100k runs', r.big], ['1M chars, 100k runs, joined repeatedly', r.bigJoined]] as const;
    for (const [label, f] of phases) {
      const ratio = f === r.small ? '' : `${(f.opsPerSec / r.small.opsPerSec).toFixed(2)}× (target ≥ 0.5)`;
      console.log(`| ${r.build} | ${label} | ${f.opsPerSec.toFixed(0)} | ${ms(f.ackP50Ms)} ms | ${ms(f.ackP99Ms)} ms | ${f.joins} | ${ms(f.loopP99Ms)} ms | ${ms(f.loopMaxMs)} ms | ${ratio} |`);
    }
  }
  console.log('\nTargets: cold join < 50 ms; big-document ops/s within 2× of the small one; event-loop p99 ≤ 10 ms on the big document.');
}

await main();
