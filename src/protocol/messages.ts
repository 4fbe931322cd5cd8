import { z } from 'zod';
import type { Attributes, Change, DocState, Selection } from '../ot/types.js';
import type { ErrorCode } from './codes.js';

/*
 * Client → relay messages are checked with zod (they are untrusted); relay → client messages
 * are plain types. The ops themselves are checked in depth by the OT layer's validateChange;
 * here only their outer shape is constrained so that nothing huge or odd gets that far.
 */

const documentId = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'doc must be a UUID').transform((s) => s.toLowerCase());
const revision = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const attributeValue = z.union([z.string().max(1024), z.number(), z.boolean(), z.null()]);
/**
 * zod's record skips a `__proto__` key (JSON.parse makes it an own property), so its value was
 * never checked and the attribute silently vanished. The raw object is checked first: every
 * own key's value must be an attribute value, and `__proto__` is refused as a name because no
 * plain object downstream could hold it as an attribute.
 */
const attributesShape = z.preprocess((raw, ctx) => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  for (const [key, value] of Object.entries(raw)) {
    if (key === '__proto__') {
      ctx.addIssue({ code: 'custom', message: 'the attribute name __proto__ is reserved', path: [key], input: raw });
    } else if (!attributeValue.safeParse(value).success) {
      ctx.addIssue({ code: 'custom', message: 'attribute values must be a string (up to 1024 characters), number, boolean or null', path: [key], input: raw });
    }
  }
  return raw;
}, z.record(z.string().min(1).max(64), attributeValue));
const attributes = attributesShape.refine((a) => Object.keys(a).length <= 32, 'at most 32 attributes');

const insertOp = z.strictObject({ type: z.literal('insert'), pos: z.number(), text: z.string(), attrs: attributes.optional() });
const deleteOp = z.strictObject({ type: z.literal('delete'), pos: z.number(), len: z.number() });
const formatOp = z.strictObject({ type: z.literal('format'), pos: z.number(), len: z.number(), attrs: attributes });
export const opSchema = z.discriminatedUnion('type', [insertOp, deleteOp, formatOp]);

const selection = z.strictObject({ anchor: z.number().int().nonnegative(), head: z.number().int().nonnegative() });

export const clientMessageSchemas = {
  /**
   * `acceptContent: true` (with `rev`): the client takes the content at the head instead of the
   * changes since `rev` when the relay finds that smaller. Only sent to a relay whose `hello`
   * lists the `join_content` feature; without it a rejoin always gets changes.
   */
  join: z.strictObject({ type: z.literal('join'), doc: documentId, rev: revision.optional(), acceptContent: z.boolean().optional() }),
  leave: z.strictObject({ type: z.literal('leave'), doc: documentId }),
  change: z.strictObject({
    type: z.literal('change'),
    doc: documentId,
    clock: z.strictObject({ actor: z.uuid(), seq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER), rev: revision }),
    ops: z.array(opSchema),
  }),
  presence: z.strictObject({
    type: z.literal('presence'),
    doc: documentId,
    rev: revision,
    selection: selection.nullable().optional(),
    typing: z.boolean().optional(),
  }),
  auth: z.strictObject({ type: z.literal('auth'), token: z.string().max(16384) }),
  ping: z.strictObject({ type: z.literal('ping'), id: z.union([z.string().max(64), z.number()]).optional() }),
} as const;

export type ClientMessageType = keyof typeof clientMessageSchemas;
export type JoinMessage = z.infer<typeof clientMessageSchemas.join>;
export type LeaveMessage = z.infer<typeof clientMessageSchemas.leave>;
export type ChangeMessage = z.infer<typeof clientMessageSchemas.change>;
export type PresenceMessage = z.infer<typeof clientMessageSchemas.presence>;
export type AuthMessage = z.infer<typeof clientMessageSchemas.auth>;
export type PingMessage = z.infer<typeof clientMessageSchemas.ping>;
export type ClientMessage = JoinMessage | LeaveMessage | ChangeMessage | PresenceMessage | AuthMessage | PingMessage;

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
}

/** A change as committed: its ops occupy revisions rev+1 .. rev+ops.length. */
export interface CommittedChangeWire {
  readonly rev: number;
  readonly ops: Change;
  readonly clock: { readonly actor: string; readonly seq: number };
  readonly user: string;
}

export type ServerMessage =
  /** `features`: optional protocol additions this relay understands (`join_content`: see the join message). */
  | { type: 'hello'; protocol: 1; session: string; user: UserInfo; limits: { maxOps: number; maxMessageBytes: number; cursorThrottleMs: number; heartbeatIntervalSecs: number }; features?: string[] }
  | { type: 'joined'; doc: string; rev: number; role: 'viewer' | 'editor' | 'owner'; presence: PresenceState[]; content?: DocState; changes?: CommittedChangeWire[] }
  /**
   * `reason: 'revoked'`: the relay removed the client because its role on the document was revoked.
   * `reason: 'rejoin_refused'`: a join of a document the connection had joined was refused (the
   * error before it says why); the connection is no longer joined to it.
   */
  | { type: 'left'; doc: string; reason?: 'revoked' | 'rejoin_refused' }
  /** The client's role on a joined document changed (a grant through the management API). */
  | { type: 'role'; doc: string; role: 'viewer' | 'editor' | 'owner' }
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
