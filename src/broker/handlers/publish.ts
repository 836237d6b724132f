import { isUtf8 } from 'node:buffer';
import { ReasonCode, type PublishPacket } from '../../packet/index.js';
import { validateTopicName } from '../../topic/index.js';
import { asBuffer } from '../../transport/internal.js';
import type { DisconnectVerdict, PublishHookResult } from '../hooks.js';
import { brokerMessage, createMessage, type PublishMessage } from '../message.js';
import { chain } from './chain.js';
import type { OpenContext } from './context.js';

/**
 * PUBLISH from a client: topic alias, topic and flow-control checks, QoS 2 duplicate detection, then the
 * authorisation and publish hooks, then routing and the acknowledgement (after the store has the message).
 */
export function handlePublish(context: OpenContext, packet: PublishPacket): void | Promise<void> {
  const broker = context.broker;
  const stats = broker.stats;
  stats.received(packet.qos, packet.payload.length);
  const arrivedAt = stats.arrival();
  const limits = context.policy.limits;
  let topic = packet.topic;
  const properties = packet.properties;
  // Subscription identifiers are the server's to add on delivery (MQTT-3.3.4-6).
  if (properties?.subscriptionIdentifiers !== undefined) return context.protocolError(ReasonCode.ProtocolError, 'PUBLISH from a client carries a subscription identifier');
  const alias = properties?.topicAlias;
  if (alias !== undefined) {
    if (alias === 0 || alias > limits.topicAliasMaximum) return context.protocolError(ReasonCode.TopicAliasInvalid, `topic alias ${alias} out of range`);
    if (topic.length > 0) context.incomingAliases.set(alias, topic);
    else {
      const known = context.incomingAliases.get(alias);
      if (known === undefined) return context.protocolError(ReasonCode.ProtocolError, `topic alias ${alias} not defined`);
      topic = known;
    }
  }
  const error = validateTopicName(topic, limits.maxTopicLevels > 0 ? { maxLevels: limits.maxTopicLevels } : undefined);
  // 0x90 is for well-formed names the server refuses; a malformed one makes the packet malformed.
  if (error !== undefined) return context.protocolError(error.malformed ? ReasonCode.MalformedPacket : ReasonCode.TopicNameInvalid, error.message);
  if (packet.retain && !broker.settings.retainAvailable) return context.protocolError(ReasonCode.RetainNotSupported, 'retain not supported');
  const responseTopic = properties?.responseTopic;
  if (responseTopic !== undefined && validateTopicName(responseTopic) !== undefined) {
    return context.protocolError(ReasonCode.ProtocolError, 'response topic is not a valid topic name');
  }
  // Payload Format Indicator 1 promises UTF-8: checked (natively, only for such messages) before anyone gets it.
  const badPayload = properties?.payloadFormatIndicator === true && !isUtf8(packet.payload);
  const packetId = packet.packetId;
  if (packetId === undefined) {
    if (badPayload) return context.protocolError(ReasonCode.PayloadFormatInvalid, 'payload is not valid UTF-8');
    return admit(context, packet, topic, 0, arrivedAt);
  }
  if (packet.qos === 2 && context.session.hasIncoming(packetId)) {
    // A resent QoS 2 PUBLISH we already have: acknowledge again (once stored), deliver nothing.
    broker.acknowledgeWhenStored(context, 'pubrec', packetId, ReasonCode.Success);
    return;
  }
  if (context.client.version === 5 && context.inboundUnacked >= limits.receiveMaximum) {
    return context.protocolError(ReasonCode.ReceiveMaximumExceeded, 'receive maximum exceeded');
  }
  context.takeInbound();
  if (badPayload) return reject(context, packet, packetId, ReasonCode.PayloadFormatInvalid, 'payload is not valid UTF-8', 'rejected');
  // While the store fails, a message is routed only once the changes before it are written: one the broker
  // then refuses was never delivered, so the publisher sending it again makes no duplicate.
  const failing = broker.storeFailing;
  if (failing !== undefined) {
    return broker.whenStoreWritable().then((stored) => {
      if (stored) return admit(context, packet, topic, packetId, arrivedAt);
      return refuseUnstored(context, packet, packetId, failing);
    });
  }
  return admit(context, packet, topic, packetId, arrivedAt);
}

/**
 * The authorisation and publish hooks, then routing. `packetId` is 0 for QoS 0; `arrivedAt` times the message's
 * deliveries when it is one of the sampled (else 0).
 */
function admit(context: OpenContext, packet: PublishPacket, topic: string, packetId: number, arrivedAt: number): void | Promise<void> {
  if (context.state !== 'open') return;
  const hooks = context.policy.hooks;
  if (hooks.authorizePublish === undefined && hooks.onPublish === undefined) return route(context, packet, packetId, topic, undefined, arrivedAt);
  const allowed = hooks.authorizePublish?.({ client: context.info, topic, qos: packet.qos, retain: packet.retain, will: false }) ?? true;
  return chain(allowed, (verdict) => {
    if (typeof verdict === 'object') return refuseByClosing(context, packet, verdict);
    if (verdict !== true) return reject(context, packet, packetId, typeof verdict === 'number' ? verdict : ReasonCode.NotAuthorized, 'not authorized', 'notAuthorized');
    if (hooks.onPublish === undefined) return route(context, packet, packetId, topic, undefined, arrivedAt);
    const message: PublishMessage = { topic, payload: asBuffer(packet.payload), qos: packet.qos, retain: packet.retain, properties: packet.properties };
    return chain(hooks.onPublish(context.info, message), (result) => applyHookResult(context, packet, packetId, topic, result, arrivedAt));
  });
}

