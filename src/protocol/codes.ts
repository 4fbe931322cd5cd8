/** Error codes carried by `{type: "error"}` messages. The connection stays open after each. */
export const ErrorCode = {
  /** Not JSON, not an object, or fields of the wrong type. */
  badMessage: 'bad_message',
  /** A `type` this protocol version does not know. */
  unknownType: 'unknown_type',
  /** A change or presence for a document this connection has not joined. */
  notJoined: 'not_joined',
  /** An op that is malformed, out of range, splits a surrogate pair, or a change with no or too many ops. */
  invalidOp: 'invalid_op',
  /** A clock that claims a revision that does not exist, skips a sequence number, or names another user's actor. */
  badClock: 'bad_clock',
  /** No role on the document, or a viewer sending ops. */
  forbidden: 'forbidden',
  /** Too many messages; slow down. */
  rateLimited: 'rate_limited',
  /** Too many documents open on one connection. */
  tooManyDocuments: 'too_many_documents',
  /** A change larger than MAX_CHANGE_BYTES (its ops as JSON, UTF-8); nothing was applied. Split it. */
  changeTooLarge: 'change_too_large',
  /** The change would grow the document past MAX_DOCUMENT_CHARS; nothing was applied. Deleting still works. */
  documentTooLarge: 'document_too_large',
  /** The relay is shutting down and accepts no new work; reconnect. */
  unavailable: 'unavailable',
  internal: 'internal_error',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** WebSocket close codes the relay uses. 4xxx are application codes. */
export const CloseCode = {
  normal: 1000,
  /** The relay is restarting (deploy, scale-down): reconnect after the advertised random delay. */
  serviceRestart: 1012,
  /** A frame larger than the limit (sent by uWebSockets.js itself). */
  messageTooBig: 1009,
  /** The token expired (and no fresh one arrived in time) or was revoked. Reconnect with a new token. */
  tokenExpired: 4001,
  /** The client could not keep up with the document's traffic. Reconnect and resume from the clock. */
  slowConsumer: 4008,
  /** No frames for HEARTBEAT_TIMEOUT_SECS. */
  heartbeatTimeout: 4009,
  /** Nothing useful (no join) within the handshake timeout. */
  handshakeTimeout: 4010,
  /** Message flood past the rate limit. */
  rateLimited: 4029,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** The WebSocket subprotocol of this protocol version. */
export const PROTOCOL = 'relay.v1';
/** Prefix of the subprotocol entry that carries the token (browsers cannot set headers). */
export const TOKEN_PROTOCOL_PREFIX = 'bearer.';
