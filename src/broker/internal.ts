// What other parts of culex use of the broker and package users do not: the log limiter and loopback test the
// connection guard (auth) shares, a retained message's own copy of its payload, and the store's record codec,
// which the cluster's journal writes its entries with.
export { LogLimiter } from './logger.js';
export { withOwnPayload } from './message.js';
export { isLoopback } from './options.js';
export {
  decodeOutgoing,
  decodeRetained,
  decodeSession,
  decodeSubscription,
  encodeSession,
  encodeSubscription,
  outgoingSize,
  retainedSize,
  seal,
  writeOutgoing,
  writeRetained,
} from './store/record-codec.js';
export { version } from './version.js';
