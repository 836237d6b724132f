/**
 * What the client can tell a program about a connection the broker ended without saying why: the likely cause,
 * from the bytes it got and what it sent last. Pure, so the wording is tested without sockets.
 */

/** A PUBLISH from this size on is big enough to be over a broker's maximum packet size (AWS IoT takes 128 KiB). */
const LARGE_PUBLISH = 128 * 1024;

const HTTP = [0x48, 0x54, 0x54, 0x50, 0x2f]; // "HTTP/"

/** What the server speaks when its first bytes, before any CONNACK, are not MQTT; undefined when they may be. */
export function foreignProtocol(head: Uint8Array): string | undefined {
  if (HTTP.every((byte, i) => head[i] === byte)) {
    return 'the server answered in HTTP: this port serves WebSocket or HTTP, not plain MQTT (for MQTT over WebSocket use a ws:// or wss:// URL)';
  }
  // A TLS record: handshake (0x16) or alert (0x15), protocol version 3.x.
  if ((head[0] === 0x16 || head[0] === 0x15) && head[1] === 0x03) {
    return 'the server answered in TLS: this port expects TLS (use an mqtts:// or wss:// URL)';
  }
  return undefined;
}

/**
 * How soon after a PUBLISH was queued a close is blamed on it: a broker that refuses a packet closes as soon as it
 * has read its header; a close long after is about something else (a restart, a network fault).
 */
export const BLAME_WINDOW_MS = 5000;

/**
 * The connection was closed with a PUBLISH of `size` bytes as the last packet sent. MQTT 3.x has no way for a
 * broker to refuse a packet but closing the connection, so that PUBLISH is the likely cause.
 */
export function closedAfterPublish(size: number): string {
  const why = size >= LARGE_PUBLISH
    ? `a broker closes the connection on a packet larger than its maximum packet size (Culex's broker takes 1 MiB by ` +
      'default, Mosquitto 256 MiB, AWS IoT 128 KiB), or on a topic it does not allow'
    : 'a broker closes the connection on a topic it does not allow, or a packet larger than it takes';
  return `connection closed by the broker right after a PUBLISH of ${size} bytes: over MQTT 3.x, which has no way ` +
    `to refuse a message, ${why}`;
}

/** The server closed the connection after our CONNECT without sending a byte. */
export function closedBeforeAnswer(): string {
  return 'connection closed by the broker before it answered CONNECT: it refused the connection without saying why, ' +
    'or the port speaks another protocol (TLS: mqtts://, WebSocket: ws://)';
}
