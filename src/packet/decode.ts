import { PacketError } from './errors.js';
import { readProperties } from './properties.js';
import {
  AUTH_CODES,
  CONNACK_CODES,
  CONNACK_CODES_V4,
  DISCONNECT_CODES,
  PUBACK_CODES,
  PUBREL_CODES,
  SUBACK_CODES,
  SUBACK_CODES_V4,
  UNSUBACK_CODES,
} from './reason-code-sets.js';
import type {
  AckPacket,
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  ProtocolVersion,
  PublishPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  Will,
} from './types.js';
import {
  AUTH,
  CONNACK,
  CONNECT,
  DISCONNECT,
  malformed,
  PINGREQ,
  PINGRESP,
  protocolError,
  PUBACK,
  PUBCOMP,
  PUBLISH,
  PUBREC,
  PUBREL,
  Reader,
  SUBACK,
  SUBSCRIBE,
  UNSUBACK,
  UNSUBSCRIBE,
  WILL,
} from './wire.js';

/** Decoding is synchronous and never re-entered, so one cursor serves every packet. */
const reader = new Reader();

/**
 * Checks the first byte of a fixed header (MQTT-2.1.3-1, 2.2.2): a known type for this protocol version and the
 * flag bits the type requires (0010 for PUBREL, SUBSCRIBE, UNSUBSCRIBE; QoS 0-2 and no DUP on QoS 0 for PUBLISH).
 */
export function checkFirstByte(first: number, version: ProtocolVersion): void {
  const type = first >> 4;
  const flags = first & 0x0f;
  if (type === PUBLISH) {
    const qos = (flags >> 1) & 3;
    if (qos === 3) malformed('PUBLISH with QoS 3');
    if (qos === 0 && (flags & 0x08) !== 0) malformed('PUBLISH with DUP set on QoS 0');
    return;
  }
  if (type === 0) malformed('reserved packet type 0');
  if (type === AUTH && version !== 5) malformed('AUTH before MQTT 5');
  const required = type === PUBREL || type === SUBSCRIBE || type === UNSUBSCRIBE ? 2 : 0;
  if (flags !== required) malformed(`reserved flags ${flags.toString(2).padStart(4, '0')} in packet type ${type}`);
}

/**
 * Decodes the body `buf[start..end)` of a packet whose first fixed-header byte (already checked by
 * checkFirstByte) is `first`. Payloads and binary fields are views of `buf`.
 */
export function decodeBody(
  first: number,
  buf: Uint8Array,
  start: number,
  end: number,
  version: ProtocolVersion,
  maxUserProperties = Infinity,
): Packet {
  const r = reader.reset(buf, start, end);
  r.maxUserProperties = maxUserProperties;
  switch (first >> 4) {
    case PUBLISH:
      return decodePublish(r, first, version);
    case CONNECT:
      return decodeConnect(r);
    case CONNACK:
      return decodeConnack(r, version);
    case PUBACK:
      return decodeAck(r, 'puback', PUBACK, PUBACK_CODES, version);
    case PUBREC:
      return decodeAck(r, 'pubrec', PUBREC, PUBACK_CODES, version);
    case PUBREL:
      return decodeAck(r, 'pubrel', PUBREL, PUBREL_CODES, version);
    case PUBCOMP:
      return decodeAck(r, 'pubcomp', PUBCOMP, PUBREL_CODES, version);
    case SUBSCRIBE:
      return decodeSubscribe(r, version);
    case SUBACK:
      return decodeSuback(r, version);
    case UNSUBSCRIBE:
      return decodeUnsubscribe(r, version);
    case UNSUBACK:
      return decodeUnsuback(r, version);
    case PINGREQ:
      r.done('PINGREQ');
      return { type: 'pingreq' };
    case PINGRESP:
      r.done('PINGRESP');
      return { type: 'pingresp' };
    case DISCONNECT:
      return decodeDisconnect(r, version);
    case AUTH:
      return decodeAuth(r);
    default:
      return malformed(`packet type ${first >> 4}`);
  }
}

