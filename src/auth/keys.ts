import type { JWTVerifyGetKey } from 'jose';

/** Where verification keys come from: the identity service's JWKS, or the development key. */
export interface KeySource {
  readonly getKey: JWTVerifyGetKey;
  /** True once at least one key is cached; readiness reports it. */
  hasKeys(): boolean;
  /** One word for logs and readiness: `remote` or `development`. */
  readonly kind: 'remote' | 'development';
  close(): void;
}
