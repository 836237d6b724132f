/**
 * Packets that break a rule of the MQTT 3.1, 3.1.1 or 5.0 wire format, each with the reason code the decoder
 * must fail with (0x81 Malformed Packet, 0x82 Protocol Error, 0x84 Unsupported Protocol Version, 0x90 Topic Name
 * Invalid, 0x94 Topic Alias Invalid). A reusable data module: a broker test can send every vector with
 * `sender: 'client'` to a broker and expect the connection to be closed.
 *
 * `version` is the protocol level the receiver has agreed on: for a CONNECT vector, the level the packet claims
 * (4 when it claims an unknown one), for any other vector the level of the CONNECT that preceded it.
 */
import { bytes, hex, pkt, props, u16, u32 } from './build.js';

export interface MalformedVector {
  name: string;
  version: 3 | 4 | 5;
  bytes: Uint8Array;
  reasonCode: number;
  /** Which side may legitimately send this packet type. */
  sender: 'client' | 'server';
}

const MALFORMED = 0x81;
const PROTOCOL = 0x82;
const VERSION = 0x84;

/** CONNECT of MQTT 3.1.1 with these flags and the rest of the payload after the client id. */
const connect4 = (flags: number, ...rest: Array<number | string | number[]>): Uint8Array =>
  pkt(0x10, 'MQTT', 4, flags, u16(60), 'c', ...rest);
/** CONNECT of MQTT 5 with these properties. */
const connect5 = (properties: number[], ...rest: Array<number | string | number[]>): Uint8Array =>
  pkt(0x10, 'MQTT', 5, 0x02, u16(60), properties, 'c', ...rest);
/** QoS 0 PUBLISH of MQTT 5 to `t` with these properties. */
const publish5 = (properties: number[]): Uint8Array => pkt(0x30, 't', properties, 0x61);

const v = (
  name: string,
  version: 3 | 4 | 5,
  b: Uint8Array,
  reasonCode: number,
  sender: 'client' | 'server' = 'client',
): MalformedVector => ({ name, version, bytes: b, reasonCode, sender });

