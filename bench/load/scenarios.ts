/** The generator's scenarios: each connects its clients, drives load, measures at the receivers and disconnects. */
import { encode } from '../../src/packet/index.js';
import { RawConnection } from './raw-connection.js';
import { Flooder, PacedPublisher, publishRing, Receiver, WindowedPublisher } from './roles.js';
import {
  SATURATION,
  type GeneratorCpu,
  type LatencyResult,
  type LatencySpec,
  type RetainedResult,
  type RetainedSpec,
  type ThroughputResult,
  type ThroughputSpec,
} from './spec.js';

const PAYLOAD_BYTES = 64;
const FLOOD_BATCH = 128;
const RING_PACKETS = 65535;
const SUBACK_TIMEOUT_MS = 10_000;
/** After publishing stops, the run waits until nothing arrived for this long (QoS 0 loss is counted after it). */
const QUIET_MS = 500;
const MAX_SETTLE_MS = 10_000;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Measures this process's CPU from `start()` to `stop()` against wall time. */
export class CpuMeter {
  private cpu = process.cpuUsage();
  private at = performance.now();

  start(): void {
    this.cpu = process.cpuUsage();
    this.at = performance.now();
  }

  stop(): GeneratorCpu {
    const used = process.cpuUsage(this.cpu);
    const share = (used.user + used.system) / 1000 / (performance.now() - this.at);
    return { generatorCpu: share, saturated: share > SATURATION };
  }
}

function payload(): Buffer {
  return Buffer.alloc(PAYLOAD_BYTES, 0x61);
}

/** Waits until `count()` stops changing for `quietMs` (or `done()` holds), at most `maxMs`. */
async function settle(count: () => number, done: () => boolean, quietMs = QUIET_MS, maxMs = MAX_SETTLE_MS): Promise<void> {
  const deadline = performance.now() + maxMs;
  let last = -1;
  let quietSince = performance.now();
  while (!done() && performance.now() < deadline) {
    const now = count();
    if (now !== last) {
      last = now;
      quietSince = performance.now();
    } else if (performance.now() - quietSince >= quietMs) return;
    await sleep(20);
  }
}

async function openReceivers(
  port: number,
  n: number,
  filter: string,
  qos: 0 | 1 | 2,
  persistent: boolean,
): Promise<{ conns: RawConnection[]; receivers: Receiver[] }> {
  const conns = await Promise.all(
    Array.from({ length: n }, (_, i) => RawConnection.open({ port, clientId: `bench-sub-${i}`, clean: !persistent })),
  );
  const receivers = conns.map((conn) => new Receiver(conn));
  await Promise.all(receivers.map((r) => r.subscribe(filter, qos, SUBACK_TIMEOUT_MS)));
  return { conns, receivers };
}

function openPublishers(port: number, n: number): Promise<RawConnection[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => RawConnection.open({ port, clientId: `bench-pub-${i}` })));
}

function totalReceived(receivers: Receiver[]): number {
  let sum = 0;
  for (const r of receivers) sum += r.received;
  return sum;
}

export async function throughput(spec: ThroughputSpec): Promise<ThroughputResult> {
  const fanIn = spec.topics === 'fan-in';
  const { conns: subConns, receivers } = await openReceivers(
    spec.port,
    spec.subscribers,
    fanIn ? 'bench/#' : 'bench/fanout',
    spec.qos,
    spec.persistentSubscribers ?? false,
  );
  const pubConns = await openPublishers(spec.port, spec.publishers);
  const body = payload();
  const topicOf = (p: number): string => (fanIn ? `bench/${p}/data` : 'bench/fanout');
  // Messages the publishers handed over: written (QoS 0) or acknowledged by the broker (QoS 1/2).
  let handedOver: () => number;
  let stop: () => void;
  let publishersDone: () => boolean;
  if (spec.qos === 0) {
    const flooders = pubConns.map((conn, p) => {
      const ring = publishRing(FLOOD_BATCH, () => topicOf(p), 0, false, body);
      return new Flooder(conn, ring.bytes, FLOOD_BATCH);
    });
    flooders.forEach((f) => f.start());
    handedOver = () => flooders.reduce((sum, f) => sum + f.sent, 0);
    stop = () => flooders.forEach((f) => f.stop());
    publishersDone = () => true;
  } else {
    const publishers = pubConns.map((conn, p) => {
      const ring = publishRing(RING_PACKETS, () => topicOf(p), spec.qos, false, body);
      return new WindowedPublisher(conn, ring, spec.window, Infinity);
    });
    publishers.forEach((p) => p.start());
    handedOver = () => publishers.reduce((sum, p) => sum + p.completed, 0);
    stop = () => publishers.forEach((p) => p.stop());
    publishersDone = () => publishers.every((p) => p.inflight === 0);
  }
  await sleep(spec.warmupSeconds * 1000);
  const cpu = new CpuMeter();
  const before = totalReceived(receivers);
  const startedAt = performance.now();
  await sleep(spec.seconds * 1000);
  const received = totalReceived(receivers) - before;
  const elapsed = performance.now() - startedAt;
  const usage = cpu.stop();
  stop();
  const expected = (): number => handedOver() * spec.subscribers;
  await settle(() => totalReceived(receivers), () => publishersDone() && totalReceived(receivers) >= expected());
  // For QoS 1/2 a loss is a message the broker acknowledged and then dropped (a full session queue, say).
  const loss = expected() > 0 ? Math.max(0, 1 - totalReceived(receivers) / expected()) : 0;
  for (const c of [...pubConns, ...subConns]) c.close();
  return { kind: 'throughput', rate: (received / elapsed) * 1000, loss, ...usage };
}

