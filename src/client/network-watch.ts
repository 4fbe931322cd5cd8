/**
 * The browser's view of the network (`online`/`offline` events, `navigator.onLine`). Going
 * offline closes the socket at once instead of waiting for a heartbeat to time out, and
 * coming back online reconnects at once instead of after a backoff delay. Outside browsers
 * (Node) it reports always online and does nothing.
 */
export class NetworkWatch {
  private readonly target: { addEventListener?: unknown; removeEventListener?: unknown } = globalThis;
  private readonly onOnline = (): void => this.handlers.online();
  private readonly onOffline = (): void => this.handlers.offline();

  constructor(private readonly handlers: { online(): void; offline(): void }) {
    if (this.available) {
      globalThis.addEventListener('online', this.onOnline);
      globalThis.addEventListener('offline', this.onOffline);
    }
  }

  /** False only when the browser says so; unknown counts as online. */
  get online(): boolean {
    const nav = (globalThis as { navigator?: { onLine?: unknown } }).navigator;
    return nav?.onLine !== false;
  }

  dispose(): void {
    if (!this.available) return;
    globalThis.removeEventListener('online', this.onOnline);
    globalThis.removeEventListener('offline', this.onOffline);
  }

  private get available(): boolean {
    return typeof this.target.addEventListener === 'function' && typeof this.target.removeEventListener === 'function' && typeof window !== 'undefined';
  }
}
