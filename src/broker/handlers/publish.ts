import { ReasonCode } from '../../packet/reason-codes.js';
import { isUtf8 } from 'node:buffer';
import type { PublishPacket } from '../../packet/types.js';
import { validateTopicName } from '../../topic/validate.js';
import type { Connection } from '../connection.js';
import type { DisconnectVerdict, PublishHookResult } from '../hooks.js';
import { brokerMessage, createMessage, type PublishMessage } from '../message.js';
import { chain } from './chain.js';

/**
 * PUBLISH from a client: topic alias, topic and flow-control checks, QoS 2 duplicate detection, then the
 * authorisation and publish hooks, then routing and the acknowledgement (after the store has the message).
 */
export function handlePublish(connection: Connection, packet: PublishPacket): void | Promise<void> {
  const core = connection.core;
  const stats = core.stats;
  stats.publishReceived++;
  stats.publishBytesReceived += packet.payload.length;
  const limits = connection.policy.limits;
  let topic = packet.topic;
  const properties = packet.properties;
  // Subscription identifiers are the server's to add on delivery (MQTT-3.3.4-6).
  if (properties?.subscriptionIdentifiers !== undefined) return connection.protocolError(0x82, 'PUBLISH from a client carries a subscription identifier');
  const alias = properties?.topicAlias;
  if (alias !== undefined) {
    if (alias === 0 || alias > limits.topicAliasMaximum) return connection.protocolError(0x94, `topic alias ${alias} out of range`);
    if (topic.length > 0) (connection.inAliases ??= new Map()).set(alias, topic);
    else {
      const known = connection.inAliases?.get(alias);
      if (known === undefined) return connection.protocolError(0x82, `topic alias ${alias} not defined`);
      topic = known;
    }
  }
  const error = validateTopicName(topic, limits.maxTopicLevels > 0 ? { maxLevels: limits.maxTopicLevels } : undefined);
  // 0x90 is for well-formed names the server refuses; a malformed one makes the packet malformed.
  if (error !== undefined) return connection.protocolError(error.malformed ? ReasonCode.MalformedPacket : ReasonCode.TopicNameInvalid, error.message);
  if (packet.retain && !core.settings.retainAvailable) return connection.protocolError(0x9a, 'retain not supported');
  const responseTopic = packet.properties?.responseTopic;
  if (responseTopic !== undefined && validateTopicName(responseTopic) !== undefined) {
    return connection.protocolError(0x82, 'response topic is not a valid topic name');
  }
  // Payload Format Indicator 1 promises UTF-8: checked (natively, only for such messages) before anyone gets it.
  const badPayload = packet.properties?.payloadFormatIndicator === true && !isUtf8(packet.payload);
  if (badPayload && packet.qos === 0) return connection.protocolError(0x99, 'payload is not valid UTF-8');
  if (packet.qos > 0) {
    const session = connection.session!;
    if (packet.qos === 2 && session.hasIncoming(packet.packetId!)) {
      // A resent QoS 2 PUBLISH we already have: acknowledge again (once stored), deliver nothing.
      const writer = core.writer;
      if (writer !== undefined) writer.ackAfterCommit(connection, 'pubrec', packet.packetId!, 0);
      else connection.sendAck('pubrec', packet.packetId!, 0);
      return;
    }
    if (connection.version === 5 && connection.inboundUnacked >= limits.receiveMaximum) {
      return connection.protocolError(0x93, 'receive maximum exceeded');
    }
    connection.inboundUnacked++;
    if (badPayload) return reject(connection, packet, 0x99, 'payload is not valid UTF-8');
    // While the store fails, a message is routed only once the changes before it are written: one the broker
    // then refuses was never delivered, so the publisher sending it again makes no duplicate.
    const failing = core.writer?.failing;
    if (failing !== undefined) {
      return core.writer!.whenWritable().then((stored) => {
        if (stored) return admit(connection, packet, topic);
        return refuseUnstored(connection, packet, failing);
      });
    }
  }
  return admit(connection, packet, topic);
}

/** The authorisation and publish hooks, then routing. */
function admit(connection: Connection, packet: PublishPacket, topic: string): void | Promise<void> {
  if (connection.state !== 'open') return;
  const hooks = connection.policy.hooks;
  if (hooks.authorizePublish === undefined && hooks.onPublish === undefined) return route(connection, packet, topic, undefined);
  const allowed = hooks.authorizePublish?.({ client: connection.info!, topic, qos: packet.qos, retain: packet.retain, will: false }) ?? true;
  return chain(allowed, (verdict) => {
    if (typeof verdict === 'object') return refuseByClosing(connection, packet, verdict);
    if (verdict !== true) return reject(connection, packet, typeof verdict === 'number' ? verdict : ReasonCode.NotAuthorized, 'not authorized');
    if (hooks.onPublish === undefined) return route(connection, packet, topic, undefined);
    const message: PublishMessage = { topic, payload: packet.payload, qos: packet.qos, retain: packet.retain, properties: packet.properties };
    return chain(hooks.onPublish(connection.info!, message), (result) => applyHookResult(connection, packet, topic, result));
  });
}

