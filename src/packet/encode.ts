import { allocateBytes } from './allocate.js';
import { PacketError } from './errors.js';
import { hasProperties, propertiesSize, writeProperties } from './properties.js';
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
  Properties,
  ProtocolVersion,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
} from './types.js';
import { utf8Length, writeAscii } from './utf8.js';
import {
  AUTH,
  binarySize,
  CONNACK,
  CONNECT,
  DISCONNECT,
  MAX_VBI,
  PUBACK,
  PUBCOMP,
  PUBLISH,
  PUBREC,
  PUBREL,
  stringSize,
  SUBACK,
  SUBSCRIBE,
  UNSUBACK,
  UNSUBSCRIBE,
  vbiSize,
  WILL,
  writeBinary,
  writeString,
  writeU16,
  writeVbi,
} from './wire.js';

/** Everything of a PUBLISH but its payload, optionally with the topic already in UTF-8. */
export type PublishHead = Omit<PublishPacket, 'payload' | 'type'> & {
  /** The topic's UTF-8 bytes (must be a valid MQTT string); when given, `topic` is not looked at. */
  topicBytes?: Uint8Array;
};

function fail(message: string): never {
  throw new PacketError(0x81, message);
}

function needV5(message: string): never {
  throw new PacketError(0x82, `${message} needs MQTT 5`);
}

function checkPacketId(id: number | undefined): number {
  if (id === undefined || !Number.isInteger(id) || id < 1 || id > 0xffff) fail(`packet identifier ${id}`);
  return id;
}

function checkReasonCode(code: number, codes: Uint8Array, what: string): void {
  if (codes[code] !== 1) fail(`${what} reason code ${code}`);
}

/**
 * A buffer for a packet with this remaining length, less its last `omitted` bytes, its fixed header written;
 * the body starts at headerEnd.
 */
let headerEnd = 0;
function allocate(first: number, remaining: number, omitted = 0): Uint8Array {
  if (remaining > MAX_VBI) throw new PacketError(0x95, 'packet larger than MQTT allows');
  const buf = allocateBytes(1 + vbiSize(remaining) + remaining - omitted);
  buf[0] = first;
  headerEnd = writeVbi(buf, 1, remaining);
  return buf;
}

/** Encodes one whole packet for protocol level `version`. */
export function encode(packet: Packet, version: ProtocolVersion): Uint8Array {
  switch (packet.type) {
    case 'publish':
      return encodePublish(packet, version);
    case 'connect':
      return encodeConnect(packet, version);
    case 'connack':
      return encodeConnack(packet, version);
    case 'puback':
      return encodeAck(packet, PUBACK, PUBACK_CODES, version);
    case 'pubrec':
      return encodeAck(packet, PUBREC, PUBACK_CODES, version);
    case 'pubrel':
      return encodeAck(packet, PUBREL, PUBREL_CODES, version);
    case 'pubcomp':
      return encodeAck(packet, PUBCOMP, PUBREL_CODES, version);
    case 'subscribe':
      return encodeSubscribe(packet, version);
    case 'suback':
      return encodeSuback(packet, version);
    case 'unsubscribe':
      return encodeUnsubscribe(packet, version);
    case 'unsuback':
      return encodeUnsuback(packet, version);
    case 'pingreq':
      return new Uint8Array([0xc0, 0]);
    case 'pingresp':
      return new Uint8Array([0xd0, 0]);
    case 'disconnect':
      return encodeDisconnect(packet, version);
    case 'auth':
      return encodeAuth(packet, version);
    default:
      return fail(`unknown packet type ${(packet as { type: unknown }).type}`);
  }
}

// PUBLISH: measured, then written in one buffer; the head is shared by encode and encodePublishHead. Topics are
// nearly always ASCII, so the topic is first taken to be as many bytes as characters and checked while written:
// one pass instead of measuring and then writing. A topic that proves otherwise is measured and written again.
let publishPropertiesSize = 0;

