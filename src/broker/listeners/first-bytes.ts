import { startsWithProxySignature } from '../../transport/internal.js';

/** What the first bytes of a connection look like. */
export type FirstBytes = 'connect' | 'mqtt' | 'http' | 'tls' | 'proxy';

const HTTP_METHOD = /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE|PRI) /;
/** A TLS record of type handshake (22) with major version 3: a ClientHello. */
const TLS_HANDSHAKE = 0x16;
const MQTT_CONNECT = 0x10;

/**
 * Tells an MQTT CONNECT from what a misdirected client sends first: an HTTP request, a TLS ClientHello, a PROXY
 * protocol header, or bytes that can only be some other MQTT packet (or garbage). Needs only the first read.
 */
export function classifyFirstBytes(bytes: Uint8Array): FirstBytes {
  const first = bytes[0];
  if (first === MQTT_CONNECT) return 'connect';
  if (first === TLS_HANDSHAKE && (bytes.length < 2 || bytes[1] === 3)) return 'tls';
  if (startsWithProxySignature(bytes)) return 'proxy';
  if (HTTP_METHOD.test(Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 8)).toString('latin1'))) return 'http';
  return 'mqtt';
}

const PACKET_NAMES = [
  'reserved type 0', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP',
  'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'AUTH',
];

/**
 * Why the first bytes on an MQTT stream (plain, inside TLS or in WebSocket frames) cannot start a session, in a
 * log line's words; undefined for a CONNECT, which the protocol layer checks further.
 */
export function notMqttReason(bytes: Uint8Array, secure: boolean): string | undefined {
  if (bytes.length === 0) return undefined;
  switch (classifyFirstBytes(bytes)) {
    case 'connect':
      return undefined;
    case 'http':
      return 'sent an HTTP request to an MQTT port';
    case 'tls':
      return secure ? 'sent a TLS handshake inside TLS' : 'sent a TLS handshake to a plain MQTT port';
    case 'proxy':
      return 'sent a PROXY protocol header to a listener without proxyProtocol';
    case 'mqtt':
      return `first packet was not CONNECT (first byte 0x${bytes[0]!.toString(16).padStart(2, '0')}: ${PACKET_NAMES[bytes[0]! >> 4]})`;
  }
}
