/**
 * The load of the many-devices scenario, run as its own process (on the load core): `pairs` publishers and `pairs`
 * subscribers, one topic per pair (`dev/<i>`), each a TCP connection of its own. Publishers send at a fixed total
 * rate, in turn, each PUBLISH in its own write; subscribers acknowledge each message as it comes (one write each).
 * Prints `MEASURING` when the measured seconds start, then one JSON line: messages sent, acknowledged and received
 * during them, and the latency (ms, p50 and p99) of the PUBACKs (QoS 1) and of the deliveries. A pair has one
 * message on its way at a time at these rates (one every pairs / rate seconds), so a delivery is timed from its
 * publisher's last PUBLISH.
 *
 * Argument (JSON): { pubPort, subPort, pairs, qos, rate, warmupSeconds, seconds, persistent, fanIn } (`persistent`: the
 * subscribers keep their sessions, Clean Session 0, so the broker stores every QoS 1 message until acknowledged;
 * `fanIn`: one subscriber to `dev/+` takes every message, as a backend behind a fleet does).
 */
import { connect, type Socket } from 'node:net';
import { encode } from '../../src/packet/encode.js';
import { PacketParser } from '../../src/packet/parser.js';
import { percentile } from '../load/scenarios.js';

interface Spec {
  pubPort: number;
  subPort: number;
  pairs: number;
  qos: 0 | 1;
  rate: number;
  warmupSeconds: number;
  seconds: number;
  persistent?: boolean;
  /** One subscriber to `dev/+` takes every message (a backend behind the fleet) instead of one per pair. */
  fanIn?: boolean;
}

const spec = JSON.parse(process.argv[2]!) as Spec;
let measuring = false;
let sent = 0;
let acked = 0;
let received = 0;
/** When each publisher last wrote a PUBLISH, and the latencies measured (ms). */
const sentAt = new Float64Array(spec.pairs);
const pubackMs: number[] = [];
const deliveryMs: number[] = [];

function open(port: number, clientId: string, clean: boolean, onPacket: (socket: Socket, packet: ReturnType<PacketParser['next']>) => void): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const parser = new PacketParser({ protocolVersion: 4 });
    let ready = false;
    socket.on('data', (chunk) => {
      parser.push(chunk);
      for (let packet = parser.next(); packet !== null; packet = parser.next()) {
        if (!ready && packet.type === 'connack') {
          ready = true;
          resolve(socket);
        } else onPacket(socket, packet);
      }
    });
    socket.once('error', reject);
    socket.once('connect', () => socket.write(encode({ type: 'connect', protocolVersion: 4, clientId, clean, keepalive: 0 }, 4)));
  });
}

const subscribers: Socket[] = [];
for (let i = 0; i < (spec.fanIn === true ? 1 : spec.pairs); i++) {
  const socket = await open(spec.subPort, `dev-sub-${i}`, spec.persistent !== true, (s, packet) => {
    if (packet?.type !== 'publish') return;
    if (measuring) {
      received++;
      // Fanned in, the topic names the pair (`dev/<i>`).
      const pair = spec.fanIn === true ? Number(packet.topic.slice(4)) : i;
      deliveryMs.push(performance.now() - sentAt[pair]!);
    }
    if (packet.qos === 1) s.write(encode({ type: 'puback', packetId: packet.packetId!, reasonCode: 0 }, 4));
  });
  const filter = spec.fanIn === true ? 'dev/+' : `dev/${i}`;
  socket.write(encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: filter, qos: spec.qos }] }, 4));
  subscribers.push(socket);
}
const publishers: Socket[] = [];
for (let i = 0; i < spec.pairs; i++) {
  publishers.push(
    await open(spec.pubPort, `dev-pub-${i}`, true, (_s, packet) => {
      if (packet?.type !== 'puback' || !measuring) return;
      acked++;
      pubackMs.push(performance.now() - sentAt[i]!);
    }),
  );
}
// Let the subscriptions settle everywhere (a cluster's SUBACK already waits for that; other brokers are at once).
await new Promise((r) => setTimeout(r, 1000));

const payload = Buffer.alloc(64, 0x61);
const packetIds = new Array<number>(spec.pairs).fill(0);
let next = 0;
const tickMs = 5;
const perTick = (spec.rate * tickMs) / 1000;
let credit = 0;
const timer = setInterval(() => {
  credit += perTick;
  while (credit >= 1) {
    credit--;
    const i = next;
    next = (next + 1) % spec.pairs;
    const packetId = (packetIds[i] = (packetIds[i]! % 65535) + 1);
    sentAt[i] = performance.now();
    publishers[i]!.write(encode({ type: 'publish', topic: `dev/${i}`, payload, qos: spec.qos, retain: false, dup: false, packetId: spec.qos === 0 ? undefined : packetId }, 4));
    if (measuring) sent++;
  }
}, tickMs);

await new Promise((r) => setTimeout(r, spec.warmupSeconds * 1000));
measuring = true;
console.log('MEASURING');
const started = Date.now();
await new Promise((r) => setTimeout(r, spec.seconds * 1000));
measuring = false;
const elapsed = (Date.now() - started) / 1000;
clearInterval(timer);
for (const s of [...publishers, ...subscribers]) s.destroy();
const latency = (values: number[]): { p50?: number; p99?: number } => {
  if (values.length === 0) return {};
  const sorted = Float64Array.from(values).sort();
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
};
console.log(JSON.stringify({ sent, acked, received, seconds: elapsed, puback: latency(pubackMs), delivery: latency(deliveryMs) }));
process.exit(0);