/** Remaining length of a PUBLISH whose topic has `topicSize` bytes; sets publishPropertiesSize. */
function measurePublish(p: PublishHead, version: ProtocolVersion, payloadLength: number, topicSize: number): number {
  const qos = p.qos;
  if (qos !== 0 && qos !== 1 && qos !== 2) fail(`QoS ${qos}`);
  let size = 2 + topicSize + payloadLength;
  if (qos !== 0) {
    checkPacketId(p.packetId);
    size += 2;
  } else if (p.dup) fail('DUP on a QoS 0 PUBLISH');
  if (topicSize > 0xffff) fail('topic longer than 65535 bytes');
  if (version === 5) {
    publishPropertiesSize = propertiesSize(p.properties, PUBLISH);
    size += vbiSize(publishPropertiesSize) + publishPropertiesSize;
    if (topicSize === 0 && p.properties?.topicAlias === undefined) fail('empty topic without a topic alias');
  } else {
    if (hasProperties(p.properties)) needV5('PUBLISH properties');
    if (topicSize === 0) fail('empty topic');
  }
  return size;
}

/**
 * The PUBLISH without its last `omitted` bytes (the payload, for a head), or null when `topicSize` was taken
 * from an ASCII guess that the topic disproved.
 */
function writePublish(
  p: PublishHead,
  version: ProtocolVersion,
  payloadLength: number,
  omitted: number,
  topicSize: number,
  guessed: boolean,
): Uint8Array | null {
  const remaining = measurePublish(p, version, payloadLength, topicSize);
  const qos = p.qos;
  const buf = allocate(0x30 | (p.dup ? 8 : 0) | (qos << 1) | (p.retain ? 1 : 0), remaining, omitted);
  let pos = headerEnd;
  const bytes = p.topicBytes;
  if (bytes !== undefined) pos = writeBinary(buf, pos, bytes);
  else if (!guessed) pos = writeString(buf, pos, p.topic, topicSize);
  else if (writeAscii(buf, pos + 2, p.topic)) pos = writeU16(buf, pos, topicSize) + topicSize;
  else return null;
  if (qos !== 0) pos = writeU16(buf, pos, p.packetId!);
  if (version === 5) pos = writeProperties(buf, pos, p.properties, publishPropertiesSize);
  headerEnd = pos;
  return buf;
}

function publishBuffer(p: PublishHead, version: ProtocolVersion, payloadLength: number, omitted: number): Uint8Array {
  if (p.topicBytes !== undefined) return writePublish(p, version, payloadLength, omitted, p.topicBytes.length, false)!;
  return (
    writePublish(p, version, payloadLength, omitted, p.topic.length, true) ??
    writePublish(p, version, payloadLength, omitted, utf8Length(p.topic), false)!
  );
}

function encodePublish(p: PublishPacket, version: ProtocolVersion): Uint8Array {
  const buf = publishBuffer(p, version, p.payload.length, 0);
  buf.set(p.payload, headerEnd);
  return buf;
}

/**
 * Every byte of a PUBLISH before its payload, for writing `[head, payload]`: a broker encodes a message's
 * payload once and only a head per subscriber (own packet id, QoS, flags, topic alias, subscription ids).
 */
export function encodePublishHead(publish: PublishHead, version: ProtocolVersion, payloadLength: number): Uint8Array {
  return publishBuffer(publish, version, payloadLength, payloadLength);
}

function v5Properties(p: Properties | undefined, type: number, version: ProtocolVersion, what: string): number {
  if (version === 5) return propertiesSize(p, type);
  if (hasProperties(p)) needV5(`${what} properties`);
  return -1;
}

/** Size of a properties field, length prefix included (0 when the version has none: size -1). */
function fieldSize(size: number): number {
  return size < 0 ? 0 : vbiSize(size) + size;
}

