/**
 * Codec throughput, culex/packet against mqtt-packet in one process: `node --import tsx bench/codec.ts`.
 * Each case alternates rounds of the two (ROUND_MS each, ROUNDS times) and reports the median ops/s and the
 * ratio ours/theirs. Operations are packets parsed or encoded.
 */
import mqttPacket from 'mqtt-packet';
import { encode, PacketParser, type Packet, type PublishPacket } from '../src/packet/index.js';

const ROUND_MS = Number(process.env.ROUND_MS ?? 250);
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const STREAM_PACKETS = 2000;
const CHUNK = 16 * 1024;

const topic = 'sensors/building-7/floor-3/temperature';
const payload = Buffer.alloc(64, 0x61);

const publishV4: PublishPacket = { type: 'publish', topic, payload, qos: 0, retain: false, dup: false };
const publishV5: PublishPacket = {
  type: 'publish',
  topic,
  payload,
  qos: 1,
  retain: false,
  dup: false,
  packetId: 42,
  properties: { messageExpiryInterval: 3600, contentType: 'application/json', userProperties: [['trace', 'a1b2c3']] },
};
const theirsV4 = { cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false } as const;
const theirsV5 = {
  cmd: 'publish',
  topic,
  payload,
  qos: 1,
  retain: false,
  dup: false,
  messageId: 42,
  properties: { messageExpiryInterval: 3600, contentType: 'application/json', userProperties: { trace: 'a1b2c3' } },
} as const;

/** A stream of `count` copies of one encoded packet, cut into TCP-sized chunks. */
function stream(packet: Uint8Array, count: number): Buffer[] {
  const all = Buffer.concat(Array.from({ length: count }, () => packet));
  const chunks: Buffer[] = [];
  for (let i = 0; i < all.length; i += CHUNK) chunks.push(all.subarray(i, i + CHUNK));
  return chunks;
}

let sink = 0;

/** Runs `op` (which does `per` operations) for about ROUND_MS; returns ops/s. */
function round(op: () => void, per: number): number {
  const start = performance.now();
  let n = 0;
  let elapsed = 0;
  do {
    op();
    n += per;
    elapsed = performance.now() - start;
  } while (elapsed < ROUND_MS);
  return (n / elapsed) * 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

interface Result {
  name: string;
  ours: number;
  theirs: number;
}

function compare(name: string, ours: () => void, theirs: () => void, per: number): Result {
  // Warm up both before measuring.
  round(ours, per);
  round(theirs, per);
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    a.push(round(ours, per));
    b.push(round(theirs, per));
  }
  return { name, ours: median(a), theirs: median(b) };
}

function parseOurs(chunks: Buffer[], version: 4 | 5): () => void {
  return () => {
    const parser = new PacketParser({ protocolVersion: version });
    for (const chunk of chunks) {
      parser.push(chunk);
      let p: Packet | null;
      while ((p = parser.next()) !== null) if (p.type === 'publish') sink += p.payload.length;
    }
  };
}

function parseTheirs(chunks: Buffer[], version: 4 | 5): () => void {
  return () => {
    const parser = mqttPacket.parser({ protocolVersion: version });
    parser.on('packet', (p: mqttPacket.Packet) => {
      if (p.cmd === 'publish') sink += (p.payload as Buffer).length;
    });
    for (const chunk of chunks) parser.parse(chunk);
  };
}

const ENCODES = 1000;
function encodeOurs(packet: PublishPacket, version: 4 | 5): () => void {
  return () => {
    for (let i = 0; i < ENCODES; i++) sink += encode(packet, version).length;
  };
}
function encodeTheirs(packet: mqttPacket.IPublishPacket, version: 4 | 5): () => void {
  const opts = { protocolVersion: version };
  return () => {
    for (let i = 0; i < ENCODES; i++) sink += mqttPacket.generate(packet, opts).length;
  };
}

const v4Stream = stream(encode(publishV4, 4), STREAM_PACKETS);
const v5Stream = stream(encode(publishV5, 5), STREAM_PACKETS);

const results = [
  compare('parse QoS 0 PUBLISH, 64 B payload (3.1.1)', parseOurs(v4Stream, 4), parseTheirs(v4Stream, 4), STREAM_PACKETS),
  compare('encode QoS 0 PUBLISH, 64 B payload (3.1.1)', encodeOurs(publishV4, 4), encodeTheirs(theirsV4, 4), ENCODES),
  compare('parse QoS 1 PUBLISH + 3 properties (5.0)', parseOurs(v5Stream, 5), parseTheirs(v5Stream, 5), STREAM_PACKETS),
  compare('encode QoS 1 PUBLISH + 3 properties (5.0)', encodeOurs(publishV5, 5), encodeTheirs(theirsV5, 5), ENCODES),
];

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(12);
console.log(`${'case'.padEnd(46)} ${'culex ops/s'.padStart(12)} ${'mqtt-packet'.padStart(12)}  ratio`);
for (const r of results) {
  console.log(`${r.name.padEnd(46)} ${fmt(r.ours)} ${fmt(r.theirs)}  ${(r.ours / r.theirs).toFixed(2)}x`);
}
if (sink === 0) console.log('(nothing measured)');