function applyHookResult(connection: Connection, packet: PublishPacket, topic: string, result: PublishHookResult): void {
  if (result === undefined || result.action === 'accept') return route(connection, packet, topic, undefined);
  // A hook may have closed the connection meanwhile: then nothing may be acknowledged.
  if (connection.state !== 'open') return;
  switch (result.action) {
    case 'disconnect':
      return refuseByClosing(connection, packet, result);
    case 'reject':
      return reject(connection, packet, result.reasonCode, result.reasonString ?? 'refused');
    case 'rewrite':
      return route(connection, packet, result.message.topic, result.message);
    case 'consume':
      return acknowledge(connection, packet, result.reasonCode ?? 0);
  }
}

/** Routes the message (or the hook's replacement) and acknowledges it. */
function route(connection: Connection, packet: PublishPacket, topic: string, replacement: PublishMessage | undefined): void {
  // Clients may not publish into the broker's own statistics.
  if (topic.startsWith('$SYS/')) return reject(connection, packet, 0x87, '$SYS topics are read-only');
  const message =
    replacement === undefined
      ? brokerMessage(topic, packet.payload, packet.qos, packet.retain, packet.properties, connection.clientId)
      : createMessage(replacement, connection.clientId);
  // Publishers mostly repeat their topic: its UTF-8 form, made by the first PUBLISH sent on, is kept for the next.
  if (message.topic === connection.lastTopic) message.topicBytes = connection.lastTopicBytes;
  const core = connection.core;
  // A subscriber whose queue this message overflows holds this connection back (flow.ts).
  core.publishing.publisher = connection;
  let delivered: number;
  try {
    delivered = core.dispatch(message, connection.info);
  } finally {
    core.publishing.publisher = undefined;
  }
  if (message.topicBytes !== undefined) {
    connection.lastTopic = message.topic;
    connection.lastTopicBytes = message.topicBytes;
  }
  acknowledge(connection, packet, delivered === 0 ? 0x10 : 0);
}

function acknowledge(connection: Connection, packet: PublishPacket, reasonCode: number): void {
  if (packet.qos === 0 || connection.state !== 'open') return;
  const packetId = packet.packetId!;
  const kind = packet.qos === 1 ? 'puback' : 'pubrec';
  if (kind === 'pubrec') {
    const session = connection.session!;
    session.addIncoming(packetId);
    session.outbox.persist?.record({ op: 'putIncoming', clientId: session.clientId, packetId });
  }
  const writer = connection.core.writer;
  if (writer !== undefined) writer.ackAfterCommit(connection, kind, packetId, reasonCode);
  else connection.sendStoredAck(kind, packetId, reasonCode);
}

/**
 * The store cannot take the message: v5 hears why; a 3.x client cannot be told, so its connection is closed
 * (a transient error, MQTT 3.1.1 4.8) and it sends the message again when it reconnects.
 */
function refuseUnstored(connection: Connection, packet: PublishPacket, reasonCode: number): void {
  connection.core.logger.debug(`${connection.describe()}: PUBLISH to ${packet.topic} refused: store unavailable`);
  connection.releaseInbound();
  if (connection.version === 5) connection.sendAck(packet.qos === 1 ? 'puback' : 'pubrec', packet.packetId!, reasonCode, 'store unavailable');
  else connection.teardown('store unavailable', true);
}

/** Refused by closing the connection: no acknowledgement, so the publisher knows the message was not taken. */
function refuseByClosing(connection: Connection, packet: PublishPacket, verdict: DisconnectVerdict): void {
  const reason = verdict.reasonString ?? `PUBLISH to ${packet.topic} refused`;
  connection.core.logger.info(`${connection.describe()}: ${reason}: connection closed`);
  connection.disconnect(verdict.reasonCode ?? ReasonCode.NotAuthorized, reason);
}

/** Refused: v5 hears the reason code; 3.x gets a plain acknowledgement and the message is dropped. */
function reject(connection: Connection, packet: PublishPacket, reasonCode: number, reason: string): void {
  connection.core.logger.debug(`${connection.describe()}: PUBLISH to ${packet.topic} refused: ${reason}`);
  if (packet.qos === 0 || connection.state !== 'open') return;
  const packetId = packet.packetId!;
  if (connection.version === 5) {
    connection.releaseInbound();
    connection.sendAck(packet.qos === 1 ? 'puback' : 'pubrec', packetId, reasonCode, reason);
    return;
  }
  if (packet.qos === 1) connection.releaseInbound();
  else connection.session!.addIncoming(packetId);
  connection.sendAck(packet.qos === 1 ? 'puback' : 'pubrec', packetId, 0);
}
