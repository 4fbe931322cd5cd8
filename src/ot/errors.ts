/** Why a change was rejected. Stable strings: the protocol layer forwards them to clients. */
export type OtErrorCode =
  | 'invalid_op'
  | 'out_of_range'
  | 'surrogate_split'
  | 'empty_change'
  | 'too_many_ops';

/** Thrown for any malformed or inapplicable change; `message` is meant for humans. */
export class OtError extends Error {
  readonly code: OtErrorCode;

  constructor(code: OtErrorCode, message: string) {
    super(message);
    this.name = 'OtError';
    this.code = code;
  }
}
