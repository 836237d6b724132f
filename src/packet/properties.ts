import { PacketError } from './errors.js';
import type { Properties } from './types.js';
import {
  AUTH,
  binarySize,
  CONNACK,
  CONNECT,
  DISCONNECT,
  malformed,
  MAX_VBI,
  protocolError,
  PUBACK,
  PUBCOMP,
  PUBLISH,
  PUBREC,
  PUBREL,
  type Reader,
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
  writeU32,
  writeVbi,
} from './wire.js';

/** MQTT 5 properties (section 2.2.2): identifier, data type and the packets each may appear in. */

const BOOL = 0; // a byte that must be 0 or 1
const BYTE = 1;
const U16 = 2;
const U32 = 3;
const VBI = 4;
const STRING = 5;
const BINARY = 6;
const PAIR = 7;

interface PropertyDef {
  id: number;
  key: keyof Properties;
  kind: number;
  /** Bit n set: allowed in packet type n (WILL = will properties). */
  allowed: number;
  /** Bit of this property in a duplicate-detection mask. */
  bit: number;
  /** 0 is not a valid value (MQTT-3.3.2-8 topic alias, 3.1.2.11.3 receive maximum, 3.1.2.11.4 packet size). */
  nonZero: boolean;
}

const bits = (...types: number[]): number => types.reduce((m, t) => m | (1 << t), 0);
const ACKS = [PUBACK, PUBREC, PUBREL, PUBCOMP];
const MESSAGE = bits(PUBLISH, WILL);

const table: Array<Omit<PropertyDef, 'bit'>> = [
  { id: 0x01, key: 'payloadFormatIndicator', kind: BOOL, allowed: MESSAGE, nonZero: false },
  { id: 0x02, key: 'messageExpiryInterval', kind: U32, allowed: MESSAGE, nonZero: false },
  { id: 0x03, key: 'contentType', kind: STRING, allowed: MESSAGE, nonZero: false },
  { id: 0x08, key: 'responseTopic', kind: STRING, allowed: MESSAGE, nonZero: false },
  { id: 0x09, key: 'correlationData', kind: BINARY, allowed: MESSAGE, nonZero: false },
  { id: 0x0b, key: 'subscriptionIdentifiers', kind: VBI, allowed: bits(PUBLISH, SUBSCRIBE), nonZero: true },
  { id: 0x11, key: 'sessionExpiryInterval', kind: U32, allowed: bits(CONNECT, CONNACK, DISCONNECT), nonZero: false },
  { id: 0x12, key: 'assignedClientIdentifier', kind: STRING, allowed: bits(CONNACK), nonZero: false },
  { id: 0x13, key: 'serverKeepAlive', kind: U16, allowed: bits(CONNACK), nonZero: false },
  { id: 0x15, key: 'authenticationMethod', kind: STRING, allowed: bits(CONNECT, CONNACK, AUTH), nonZero: false },
  { id: 0x16, key: 'authenticationData', kind: BINARY, allowed: bits(CONNECT, CONNACK, AUTH), nonZero: false },
  { id: 0x17, key: 'requestProblemInformation', kind: BOOL, allowed: bits(CONNECT), nonZero: false },
  { id: 0x18, key: 'willDelayInterval', kind: U32, allowed: bits(WILL), nonZero: false },
  { id: 0x19, key: 'requestResponseInformation', kind: BOOL, allowed: bits(CONNECT), nonZero: false },
  { id: 0x1a, key: 'responseInformation', kind: STRING, allowed: bits(CONNACK), nonZero: false },
  { id: 0x1c, key: 'serverReference', kind: STRING, allowed: bits(CONNACK, DISCONNECT), nonZero: false },
  {
    id: 0x1f,
    key: 'reasonString',
    kind: STRING,
    allowed: bits(CONNACK, ...ACKS, SUBACK, UNSUBACK, DISCONNECT, AUTH),
    nonZero: false,
  },
  { id: 0x21, key: 'receiveMaximum', kind: U16, allowed: bits(CONNECT, CONNACK), nonZero: true },
  { id: 0x22, key: 'topicAliasMaximum', kind: U16, allowed: bits(CONNECT, CONNACK), nonZero: false },
  { id: 0x23, key: 'topicAlias', kind: U16, allowed: bits(PUBLISH), nonZero: true },
  { id: 0x24, key: 'maximumQoS', kind: BOOL, allowed: bits(CONNACK), nonZero: false },
  { id: 0x25, key: 'retainAvailable', kind: BOOL, allowed: bits(CONNACK), nonZero: false },
  {
    id: 0x26,
    key: 'userProperties',
    kind: PAIR,
    allowed: bits(CONNECT, CONNACK, PUBLISH, WILL, ...ACKS, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH),
    nonZero: false,
  },
  { id: 0x27, key: 'maximumPacketSize', kind: U32, allowed: bits(CONNECT, CONNACK), nonZero: true },
  { id: 0x28, key: 'wildcardSubscriptionAvailable', kind: BOOL, allowed: bits(CONNACK), nonZero: false },
  { id: 0x29, key: 'subscriptionIdentifiersAvailable', kind: BOOL, allowed: bits(CONNACK), nonZero: false },
  { id: 0x2a, key: 'sharedSubscriptionAvailable', kind: BOOL, allowed: bits(CONNACK), nonZero: false },
];

