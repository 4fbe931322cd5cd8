export * from './codes.js';
export * from './limits.js';
export * from './messages.js';
export * from './decode.js';
export * from './presence-data.js';
