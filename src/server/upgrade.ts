import type uWS from 'uWebSockets.js';
import { PROTOCOL, TOKEN_PROTOCOL_PREFIX } from '../protocol/codes.js';
import { remoteAddress } from './http.js';

export interface UpgradeRequest {
  readonly token: string | undefined;
  /** The subprotocol to answer with: ours when the client offered it, else none. */
  readonly protocol: string;
  readonly offeredProtocols: boolean;
  readonly key: string;
  readonly extensions: string;
  readonly remoteAddress: string;
}

/**
 * Reads what the upgrade needs from the request. uWS invalidates `req` at the first await, so
 * this runs synchronously before authentication.
 *
 * The token comes from a `bearer.<jwt>` subprotocol entry (browsers cannot set headers on a
 * WebSocket) or, failing that, the `access_token` query parameter.
 */
export function readUpgradeRequest(res: uWS.HttpResponse, req: uWS.HttpRequest): UpgradeRequest {
  const protocols = req
    .getHeader('sec-websocket-protocol')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  const fromProtocol = protocols.find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX))?.slice(TOKEN_PROTOCOL_PREFIX.length);
  const fromQuery = req.getQuery('access_token');
  return {
    token: fromProtocol || fromQuery || undefined,
    protocol: protocols.includes(PROTOCOL) ? PROTOCOL : '',
    offeredProtocols: protocols.length > 0,
    key: req.getHeader('sec-websocket-key'),
    extensions: req.getHeader('sec-websocket-extensions'),
    remoteAddress: remoteAddress(res),
  };
}
