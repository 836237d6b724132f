import type { QoS, Subscription } from '../packet/index.js';
import { parseSharedFilter, TopicError } from '../topic/index.js';
import type { BrokerMessage } from './message.js';
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


/** The record of a subscription granted at `qos` (a checked filter; `$share/{group}/...` split into its parts). */
export function subscriptionRecord(session: Subscriber, sub: Subscription, qos: QoS, identifier: number | undefined): SubscriptionRecord {
  const filter = sub.topicFilter;
  const shared = parseSharedFilter(filter);
  const isShared = shared !== undefined && !(shared instanceof TopicError);
  return {
    session,
    filter,
    topicFilter: isShared ? shared.filter : filter,
    group: isShared ? shared.group : undefined,
    qos,
    noLocal: sub.noLocal ?? false,
    retainAsPublished: sub.retainAsPublished ?? false,
    retainHandling: sub.retainHandling ?? 0,
    identifier,
    identifiers: identifier === undefined ? undefined : [identifier],
  };
}

/** Shared subscriptions get no retained messages; Retain Handling 1 only a new subscription, 2 none. */
export function wantsRetained(record: SubscriptionRecord, existed: boolean): boolean {
  return record.group === undefined && (record.retainHandling === 0 || (record.retainHandling === 1 && !existed));
}

/** Where retained messages are found. */
export interface RetainedSource {
  forEachRetained(topicFilter: string, visit: (message: BrokerMessage) => void, canRead?: (topic: string) => boolean): void;
}

/** Queues the retained messages matching a new subscription for its session (with the retain flag, as MQTT says). */
export function sendRetained(source: RetainedSource, session: Subscriber, record: SubscriptionRecord): void {
  const found: BrokerMessage[] = [];
  source.forEachRetained(record.topicFilter, (message) => void found.push(message), session.canRead);
  session.outbox.deliverRetained(found, record.qos, record.identifiers);
}
