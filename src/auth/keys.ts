import type { JWTVerifyGetKey } from 'jose';

export interface KeyState {
  /** Keys cached now. */
  readonly keys: number;
  /** When the key set was last fetched successfully (ms since the epoch); undefined for a local key. */
  readonly lastSuccessAt: number | undefined;
  /** Why the last fetch failed; undefined when it succeeded. */
  readonly lastError: string | undefined;
}

/** Where verification keys come from: the identity service's JWKS, or the development key. */
export interface KeySource {
  readonly getKey: JWTVerifyGetKey;
  /** True once at least one key is cached; readiness reports it. */
  hasKeys(): boolean;
  state(): KeyState;
  /** One word for logs and readiness: `remote` or `development`. */
  readonly kind: 'remote' | 'development';
  close(): void;
}
