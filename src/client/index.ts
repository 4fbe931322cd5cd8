/**
 * The Relay client SDK for editors: browsers and Node.
 *
 * ```ts
 * const client = new RelayClient({ url: 'wss://relay.example.com/collab', token: getToken });
 * const doc = await client.open(documentId);
 * doc.insert(0, 'Hello');
 * doc.on('change', ({ ops }) => editor.applyRemote(ops));
 * ```
 */
export { RelayClient, type RelayClientOptions, type ClientEvents, type WebSocketConstructor, type WebSocketLike } from './client.js';
export { DocumentSession, type CloseReason, type DocumentError, type DocumentEvents, type Role } from './document.js';
/** An open document, as `open()` returns it. */
export type { DocumentSession as DocumentHandle } from './document.js';
export type { RemotePresence } from './presence.js';
export type { Logger } from './logger.js';
export { WIRE_LIMITS } from '../protocol/limits.js';
export { transformPosition, transformSelection, apply, docText, docLength, OtError, invert, transform, compose } from '../ot/index.js';
export type { Side } from '../ot/index.js';
export type { ClientStatus, ConnectionState } from './status.js';
export { UnauthorizedError } from './status.js';
export type { TokenChecker, TokenVerdict } from './token-check.js';
export { UndoManager, type UndoOptions } from './undo.js';
export type { Attributes, Change, DocState, Op, Run, Selection } from '../ot/types.js';
export type { PresenceData, PresenceDataValue, UserInfo } from '../protocol/wire.js';
export { PRESENCE_DATA_LIMITS } from '../protocol/presence-data.js';
