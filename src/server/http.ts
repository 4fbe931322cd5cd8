import type { HttpResponse } from 'uWebSockets.js';

const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: '200 OK', 201: '201 Created', 204: '204 No Content', 400: '400 Bad Request', 401: '401 Unauthorized',
  403: '403 Forbidden', 404: '404 Not Found', 405: '405 Method Not Allowed', 409: '409 Conflict',
  413: '413 Payload Too Large', 429: '429 Too Many Requests', 500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

export function statusLine(status: number): string {
  return STATUS_TEXT[status] ?? `${status} Unknown`;
}

/** Writes a whole response in one corked batch. Safe to call after an await if the request was not aborted. */
export function sendJson(res: HttpResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  res.cork(() => {
    res.writeStatus(statusLine(status)).writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store');
    for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
    res.end(JSON.stringify(body));
  });
}

export function sendText(res: HttpResponse, status: number, contentType: string, body: string): void {
  res.cork(() => {
    res.writeStatus(statusLine(status)).writeHeader('content-type', contentType).end(body);
  });
}

/**
 * Runs an async handler for a uWS response: uWS requires an abort handler before the first
 * await, and writing to an aborted response crashes the process.
 */
export function handleAsync(res: HttpResponse, handler: (state: { aborted: boolean }) => Promise<void>, onError: (err: unknown) => void): void {
  const state = { aborted: false };
  res.onAborted(() => {
    state.aborted = true;
  });
  handler(state).catch((err: unknown) => {
    onError(err);
    if (!state.aborted) sendJson(res, 500, { error: 'internal_error' });
  });
}

/** Reads a request body up to `limit` bytes; rejects with 'too_large' past it. Call before any await. */
export function readBody(res: HttpResponse, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      size += chunk.byteLength;
      if (size > limit) {
        reject(new Error('too_large'));
        return;
      }
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) resolve(Buffer.concat(chunks));
    });
  });
}

export function remoteAddress(res: HttpResponse): string {
  return Buffer.from(res.getRemoteAddressAsText()).toString();
}

/**
 * 127.0.0.0/8 and ::1, in any spelling: uWS gives addresses of an IPv6 listener ([::]) in full
 * form, with IPv4 clients mapped (0000:…:ffff:7f00:0001 for 127.0.0.1).
 */
export function isLoopback(address: string): boolean {
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address)) return true;
  if (!address.includes(':')) return false;
  let canonical: string;
  try {
    canonical = new URL(`http://[${address}]/`).hostname;
  } catch {
    return false;
  }
  return canonical === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
}
