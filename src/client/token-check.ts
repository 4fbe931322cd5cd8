/*
 * Telling a refused token from a network failure. A browser cannot read the HTTP status of a
 * refused WebSocket upgrade: a 401 and an unreachable host both end as close code 1006 before
 * `open`. So when a socket closes without ever opening, the client asks the relay's token
 * check endpoint (GET <collab url>/check-token with `Authorization: Bearer <token>`, CORS
 * open to any origin): 401 means the token is bad or expired and retrying cannot help; any
 * other answer, or none, means the failure was something else and the client retries.
 */

export type TokenVerdict = { readonly valid: true } | { readonly valid: false; readonly reason: string } | { readonly valid: undefined };

/** Checks a token; `{ valid: undefined }` when the relay could not say (unreachable, an older relay). */
export type TokenChecker = (token: string) => Promise<TokenVerdict>;

/** `wss://host/collab` → `https://host/collab/check-token`; undefined for a URL it cannot map. */
export function tokenCheckUrl(collabUrl: string): string | undefined {
  let url: URL;
  try {
    url = new URL(collabUrl);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') return undefined;
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/check-token`;
  // The token travels in the header only; a query string (access_token) would end up in logs.
  url.search = '';
  return url.toString();
}

type FetchLike = (url: string, init: { headers: Record<string, string>; cache: 'no-store' }) => Promise<{ status: number; json(): Promise<unknown> }>;

export function httpTokenChecker(url: string, fetchImpl: FetchLike | undefined = globalThis.fetch as FetchLike | undefined): TokenChecker {
  return async (token) => {
    if (!fetchImpl) return { valid: undefined };
    try {
      const res = await fetchImpl(url, { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
      if (res.status === 200) return { valid: true };
      if (res.status !== 401) return { valid: undefined };
      const body = await res.json().catch(() => undefined);
      const message = typeof body === 'object' && body !== null && 'message' in body && typeof body.message === 'string' ? body.message : 'the relay refused the token';
      return { valid: false, reason: message };
    } catch {
      return { valid: undefined };
    }
  };
}
