/** Byte vectors written by hand from the MQTT 3.1, 3.1.1 and 5.0 specifications, checked both ways. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decode, encode, encodePublishHead, PacketError, type Packet } from '../../src/packet/index.js';
import { hex } from './build.js';

interface Vector {
  name: string;
  version: 3 | 4 | 5;
  bytes: string;
  packet: Packet;
  /** A valid form the encoder does not produce (it writes a shorter one). */
  decodeOnly?: boolean;
}

const b = (...xs: number[]): Uint8Array => new Uint8Array(xs);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

const vectors: Vector[] = [
  // MQTT 3.1.1
  {
    name: 'CONNECT, clean session, keep alive 60',
    version: 4,
    bytes: '10 0d 00 04 4d 51 54 54 04 02 00 3c 00 01 63',
    packet: { type: 'connect', protocolVersion: 4, clientId: 'c', clean: true, keepalive: 60 },
  },
  {
    name: 'CONNECT with will (QoS 1, retained), user name and password',
    version: 4,
    bytes: '10 1a 00 04 4d 51 54 54 04 ee 00 3c 00 01 63 00 01 77 00 02 01 02 00 01 75 00 01 70',
    packet: {
      type: 'connect',
      protocolVersion: 4,
      clientId: 'c',
      clean: true,
      keepalive: 60,
      will: { topic: 'w', payload: b(1, 2), qos: 1, retain: true },
      username: 'u',
      password: text('p'),
    },
  },
  {
    name: 'CONNACK, session present',
    version: 4,
    bytes: '20 02 01 00',
    packet: { type: 'connack', sessionPresent: true, reasonCode: 0 },
  },
  {
    name: 'CONNACK, not authorized',
    version: 4,
    bytes: '20 02 00 05',
    packet: { type: 'connack', sessionPresent: false, reasonCode: 5 },
  },
  {
    name: 'PUBLISH QoS 0',
    version: 4,
    bytes: '30 05 00 01 74 68 69',
    packet: { type: 'publish', topic: 't', payload: text('hi'), qos: 0, retain: false, dup: false },
  },
  {
    name: 'PUBLISH QoS 1, DUP, retained, UTF-8 topic',
    version: 4,
    bytes: '3b 0b 00 05 61 2f c3 a9 62 00 0a 68 69',
    packet: { type: 'publish', topic: 'a/éb', payload: text('hi'), qos: 1, retain: true, dup: true, packetId: 10 },
  },
  {
    name: 'PUBLISH whose topic starts with U+FEFF, which is kept',
    version: 4,
    bytes: '30 06 00 04 ef bb bf 74',
    packet: { type: 'publish', topic: '\ufefft', payload: b(), qos: 0, retain: false, dup: false },
  },
  {
    name: 'PUBLISH QoS 2, empty payload',
    version: 4,
    bytes: '34 05 00 01 74 ff ff',
    packet: { type: 'publish', topic: 't', payload: b(), qos: 2, retain: false, dup: false, packetId: 65535 },
  },
  { name: 'PUBACK', version: 4, bytes: '40 02 00 0a', packet: { type: 'puback', packetId: 10 } },
  { name: 'PUBREC', version: 4, bytes: '50 02 00 0a', packet: { type: 'pubrec', packetId: 10 } },
  { name: 'PUBREL', version: 4, bytes: '62 02 00 0a', packet: { type: 'pubrel', packetId: 10 } },
  { name: 'PUBCOMP', version: 4, bytes: '70 02 01 00', packet: { type: 'pubcomp', packetId: 256 } },
  {
    name: 'SUBSCRIBE, two filters',
    version: 4,
    bytes: '82 0c 00 0a 00 03 61 2f 62 01 00 01 23 02',
    packet: {
      type: 'subscribe',
      packetId: 10,
      subscriptions: [
        { topicFilter: 'a/b', qos: 1 },
        { topicFilter: '#', qos: 2 },
      ],
    },
  },
  {
    name: 'SUBACK, granted and failure',
    version: 4,
    bytes: '90 05 00 0a 00 01 80',
    packet: { type: 'suback', packetId: 10, reasonCodes: [0, 1, 0x80] },
  },
  {
    name: 'UNSUBSCRIBE',
    version: 4,
    bytes: 'a2 07 00 0a 00 03 61 2f 2b',
    packet: { type: 'unsubscribe', packetId: 10, topicFilters: ['a/+'] },
  },
  { name: 'UNSUBACK', version: 4, bytes: 'b0 02 00 0a', packet: { type: 'unsuback', packetId: 10, reasonCodes: [] } },
  { name: 'PINGREQ', version: 4, bytes: 'c0 00', packet: { type: 'pingreq' } },
  { name: 'PINGRESP', version: 4, bytes: 'd0 00', packet: { type: 'pingresp' } },
  { name: 'DISCONNECT', version: 4, bytes: 'e0 00', packet: { type: 'disconnect' } },
  {
    name: 'PUBLISH with a 2-byte remaining length',
    version: 4,
    bytes: `30 80 01 00 01 74 ${'00 '.repeat(125)}`,
    packet: { type: 'publish', topic: 't', payload: new Uint8Array(125), qos: 0, retain: false, dup: false },
  },

  // MQTT 3.1
  {
    name: 'CONNECT MQIsdp level 3',
    version: 3,
    bytes: '10 0f 00 06 4d 51 49 73 64 70 03 02 00 3c 00 01 63',
    packet: { type: 'connect', protocolVersion: 3, clientId: 'c', clean: true, keepalive: 60 },
  },
  {
    name: 'CONNECT MQIsdp with user name and password, persistent session',
    version: 3,
    bytes: '10 15 00 06 4d 51 49 73 64 70 03 c0 00 0a 00 01 63 00 01 75 00 01 70',
    packet: { type: 'connect', protocolVersion: 3, clientId: 'c', clean: false, keepalive: 10, username: 'u', password: text('p') },
  },
  { name: 'CONNACK (3.1)', version: 3, bytes: '20 02 00 02', packet: { type: 'connack', sessionPresent: false, reasonCode: 2 } },
  {
    name: 'PUBLISH QoS 1 (3.1)',
    version: 3,
    bytes: '32 06 00 01 74 00 01 78',
    packet: { type: 'publish', topic: 't', payload: text('x'), qos: 1, retain: false, dup: false, packetId: 1 },
  },
  {
    name: 'SUBSCRIBE (3.1)',
    version: 3,
    bytes: '82 06 00 01 00 01 74 00',
    packet: { type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 't', qos: 0 }] },
  },
  { name: 'SUBACK (3.1)', version: 3, bytes: '90 03 00 01 00', packet: { type: 'suback', packetId: 1, reasonCodes: [0] } },
  { name: 'UNSUBACK (3.1)', version: 3, bytes: 'b0 02 00 01', packet: { type: 'unsuback', packetId: 1, reasonCodes: [] } },
  { name: 'DISCONNECT (3.1)', version: 3, bytes: 'e0 00', packet: { type: 'disconnect' } },

  // MQTT 5.0
  {
    name: 'CONNECT with session expiry and receive maximum',
    version: 5,
    bytes: '10 16 00 04 4d 51 54 54 05 02 00 3c 08 11 00 00 00 0a 21 00 14 00 01 63',
    packet: {
      type: 'connect',
      protocolVersion: 5,
      clientId: 'c',
      clean: true,
      keepalive: 60,
      properties: { sessionExpiryInterval: 10, receiveMaximum: 20 },
    },
  },
  {
    name: 'CONNECT with will delay, password without user name (allowed in 5.0)',
    version: 5,
    bytes: '10 1c 00 04 4d 51 54 54 05 46 00 3c 00 00 01 63 05 18 00 00 00 05 00 01 77 00 00 00 01 70',
    packet: {
      type: 'connect',
      protocolVersion: 5,
      clientId: 'c',
      clean: true,
      keepalive: 60,
      will: { topic: 'w', payload: b(), qos: 0, retain: false, properties: { willDelayInterval: 5 } },
      password: text('p'),
    },
  },
  {
    name: 'CONNACK without properties',
    version: 5,
    bytes: '20 03 00 00 00',
    packet: { type: 'connack', sessionPresent: false, reasonCode: 0 },
  },
  {
    name: 'CONNACK with maximum QoS and topic alias maximum',
    version: 5,
    bytes: '20 08 01 00 05 24 01 22 00 0a',
    packet: { type: 'connack', sessionPresent: true, reasonCode: 0, properties: { maximumQoS: 1, topicAliasMaximum: 10 } },
  },
  {
    name: 'CONNACK refused: not authorized',
    version: 5,
    bytes: '20 03 00 87 00',
    packet: { type: 'connack', sessionPresent: false, reasonCode: 0x87 },
  },
  {
    name: 'PUBLISH without properties',
    version: 5,
    bytes: '30 06 00 01 74 00 68 69',
    packet: { type: 'publish', topic: 't', payload: text('hi'), qos: 0, retain: false, dup: false },
  },
  {
    name: 'PUBLISH with a topic alias and an empty topic',
    version: 5,
    bytes: '32 08 00 00 00 0b 03 23 00 05',
    packet: { type: 'publish', topic: '', payload: b(), qos: 1, retain: false, dup: false, packetId: 11, properties: { topicAlias: 5 } },
  },
  {
    name: 'PUBLISH with two subscription identifiers',
    version: 5,
    bytes: '30 09 00 01 74 05 0b 01 0b 80 01',
    packet: { type: 'publish', topic: 't', payload: b(), qos: 0, retain: false, dup: false, properties: { subscriptionIdentifiers: [1, 128] } },
  },
  {
    name: 'PUBLISH with user properties (repeated key) and correlation data',
    version: 5,
    bytes: '30 17 00 01 74 12 26 00 01 6b 00 01 31 26 00 01 6b 00 01 32 09 00 01 ff 78',
    packet: {
      type: 'publish',
      topic: 't',
      payload: text('x'),
      qos: 0,
      retain: false,
      dup: false,
      properties: { userProperties: [['k', '1'], ['k', '2']], correlationData: b(0xff) },
    },
  },
  { name: 'PUBACK, success (short form)', version: 5, bytes: '40 02 00 0a', packet: { type: 'puback', packetId: 10, reasonCode: 0 } },
  {
    name: 'PUBACK, no matching subscribers (reason only)',
    version: 5,
    bytes: '40 03 00 0a 10',
    packet: { type: 'puback', packetId: 10, reasonCode: 0x10 },
  },
  {
    name: 'PUBACK with an empty property list',
    version: 5,
    bytes: '40 04 00 0a 10 00',
    packet: { type: 'puback', packetId: 10, reasonCode: 0x10 },
    decodeOnly: true,
  },
  {
    name: 'PUBREC, quota exceeded, with reason string',
    version: 5,
    bytes: '50 08 00 0a 97 04 1f 00 01 71',
    packet: { type: 'pubrec', packetId: 10, reasonCode: 0x97, properties: { reasonString: 'q' } },
  },
  {
    name: 'PUBREL, packet identifier not found',
    version: 5,
    bytes: '62 03 00 0a 92',
    packet: { type: 'pubrel', packetId: 10, reasonCode: 0x92 },
  },
  { name: 'PUBCOMP, success', version: 5, bytes: '70 02 00 0a', packet: { type: 'pubcomp', packetId: 10, reasonCode: 0 } },
  {
    name: 'SUBSCRIBE with subscription identifier and all options',
    version: 5,
    bytes: '82 09 00 0a 02 0b 07 00 01 61 2d',
    packet: {
      type: 'subscribe',
      packetId: 10,
      properties: { subscriptionIdentifiers: [7] },
      subscriptions: [{ topicFilter: 'a', qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 }],
    },
  },
  {
    name: 'SUBACK with granted QoS 2 and wildcards not supported',
    version: 5,
    bytes: '90 05 00 0a 00 02 a2',
    packet: { type: 'suback', packetId: 10, reasonCodes: [2, 0xa2] },
  },
  {
    name: 'UNSUBSCRIBE',
    version: 5,
    bytes: 'a2 06 00 0a 00 00 01 61',
    packet: { type: 'unsubscribe', packetId: 10, topicFilters: ['a'] },
  },
  {
    name: 'UNSUBACK, no subscription existed',
    version: 5,
    bytes: 'b0 05 00 0a 00 00 11',
    packet: { type: 'unsuback', packetId: 10, reasonCodes: [0, 0x11] },
  },
  { name: 'PINGREQ (5.0)', version: 5, bytes: 'c0 00', packet: { type: 'pingreq' } },
  { name: 'DISCONNECT, normal (short form)', version: 5, bytes: 'e0 00', packet: { type: 'disconnect', reasonCode: 0 } },
  {
    name: 'DISCONNECT with will message (reason only)',
    version: 5,
    bytes: 'e0 01 04',
    packet: { type: 'disconnect', reasonCode: 4 },
  },
  {
    name: 'DISCONNECT with session expiry',
    version: 5,
    bytes: 'e0 07 00 05 11 00 00 00 3c',
    packet: { type: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 60 } },
  },
  { name: 'AUTH, success (short form)', version: 5, bytes: 'f0 00', packet: { type: 'auth', reasonCode: 0 }, decodeOnly: true },
  { name: 'AUTH, success', version: 5, bytes: 'f0 02 00 00', packet: { type: 'auth', reasonCode: 0 } },
  {
    name: 'AUTH, continue, with method and data',
    version: 5,
    bytes: 'f0 0f 18 0d 15 00 05 53 43 52 41 4d 16 00 02 01 02',
    packet: {
      type: 'auth',
      reasonCode: 0x18,
      properties: { authenticationMethod: 'SCRAM', authenticationData: b(1, 2) },
    },
  },
];

