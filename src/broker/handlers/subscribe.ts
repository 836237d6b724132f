import { SUBACK_CODES } from '../../packet/internal.js';
import { ReasonCode, type QoS, type SubscribePacket, type Subscription } from '../../packet/index.js';
import { validateSubscriptionFilter, type TopicError } from '../../topic/index.js';
import { sendRetained, subscriptionRecord, wantsRetained, type SubscriptionRecord } from '../subscription.js';
import type { OpenContext } from './context.js';

/**
 * SUBSCRIBE: each filter is checked and authorised (hooks may answer later), then all are added at once,
 * SUBACK goes out, and matching retained messages follow it.
 */
export function handleSubscribe(context: OpenContext, packet: SubscribePacket): void | Promise<void> {
  const limits = context.policy.limits;
  const topicLimits = limits.maxTopicLevels > 0 ? { maxLevels: limits.maxTopicLevels } : undefined;
  const checks: Array<TopicError | undefined> = [];
  for (const sub of packet.subscriptions) {
    const check = validateSubscriptionFilter(sub.topicFilter, topicLimits);
    // A malformed filter makes the packet malformed (MQTT-4.7.1-1/2, MQTT-4.7.3-1): closed, not answered.
    if (check?.malformed) return context.protocolError(ReasonCode.MalformedPacket, `SUBSCRIBE: ${check.message}`);
    if (sub.noLocal && sub.topicFilter.startsWith('$share/')) {
      return context.protocolError(ReasonCode.ProtocolError, 'No Local on a shared subscription');
    }
    checks.push(check);
  }
  const codes: Array<number | Promise<number>> = packet.subscriptions.map((sub, i) => decide(context, sub, checks[i]));
  if (codes.some((code) => code instanceof Promise)) {
    return Promise.all(codes).then((settled) => finish(context, packet, settled));
  }
  return finish(context, packet, codes as number[]);
}

/** Granted QoS (0-2) or an MQTT 5 failure reason code. */
function decide(context: OpenContext, sub: Subscription, check: TopicError | undefined): number | Promise<number> {
  if (check !== undefined) return check.reasonCode;
  const hook = context.policy.hooks.authorizeSubscribe;
  if (hook === undefined) return sub.qos;
  const verdict = hook({ client: context.info, subscription: sub });
  return verdict instanceof Promise ? verdict.then((v) => grant(sub, v)) : grant(sub, verdict);
}

function grant(sub: Subscription, verdict: boolean | number): number {
  if (verdict === true) return sub.qos;
  if (verdict === false) return ReasonCode.NotAuthorized;
  if (verdict >= ReasonCode.UnspecifiedError) return SUBACK_CODES[verdict] === 1 ? verdict : ReasonCode.UnspecifiedError;
  return verdict < sub.qos ? verdict : sub.qos;
}

function finish(context: OpenContext, packet: SubscribePacket, codes: number[]): void | Promise<void> {
  if (context.state !== 'open') return;
  const session = context.session;
  const sessions = context.broker.sessions;
  const max = context.policy.limits.maxSubscriptionsPerClient;
  const identifier = packet.properties?.subscriptionIdentifiers?.[0];
  const withRetained: SubscriptionRecord[] = [];
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i]!;
    if (code >= ReasonCode.UnspecifiedError) continue;
    const sub = packet.subscriptions[i]!;
    const filter = sub.topicFilter;
    const existed = session.subscriptions.has(filter);
    if (!existed && max > 0 && session.subscriptions.size >= max) {
      codes[i] = ReasonCode.QuotaExceeded;
      continue;
    }
    const record = subscriptionRecord(session, sub, code as QoS, identifier);
    sessions.subscribe(session, record);
    if (wantsRetained(record, existed)) withRetained.push(record);
  }
  const ready = context.broker.routerReady();
  if (ready === undefined) return acknowledge(context, packet, codes, withRetained);
  return ready.then(() => acknowledge(context, packet, codes, withRetained));
}

/** SUBACK, then the retained messages the new subscriptions asked for. */
function acknowledge(context: OpenContext, packet: SubscribePacket, codes: number[], withRetained: SubscriptionRecord[]): void {
  if (context.state !== 'open') return;
  const session = context.session;
  const v5 = context.client.version === 5;
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i]!;
    if (code >= ReasonCode.UnspecifiedError) session.noteError(`SUBSCRIBE to ${packet.subscriptions[i]!.topicFilter} refused (0x${code.toString(16)})`);
  }
  const reasonCodes = v5 ? codes : codes.map((code) => (code >= ReasonCode.UnspecifiedError ? ReasonCode.UnspecifiedError : code));
  context.send({ type: 'suback', packetId: packet.packetId, reasonCodes });
  context.broker.emitSubscribed(context.info, packet.subscriptions.flatMap((sub, i) => (codes[i]! < ReasonCode.UnspecifiedError ? [{ ...sub, qos: codes[i] as QoS }] : [])));
  for (const record of withRetained) sendRetained(context.broker, session, record);
}