function encodeConnect(p: ConnectPacket, version: ProtocolVersion): Uint8Array {
  if (p.protocolVersion !== version) fail(`CONNECT for level ${p.protocolVersion} encoded as level ${version}`);
  if (!Number.isInteger(p.keepalive) || p.keepalive < 0 || p.keepalive > 0xffff) fail(`keepalive ${p.keepalive}`);
  const will = p.will;
  if (p.password !== undefined && p.username === undefined && version !== 5) fail('password without user name');
  const propsSize = v5Properties(p.properties, CONNECT, version, 'CONNECT');
  let size = (version === 3 ? 8 : 6) + 4 + fieldSize(propsSize) + stringSize(p.clientId);
  let willPropsSize = -1;
  let flags = p.clean ? 0x02 : 0;
  if (will !== undefined) {
    if (will.qos !== 0 && will.qos !== 1 && will.qos !== 2) fail(`will QoS ${will.qos}`);
    willPropsSize = v5Properties(will.properties, WILL, version, 'will');
    size += fieldSize(willPropsSize) + stringSize(will.topic) + binarySize(will.payload);
    flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
  }
  if (p.username !== undefined) {
    size += stringSize(p.username);
    flags |= 0x80;
  }
  if (p.password !== undefined) {
    size += binarySize(p.password);
    flags |= 0x40;
  }
  const buf = allocate(0x10, size);
  let pos = writeString(buf, headerEnd, version === 3 ? 'MQIsdp' : 'MQTT');
  buf[pos++] = p.bridge === true && version !== 5 ? version | 0x80 : version;
  buf[pos++] = flags;
  pos = writeU16(buf, pos, p.keepalive);
  if (propsSize >= 0) pos = writeProperties(buf, pos, p.properties, propsSize);
  pos = writeString(buf, pos, p.clientId);
  if (will !== undefined) {
    if (willPropsSize >= 0) pos = writeProperties(buf, pos, will.properties, willPropsSize);
    pos = writeString(buf, pos, will.topic);
    pos = writeBinary(buf, pos, will.payload);
  }
  if (p.username !== undefined) pos = writeString(buf, pos, p.username);
  if (p.password !== undefined) writeBinary(buf, pos, p.password);
  return buf;
}

function encodeConnack(p: ConnackPacket, version: ProtocolVersion): Uint8Array {
  checkReasonCode(p.reasonCode, version === 5 ? CONNACK_CODES : CONNACK_CODES_V4, 'CONNACK');
  if (p.sessionPresent && p.reasonCode !== 0) fail('session present on a refused connection');
  const propsSize = v5Properties(p.properties, CONNACK, version, 'CONNACK');
  const buf = allocate(0x20, 2 + fieldSize(propsSize));
  // MQTT 3.1 has no Session Present flag: the byte is reserved there, so it stays 0.
  buf[headerEnd] = p.sessionPresent && version !== 3 ? 1 : 0;
  buf[headerEnd + 1] = p.reasonCode;
  if (propsSize >= 0) writeProperties(buf, headerEnd + 2, p.properties, propsSize);
  return buf;
}

/**
 * Shared by PUBACK..PUBCOMP, DISCONNECT and AUTH: `prefix` bytes (the packet id), then in MQTT 5 a reason code
 * and properties. With `shortForms` the properties, then the reason code, are left out when empty / 0.
 */
function encodeReasoned(
  first: number,
  packetId: number | undefined,
  reasonCode: number,
  properties: Properties | undefined,
  type: number,
  shortForms: boolean,
): Uint8Array {
  const prefix = packetId === undefined ? 0 : 2;
  const propsSize = propertiesSize(properties, type);
  let size = prefix;
  if (propsSize > 0 || !shortForms) size += 1 + vbiSize(propsSize) + propsSize;
  else if (reasonCode !== 0) size += 1;
  const buf = allocate(first, size);
  let pos = headerEnd;
  if (packetId !== undefined) pos = writeU16(buf, pos, packetId);
  if (size > prefix) buf[pos++] = reasonCode;
  if (size > prefix + 1) writeProperties(buf, pos, properties, propsSize);
  return buf;
}

function encodeAck<T extends 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'>(
  p: AckPacket<T>,
  type: number,
  codes: Uint8Array,
  version: ProtocolVersion,
): Uint8Array {
  const first = (type << 4) | (type === PUBREL ? 2 : 0);
  const packetId = checkPacketId(p.packetId);
  const reasonCode = p.reasonCode ?? 0;
  if (version !== 5) {
    if (reasonCode !== 0) needV5(`${p.type} reason code`);
    if (hasProperties(p.properties)) needV5(`${p.type} properties`);
    const buf = allocate(first, 2);
    writeU16(buf, headerEnd, packetId);
    return buf;
  }
  checkReasonCode(reasonCode, codes, p.type);
  return encodeReasoned(first, packetId, reasonCode, p.properties, type, true);
}

function encodeDisconnect(p: DisconnectPacket, version: ProtocolVersion): Uint8Array {
  const reasonCode = p.reasonCode ?? 0;
  if (version !== 5) {
    if (reasonCode !== 0) needV5('DISCONNECT reason code');
    if (hasProperties(p.properties)) needV5('DISCONNECT properties');
    return new Uint8Array([0xe0, 0]);
  }
  checkReasonCode(reasonCode, DISCONNECT_CODES, 'DISCONNECT');
  return encodeReasoned(0xe0, undefined, reasonCode, p.properties, DISCONNECT, true);
}