/** Plain data for deepEqual: payload views and copies compare by content. */
function plain(p: unknown): unknown {
  return JSON.parse(JSON.stringify(p, (_k, v: unknown) => (v instanceof Uint8Array ? Array.from(v) : v)));
}

describe('byte vectors', () => {
  for (const v of vectors) {
    it(`${v.name} (level ${v.version})`, () => {
      const bytes = hex(v.bytes);
      assert.deepEqual(plain(decode(bytes, v.version)), plain(v.packet), 'decode');
      if (!v.decodeOnly) assert.deepEqual(Array.from(encode(v.packet, v.version)), Array.from(bytes), 'encode');
    });
  }

  it('a PUBLISH head is the packet without its payload, also with the topic pre-encoded', () => {
    const head = { topic: 'a/éb', qos: 1 as const, retain: true, dup: true, packetId: 10 };
    assert.deepEqual(Array.from(encodePublishHead(head, 4, 2)), Array.from(hex('3b 0b 00 05 61 2f c3 a9 62 00 0a')));
    const topicBytes = text('a/éb');
    assert.deepEqual(Array.from(encodePublishHead({ ...head, topic: '', topicBytes }, 4, 2)), Array.from(hex('3b 0b 00 05 61 2f c3 a9 62 00 0a')));
  });

  it('long strings take the native path and stay exact', () => {
    const topic = `${'x'.repeat(200)}/é/${'😀'.repeat(50)}`;
    const p: Packet = { type: 'publish', topic, payload: new Uint8Array(300), qos: 0, retain: false, dup: false };
    const q = decode(encode(p, 4), 4);
    assert.ok(q.type === 'publish');
    assert.equal(q.topic, topic);
  });
});