/** The `p` quantile (0-1) of sorted samples; NaN when there are none. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

export async function latency(spec: LatencySpec): Promise<LatencyResult> {
  const { conns, receivers } = await openReceivers(spec.port, 1, 'bench/latency', spec.qos, false);
  const receiver = receivers[0]!;
  receiver.latencies = new Float64Array(Math.ceil(spec.rate * spec.seconds * 1.5) + 1000);
  const [pubConn] = await openPublishers(spec.port, 1);
  const template = Buffer.from(
    spec.qos === 0
      ? encode({ type: 'publish', topic: 'bench/latency', payload: payload(), qos: 0, retain: false, dup: false }, 4)
      : encode({ type: 'publish', topic: 'bench/latency', payload: payload(), qos: 1, retain: false, dup: false, packetId: 1 }, 4),
  );
  const publisher = new PacedPublisher(pubConn!, template, PAYLOAD_BYTES, spec.qos, spec.rate);
  publisher.start();
  await sleep(spec.warmupSeconds * 1000);
  const cpu = new CpuMeter();
  receiver.recording = true;
  await sleep(spec.seconds * 1000);
  receiver.recording = false;
  const usage = cpu.stop();
  publisher.stop();
  await settle(() => receiver.received, () => receiver.received >= publisher.sent);
  const samples = receiver.latencies.slice(0, receiver.latencyCount).sort();
  for (const c of [...conns, pubConn!]) c.close();
  return {
    kind: 'latency',
    p50: percentile(samples, 0.5),
    p99: percentile(samples, 0.99),
    p999: percentile(samples, 0.999),
    samples: samples.length,
    loss: publisher.sent > 0 ? Math.max(0, 1 - receiver.received / publisher.sent) : 0,
    ...usage,
  };
}

export async function retained(spec: RetainedSpec): Promise<RetainedResult> {
  const [pubConn] = await openPublishers(spec.port, 1);
  const ring = publishRing(spec.count, (i) => `bench/retained/${Math.floor(i / 1000)}/${i % 1000}`, 1, true, payload());
  const publisher = new WindowedPublisher(pubConn!, ring, 100, spec.count);
  const storeStart = performance.now();
  publisher.start();
  const deadline = storeStart + 120_000;
  while (publisher.completed < spec.count && performance.now() < deadline) await sleep(20);
  if (publisher.completed < spec.count) throw new Error(`only ${publisher.completed} of ${spec.count} retained publishes acknowledged`);
  const storeRate = (spec.count / (performance.now() - storeStart)) * 1000;
  pubConn!.close();

  const subConn = await RawConnection.open({ port: spec.port, clientId: 'bench-retained-sub' });
  const receiver = new Receiver(subConn);
  const cpu = new CpuMeter();
  const subscribedAt = performance.now();
  await receiver.subscribe('#', 0, SUBACK_TIMEOUT_MS);
  // A broker may scan its retained store for a while before the first message: a longer quiet period here.
  await settle(() => receiver.received, () => receiver.received >= spec.count, 3000, 120_000);
  const usage = cpu.stop();
  const milliseconds = receiver.lastAt - subscribedAt;
  subConn.close();
  return {
    kind: 'retained',
    rate: milliseconds > 0 ? (receiver.received / milliseconds) * 1000 : 0,
    received: receiver.received,
    milliseconds,
    firstMilliseconds: receiver.firstAt - subscribedAt,
    storeRate,
    ...usage,
  };
}
