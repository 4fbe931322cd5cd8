import { StoreRejected } from '../engine/ports.js';

export { StoreRejected };

/** SQLSTATE of a unique violation: on the op log, another writer took the revision first. */
export const UNIQUE_VIOLATION = '23505';

/** The SQLSTATE PostgreSQL reported, if the error came from the server (not from the connection). */
export function sqlStateOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const code = (err as { code: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * True when PostgreSQL refused the statement because of the values in it, which no retry can
 * change: data exceptions (class 22: a NUL character, invalid text, out-of-range numbers),
 * integrity constraint violations (class 23) other than unique violations, and program limits
 * (class 54: e.g. a jsonb value past 256 MB). Everything else (connection errors, shutdown,
 * serialization failures, out of memory or disk) may pass: it counts as an outage.
 */
export function isPermanentRejection(err: unknown): boolean {
  const state = sqlStateOf(err);
  if (state === undefined || state === UNIQUE_VIOLATION) return false;
  return state.startsWith('22') || state.startsWith('23') || state.startsWith('54');
}

/** Rethrows a permanent rejection as StoreRejected (with PostgreSQL's message: it names the problem, never a whole value); anything else as is. */
export function rethrowStoreError(err: unknown): never {
  if (isPermanentRejection(err)) {
    const message = err instanceof Error ? err.message : 'value refused';
    throw new StoreRejected(`PostgreSQL refused the value: ${message}`, sqlStateOf(err));
  }
  throw err;
}
