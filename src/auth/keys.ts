import type { KeySet } from './key-set.js';

/** Where verification keys come from: the identity service's JWKS, or the development key. */
export interface KeySource {
  /** The keys held now: a token whose key is among them is verified without waiting. */
  current(): KeySet;
  /**
   * Called when no held key fits a token (an unknown `kid`): a fetch of the key set, settled
   * when it is done (a successful one makes `current()` a new set), or undefined when no fetch
   * runs now (development keys; a remote set within its refetch cooldown).
   */
  refetch(): Promise<void> | undefined;
  /** True once at least one key is cached; readiness reports it. */
  hasKeys(): boolean;
  /** One word for logs and readiness: `remote` or `development`. */
  readonly kind: 'remote' | 'development';
  close(): void;
}
