import { fork, type ChildProcess } from 'node:child_process';

/*
 * Load generators run in processes of their own, so that the relay under test and the clients
 * loading it do not share an event loop. The parent drives every generator through the same
 * steps (setup, type, measure, stop, close) over IPC; this module is both ends of that.
 */

export type GeneratorCommand<Setup> = { kind: 'setup'; setup: Setup } | { kind: 'type' } | { kind: 'measure' } | { kind: 'stop' } | { kind: 'close' };
export type GeneratorReport<Result> = { kind: 'ready' } | { kind: 'result'; result: Result } | { kind: 'failed'; error: string };

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

/** The child's side: answers the parent's commands with the generator `create` makes at setup. */
export function serveLoadGenerator<Setup, Result>(create: (setup: Setup) => LoadGenerator<Result>): void {
  const reply = (message: GeneratorReport<Result>) => process.send?.(message);
  let generator: LoadGenerator<Result> | undefined;
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
        void generator?.drain().then((result) => reply({ kind: 'result', result }));
        return;
      case 'close':
        generator?.close();
        setTimeout(() => process.exit(0), 200).unref();
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
  /** Resolves with its report after `stop`. */
  result(): Promise<Result>;
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
    result: async () => {
      const m = await next();
      if (m.kind === 'failed') throw new Error(`load generator failed: ${m.error}`);
      if (m.kind !== 'result') throw new Error(`load generator said ${m.kind}, expected its result`);
      return m.result;
    },
  };
}
