/**
 * What a connection is doing, for an app to render ("offline, 3 edits pending",
 * "reconnecting in 4 s"). `at` is the epoch time in ms of the next attempt.
 */
export type ConnectionState =
  | { readonly state: 'connecting' }
  | { readonly state: 'connected' }
  /** The browser reports no network; the client waits for its `online` event. */
  | { readonly state: 'offline' }
  | { readonly state: 'reconnecting'; readonly at: number }
  /** The relay refused the token: no more retries until `reconnect()` (after a new login). */
  | { readonly state: 'unauthorized'; readonly reason: string }
  | { readonly state: 'closed' };

/** The state with the number of local edits not yet acknowledged, over all open documents. */
export type ClientStatus = ConnectionState & { readonly pending: number };

/** An error that says the relay refused this user's token (bad signature, expired, wrong audience). */
export class UnauthorizedError extends Error {
  readonly code = 'unauthorized';
  constructor(readonly reason: string) {
    super(`unauthorized: ${reason}`);
    this.name = 'UnauthorizedError';
  }
}
