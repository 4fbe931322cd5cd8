import { ErrorCode } from '../protocol/codes.js';

/** A rejection the client is told about: a protocol error code and a reason safe to show. */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}
