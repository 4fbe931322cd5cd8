/** Pure operational-transform core of Relay: shared by the server and the client SDK. */
export type {
  AttributeValue,
  Attributes,
  Change,
  DeleteOp,
  DocState,
  FormatOp,
  InsertOp,
  Op,
  OpType,
  Run,
  Selection,
} from './types.js';
export { OtError, type OtErrorCode } from './errors.js';
export { isWellFormedText } from './text.js';
export { docFromText, docLength, docText, emptyDoc, normalize } from './doc.js';
export { Doc } from './document.js';
export { MAX_ATTRIBUTE_KEY_LENGTH, validateChange, validateChangeShape } from './validate.js';
export { apply } from './apply.js';
export { oppositeSide, transform, transformChanges, type Side } from './transform.js';
export { compactChange, compose } from './compose.js';
export { invert } from './invert.js';
export { transformPosition, transformSelection, type Assoc } from './cursor.js';
export { changeLengthDelta, changeMemoryBytes, isNoop } from './change.js';
export { diff } from './diff.js';
