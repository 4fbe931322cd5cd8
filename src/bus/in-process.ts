import type { Bus } from './bus.js';

/**
 * A single replica needs no bus: its clients share uWS topics in this process. Every call is a
 * no-op, so the rest of the relay does not care which bus it has.
 */
export class InProcessBus implements Bus {
  readonly kind = 'in-process' as const;
  readonly ping = undefined;
  readonly leases = undefined;
  async start(): Promise<void> {}
  subscribe(): void {}
  unsubscribe(): void {}
  publishChange(): void {}
  publishPresence(): void {}
  publishPresenceLeft(): void {}
  forward(): void {}
  reply(): void {}
  async presenceOf(): Promise<[]> {
    return [];
  }
  async close(): Promise<void> {}
}
