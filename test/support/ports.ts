export { freePort } from '../../harness/ports.js';