function decodePublish(r: Reader, first: number, version: ProtocolVersion): PublishPacket {
  const qos = ((first >> 1) & 3) as QoS;
  const topic = r.string();
  const packetId = qos > 0 ? r.packetId() : undefined;
  const properties = version === 5 ? readProperties(r, PUBLISH) : undefined;
  if (topic.length === 0) {
    if (version !== 5) throw new PacketError(0x90, 'empty topic name');
    if (properties?.topicAlias === undefined) protocolError('empty topic name without a topic alias');
  }
  const packet: PublishPacket = {
    type: 'publish',
    topic,
    payload: r.view(r.pos, r.end),
    qos,
    retain: (first & 1) === 1,
    dup: (first & 8) === 8,
  };
  if (packetId !== undefined) packet.packetId = packetId;
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

function decodeConnect(r: Reader): ConnectPacket {
  const name = r.string();
  const byte = r.u8();
  // The bridge bit (Mosquitto's try_private) exists for 3.1 and 3.1.1 only.
  const bridge = (byte & 0x80) !== 0 && (byte & 0x7f) !== 5;
  const level = bridge ? byte & 0x7f : byte;
  if (name !== 'MQTT' && name !== 'MQIsdp') protocolError(`protocol name ${JSON.stringify(name)}`);
  if (name === 'MQIsdp' ? level !== 3 : level !== 4 && level !== 5)
    throw new PacketError(0x84, `protocol ${name} level ${byte}`);
  const version = level as ProtocolVersion;
  const flags = r.u8();
  if ((flags & 1) !== 0) malformed('reserved CONNECT flag set'); // MQTT-3.1.2-3
  const hasWill = (flags & 0x04) !== 0;
  const willQos = (flags >> 3) & 3;
  const willRetain = (flags & 0x20) !== 0;
  if (willQos === 3) malformed('will QoS 3');
  if (!hasWill && (willQos !== 0 || willRetain)) malformed('will QoS or retain without will flag'); // MQTT-3.1.2-11/13/15
  const hasUsername = (flags & 0x80) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  if (hasPassword && !hasUsername && version !== 5) malformed('password without user name'); // MQTT-3.1.2-22
  const keepalive = r.u16();
  const properties = version === 5 ? readProperties(r, CONNECT) : undefined;
  const packet: ConnectPacket = {
    type: 'connect',
    protocolVersion: version,
    clientId: r.string(),
    clean: (flags & 0x02) !== 0,
    keepalive,
  };
  if (properties !== undefined) packet.properties = properties;
  if (bridge) packet.bridge = true;
  if (hasWill) {
    const willProperties = version === 5 ? readProperties(r, WILL) : undefined;
    const will: Will = { topic: r.string(), payload: r.binary(), qos: willQos as QoS, retain: willRetain };
    if (willProperties !== undefined) will.properties = willProperties;
    packet.will = will;
  }
  if (hasUsername) packet.username = r.string();
  if (hasPassword) packet.password = r.binary();
  r.done('CONNECT');
  return packet;
}

function decodeConnack(r: Reader, version: ProtocolVersion): ConnackPacket {
  const flags = r.u8();
  if ((flags & 0xfe) !== 0) malformed('reserved CONNACK flags set'); // MQTT-3.2.2-1 (5.0)
  const reasonCode = r.u8();
  if ((version === 5 ? CONNACK_CODES : CONNACK_CODES_V4)[reasonCode] !== 1)
    protocolError(`CONNACK code 0x${reasonCode.toString(16)}`);
  const sessionPresent = flags === 1;
  if (sessionPresent && reasonCode !== 0) protocolError('session present on a refused connection'); // MQTT-3.2.2-4/6
  const packet: ConnackPacket = { type: 'connack', sessionPresent, reasonCode };
  if (version === 5) {
    const properties = readProperties(r, CONNACK);
    if (properties !== undefined) packet.properties = properties;
  }
  r.done('CONNACK');
  return packet;
}

function decodeAck<T extends 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'>(
  r: Reader,
  type: T,
  typeNumber: number,
  codes: Uint8Array,
  version: ProtocolVersion,
): AckPacket<T> {
  const packetId = r.packetId();
  if (version !== 5) {
    r.done(type.toUpperCase());
    return { type, packetId };
  }
  // A remaining length of 2 means Success without properties, 3 a reason code without properties (3.4.2.1).
  const reasonCode = r.left > 0 ? r.u8() : 0;
  if (codes[reasonCode] !== 1) protocolError(`${type.toUpperCase()} reason code 0x${reasonCode.toString(16)}`);
  const packet: AckPacket<T> = { type, packetId, reasonCode };
  if (r.left > 0) {
    const properties = readProperties(r, typeNumber);
    if (properties !== undefined) packet.properties = properties;
  }
  r.done(type.toUpperCase());
  return packet;
}