function encodeAuth(p: AuthPacket, version: ProtocolVersion): Uint8Array {
  if (version !== 5) needV5('AUTH');
  checkReasonCode(p.reasonCode, AUTH_CODES, 'AUTH');
  // Always the long form: the short one (remaining length 0) is valid but some peers refuse it.
  return encodeReasoned(0xf0, undefined, p.reasonCode, p.properties, AUTH, false);
}

function encodeSubscribe(p: SubscribePacket, version: ProtocolVersion): Uint8Array {
  const packetId = checkPacketId(p.packetId);
  if (p.subscriptions.length === 0) fail('SUBSCRIBE without subscriptions');
  const propsSize = v5Properties(p.properties, SUBSCRIBE, version, 'SUBSCRIBE');
  let size = 2 + fieldSize(propsSize);
  for (const s of p.subscriptions) {
    if (s.qos !== 0 && s.qos !== 1 && s.qos !== 2) fail(`subscription QoS ${s.qos}`);
    const rh = s.retainHandling ?? 0;
    if (rh !== 0 && rh !== 1 && rh !== 2) fail(`retain handling ${rh}`);
    if (version !== 5 && (s.noLocal || s.retainAsPublished || rh !== 0)) needV5('subscription options');
    size += stringSize(s.topicFilter) + 1;
  }
  const buf = allocate(0x82, size);
  let pos = writeU16(buf, headerEnd, packetId);
  if (propsSize >= 0) pos = writeProperties(buf, pos, p.properties, propsSize);
  for (const s of p.subscriptions) {
    pos = writeString(buf, pos, s.topicFilter);
    buf[pos++] =
      s.qos | (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | ((s.retainHandling ?? 0) << 4);
  }
  return buf;
}

function encodeSuback(p: SubackPacket, version: ProtocolVersion): Uint8Array {
  const packetId = checkPacketId(p.packetId);
  const codes = p.reasonCodes;
  if (codes.length === 0) fail('SUBACK without return codes');
  const valid = version === 5 ? SUBACK_CODES : SUBACK_CODES_V4;
  for (const c of codes) checkReasonCode(c, valid, 'SUBACK');
  const propsSize = v5Properties(p.properties, SUBACK, version, 'SUBACK');
  const buf = allocate(0x90, 2 + fieldSize(propsSize) + codes.length);
  let pos = writeU16(buf, headerEnd, packetId);
  if (propsSize >= 0) pos = writeProperties(buf, pos, p.properties, propsSize);
  buf.set(codes, pos);
  return buf;
}

function encodeUnsubscribe(p: UnsubscribePacket, version: ProtocolVersion): Uint8Array {
  const packetId = checkPacketId(p.packetId);
  if (p.topicFilters.length === 0) fail('UNSUBSCRIBE without topic filters');
  const propsSize = v5Properties(p.properties, UNSUBSCRIBE, version, 'UNSUBSCRIBE');
  let size = 2 + fieldSize(propsSize);
  for (const f of p.topicFilters) size += stringSize(f);
  const buf = allocate(0xa2, size);
  let pos = writeU16(buf, headerEnd, packetId);
  if (propsSize >= 0) pos = writeProperties(buf, pos, p.properties, propsSize);
  for (const f of p.topicFilters) pos = writeString(buf, pos, f);
  return buf;
}

function encodeUnsuback(p: UnsubackPacket, version: ProtocolVersion): Uint8Array {
  const packetId = checkPacketId(p.packetId);
  const codes = p.reasonCodes;
  if (version !== 5) {
    if (codes.length > 0) needV5('UNSUBACK reason codes');
    if (hasProperties(p.properties)) needV5('UNSUBACK properties');
    const buf = allocate(0xb0, 2);
    writeU16(buf, headerEnd, packetId);
    return buf;
  }
  if (codes.length === 0) fail('UNSUBACK without reason codes');
  for (const c of codes) checkReasonCode(c, UNSUBACK_CODES, 'UNSUBACK');
  const propsSize = propertiesSize(p.properties, UNSUBACK);
  const buf = allocate(0xb0, 2 + vbiSize(propsSize) + propsSize + codes.length);
  const pos = writeProperties(buf, writeU16(buf, headerEnd, packetId), p.properties, propsSize);
  buf.set(codes, pos);
  return buf;
}
