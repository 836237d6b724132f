import { SUBACK_CODES } from '../../packet/reason-code-sets.js';
import type { SubscribePacket, Subscription } from '../../packet/types.js';
import { parseSharedFilter, validateSubscriptionFilter } from '../../topic/shared.js';
import { TopicError } from '../../topic/validate.js';
import { ReasonCode } from '../../packet/reason-codes.js';
import type { Connection } from '../connection.js';
import type { SubscriptionRecord } from '../router.js';

/**
 * SUBSCRIBE: each filter is checked and authorised (hooks may answer later), then all are added at once,
 * SUBACK goes out, and matching retained messages follow it.
 */
export function handleSubscribe(connection: Connection, packet: SubscribePacket): void | Promise<void> {
  const limits = connection.policy.limits;
  const topicLimits = limits.maxTopicLevels > 0 ? { maxLevels: limits.maxTopicLevels } : undefined;
  const checks: Array<TopicError | undefined> = [];
  for (const sub of packet.subscriptions) {
    const check = validateSubscriptionFilter(sub.topicFilter, topicLimits);
    // A malformed filter makes the packet malformed (MQTT-4.7.1-1/2, MQTT-4.7.3-1): closed, not answered.
    if (check?.malformed) return connection.protocolError(ReasonCode.MalformedPacket, `SUBSCRIBE: ${check.message}`);
    if (sub.noLocal && sub.topicFilter.startsWith('$share/')) {
      return connection.protocolError(ReasonCode.ProtocolError, 'No Local on a shared subscription');
    }
    checks.push(check);
  }
  const codes: Array<number | Promise<number>> = packet.subscriptions.map((sub, i) => decide(connection, sub, checks[i]));
  if (codes.some((code) => code instanceof Promise)) {
    return Promise.all(codes).then((settled) => finish(connection, packet, settled));
  }
  finish(connection, packet, codes as number[]);
}

/** Granted QoS (0-2) or an MQTT 5 failure reason code. */
function decide(connection: Connection, sub: Subscription, check: TopicError | undefined): number | Promise<number> {
  if (check !== undefined) return check.reasonCode;
  const hook = connection.policy.hooks.authorizeSubscribe;
  if (hook === undefined) return sub.qos;
  const verdict = hook({ client: connection.info!, subscription: sub });
  return verdict instanceof Promise ? verdict.then((v) => grant(sub, v)) : grant(sub, verdict);
}

function grant(sub: Subscription, verdict: boolean | number): number {
  if (verdict === true) return sub.qos;
  if (verdict === false) return 0x87;
  if (verdict >= 0x80) return SUBACK_CODES[verdict] === 1 ? verdict : 0x80;
  return verdict < sub.qos ? verdict : sub.qos;
}

function finish(connection: Connection, packet: SubscribePacket, codes: number[]): void {
  if (connection.state !== 'open') return;
  const core = connection.core;
  const session = connection.session!;
  const max = connection.policy.limits.maxSubscriptionsPerClient;
  const identifier = packet.properties?.subscriptionIdentifiers?.[0];
  const withRetained: SubscriptionRecord[] = [];
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i]!;
    if (code >= 0x80) continue;
    const sub = packet.subscriptions[i]!;
    const filter = sub.topicFilter;
    const existed = session.subscriptions.has(filter);
    if (!existed && max > 0 && session.subscriptions.size >= max) {
      codes[i] = 0x97;
      continue;
    }
    const shared = parseSharedFilter(filter);
    const isShared = shared !== undefined && !(shared instanceof TopicError);
    const record: SubscriptionRecord = {
      session,
      filter,
      topicFilter: isShared ? shared.filter : filter,
      group: isShared ? shared.group : undefined,
      qos: code as 0 | 1 | 2,
      noLocal: sub.noLocal ?? false,
      retainAsPublished: sub.retainAsPublished ?? false,
      retainHandling: sub.retainHandling ?? 0,
      identifier,
      identifiers: identifier === undefined ? undefined : [identifier],
    };
    const previous = session.subscriptions.get(filter);
    if (previous !== undefined) core.router.remove(previous);
    session.subscriptions.set(filter, record);
    core.router.add(record);
    core.recordSubscription(session, record);
    // Shared subscriptions get no retained messages; Retain Handling 1 only for a new subscription.
    if (!isShared && (record.retainHandling === 0 || (record.retainHandling === 1 && !existed))) withRetained.push(record);
  }
  const reasonCodes = connection.version === 5 ? codes : codes.map((code) => (code >= 0x80 ? 0x80 : code));
  connection.send({ type: 'suback', packetId: packet.packetId, reasonCodes });
  for (const record of withRetained) {
    core.router.forEachRetained(record.topicFilter, (message) => {
      session.outbox.deliver(message, message.qos < record.qos ? message.qos : record.qos, true, record.identifiers, undefined);
    }, session.canRead);
  }
}
