// Binary keys and values of the embedded store. Keys sort by record kind, then client id, then the record's own
// key, so one ordered scan yields each session's records together and its outgoing messages in `seq` order.
// Values start with a CRC-32 of the rest, so damaged data is reported instead of being read as something else.
import { crc32 } from 'node:zlib';
import { propertiesSize, readProperties, writeProperties } from '../../packet/properties.js';
import type { Properties, ProtocolVersion, QoS } from '../../packet/types.js';
import { PUBLISH, Reader, stringSize, WILL, writeString } from '../../packet/wire.js';
import type { BrokerMessage } from '../message.js';
import type { StoredOutgoing, StoredSession, StoredSubscription, StoredWill } from './store.js';

export const KIND_META = 0x00;
export const KIND_SESSION = 0x01;
export const KIND_SUBSCRIPTION = 0x02;
export const KIND_OUTGOING = 0x03;
export const KIND_INCOMING = 0x04;
export const KIND_RETAINED = 0x05;

/** Key of the record holding the store's format version inside the database. */
export const FORMAT_KEY: Uint8Array = Uint8Array.of(KIND_META, 0x66); // 'f'

const CRC_SIZE = 4;
const STATES: readonly StoredOutgoing['state'][] = ['queued', 'publish', 'pubrel'];

/** A record whose bytes do not decode; the store turns it into an error naming its data directory. */
export class RecordError extends Error {}

// ---- keys

function clientKey(kind: number, clientId: string, extra: number): { key: Buffer; pos: number } {
  const idLength = Buffer.byteLength(clientId);
  if (idLength > 0xffff) throw new RecordError('client id longer than 65535 bytes');
  const key = Buffer.allocUnsafe(3 + idLength + extra);
  key[0] = kind;
  key.writeUInt16BE(idLength, 1);
  key.write(clientId, 3);
  return { key, pos: 3 + idLength };
}

export function sessionKey(clientId: string): Buffer {
  return clientKey(KIND_SESSION, clientId, 0).key;
}

export function subscriptionKey(clientId: string, filter: string): Buffer {
  const filterLength = Buffer.byteLength(filter);
  const { key, pos } = clientKey(KIND_SUBSCRIPTION, clientId, filterLength);
  key.write(filter, pos);
  return key;
}

export function outgoingKey(clientId: string, seq: number): Buffer {
  const { key, pos } = clientKey(KIND_OUTGOING, clientId, 8);
  // Big-endian so that byte order is numeric order; seq is a non-negative safe integer.
  key.writeUInt32BE(Math.floor(seq / 0x1_0000_0000), pos);
  key.writeUInt32BE(seq >>> 0, pos + 4);
  return key;
}

export function incomingKey(clientId: string, packetId: number): Buffer {
  const { key, pos } = clientKey(KIND_INCOMING, clientId, 2);
  key.writeUInt16BE(packetId, pos);
  return key;
}

export function retainedKey(topic: string): Buffer {
  const key = Buffer.allocUnsafe(1 + Buffer.byteLength(topic));
  key[0] = KIND_RETAINED;
  key.write(topic, 1);
  return key;
}

/** The parts of a session record's key: client id and what follows it. */
export interface ParsedKey {
  kind: number;
  clientId: string;
  /** Subscription filter, outgoing seq or incoming packet id. */
  filter: string;
  number: number;
}

export function parseKey(key: Buffer): ParsedKey {
  const kind = key[0]!;
  if (kind === KIND_RETAINED) return { kind, clientId: '', filter: key.toString('utf8', 1), number: 0 };
  if (key.length < 3) throw new RecordError('key too short');
  const end = 3 + key.readUInt16BE(1);
  if (end > key.length) throw new RecordError('key too short');
  const clientId = key.toString('utf8', 3, end);
  switch (kind) {
    case KIND_SESSION:
      return { kind, clientId, filter: '', number: 0 };
    case KIND_SUBSCRIPTION:
      return { kind, clientId, filter: key.toString('utf8', end), number: 0 };
    case KIND_OUTGOING:
      if (key.length !== end + 8) throw new RecordError('outgoing key of the wrong length');
      return { kind, clientId, filter: '', number: key.readUInt32BE(end) * 0x1_0000_0000 + key.readUInt32BE(end + 4) };
    case KIND_INCOMING:
      if (key.length !== end + 2) throw new RecordError('incoming key of the wrong length');
      return { kind, clientId, filter: '', number: key.readUInt16BE(end) };
    default:
      throw new RecordError(`unknown record kind ${kind}`);
  }
}

// ---- values: writing

/** Room for the CRC, then `size` bytes of body. */
function allocValue(size: number): Buffer {
  return Buffer.allocUnsafe(CRC_SIZE + size);
}

function seal(value: Buffer): Buffer {
  value.writeUInt32BE(crc32(value.subarray(CRC_SIZE)), 0);
  return value;
}