function applyHookResult(context: OpenContext, packet: PublishPacket, packetId: number, topic: string, result: PublishHookResult, arrivedAt: number): void {
  if (result === undefined || result.action === 'accept') return route(context, packet, packetId, topic, undefined, arrivedAt);
  // A hook may have closed the connection meanwhile: then nothing may be acknowledged.
  if (context.state !== 'open') return;
  switch (result.action) {
    case 'disconnect':
      return refuseByClosing(context, packet, result);
    case 'reject':
      return reject(context, packet, packetId, result.reasonCode, result.reasonString ?? 'refused', 'rejected');
    case 'rewrite':
      return route(context, packet, packetId, result.message.topic, result.message, arrivedAt);
    case 'consume':
      return acknowledge(context, packet, packetId, result.reasonCode ?? ReasonCode.Success);
  }
}

/** Routes the message (or the hook's replacement) and acknowledges it. */
function route(
  context: OpenContext,
  packet: PublishPacket,
  packetId: number,
  topic: string,
  replacement: PublishMessage | undefined,
  arrivedAt: number,
): void {
  // Clients may not publish into the broker's own statistics.
  if (topic.startsWith('$SYS/')) return reject(context, packet, packetId, ReasonCode.NotAuthorized, '$SYS topics are read-only', 'notAuthorized');
  const clientId = context.client.clientId;
  const topicBytes = context.topicBytes.get(topic);
  const message =
    replacement === undefined
      ? brokerMessage(topic, packet.payload, packet.qos, packet.retain, packet.properties, clientId, topicBytes, arrivedAt)
      : createMessage(replacement, clientId, topicBytes, arrivedAt);
  const stats = context.broker.stats;
  const droppedBefore = stats.publishDropped;
  // A subscriber whose queue this message overflows holds this connection back (flow.ts).
  const delivered = context.broker.dispatch(message, context.info, context);
  // Taken by no one and dropped by no one: nobody subscribed.
  if (delivered === 0 && stats.publishDropped === droppedBefore) stats.dropPublished('noSubscribers', clientId, topic);
  acknowledge(context, packet, packetId, delivered === 0 ? ReasonCode.NoMatchingSubscribers : ReasonCode.Success);
}

function acknowledge(context: OpenContext, packet: PublishPacket, packetId: number, reasonCode: number): void {
  if (packet.qos === 0 || context.state !== 'open') return;
  const kind = packet.qos === 1 ? 'puback' : 'pubrec';
  if (kind === 'pubrec') context.session.addIncoming(packetId);
  // After every change this PUBLISH caused (retained, queued for persistent sessions, the QoS 2 id) is stored.
  context.broker.acknowledgeWhenStored(context, kind, packetId, reasonCode);
}

/**
 * The store cannot take the message: v5 hears why; a 3.x client cannot be told, so its connection is closed
 * (a transient error, MQTT 3.1.1 4.8) and it sends the message again when it reconnects.
 */
function refuseUnstored(context: OpenContext, packet: PublishPacket, packetId: number, reasonCode: number): void {
  context.broker.logger.debug(`${context.describe()}: PUBLISH to ${packet.topic} refused: store unavailable`);
  context.broker.stats.dropPublished('storeFailure', context.client.clientId, packet.topic);
  context.session.noteError(`PUBLISH to ${packet.topic} refused: store unavailable`);
  context.releaseInbound();
  if (context.client.version === 5) context.sendAck(packet.qos === 1 ? 'puback' : 'pubrec', packetId, reasonCode, 'store unavailable');
  else context.close('store unavailable', true);
}

/** Refused by closing the connection: no acknowledgement, so the publisher knows the message was not taken. */
function refuseByClosing(context: OpenContext, packet: PublishPacket, verdict: DisconnectVerdict): void {
  const reason = verdict.reasonString ?? `PUBLISH to ${packet.topic} refused`;
  context.broker.logger.info(`${context.describe()}: ${reason}: connection closed`);
  const code = verdict.reasonCode ?? ReasonCode.NotAuthorized;
  context.broker.stats.dropPublished(code === ReasonCode.NotAuthorized ? 'notAuthorized' : 'rejected', context.client.clientId, packet.topic);
  context.session.noteError(`${reason} (0x${code.toString(16)})`);
  context.disconnect(code, reason);
}

/** Refused: v5 hears the reason code; 3.x gets a plain acknowledgement and the message is dropped. */
function reject(
  context: OpenContext,
  packet: PublishPacket,
  packetId: number,
  reasonCode: number,
  reason: string,
  drop: 'notAuthorized' | 'rejected',
): void {
  context.broker.logger.debug(`${context.describe()}: PUBLISH to ${packet.topic} refused: ${reason}`);
  context.broker.stats.dropPublished(drop, context.client.clientId, packet.topic);
  context.session.noteError(`PUBLISH to ${packet.topic} refused: ${reason} (0x${reasonCode.toString(16)})`);
  if (packet.qos === 0 || context.state !== 'open') return;
  const kind = packet.qos === 1 ? 'puback' : 'pubrec';
  if (context.client.version === 5) {
    context.releaseInbound();
    context.sendAck(kind, packetId, reasonCode, reason);
    return;
  }
  if (packet.qos === 1) context.releaseInbound();
  else context.session.addIncoming(packetId);
  context.sendAck(kind, packetId, ReasonCode.Success);
}
