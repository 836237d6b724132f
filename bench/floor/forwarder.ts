/**
 * The floor Node.js sets in the many-devices regime: a bare forwarder that does only what a broker cannot avoid
 * there, for MQTT 3.1.1 clients of `bench/cluster/devices-load.ts`. CONNECT gets a CONNACK, SUBSCRIBE a SUBACK (its
 * first filter names the subscriber's topic), a QoS 0/1 PUBLISH is written to the topic's subscriber as received
 * (same bytes, same packet id) and answered with a PUBACK; everything else is read and dropped. No sessions,
 * no store, no topic tree, no flow control, no checks: it is not a broker, it is what `net` costs per packet —
 * one read per incoming packet and one write per outgoing one, as a broker has.
 *
 * `node --import tsx bench/floor/forwarder.ts` prints `listening on mqtt://127.0.0.1:PORT` and serves until killed;
 * with FLOOR_TLS_CERT and FLOOR_TLS_KEY (PEM files) it serves TLS and prints `mqtts://`.
 */
import { readFileSync } from 'node:fs';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';

const subscribers = new Map<string, Socket>();
const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00]);

/** Length of the packet at the start of `buf` (fixed header included), or 0 when it is not all there. */
function packetLength(buf: Buffer): number {
  let value = 0;
  let multiplier = 1;
  for (let i = 1; i < 5; i++) {
    if (i >= buf.length) return 0;
    const byte = buf[i]!;
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return buf.length >= i + 1 + value ? i + 1 + value : 0;
    multiplier *= 128;
  }
  throw new Error('malformed remaining length');
}

function handle(socket: Socket, packet: Buffer): void {
  const type = packet[0]! >> 4;
  const body = packet[1]! < 0x80 ? 2 : packet[2]! < 0x80 ? 3 : 4;
  switch (type) {
    case 1:
      socket.write(CONNACK);
      return;
    case 8: {
      const topicLength = packet.readUInt16BE(body + 2);
      subscribers.set(packet.toString('utf8', body + 4, body + 4 + topicLength), socket);
      socket.write(Buffer.from([0x90, 0x03, packet[body]!, packet[body + 1]!, packet[body + 4 + topicLength]! & 3]));
      return;
    }
    case 3: {
      const topicLength = packet.readUInt16BE(body);
      subscribers.get(packet.toString('latin1', body + 2, body + 2 + topicLength))?.write(packet);
      if (((packet[0]! >> 1) & 3) === 1) {
        const id = body + 2 + topicLength;
        socket.write(Buffer.from([0x40, 0x02, packet[id]!, packet[id + 1]!]));
      }
      return;
    }
    case 12:
      socket.write(Buffer.from([0xd0, 0x00]));
      return;
    default:
      return;
  }
}

function serve(socket: Socket): void {
  socket.setNoDelay(true);
  let pending: Buffer | undefined;
  socket.on('data', (chunk: Buffer) => {
    let buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    pending = undefined;
    for (;;) {
      const length = buf.length === 0 ? 0 : packetLength(buf);
      if (length === 0) break;
      // A copy: the PUBLISH is written on as it is, and the chunk it came in is not kept.
      handle(socket, length === buf.length ? buf : Buffer.from(buf.subarray(0, length)));
      buf = buf.subarray(length);
    }
    if (buf.length > 0) pending = Buffer.from(buf);
  });
  socket.on('error', () => socket.destroy());
}

const certFile = process.env['FLOOR_TLS_CERT'];
const keyFile = process.env['FLOOR_TLS_KEY'];
const tls = certFile !== undefined && keyFile !== undefined;
const server = tls ? createTlsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, serve) : createTcpServer(serve);
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address !== null && typeof address === 'object') process.stderr.write(`listening on ${tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${address.port}\n`);
});
