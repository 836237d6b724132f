// Binary keys and values of the embedded store. Keys sort by record kind, then client id, then the record's own
// key, so one ordered scan yields each session's records together and its outgoing messages in `seq` order.
// Values start with a CRC-32 of the rest, so damaged data is reported instead of being read as something else.
// The encoders leave it zero: the store fills it in (`seal`) when a value goes to LevelDB, so that values a later
// change makes needless before that (most of them) are never summed; the write-ahead log has its own checksums.
import { crc32 } from 'node:zlib';
import {
  propertiesSize,
  readProperties,
  writeProperties,
  PUBLISH,
  Reader,
  stringSize,
  WILL,
  writeString,
  writeU16,
  writeU32,
} from '../../packet/internal.js';
import type { Properties, ProtocolVersion, QoS } from '../../packet/index.js';
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
// Keys are written in place (into the write-ahead log record that carries them): `...KeySize` gives the length to
// reserve, `write...Key` fills it in.

/** The UTF-8 form of the last client id keyed: a batch mostly holds runs of records of one client. */
let lastClientId = '';
let lastClientIdBytes = new Uint8Array(0);

function clientIdBytes(clientId: string): Uint8Array {
  if (clientId !== lastClientId) {
    const bytes = Buffer.from(clientId);
    if (bytes.length > 0xffff) throw new RecordError('client id longer than 65535 bytes');
    lastClientId = clientId;
    lastClientIdBytes = bytes;
  }
  return lastClientIdBytes;
}

function clientKeySize(clientId: string, extra: number): number {
  return 3 + clientIdBytes(clientId).length + extra;
}

/** Writes the kind and client id; returns where the record's own key goes. */
function writeClientKey(buf: Buffer, pos: number, kind: number, clientId: string): number {
  const id = clientIdBytes(clientId);
  buf[pos] = kind;
  buf[pos + 1] = id.length >>> 8;
  buf[pos + 2] = id.length & 0xff;
  buf.set(id, pos + 3);
  return pos + 3 + id.length;
}

export function sessionKeySize(clientId: string): number {
  return clientKeySize(clientId, 0);
}

export function writeSessionKey(buf: Buffer, pos: number, clientId: string): void {
  writeClientKey(buf, pos, KIND_SESSION, clientId);
}

export function sessionKey(clientId: string): Buffer {
  const key = Buffer.allocUnsafe(sessionKeySize(clientId));
  writeSessionKey(key, 0, clientId);
  return key;
}

export function subscriptionKeySize(clientId: string, filter: string): number {
  return clientKeySize(clientId, Buffer.byteLength(filter));
}

export function writeSubscriptionKey(buf: Buffer, pos: number, clientId: string, filter: string): void {
  buf.write(filter, writeClientKey(buf, pos, KIND_SUBSCRIPTION, clientId));
}

export function outgoingKeySize(clientId: string): number {
  return clientKeySize(clientId, 8);
}

export function writeOutgoingKey(buf: Buffer, pos: number, clientId: string, seq: number): void {
  const at = writeClientKey(buf, pos, KIND_OUTGOING, clientId);
  // Big-endian so that byte order is numeric order; seq is a non-negative safe integer.
  writeU32(buf, writeU32(buf, at, Math.floor(seq / 0x1_0000_0000)), seq >>> 0);
}

export function incomingKeySize(clientId: string): number {
  return clientKeySize(clientId, 2);
}

export function writeIncomingKey(buf: Buffer, pos: number, clientId: string, packetId: number): void {
  writeU16(buf, writeClientKey(buf, pos, KIND_INCOMING, clientId), packetId);
}

export function retainedKeySize(topic: string): number {
  return 1 + Buffer.byteLength(topic);
}