const byId: Array<PropertyDef | undefined> = [];
const byKey = new Map<string, PropertyDef>();
table.forEach((d, i) => {
  const def: PropertyDef = { ...d, bit: 1 << i };
  byId[d.id] = def;
  byKey.set(d.key, def);
});

const ID_SUBSCRIPTION = 0x0b;
const ID_USER = 0x26;
const ID_MAXIMUM_QOS = 0x24;
const ID_AUTH_DATA = 0x16;
const ID_AUTH_METHOD = 0x15;

/** Whether `p` holds any property (an empty list of user properties or subscription ids is none). */
export function hasProperties(p: Properties | undefined): boolean {
  if (p === undefined) return false;
  for (const key in p) {
    const v = p[key as keyof Properties];
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) return true;
  }
  return false;
}

function invalid(message: string): never {
  throw new PacketError(0x82, message);
}

/**
 * Byte length of the properties' contents (without their length prefix) for packet type `type`, checking each
 * value so that writeProperties cannot produce an invalid packet.
 */
export function propertiesSize(p: Properties | undefined, type: number): number {
  if (p === undefined) return 0;
  let size = 0;
  for (const key in p) {
    const value = p[key as keyof Properties];
    if (value === undefined) continue;
    const def = byKey.get(key);
    if (def === undefined) continue; // not a property: extra fields are no concern of the wire
    if ((def.allowed & (1 << type)) === 0) {
      if (Array.isArray(value) && value.length === 0) continue;
      throw new PacketError(0x81, `property ${key} is not allowed in this packet`);
    }
    switch (def.kind) {
      case BOOL:
        if (def.id === ID_MAXIMUM_QOS ? value !== 0 && value !== 1 : typeof value !== 'boolean')
          invalid(`property ${key} must be ${def.id === ID_MAXIMUM_QOS ? '0 or 1' : 'a boolean'}`);
        size += 2;
        break;
      case U16:
        checkInteger(key, value, def.nonZero ? 1 : 0, 0xffff);
        size += 3;
        break;
      case U32:
        checkInteger(key, value, def.nonZero ? 1 : 0, 0xffff_ffff);
        size += 5;
        break;
      case VBI: {
        const ids = value as number[];
        if (ids.length > 1 && type !== PUBLISH)
          invalid('more than one subscription identifier outside PUBLISH');
        for (const id of ids) {
          checkInteger(key, id, 1, MAX_VBI);
          size += 1 + vbiSize(id);
        }
        break;
      }
      case STRING:
        size += 1 + stringSize(value as string);
        break;
      case BINARY:
        size += 1 + binarySize(value as Uint8Array);
        break;
      case PAIR:
        for (const pair of value as Array<[string, string]>) size += 1 + stringSize(pair[0]) + stringSize(pair[1]);
        break;
    }
  }
  if (p.authenticationData !== undefined && p.authenticationMethod === undefined)
    invalid('authentication data without authentication method');
  if (size > MAX_VBI) throw new PacketError(0x95, 'properties too large');
  return size;
}

function checkInteger(key: string, v: unknown, min: number, max: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    invalid(`property ${key} must be an integer in ${min}..${max}`);
}

