import { ErrorCode } from './codes.js';
import { clientMessageSchemas, type ClientMessage, type ClientMessageType } from './messages.js';

export type DecodeResult =
  | { readonly ok: true; readonly message: ClientMessage }
  | { readonly ok: false; readonly code: ErrorCode; readonly message: string; readonly ref?: string; readonly doc?: string };

function isMessageType(t: string): t is ClientMessageType {
  return Object.hasOwn(clientMessageSchemas, t);
}

/** Parses one text frame from a client. Never throws: every failure names what was wrong. */
export function decodeClientMessage(text: string): DecodeResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: ErrorCode.badMessage, message: 'frame is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: ErrorCode.badMessage, message: 'a message must be a JSON object' };
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string') return { ok: false, code: ErrorCode.badMessage, message: 'a message needs a string "type"' };
  if (!isMessageType(type)) return { ok: false, code: ErrorCode.unknownType, message: `unknown message type "${type.slice(0, 40)}"`, ref: type.slice(0, 40) };
  const parsed = clientMessageSchemas[type].safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length ? issue.path.join('.') : type;
    const doc = (value as { doc?: unknown }).doc;
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