describe('encode refuses packets it cannot encode validly', () => {
  const publish = { type: 'publish' as const, topic: 't', payload: b(), qos: 0 as const, retain: false, dup: false };
  const refusals: Array<[string, Packet, 3 | 4 | 5]> = [
    ['properties in 3.1.1', { ...publish, properties: { contentType: 'x' } }, 4],
    ['QoS 1 without packet id', { ...publish, qos: 1 }, 4],
    ['packet id 0', { ...publish, qos: 1, packetId: 0 }, 4],
    ['packet id 65536', { ...publish, qos: 2, packetId: 65536 }, 5],
    ['QoS 3', { ...publish, qos: 3 as 0 }, 4],
    ['DUP on QoS 0', { ...publish, dup: true }, 4],
    ['lone surrogate in topic', { ...publish, topic: 'a\ud800' }, 4],
    ['U+0000 in topic', { ...publish, topic: 'a\u0000' }, 4],
    ['topic longer than 65535 bytes', { ...publish, topic: 'é'.repeat(40000) }, 4],
    ['empty topic in 3.1.1', { ...publish, topic: '' }, 4],
    ['empty topic without alias in 5.0', { ...publish, topic: '' }, 5],
    ['topic alias 0', { ...publish, properties: { topicAlias: 0 } }, 5],
    ['subscription identifier 0', { ...publish, properties: { subscriptionIdentifiers: [0] } }, 5],
    ['message expiry interval negative', { ...publish, properties: { messageExpiryInterval: -1 } }, 5],
    ['session expiry in PUBLISH', { ...publish, properties: { sessionExpiryInterval: 1 } }, 5],
    ['correlation data over 65535 bytes', { ...publish, properties: { correlationData: new Uint8Array(70000) } }, 5],
    ['user property with U+0000', { ...publish, properties: { userProperties: [['a', '\u0000']] } }, 5],
    ['reason code in 3.1.1 PUBACK', { type: 'puback', packetId: 1, reasonCode: 0x80 }, 4],
    ['PUBREL reason code 0x10', { type: 'pubrel', packetId: 1, reasonCode: 0x10 }, 5],
    ['AUTH in 3.1.1', { type: 'auth', reasonCode: 0 }, 4],
    ['SUBSCRIBE without subscriptions', { type: 'subscribe', packetId: 1, subscriptions: [] }, 4],
    ['no local in 3.1.1', { type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 't', qos: 0, noLocal: true }] }, 4],
    [
      'two subscription identifiers in SUBSCRIBE',
      { type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 't', qos: 0 }], properties: { subscriptionIdentifiers: [1, 2] } },
      5,
    ],
    ['UNSUBSCRIBE without filters', { type: 'unsubscribe', packetId: 1, topicFilters: [] }, 5],
    ['UNSUBACK reason codes in 3.1.1', { type: 'unsuback', packetId: 1, reasonCodes: [0] }, 4],
    ['SUBACK code 0x83 in 3.1.1', { type: 'suback', packetId: 1, reasonCodes: [0x83] }, 4],
    ['CONNACK session present with refusal', { type: 'connack', sessionPresent: true, reasonCode: 5 }, 4],
    ['CONNACK return code 6 in 3.1.1', { type: 'connack', sessionPresent: false, reasonCode: 6 }, 4],
    ['CONNECT level differs from encoding level', { type: 'connect', protocolVersion: 5, clientId: 'c', clean: true, keepalive: 0 }, 4],
    [
      'CONNECT password without user name in 3.1.1',
      { type: 'connect', protocolVersion: 4, clientId: 'c', clean: true, keepalive: 0, password: b(1) },
      4,
    ],
    [
      'CONNECT topic alias property',
      { type: 'connect', protocolVersion: 5, clientId: 'c', clean: true, keepalive: 0, properties: { topicAlias: 1 } },
      5,
    ],
    [
      'CONNECT authentication data without method',
      { type: 'connect', protocolVersion: 5, clientId: 'c', clean: true, keepalive: 0, properties: { authenticationData: b(1) } },
      5,
    ],
    ['DISCONNECT reason code in 3.1.1', { type: 'disconnect', reasonCode: 0x04 }, 4],
    ['DISCONNECT reason code 0x05', { type: 'disconnect', reasonCode: 0x05 }, 5],
  ];
  for (const [name, packet, version] of refusals) {
    it(name, () => {
      assert.throws(() => encode(packet, version), PacketError);
    });
  }

  it('encodePublishHead checks the same', () => {
    assert.throws(() => encodePublishHead({ topic: 't', qos: 1, retain: false, dup: false }, 4, 0), PacketError);
  });
});
