import type { QoS } from '../packet/index.js';
import type { Outbox } from './outbox.js';

/** A session as the router sees it: who it is, whether it is connected, what it may read, and its outbox. */
export interface Subscriber {
  readonly clientId: string;
  readonly online: boolean;
  readonly outbox: Outbox;
  /** The read check of the listener the client last connected through (undefined: everything readable). */
  readonly canRead: ((topic: string) => boolean) | undefined;
}

/** One subscription of one session. */
export interface SubscriptionRecord {
  readonly session: Subscriber;
  /** As the client sent it, `$share/{group}/` included: the session's key for it. */
  readonly filter: string;
  /** The filter topics are matched against (without the share prefix). */
  readonly topicFilter: string;
  /** Share name for `$share/{group}/{filter}`. */
  readonly group: string | undefined;
  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly retainHandling: 0 | 1 | 2;
  readonly identifier: number | undefined;
  /** `[identifier]`, made once so that deliveries share it. */
  readonly identifiers: number[] | undefined;
}

