// What the client and the broker share of the transport and package users do not: the end-of-tick scheduler both
// flush their writes with, and the PROXY signature check a listener sniffs first bytes with. Browser-safe, like
// `browser.ts`: the browser client's connection uses `atTickEnd`.
export { startsWithProxySignature } from './proxy-protocol.js';
export { atTickEnd } from './tick-end.js';
export { asBuffer } from './node-bytes.js';
