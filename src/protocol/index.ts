export * from './codes.js';
export * from './limits.js';
export * from './messages.js';
/** Not the schema-only reference decoder: that one is for the differential test and the benchmark. */
export { decodeClientMessage, type DecodeResult } from './decode.js';
export * from './presence-data.js';