function propsSize(p: Properties | undefined, type: number): number {
  return p === undefined ? 0 : propertiesSize(p, type);
}

function vbiLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x20_0000 ? 3 : 4;
}

/**
 * A message's body: flags, expiry, origin, topic, properties, payload. Cached per message object because one
 * message queued for many sessions is stored once per session and should be encoded once.
 */
const messageBodies = new WeakMap<BrokerMessage, Buffer>();

function messageBody(m: BrokerMessage): Buffer {
  let body = messageBodies.get(m);
  if (body !== undefined) return body;
  const topicSize = stringSize(m.topic);
  const originSize = m.origin === undefined ? 0 : stringSize(m.origin);
  const pSize = propsSize(m.properties, PUBLISH);
  const size = 1 + (m.expiresAt === undefined ? 0 : 8) + originSize + topicSize + vbiLength(pSize) + pSize + m.payload.length;
  body = Buffer.allocUnsafe(size);
  body[0] = m.qos | (m.retain ? 4 : 0) | (m.expiresAt === undefined ? 0 : 8) | (m.origin === undefined ? 0 : 16);
  let pos = 1;
  if (m.expiresAt !== undefined) pos = body.writeDoubleBE(m.expiresAt, pos);
  if (m.origin !== undefined) pos = writeString(body, pos, m.origin, originSize - 2);
  pos = writeString(body, pos, m.topic, topicSize - 2);
  pos = writeProperties(body, pos, m.properties, pSize);
  body.set(m.payload, pos);
  messageBodies.set(m, body);
  return body;
}

export function encodeRetained(m: BrokerMessage): Buffer {
  const body = messageBody(m);
  const value = allocValue(body.length);
  body.copy(value, CRC_SIZE);
  return seal(value);
}

export function encodeOutgoing(o: StoredOutgoing): Buffer {
  const body = messageBody(o.message);
  const ids = o.subscriptionIds ?? [];
  const head = 4 + ids.length * 4 + (o.shared === undefined ? 0 : stringSize(o.shared));
  const value = allocValue(head + body.length);
  let pos = CRC_SIZE;
  // Bit 5: a shared subscription's filter follows the identifiers (records without it read as before).
  value[pos++] = o.qos | (o.retain ? 4 : 0) | (STATES.indexOf(o.state) << 3) | (o.shared === undefined ? 0 : 32);
  pos = value.writeUInt16BE(o.packetId, pos);
  value[pos++] = o.subscriptionIds === undefined ? 0xff : ids.length;
  for (const id of ids) pos = value.writeUInt32BE(id, pos);
  if (o.shared !== undefined) pos = writeString(value, pos, o.shared);
  body.copy(value, pos);
  return seal(value);
}

export function encodeSession(s: StoredSession): Buffer {
  const userSize = s.username === undefined ? 0 : stringSize(s.username);
  const w = s.will;
  let willSize = 0;
  let willProps = 0;
  if (w !== undefined) {
    willProps = propsSize(w.will.properties, WILL);
    willSize = 8 + 1 + stringSize(w.will.topic) + vbiLength(willProps) + willProps + 4 + w.will.payload.length;
  }
  const value = allocValue(1 + 4 + 1 + userSize + (s.disconnectedAt === undefined ? 0 : 8) + willSize);
  let pos = CRC_SIZE;
  value[pos++] = s.protocolVersion;
  pos = value.writeUInt32BE(s.expiryInterval, pos);
  value[pos++] = (s.username === undefined ? 0 : 1) | (s.disconnectedAt === undefined ? 0 : 2) | (w === undefined ? 0 : 4);
  if (s.username !== undefined) pos = writeString(value, pos, s.username, userSize - 2);
  if (s.disconnectedAt !== undefined) pos = value.writeDoubleBE(s.disconnectedAt, pos);
  if (w !== undefined) {
    pos = value.writeDoubleBE(w.dueAt, pos);
    value[pos++] = w.will.qos | (w.will.retain ? 4 : 0);
    pos = writeString(value, pos, w.will.topic);
    pos = writeProperties(value, pos, w.will.properties, willProps);
    pos = value.writeUInt32BE(w.will.payload.length, pos);
    value.set(w.will.payload, pos);
  }
  return seal(value);
}

export function encodeSubscription(s: StoredSubscription): Buffer {
  const value = allocValue(1 + (s.identifier === undefined ? 0 : 4));
  value[CRC_SIZE] =
    s.qos | (s.noLocal ? 4 : 0) | (s.retainAsPublished ? 8 : 0) | (s.retainHandling << 4) | (s.identifier === undefined ? 0 : 64);
  if (s.identifier !== undefined) value.writeUInt32BE(s.identifier, CRC_SIZE + 1);
  return seal(value);
}

const emptyValue = seal(allocValue(0));

/** Incoming QoS 2 ids carry nothing but the key. */
export function encodeIncoming(): Buffer {
  return emptyValue;
}

