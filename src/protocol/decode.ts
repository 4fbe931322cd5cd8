import { ErrorCode } from './codes.js';
import { quickDecode } from './decode-fast.js';
import { isFields } from './field-checks.js';
import { clientMessageSchemas, type ClientMessage, type ClientMessageType } from './messages.js';

export type DecodeResult =
  | { readonly ok: true; readonly message: ClientMessage }
  | { readonly ok: false; readonly code: ErrorCode; readonly message: string; readonly ref?: string; readonly doc?: string };

/** A parsed JSON object and its `type`, or why the frame is not one. */
type Envelope = { readonly ok: true; readonly value: Readonly<Record<string, unknown>>; readonly type: ClientMessageType } | Extract<DecodeResult, { ok: false }>;

function isMessageType(t: string): t is ClientMessageType {
  return Object.hasOwn(clientMessageSchemas, t);
}

function openEnvelope(text: string): Envelope {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: ErrorCode.badMessage, message: 'frame is not valid JSON' };
  }
  if (!isFields(value)) return { ok: false, code: ErrorCode.badMessage, message: 'a message must be a JSON object' };
  const type = value.type;
  if (typeof type !== 'string') return { ok: false, code: ErrorCode.badMessage, message: 'a message needs a string "type"' };
  if (!isMessageType(type)) return { ok: false, code: ErrorCode.unknownType, message: `unknown message type "${type.slice(0, 40)}"`, ref: type.slice(0, 40) };
  return { ok: true, value, type };
}

/** The zod schema's verdict: the reference for what is accepted and for every error message. */
function decodeBySchema(type: ClientMessageType, value: Readonly<Record<string, unknown>>): DecodeResult {
  const parsed = clientMessageSchemas[type].safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length ? issue.path.join('.') : type;
    const doc = value.doc;
    return {
      ok: false,
      code: ErrorCode.badMessage,
      message: `${where}: ${issue?.message ?? 'invalid'}`,
      ref: type,
      ...(typeof doc === 'string' && doc.length <= 64 ? { doc } : {}),
    };
  }
  return { ok: true, message: parsed.data as ClientMessage };
}

/**
 * Parses one text frame from a client. Never throws: every failure names what was wrong.
 * Plain changes and presence updates take a hand-checked path (decode-fast.ts); everything else,
 * and every refusal, is the schema's.
 */
export function decodeClientMessage(text: string): DecodeResult {
  const envelope = openEnvelope(text);
  if (!envelope.ok) return envelope;
  const quick = quickDecode(envelope.type, envelope.value);
  return quick ? { ok: true, message: quick } : decodeBySchema(envelope.type, envelope.value);
}

/**
 * The same decoder with the schema alone, as it was before the hand-checked path: the reference
 * the differential test and `npm run bench:decode` compare decodeClientMessage with.
 */
export function decodeClientMessageBySchema(text: string): DecodeResult {
  const envelope = openEnvelope(text);
  return envelope.ok ? decodeBySchema(envelope.type, envelope.value) : envelope;
}