/** Writes the length prefix and the properties measured by propertiesSize. */
export function writeProperties(buf: Uint8Array, pos: number, p: Properties | undefined, size: number): number {
  pos = writeVbi(buf, pos, size);
  if (size === 0 || p === undefined) return pos;
  for (const key in p) {
    const value = p[key as keyof Properties];
    if (value === undefined) continue;
    const def = byKey.get(key);
    if (def === undefined) continue;
    const id = def.id;
    switch (def.kind) {
      case BOOL:
        buf[pos++] = id;
        buf[pos++] = value === true || value === 1 ? 1 : 0;
        break;
      case U16:
        buf[pos++] = id;
        pos = writeU16(buf, pos, value as number);
        break;
      case U32:
        buf[pos++] = id;
        pos = writeU32(buf, pos, value as number);
        break;
      case VBI:
        for (const n of value as number[]) {
          buf[pos++] = id;
          pos = writeVbi(buf, pos, n);
        }
        break;
      case STRING:
        buf[pos++] = id;
        pos = writeString(buf, pos, value as string);
        break;
      case BINARY:
        buf[pos++] = id;
        pos = writeBinary(buf, pos, value as Uint8Array);
        break;
      case PAIR:
        for (const pair of value as Array<[string, string]>) {
          buf[pos++] = id;
          pos = writeString(buf, pos, pair[0]);
          pos = writeString(buf, pos, pair[1]);
        }
        break;
    }
  }
  return pos;
}

/**
 * Reads a property length and the properties after it, for packet type `type`. Returns undefined when there
 * are none, so property-less packets allocate nothing. A property not defined for the packet, or of the wrong
 * shape, is a Malformed Packet (2.2.2.2); one that may appear once and repeats is a Protocol Error.
 */
export function readProperties(r: Reader, type: number): Properties | undefined {
  const length = r.vbi();
  if (length === 0) return undefined;
  const end = r.pos + length;
  if (end > r.end) malformed('properties run past the end of the packet');
  const outerEnd = r.end;
  r.end = end;
  const props: Record<string, unknown> = {};
  let seen = 0;
  while (r.pos < end) {
    const id = r.u8();
    const def = byId[id];
    if (def === undefined) malformed(`unknown property 0x${id.toString(16)}`);
    if ((def.allowed & (1 << type)) === 0) malformed(`property ${def.key} is not allowed in this packet`);
    if ((seen & def.bit) !== 0 && id !== ID_USER && !(id === ID_SUBSCRIPTION && type === PUBLISH))
      protocolError(`property ${def.key} appears more than once`);
    seen |= def.bit;
    switch (def.kind) {
      case BOOL: {
        const v = r.u8();
        if (v > 1) protocolError(`property ${def.key} must be 0 or 1`);
        props[def.key] = id === ID_MAXIMUM_QOS ? v : v === 1;
        break;
      }
      case U16: {
        const v = r.u16();
        if (v === 0 && def.nonZero) {
          if (def.key === 'topicAlias') throw new PacketError(0x94, 'topic alias 0');
          protocolError(`property ${def.key} is 0`);
        }
        props[def.key] = v;
        break;
      }
      case U32: {
        const v = r.u32();
        if (v === 0 && def.nonZero) protocolError(`property ${def.key} is 0`);
        props[def.key] = v;
        break;
      }
      case VBI: {
        const v = r.vbi();
        if (v === 0) protocolError('subscription identifier 0');
        const list = props[def.key] as number[] | undefined;
        if (list === undefined) props[def.key] = [v];
        else list.push(v);
        break;
      }
      case STRING:
        props[def.key] = r.string();
        break;
      case BINARY:
        props[def.key] = r.binary();
        break;
      case PAIR: {
        const list = props[def.key] as Array<[string, string]> | undefined;
        // Checked before decoding the next pair: a packet of a million empty pairs costs no more than the limit.
        if (list !== undefined && list.length >= r.maxUserProperties) {
          throw new PacketError(0x83, `more than ${r.maxUserProperties} user properties`);
        }
        const pair: [string, string] = [r.string(), r.string()];
        if (list === undefined) props[def.key] = [pair];
        else list.push(pair);
        break;
      }
    }
  }
  r.end = outerEnd;
  if ((seen & byId[ID_AUTH_DATA]!.bit) !== 0 && (seen & byId[ID_AUTH_METHOD]!.bit) === 0)
    protocolError('authentication data without authentication method');
  return props as Properties;
}
