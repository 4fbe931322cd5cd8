import { fork, type ChildProcess } from 'node:child_process';

/*
 * Load generators run in processes of their own, so that the relay under test and the clients
 * loading it do not share an event loop. The parent drives every generator through the same
 * steps (setup, type, measure, stop, close) over IPC; this module is both ends of that.
 */

export type GeneratorCommand<Setup> =
  | { kind: 'setup'; setup: Setup }
  | { kind: 'type' }
  | { kind: 'measure' }
  | { kind: 'stop' }
  | { kind: 'drain'; expected: TypedCounts }
  | { kind: 'close' };
export type GeneratorReport<Result> = { kind: 'ready' } | { kind: 'stopped'; typed: TypedCounts } | { kind: 'result'; result: Result } | { kind: 'failed'; error: string };

/** Keystrokes typed per document id. */
export type TypedCounts = Record<string, number>;

/** What a generator process does at each step. */
export interface LoadGenerator<Result> {
  /** Connects its clients and joins their documents. */
  open(): Promise<void>;
  /** Starts typing (warm-up). */
  type(): void;
  /** From now on, latencies count. */
  measure(): void;
  /** Stops typing. */
  stop(): void;
  /** Waits for what is in flight, then reports. */
  drain(): Promise<Result>;
  close(): void;
}

/**
 * A generator whose documents are shared with other generator processes: none of them can
 * tell alone when its clients have received everything, so after `stop` it reports what it
 * typed per document, and drains once the parent tells it what all of them typed.
 */
export interface SharedLoadGenerator<Result> extends Omit<LoadGenerator<Result>, 'drain'> {
  typed(): TypedCounts;
  drain(expected: TypedCounts): Promise<Result>;
}

/** The child's side: answers the parent's commands with the generator `create` makes at setup. */
export function serveLoadGenerator<Setup, Result>(create: (setup: Setup) => LoadGenerator<Result>): void {
  serve(create, (generator, reply) => void generator.drain().then((result) => reply({ kind: 'result', result })));
}

/** The child's side of a SharedLoadGenerator: stop → (stopped) → drain → (result). */
export function serveSharedLoadGenerator<Setup, Result>(create: (setup: Setup) => SharedLoadGenerator<Result>): void {
  serve(create, (generator, reply) => reply({ kind: 'stopped', typed: generator.typed() }), (generator, expected, reply) =>
    void generator.drain(expected).then((result) => reply({ kind: 'result', result })),
  );
}

type Reply<Result> = (message: GeneratorReport<Result>) => void;

function serve<Setup, Result, G extends Omit<LoadGenerator<Result>, 'drain'>>(
  create: (setup: Setup) => G,
  afterStop: (generator: G, reply: Reply<Result>) => void,
  drain?: (generator: G, expected: TypedCounts, reply: Reply<Result>) => void,
): void {
  const reply: Reply<Result> = (message) => process.send?.(message);
  let generator: G | undefined;
  // A parent that died (or was interrupted) leaves no generator typing on behind it.
  process.once('disconnect', () => {
    generator?.close();
    setTimeout(() => process.exit(0), 200).unref();
  });
  process.on('message', (message: GeneratorCommand<Setup>) => {
    switch (message.kind) {
      case 'setup':
        generator = create(message.setup);
        generator.open().then(
          () => reply({ kind: 'ready' }),
          (err: unknown) => reply({ kind: 'failed', error: err instanceof Error ? err.message : String(err) }),
        );
        return;
      case 'type':
        generator?.type();
        return;
      case 'measure':
        generator?.measure();
        return;
      case 'stop':
        generator?.stop();
        if (generator) afterStop(generator, reply);
        return;
      case 'drain':
        if (generator && drain) drain(generator, message.expected, reply);
        return;
      case 'close':
        // The 'disconnect' handler above closes the clients and exits.
        process.disconnect();
        return;
    }
  });
}

/** The parent's handle on one generator process. */
export interface GeneratorHandle<Setup, Result> {
  readonly child: ChildProcess;
  send(command: GeneratorCommand<Setup>): void;
  /** Resolves once the generator has set up its clients. */
  ready(): Promise<void>;
  /** Resolves with its report after `stop` (or, for a shared generator, after `drain`). */
  result(): Promise<Result>;
  /** A shared generator's answer to `stop`: what it typed per document. */
  stopped(): Promise<TypedCounts>;
}

/** Forks `script` (a module that calls serveLoadGenerator). */
export function forkLoadGenerator<Setup, Result>(script: string): GeneratorHandle<Setup, Result> {
  const child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const inbox: GeneratorReport<Result>[] = [];
  const waiting: ((m: GeneratorReport<Result>) => void)[] = [];
  child.on('message', (m: GeneratorReport<Result>) => {
    const w = waiting.shift();
    if (w) w(m);
    else inbox.push(m);
  });
  child.on('exit', (code) => {
    const failed: GeneratorReport<Result> = { kind: 'failed', error: `generator exited with ${code}` };
    for (const w of waiting.splice(0)) w(failed);
    inbox.push(failed);
  });
  const next = (): Promise<GeneratorReport<Result>> => {
    const m = inbox.shift();
    return m ? Promise.resolve(m) : new Promise((r) => waiting.push(r));
  };
  return {
    child,
    send: (command) => child.send(command),
    ready: async () => {
      const m = await next();
      if (m.kind === 'failed') throw new Error(`load generator failed: ${m.error}`);
      if (m.kind !== 'ready') throw new Error(`load generator said ${m.kind}, expected ready`);
    },
    stopped: async () => {
      const m = await next();
      if (m.kind === 'failed') throw new Error(`load generator failed: ${m.error}`);
      if (m.kind !== 'stopped') throw new Error(`load generator said ${m.kind}, expected stopped`);
      return m.typed;
    },
    result: async () => {
      const m = await next();
      if (m.kind === 'failed') throw new Error(`load generator failed: ${m.error}`);
      if (m.kind !== 'result') throw new Error(`load generator said ${m.kind}, expected its result`);
      return m.result;
    },
  };
}
