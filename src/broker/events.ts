import type { Subscription } from '../packet/index.js';
import type { ClientInfo } from './hooks.js';
import type { BrokerMessage } from './message.js';

/** Events a Broker emits. */
export interface BrokerEvents {
  /** A client passed CONNECT (CONNACK sent). */
  connected: [client: ClientInfo];
  /** A connected client's connection ended; `reason` in words. */
  disconnected: [client: ClientInfo, reason: string];
  /** A client's SUBSCRIBE added or replaced these subscriptions (as sent, `$share/...` included, at the QoS granted); the refused are left out. */
  subscribed: [client: ClientInfo, subscriptions: Subscription[]];
  /** A client's UNSUBSCRIBE removed these filters (as sent, `$share/...` included); not sent for filters it did not hold. */
  unsubscribed: [client: ClientInfo, topicFilters: string[]];
  /** A message was routed: from a client (`client` set), a Will, `$SYS` or `broker.publish`. */
  message: [message: BrokerMessage, client: ClientInfo | undefined];
}
