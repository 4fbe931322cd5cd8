/**
 * The keystrokes each benchmark client typed since its last change, with whether each was typed
 * inside the measurement window. A client composes what is typed while a change is in flight
 * into its next change, so a keystroke's latency includes that wait: what the person at the
 * next screen sees. Shared by bench/typing-tracker.ts and bench/replicas-tracker.ts.
 */
export interface Keystrokes {
  readonly times: number[];
  readonly measured: boolean[];
}

export class UnsentKeystrokes {
  private readonly byClient: Keystrokes[];

  constructor(
    clients: number,
    private readonly window: { readonly measuring: boolean },
  ) {
    this.byClient = Array.from({ length: clients }, () => ({ times: [], measured: [] }));
  }

  /** Records a keystroke of `client` typed at `at`; false for a client this tracker does not know. */
  typed(client: number, at: number): boolean {
    const keys = this.byClient[client];
    if (!keys) return false;
    keys.times.push(at);
    keys.measured.push(this.window.measuring);
    return true;
  }

  /** The keystrokes a change `client` just sent carries, no longer unsent; undefined when there are none. */
  take(client: number): Keystrokes | undefined {
    const keys = this.byClient[client];
    if (!keys || keys.times.length === 0) return undefined;
    this.byClient[client] = { times: [], measured: [] };
    return keys;
  }

  /** Keystrokes typed and not yet sent, all clients. */
  get count(): number {
    return this.byClient.reduce((n, keys) => n + keys.times.length, 0);
  }
}