export function encodeFormat(version: number): Buffer {
  const value = allocValue(4);
  value.writeUInt32BE(version, CRC_SIZE);
  return seal(value);
}

// ---- values: reading

/** Checks the CRC and returns a reader over the body. Payloads read later are views of `value`. */
function open(value: Buffer): Reader {
  if (value.length < CRC_SIZE) throw new RecordError('value too short');
  if (value.readUInt32BE(0) !== crc32(value.subarray(CRC_SIZE))) throw new RecordError('checksum mismatch');
  return new Reader().reset(value, CRC_SIZE, value.length);
}

function f64(r: Reader): number {
  if (r.pos + 8 > r.end) throw new RecordError('value ends early');
  const v = Buffer.from(r.buf.buffer, r.buf.byteOffset, r.buf.byteLength).readDoubleBE(r.pos);
  r.pos += 8;
  return v;
}

function qosOf(bits: number): QoS {
  const q = bits & 3;
  if (q === 3) throw new RecordError('QoS 3');
  return q as QoS;
}

function readMessage(r: Reader): BrokerMessage {
  const flags = r.u8();
  const expiresAt = (flags & 8) !== 0 ? f64(r) : undefined;
  const origin = (flags & 16) !== 0 ? r.string() : undefined;
  const topic = r.string();
  const properties = readProperties(r, PUBLISH);
  const payload = r.view(r.pos, r.end);
  r.pos = r.end;
  return { topic, payload, qos: qosOf(flags), retain: (flags & 4) !== 0, properties, expiresAt, origin };
}

/** Runs a decoder, turning any decoding failure into a RecordError. */
function decoding<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof RecordError) throw err;
    throw new RecordError(err instanceof Error ? err.message : String(err));
  }
}

export function decodeRetained(value: Buffer): BrokerMessage {
  return decoding(() => readMessage(open(value)));
}

export function decodeOutgoing(seq: number, value: Buffer): StoredOutgoing {
  return decoding(() => {
    const r = open(value);
    const flags = r.u8();
    const state = STATES[(flags >> 3) & 3];
    if (state === undefined) throw new RecordError('unknown outgoing state');
    const packetId = r.u16();
    const count = r.u8();
    let subscriptionIds: number[] | undefined;
    if (count !== 0xff) {
      subscriptionIds = [];
      for (let i = 0; i < count; i++) subscriptionIds.push(r.u32());
    }
    const shared = (flags & 32) !== 0 ? r.string() : undefined;
    const message = readMessage(r);
    const stored: StoredOutgoing = { seq, message, qos: qosOf(flags), retain: (flags & 4) !== 0, subscriptionIds, packetId, state };
    if (shared !== undefined) stored.shared = shared;
    return stored;
  });
}

export function decodeSession(clientId: string, value: Buffer): StoredSession {
  return decoding(() => {
    const r = open(value);
    const protocolVersion = r.u8();
    if (protocolVersion < 3 || protocolVersion > 5) throw new RecordError(`protocol version ${protocolVersion}`);
    const expiryInterval = r.u32();
    const flags = r.u8();
    const username = (flags & 1) !== 0 ? r.string() : undefined;
    const disconnectedAt = (flags & 2) !== 0 ? f64(r) : undefined;
    let will: StoredWill | undefined;
    if ((flags & 4) !== 0) {
      const dueAt = f64(r);
      const willFlags = r.u8();
      const topic = r.string();
      const properties = readProperties(r, WILL);
      const length = r.u32();
      if (r.pos + length !== r.end) throw new RecordError('will payload length mismatch');
      const payload = r.view(r.pos, r.end);
      r.pos = r.end;
      will = {
        dueAt,
        will: { topic, payload, qos: qosOf(willFlags), retain: (willFlags & 4) !== 0, ...(properties && { properties }) },
      };
    }
    r.done('session record');
    return { clientId, username, protocolVersion: protocolVersion as ProtocolVersion, expiryInterval, disconnectedAt, will };
  });
}

export function decodeSubscription(filter: string, value: Buffer): StoredSubscription {
  return decoding(() => {
    const r = open(value);
    const flags = r.u8();
    const retainHandling = (flags >> 4) & 3;
    if (retainHandling === 3) throw new RecordError('retain handling 3');
    const identifier = (flags & 64) !== 0 ? r.u32() : undefined;
    r.done('subscription record');
    return {
      filter,
      qos: qosOf(flags),
      noLocal: (flags & 4) !== 0,
      retainAsPublished: (flags & 8) !== 0,
      retainHandling: retainHandling as 0 | 1 | 2,
      identifier,
    };
  });
}

export function checkIncoming(value: Buffer): void {
  decoding(() => open(value).done('incoming record'));
}

export function decodeFormat(value: Buffer): number {
  return decoding(() => {
    const r = open(value);
    const version = r.u32();
    r.done('format record');
    return version;
  });
}
