/**
 * The load of the batched QoS 1 scenario (a best case: many packets per read and per write), run as its own process:
 * one publisher on `pubPort` keeps `window` QoS 1 messages unacknowledged, written in batches; one subscriber on
 * `subPort` acknowledges in batches. Runs until `count` messages arrived or `seconds` passed; prints one JSON line:
 * messages received, seconds from the first publish to the last delivery.
 *
 * Argument (JSON): { pubPort, subPort, count, window, seconds }
 */
import { connect, type Socket } from 'node:net';
import { encode } from '../../src/packet/encode.js';
import { PacketParser } from '../../src/packet/parser.js';
import type { Packet } from '../../src/packet/index.js';

interface Spec {
  pubPort: number;
  subPort: number;
  count: number;
  window: number;
  seconds: number;
}
const spec = JSON.parse(process.argv[2]!) as Spec;

function open(port: number, clientId: string, onPackets: (socket: Socket, packets: Packet[]) => void): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const parser = new PacketParser({ protocolVersion: 4 });
    let ready = false;
    socket.on('data', (chunk) => {
      parser.push(chunk);
      const packets: Packet[] = [];
      for (let p = parser.next(); p !== null; p = parser.next()) {
        if (!ready && p.type === 'connack') {
          ready = true;
          resolve(socket);
        } else packets.push(p);
      }
      if (packets.length > 0) onPackets(socket, packets);
    });
    socket.once('error', reject);
    socket.once('connect', () => socket.write(encode({ type: 'connect', protocolVersion: 4, clientId, clean: true, keepalive: 0 }, 4)));
  });
}

let received = 0;
let lastAt = 0;
let finish: () => void = () => undefined;
const finished = new Promise<void>((r) => (finish = r));
const sub = await open(spec.subPort, 'batched-sub', (s, packets) => {
  const acks: Uint8Array[] = [];
  for (const p of packets) {
    if (p.type !== 'publish') continue;
    received++;
    acks.push(encode({ type: 'puback', packetId: p.packetId!, reasonCode: 0 }, 4));
  }
  if (acks.length > 0) s.write(Buffer.concat(acks));
  lastAt = performance.now();
  if (received >= spec.count) finish();
});
sub.write(encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'batched/t', qos: 1 }] }, 4));
await new Promise((r) => setTimeout(r, 1000));

const payload = Buffer.alloc(64, 0x62);
let sent = 0;
let inflight = 0;
let packetId = 0;
let pub: Socket | undefined;
function fill(): void {
  const out: Uint8Array[] = [];
  while (inflight < spec.window && sent < spec.count) {
    packetId = (packetId % 65535) + 1;
    out.push(encode({ type: 'publish', topic: 'batched/t', payload, qos: 1, retain: false, dup: false, packetId }, 4));
    inflight++;
    sent++;
  }
  if (out.length > 0) pub!.write(Buffer.concat(out));
}
pub = await open(spec.pubPort, 'batched-pub', (_s, packets) => {
  for (const p of packets) if (p.type === 'puback') inflight--;
  fill();
});
const started = performance.now();
fill();
await Promise.race([finished, new Promise((r) => setTimeout(r, spec.seconds * 1000))]);
console.log(JSON.stringify({ received, seconds: ((lastAt || performance.now()) - started) / 1000 }));
pub.destroy();
sub.destroy();
process.exit(0);