function decodeSubscribe(r: Reader, version: ProtocolVersion): SubscribePacket {
  const packetId = r.packetId();
  const properties = version === 5 ? readProperties(r, SUBSCRIBE) : undefined;
  const subscriptions: Subscription[] = [];
  while (r.left > 0) {
    const topicFilter = r.string();
    const options = r.u8();
    const qos = options & 3;
    if (version === 5) {
      if ((options & 0xc0) !== 0) malformed('reserved subscription option bits set'); // MQTT-3.8.3-5
      if (qos === 3) protocolError('subscription QoS 3');
      const retainHandling = (options >> 4) & 3;
      if (retainHandling === 3) protocolError('retain handling 3');
      subscriptions.push({
        topicFilter,
        qos: qos as QoS,
        noLocal: (options & 0x04) !== 0,
        retainAsPublished: (options & 0x08) !== 0,
        retainHandling: retainHandling as 0 | 1 | 2,
      });
    } else {
      if (options > 2) malformed('reserved subscription bits set or QoS 3'); // MQTT-3.8.3-4
      subscriptions.push({ topicFilter, qos: qos as QoS });
    }
  }
  if (subscriptions.length === 0) protocolError('SUBSCRIBE without topic filters'); // MQTT-3.8.3-3
  const packet: SubscribePacket = { type: 'subscribe', packetId, subscriptions };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

function decodeSuback(r: Reader, version: ProtocolVersion): SubackPacket {
  const packetId = r.packetId();
  const properties = version === 5 ? readProperties(r, SUBACK) : undefined;
  const codes = version === 5 ? SUBACK_CODES : SUBACK_CODES_V4;
  const reasonCodes: number[] = [];
  while (r.left > 0) {
    const code = r.u8();
    if (codes[code] !== 1) protocolError(`SUBACK code 0x${code.toString(16)}`);
    reasonCodes.push(code);
  }
  if (reasonCodes.length === 0) protocolError('SUBACK without return codes');
  const packet: SubackPacket = { type: 'suback', packetId, reasonCodes };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

function decodeUnsubscribe(r: Reader, version: ProtocolVersion): UnsubscribePacket {
  const packetId = r.packetId();
  const properties = version === 5 ? readProperties(r, UNSUBSCRIBE) : undefined;
  const topicFilters: string[] = [];
  while (r.left > 0) topicFilters.push(r.string());
  if (topicFilters.length === 0) protocolError('UNSUBSCRIBE without topic filters'); // MQTT-3.10.3-2
  const packet: UnsubscribePacket = { type: 'unsubscribe', packetId, topicFilters };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

function decodeUnsuback(r: Reader, version: ProtocolVersion): UnsubackPacket {
  const packetId = r.packetId();
  const packet: UnsubackPacket = { type: 'unsuback', packetId, reasonCodes: [] };
  if (version !== 5) {
    r.done('UNSUBACK');
    return packet;
  }
  const properties = readProperties(r, UNSUBACK);
  if (properties !== undefined) packet.properties = properties;
  while (r.left > 0) {
    const code = r.u8();
    if (UNSUBACK_CODES[code] !== 1) protocolError(`UNSUBACK reason code 0x${code.toString(16)}`);
    packet.reasonCodes.push(code);
  }
  if (packet.reasonCodes.length === 0) protocolError('UNSUBACK without reason codes');
  return packet;
}

function decodeDisconnect(r: Reader, version: ProtocolVersion): DisconnectPacket {
  if (version !== 5) {
    r.done('DISCONNECT');
    return { type: 'disconnect' };
  }
  // Remaining length 0 means Normal disconnection; 1, a reason code without properties (3.14.2.1).
  const reasonCode = r.left > 0 ? r.u8() : 0;
  if (DISCONNECT_CODES[reasonCode] !== 1) protocolError(`DISCONNECT reason code 0x${reasonCode.toString(16)}`);
  const packet: DisconnectPacket = { type: 'disconnect', reasonCode };
  if (r.left > 0) {
    const properties = readProperties(r, DISCONNECT);
    if (properties !== undefined) packet.properties = properties;
  }
  r.done('DISCONNECT');
  return packet;
}

function decodeAuth(r: Reader): AuthPacket {
  // Remaining length 0 means Success without properties (3.15.2.1).
  const reasonCode = r.left > 0 ? r.u8() : 0;
  if (AUTH_CODES[reasonCode] !== 1) protocolError(`AUTH reason code 0x${reasonCode.toString(16)}`);
  const packet: AuthPacket = { type: 'auth', reasonCode };
  if (r.left > 0) {
    const properties = readProperties(r, AUTH);
    if (properties !== undefined) packet.properties = properties;
  }
  r.done('AUTH');
  return packet;
}