export const malformedVectors: MalformedVector[] = [
  // Fixed header: type and flags (MQTT-2.1.3-1, 2.1.3.1).
  v('reserved packet type 0', 4, hex('00 00'), MALFORMED),
  v('AUTH in MQTT 3.1.1', 4, hex('f0 00'), MALFORMED),
  v('AUTH in MQTT 3.1', 3, hex('f0 00'), MALFORMED),
  v('PUBLISH with QoS 3', 4, pkt(0x36, 't', u16(1), 0x61), MALFORMED),
  v('PUBLISH with QoS 3 (5.0)', 5, pkt(0x36, 't', u16(1), 0, 0x61), MALFORMED),
  v('PUBLISH QoS 0 with DUP set', 4, pkt(0x38, 't', 0x61), MALFORMED),
  v('PUBREL with flags 0000', 4, pkt(0x60, u16(1)), MALFORMED),
  v('SUBSCRIBE with flags 0000', 4, pkt(0x80, u16(1), 't', 0), MALFORMED),
  v('UNSUBSCRIBE with flags 0000', 4, pkt(0xa0, u16(1), 't'), MALFORMED),
  v('SUBSCRIBE with flags 0011', 5, pkt(0x83, u16(1), 0, 't', 0), MALFORMED),
  v('PUBACK with flags 0001', 4, pkt(0x41, u16(1)), MALFORMED),
  v('PINGREQ with flags 1000', 4, hex('c8 00'), MALFORMED),
  v('DISCONNECT with flags 0010', 5, hex('e2 00'), MALFORMED),
  v('CONNECT with flags 0001', 4, bytes(0x11, connect4(0x02).subarray(1)), MALFORMED),

  // Remaining length (MQTT-1.5.5-1, 2.2.3).
  v('remaining length of 5 bytes', 4, hex('30 ff ff ff ff 01'), MALFORMED),
  v('remaining length not in its shortest form (5.0)', 5, hex('c0 80 00'), MALFORMED),
  v('PINGREQ with a body byte', 4, hex('c0 01 00'), MALFORMED),
  v('DISCONNECT with a body byte (3.1.1)', 4, hex('e0 01 00'), MALFORMED),
  v('PUBACK with remaining length 3 (3.1.1)', 4, pkt(0x40, u16(1), 0), MALFORMED),
  v('PUBREL with remaining length 1', 4, pkt(0x62, 0x01), MALFORMED),
  v('PUBLISH QoS 1 cut inside the packet id', 4, pkt(0x32, 't', 0x00), MALFORMED),

  // Packet identifiers (MQTT-2.3.1-1, 2.2.1-3).
  v('PUBACK with packet id 0', 4, pkt(0x40, u16(0)), PROTOCOL),
  v('PUBLISH QoS 1 with packet id 0', 4, pkt(0x32, 't', u16(0), 0x61), PROTOCOL),
  v('SUBSCRIBE with packet id 0', 4, pkt(0x82, u16(0), 't', 0), PROTOCOL),
  v('UNSUBSCRIBE with packet id 0 (5.0)', 5, pkt(0xa2, u16(0), 0, 't'), PROTOCOL),

  // UTF-8 strings (MQTT-1.5.3-1/2, 1.5.4-1/2).
  v('topic length past the end of the packet', 4, pkt(0x30, u16(5), 0x74), MALFORMED),
  v('topic containing U+0000', 4, pkt(0x30, u16(2), 0x74, 0x00), MALFORMED),
  v('topic containing a UTF-8 encoded surrogate', 4, pkt(0x30, u16(3), 0xed, 0xa0, 0x80), MALFORMED),
  v('topic with an overlong UTF-8 sequence', 4, pkt(0x30, u16(2), 0xc0, 0xaf), MALFORMED),
  v('topic with a lone continuation byte', 4, pkt(0x30, u16(1), 0x80), MALFORMED),
  v('topic with a truncated UTF-8 sequence', 4, pkt(0x30, u16(2), 0x74, 0xe2), MALFORMED),
  v('topic with a code point above U+10FFFF', 4, pkt(0x30, u16(4), 0xf4, 0x90, 0x80, 0x80), MALFORMED),
  v('client id that is not UTF-8', 4, pkt(0x10, 'MQTT', 4, 0x02, u16(60), u16(1), 0xff), MALFORMED),
  v('topic filter that is not UTF-8 (5.0)', 5, pkt(0x82, u16(1), 0, u16(1), 0xfe, 0), MALFORMED),

  // PUBLISH topic.
  v('PUBLISH with an empty topic (3.1.1)', 4, pkt(0x30, '', 0x61), 0x90),
  v('PUBLISH with an empty topic and no topic alias (5.0)', 5, pkt(0x30, '', 0, 0x61), PROTOCOL),

  // MQTT 5 properties (2.2.2).
  v('topic alias 0', 5, publish5(props(0x23, u16(0))), 0x94),
  v('property not allowed in PUBLISH (session expiry)', 5, publish5(props(0x11, u32(1))), MALFORMED),
  v('unknown property identifier 0x7f', 5, publish5(props(0x7f, 0)), MALFORMED),
  v('message expiry interval twice', 5, publish5(props(0x02, u32(1), 0x02, u32(2))), PROTOCOL),
  v('property length past the end of the packet', 5, pkt(0x30, 't', 0x05, 0x01), MALFORMED),
  v('property length not in its shortest form', 5, pkt(0x30, 't', 0x80, 0x00), MALFORMED),
  v('payload format indicator 2', 5, publish5(props(0x01, 2)), PROTOCOL),
  v('subscription identifier 0', 5, publish5(props(0x0b, 0)), PROTOCOL),
  v('content type that is not UTF-8', 5, publish5(props(0x03, u16(2), 0xc3, 0x28)), MALFORMED),
  v('user property without its value', 5, pkt(0x30, 't', 0x04, 0x26, 'k'), MALFORMED),
  v('four byte property cut short', 5, pkt(0x30, 't', 0x03, 0x02, 0x00, 0x00), MALFORMED),

  // CONNECT (3.1.2).
  v('CONNECT reserved flag set', 4, connect4(0x03), MALFORMED),
  v('CONNECT protocol level 6', 4, pkt(0x10, 'MQTT', 6, 0x02, u16(60), 'c'), VERSION),
  v('CONNECT protocol level 3 named MQTT', 4, pkt(0x10, 'MQTT', 3, 0x02, u16(60), 'c'), VERSION),
  v('CONNECT protocol level 4 named MQIsdp', 4, pkt(0x10, 'MQIsdp', 4, 0x02, u16(60), 'c'), VERSION),
  v('CONNECT protocol name MQTX', 4, pkt(0x10, 'MQTX', 4, 0x02, u16(60), 'c'), PROTOCOL),
  v('CONNECT will QoS without will flag', 4, connect4(0x0a), MALFORMED),
  v('CONNECT will retain without will flag', 4, connect4(0x22), MALFORMED),
  v('CONNECT will QoS 3', 4, connect4(0x1e, 'w', u16(0)), MALFORMED),
  v('CONNECT password without user name (3.1.1)', 4, connect4(0x42, u16(1), 0x70), MALFORMED),
  v('CONNECT password without user name (3.1)', 3, pkt(0x10, 'MQIsdp', 3, 0x42, u16(60), 'c', u16(1), 0x70), MALFORMED),
  v('CONNECT with a byte after the payload', 4, connect4(0x02, 0x00), MALFORMED),
  v('CONNECT user name flag but no user name', 4, connect4(0x82), MALFORMED),
  v('CONNECT session expiry interval twice', 5, connect5(props(0x11, u32(1), 0x11, u32(1))), PROTOCOL),
  v('CONNECT authentication data without method', 5, connect5(props(0x16, 'x')), PROTOCOL),
  v('CONNECT receive maximum 0', 5, connect5(props(0x21, u16(0))), PROTOCOL),
  v('CONNECT maximum packet size 0', 5, connect5(props(0x27, u32(0))), PROTOCOL),
  v('CONNECT request problem information 2', 5, connect5(props(0x17, 2)), PROTOCOL),
  v('CONNECT with a topic alias property', 5, connect5(props(0x23, u16(1))), MALFORMED),
  v(
    'CONNECT will properties with a topic alias',
    5,
    pkt(0x10, 'MQTT', 5, 0x06, u16(60), props(), 'c', props(0x23, u16(1)), 'w', u16(0)),
    MALFORMED,
  ),

  // SUBSCRIBE / UNSUBSCRIBE (3.8.3, 3.10.3).
  v('SUBSCRIBE without topic filters', 4, pkt(0x82, u16(1)), PROTOCOL),
  v('SUBSCRIBE without topic filters (5.0)', 5, pkt(0x82, u16(1), 0), PROTOCOL),
  v('SUBSCRIBE options with reserved bits (3.1.1)', 4, pkt(0x82, u16(1), 't', 0x04), MALFORMED),
  v('SUBSCRIBE QoS 3 (3.1.1)', 4, pkt(0x82, u16(1), 't', 0x03), MALFORMED),
  v('SUBSCRIBE without options byte', 4, pkt(0x82, u16(1), 't'), MALFORMED),
  v('SUBSCRIBE QoS 3 (5.0)', 5, pkt(0x82, u16(1), 0, 't', 0x03), PROTOCOL),
  v('SUBSCRIBE retain handling 3', 5, pkt(0x82, u16(1), 0, 't', 0x30), PROTOCOL),
  v('SUBSCRIBE options with reserved bits (5.0)', 5, pkt(0x82, u16(1), 0, 't', 0x40), MALFORMED),
  v('SUBSCRIBE with two subscription identifiers', 5, pkt(0x82, u16(1), props(0x0b, 1, 0x0b, 2), 't', 0), PROTOCOL),
  v('UNSUBSCRIBE without topic filters', 4, pkt(0xa2, u16(1)), PROTOCOL),
  v('UNSUBSCRIBE without topic filters (5.0)', 5, pkt(0xa2, u16(1), 0), PROTOCOL),

  // Acknowledgements, DISCONNECT, AUTH reason codes and properties.
  v('PUBACK reason code 0x01', 5, pkt(0x40, u16(1), 0x01), PROTOCOL),
  v('PUBREL reason code 0x10 (a PUBACK code)', 5, pkt(0x62, u16(1), 0x10), PROTOCOL),
  v('PUBCOMP reason code 0x80', 5, pkt(0x70, u16(1), 0x80), PROTOCOL),
  v('PUBACK with a topic alias property', 5, pkt(0x40, u16(1), 0, props(0x23, u16(1))), MALFORMED),
  v('PUBREC with the reason string twice', 5, pkt(0x50, u16(1), 0, props(0x1f, 'a', 0x1f, 'b')), PROTOCOL),
  v('PUBACK with bytes after its properties', 5, pkt(0x40, u16(1), 0, props(), 0x00), MALFORMED),
  v('DISCONNECT reason code 0x05', 5, hex('e0 01 05'), PROTOCOL),
  v('DISCONNECT property length past the end', 5, hex('e0 02 00 05'), MALFORMED),
  v('DISCONNECT with a topic alias property', 5, pkt(0xe0, 0, props(0x23, u16(1))), MALFORMED),
  v('AUTH reason code 0x01', 5, hex('f0 01 01'), PROTOCOL),
  v('AUTH data without method', 5, pkt(0xf0, 0x18, props(0x16, 'x')), PROTOCOL),

  // Packets a server sends (checked by the client side).
  v('CONNACK reserved flags', 4, hex('20 02 02 00'), MALFORMED, 'server'),
  v('CONNACK return code 6 (3.1.1)', 4, hex('20 02 00 06'), PROTOCOL, 'server'),
  v('CONNACK session present with a refusal', 4, hex('20 02 01 05'), PROTOCOL, 'server'),
  v('CONNACK with remaining length 3 (3.1.1)', 4, hex('20 03 00 00 00'), MALFORMED, 'server'),
  v('CONNACK reason code 0x01 (5.0)', 5, hex('20 03 00 01 00'), PROTOCOL, 'server'),
  v('CONNACK with a topic alias property', 5, pkt(0x20, 0, 0, props(0x23, u16(1))), MALFORMED, 'server'),
  v('CONNACK maximum QoS 2', 5, pkt(0x20, 0, 0, props(0x24, 2)), PROTOCOL, 'server'),
  v('SUBACK return code 3 (3.1.1)', 4, pkt(0x90, u16(1), 0x03), PROTOCOL, 'server'),
  v('SUBACK without return codes', 4, pkt(0x90, u16(1)), PROTOCOL, 'server'),
  v('UNSUBACK with remaining length 3 (3.1.1)', 4, pkt(0xb0, u16(1), 0), MALFORMED, 'server'),
  v('UNSUBACK without reason codes (5.0)', 5, pkt(0xb0, u16(1), 0), PROTOCOL, 'server'),
  v('UNSUBACK reason code 0x10 (5.0)', 5, pkt(0xb0, u16(1), 0, 0x10), PROTOCOL, 'server'),
  v('PINGRESP with a body byte', 4, hex('d0 01 00'), MALFORMED, 'server'),
];
