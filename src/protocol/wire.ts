import type { Attributes, Change, DocState, Selection } from '../ot/types.js';
import type { PackedContent } from '../ot/packed.js';
import type { ErrorCode } from './codes.js';

/*
 * The wire messages as plain types, in both directions. Type-only on purpose: the client SDK
 * and its published declarations import these, so a browser bundle or a consumer's type check
 * never meets zod. The relay's decoders (messages.ts) are checked against these at compile time.
 */

// ---- client → relay ---------------------------------------------------------------------------
// Type aliases rather than interfaces: each is a plain JSON record, and can be viewed as one.

export type JoinMessage = {
  type: 'join';
  /** A UUID (the relay lower-cases it). */
  doc: string;
  /** The revision the client already has: the relay then sends only what it missed. */
  rev?: number;
  /**
   * With `rev`: the client takes the content at the head instead of the changes since `rev`
   * when the relay finds that smaller. Only sent to a relay whose `hello` lists the
   * `join_content` feature; without it a rejoin always gets changes.
   */
  acceptContent?: boolean;
  /**
   * Without `rev` (a first join): the client takes the document as the relay's latest snapshot
   * in its packed form plus the changes committed since (`joined.snapshot`), which the relay
   * sends without serialising the document. Only sent to a relay whose `hello` lists the
   * `packed_join` feature; the relay may still answer with `content`.
   */
  packed?: boolean;
};

export type LeaveMessage = {
  type: 'leave';
  doc: string;
};

export type ChangeMessage = {
  type: 'change';
  doc: string;
  clock: { actor: string; seq: number; rev: number };
  ops: Change;
};

/** A JSON value inside a presence payload. */
export type PresenceDataValue = string | number | boolean | null | readonly PresenceDataValue[] | { readonly [key: string]: PresenceDataValue };

/**
 * An application's own presence fields (avatar, viewport, mode…), relayed as they are to the
 * others in the document. A JSON object of at most PRESENCE_DATA_MAX_BYTES (see presence-data.ts).
 */
export interface PresenceData {
  readonly [key: string]: PresenceDataValue;
}

export type PresenceMessage = {
  type: 'presence';
  doc: string;
  /** The revision the selection refers to. */
  rev: number;
  /** Left out: unchanged; null: no cursor in the document. */
  selection?: Selection | null;
  typing?: boolean;
  /** Left out: unchanged; null: removed. */
  data?: PresenceData | null;
};

export type AuthMessage = {
  type: 'auth';
  token: string;
};

export type PingMessage = {
  type: 'ping';
  id?: string | number;
};

export type ClientMessage = JoinMessage | LeaveMessage | ChangeMessage | PresenceMessage | AuthMessage | PingMessage;
export type ClientMessageType = ClientMessage['type'];

// ---- relay → client ---------------------------------------------------------------------------

/** What a user may do in a document: read it, edit it, or also manage its members. */
export type Role = 'viewer' | 'editor' | 'owner';

export interface UserInfo {
  readonly id: string;
  readonly name: string;
  readonly color: string;
}

export interface PresenceState {
  /** The connection's session id (one user may have several tabs). */
  readonly session: string;
  readonly user: UserInfo;
  /** At the revision of the message that carries it; null when the user has no cursor in the document. */
  readonly selection: Selection | null;
  readonly typing: boolean;
  /** The application's payload the user last sent; absent when none. */
  readonly data?: PresenceData;
}

/** A change as committed: its ops occupy revisions rev+1 .. rev+ops.length. */
export interface CommittedChangeWire {
  readonly rev: number;
  readonly ops: Change;
  readonly clock: { readonly actor: string; readonly seq: number };
  readonly user: string;
}

/** A document as stored in a snapshot (PackedContent: its text once and a run table) at revision `rev`. */
export type PackedSnapshotWire = PackedContent & { readonly rev: number };

/** What the relay announces in `hello`: per change, per frame, and how often to send presence and pings. */
export interface HelloLimits {
  readonly maxOps: number;
  readonly maxMessageBytes: number;
  readonly cursorThrottleMs: number;
  readonly heartbeatIntervalSecs: number;
}

export type ServerMessage =
  /** `features`: optional protocol additions this relay understands (`join_content`, `packed_join`: see JoinMessage). */
  | { type: 'hello'; protocol: 1; session: string; user: UserInfo; limits: HelloLimits; features?: string[] }
  /**
   * The document at `rev` is one of: `content`; the client's copy at the join's `rev` plus
   * `changes`; or `snapshot` plus `changes` (the ones after `snapshot.rev`, up to `rev`).
   */
  | { type: 'joined'; doc: string; rev: number; role: Role; presence: PresenceState[]; content?: DocState; changes?: CommittedChangeWire[]; snapshot?: PackedSnapshotWire }
  /**
   * `reason: 'revoked'`: the relay removed the client because its role on the document was revoked.
   * `reason: 'rejoin_refused'`: a join of a document the connection had joined was refused (the
   * error before it says why); the connection is no longer joined to it.
   */
  | { type: 'left'; doc: string; reason?: 'revoked' | 'rejoin_refused' }
  /** The client's role on a joined document changed (a grant through the management API). */
  | { type: 'role'; doc: string; role: Role }
  | ({ type: 'change'; doc: string } & CommittedChangeWire)
  /** The change occupies revisions rev+1 .. rev+count: transform can split ops or remove them all, so count may differ from what was sent. */
  | { type: 'ack'; doc: string; seq: number; rev: number; count: number }
  | ({ type: 'presence'; doc: string; rev: number } & PresenceState)
  | { type: 'presence_left'; doc: string; session: string }
  | { type: 'auth_ok'; expires_at: number | null }
  | { type: 'pong'; id?: string | number }
  | { type: 'shutdown'; reconnect_after_ms: number }
  | { type: 'error'; code: ErrorCode; message: string; doc?: string; seq?: number; ref?: string };

export type { Attributes };