export function writeRetainedKey(buf: Buffer, pos: number, topic: string): void {
  buf[pos] = KIND_RETAINED;
  buf.write(topic, pos + 1);
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

/** Room for the CRC (zero until sealed), then `size` bytes of body. */
function allocValue(size: number): Buffer {
  const value = Buffer.allocUnsafe(CRC_SIZE + size);
  value.writeUInt32BE(0, 0);
  return value;
}

/** Fills in the CRC of an encoded value. */
export function seal(value: Buffer): Buffer {
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
 * The last message written and its body (flags, expiry, origin, topic, properties, payload) where it was written.
 * One message queued for many sessions makes one record per session, one after another, and is encoded once for
 * all; one entry is enough for that, and cheaper than a map keyed by message.
 */
let lastMessage: BrokerMessage | undefined;
/** Where the last body lies (a position in a buffer, not a view of it: no object per message). */
let lastBodyIn: Buffer = Buffer.alloc(0);
let lastBodyAt = 0;
let lastBodyLength = 0;
/** The message last sized and the sizes of its parts, for the write that follows. */
let sized: BrokerMessage | undefined;
let sizedTopic = 0;
let sizedOrigin = 0;
let sizedProperties = 0;
let sizedBody = 0;

function bodySize(m: BrokerMessage): number {
  if (m === lastMessage) return lastBodyLength;
  if (m !== sized) {
    sizedTopic = stringSize(m.topic);
    sizedOrigin = m.origin === undefined ? 0 : stringSize(m.origin);
    sizedProperties = propsSize(m.properties, PUBLISH);
    sizedBody =
      1 + (m.expiresAt === undefined ? 0 : 8) + sizedOrigin + sizedTopic + vbiLength(sizedProperties) + sizedProperties + m.payload.length;
    sized = m;
  }
  return sizedBody;
}

/**
 * Writes the message's body at `pos`. The bytes written must not be written over afterwards: the next value of
 * the same message copies them.
 */
function writeBody(buf: Buffer, pos: number, m: BrokerMessage): void {
  if (m === lastMessage) {
    lastBodyIn.copy(buf, pos, lastBodyAt, lastBodyAt + lastBodyLength);
    return;
  }
  const size = bodySize(m);
  buf[pos] = m.qos | (m.retain ? 4 : 0) | (m.expiresAt === undefined ? 0 : 8) | (m.origin === undefined ? 0 : 16);
  let at = pos + 1;
  if (m.expiresAt !== undefined) at = buf.writeDoubleBE(m.expiresAt, at);
  if (m.origin !== undefined) at = writeString(buf, at, m.origin, sizedOrigin - 2);
  at = writeString(buf, at, m.topic, sizedTopic - 2);
  at = writeProperties(buf, at, m.properties, sizedProperties);
  buf.set(m.payload, at);
  lastMessage = m;
  lastBodyIn = buf;
  lastBodyAt = pos;
  lastBodyLength = size;
}

// Values of retained and outgoing records are written in place, like keys (their CRC left zero); the rarer
// records are encoded into values of their own.

export function retainedSize(m: BrokerMessage): number {
  return CRC_SIZE + bodySize(m);
}

export function writeRetained(buf: Buffer, pos: number, m: BrokerMessage): void {
  writeU32(buf, pos, 0);
  writeBody(buf, pos + CRC_SIZE, m);
}

export function outgoingSize(o: StoredOutgoing): number {
  const ids = o.subscriptionIds === undefined ? 0 : o.subscriptionIds.length;
  return CRC_SIZE + 4 + ids * 4 + (o.shared === undefined ? 0 : stringSize(o.shared)) + bodySize(o.message);
}

export function writeOutgoing(buf: Buffer, pos: number, o: StoredOutgoing): void {
  let at = writeU32(buf, pos, 0);
  // Bit 5: a shared subscription's filter follows the identifiers (records without it read as before).
  buf[at++] = o.qos | (o.retain ? 4 : 0) | (STATES.indexOf(o.state) << 3) | (o.shared === undefined ? 0 : 32);
  at = writeU16(buf, at, o.packetId);
  const ids = o.subscriptionIds;
  buf[at++] = ids === undefined ? 0xff : ids.length;
  if (ids !== undefined) for (const id of ids) at = writeU32(buf, at, id);
  if (o.shared !== undefined) at = writeString(buf, at, o.shared);
  writeBody(buf, at, o.message);
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
  return value;
}

export function encodeSubscription(s: StoredSubscription): Buffer {
  const value = allocValue(1 + (s.identifier === undefined ? 0 : 4));
  value[CRC_SIZE] =
    s.qos | (s.noLocal ? 4 : 0) | (s.retainAsPublished ? 8 : 0) | (s.retainHandling << 4) | (s.identifier === undefined ? 0 : 64);
  if (s.identifier !== undefined) value.writeUInt32BE(s.identifier, CRC_SIZE + 1);
  return value;
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
