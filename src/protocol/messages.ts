import { z } from 'zod';
import { UUID_PATTERN, WIRE_LIMITS } from './limits.js';
import { isPresenceData, presenceDataProblem } from './presence-data.js';
import type { ClientMessage, ClientMessageType, PresenceData } from './wire.js';

/*
 * Client → relay messages are checked with zod (they are untrusted); the types of both
 * directions live in wire.ts, which the client imports without pulling zod in. The ops themselves are checked in depth by the OT layer's validateChange;
 * here only their outer shape is constrained so that nothing huge or odd gets that far.
 */

const documentId = z.string().regex(UUID_PATTERN, 'doc must be a UUID').transform((s) => s.toLowerCase());
const revision = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const attributeValue = z.union([z.string().max(WIRE_LIMITS.maxAttributeStringLength), z.number(), z.boolean(), z.null()]);
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
      ctx.addIssue({ code: 'custom', message: `attribute values must be a string (up to ${WIRE_LIMITS.maxAttributeStringLength} characters), number, boolean or null`, path: [key], input: raw });
    }
  }
  return raw;
}, z.record(z.string().min(1).max(WIRE_LIMITS.maxAttributeKeyLength), attributeValue));
const attributes = attributesShape.refine((a) => Object.keys(a).length <= WIRE_LIMITS.maxAttributes, `at most ${WIRE_LIMITS.maxAttributes} attributes`);

const insertOp = z.strictObject({ type: z.literal('insert'), pos: z.number(), text: z.string(), attrs: attributes.optional() });
const deleteOp = z.strictObject({ type: z.literal('delete'), pos: z.number(), len: z.number() });
const formatOp = z.strictObject({ type: z.literal('format'), pos: z.number(), len: z.number(), attrs: attributes });
export const opSchema = z.discriminatedUnion('type', [insertOp, deleteOp, formatOp]);

const selection = z.strictObject({ anchor: z.number().int().nonnegative(), head: z.number().int().nonnegative() });

/** Checked without recursion by presence-data.ts: decoding stays bounded and never throws. */
export const presenceData = z.custom<PresenceData>(isPresenceData, { error: (issue) => presenceDataProblem(issue.input) ?? 'invalid presence data' });

export const clientMessageSchemas = {
  /**
   * `acceptContent: true` (with `rev`): the client takes the content at the head instead of the
   * changes since `rev` when the relay finds that smaller. Only sent to a relay whose `hello`
   * lists the `join_content` feature; without it a rejoin always gets changes.
   * `packed: true` (without `rev`): see JoinMessage in wire.ts; ignored on a rejoin.
   */
  join: z.strictObject({ type: z.literal('join'), doc: documentId, rev: revision.optional(), acceptContent: z.boolean().optional(), packed: z.boolean().optional() }),
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
    data: presenceData.nullable().optional(),
  }),
  auth: z.strictObject({ type: z.literal('auth'), token: z.string().max(16384) }),
  ping: z.strictObject({ type: z.literal('ping'), id: z.union([z.string().max(64), z.number()]).optional() }),
} as const;

/**
 * Each schema decodes to exactly its wire type (wire.ts), both ways: a field added to one and not
 * the other fails the type check here.
 */
type Mutual<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Mutual assignability lets an optional field be missing on one side: the key sets are compared too. */
type Same<A, B> = Mutual<A, B> extends true ? Mutual<keyof A, keyof B> : false;
type Decoded<K extends ClientMessageType> = z.infer<(typeof clientMessageSchemas)[K]>;
/** The decoder's arrays are fresh, so mutable; the wire type's are readonly (a sender need not give up its own). */
type Writable<T> = { -readonly [P in keyof T]: T[P] extends readonly (infer E)[] ? E[] : T[P] };
const schemasMatchWire: { [K in ClientMessageType]: Same<Decoded<K>, Writable<Extract<ClientMessage, { type: K }>>> } = {
  join: true,
  leave: true,
  change: true,
  presence: true,
  auth: true,
  ping: true,
};
void schemasMatchWire;

export type * from './wire.js';
