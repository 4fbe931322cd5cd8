/**
 * The operation model shared by server and client. Positions and lengths count UTF-16 code
 * units, which is what browser editors use.
 */

export type AttributeValue = string | number | boolean | null;

/** Text attributes such as `{ bold: true }`. In a format op, `null` removes the attribute. */
export type Attributes = Readonly<Record<string, AttributeValue>>;

export interface InsertOp {
  readonly type: 'insert';
  readonly pos: number;
  readonly text: string;
  readonly attrs?: Attributes;
}

export interface DeleteOp {
  readonly type: 'delete';
  readonly pos: number;
  readonly len: number;
}

export interface FormatOp {
  readonly type: 'format';
  readonly pos: number;
  readonly len: number;
  readonly attrs: Attributes;
}

export type Op = InsertOp | DeleteOp | FormatOp;
export type OpType = Op['type'];

/** 1..OPERATION_BATCH_SIZE ops applied in order, atomically. */
export type Change = readonly Op[];

/** A stretch of text whose characters share the same attributes. */
export interface Run {
  readonly text: string;
  readonly attrs?: Attributes;
}

/**
 * A document: normalized runs (no empty run, no two neighbours with equal attributes, no
 * attribute whose value is null).
 */
export type DocState = readonly Run[];

/** A caret (anchor === head) or a selection. */
export interface Selection {
  readonly anchor: number;
  readonly head: number;
}
