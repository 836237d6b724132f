/**
 * The hostile-client fuzz run, shared by the test (a few thousand inputs) and `npm run fuzz` (a million or more):
 * a broker in a child process, connections sending random and mutated MQTT bytes before and after CONNECT, and
 * two good clients exchanging QoS 1 messages meanwhile. Everything is driven by one seeded generator, so a
 * failing run is replayed by its seed.
 */
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { encode } from '../../src/packet/index.js';
import type { Packet, ProtocolVersion } from '../../src/packet/types.js';
import { connect, type MqttClient } from '../../src/client/index.js';
import type { BrokerMeasure } from './fuzz-broker.js';

/** mulberry32: small, fast, good enough to pick mutations. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FuzzBroker {
  port: number;
  measure(): Promise<BrokerMeasure>;
  stop(): Promise<void>;
}

export async function startFuzzBroker(): Promise<FuzzBroker> {
  const child: ChildProcess = fork(fileURLToPath(new URL('./fuzz-broker.ts', import.meta.url)), {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const next = <T>(type: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMessage = (message: { type: string }): void => {
        if (message.type !== type) return;
        child.off('message', onMessage);
        resolve(message as T);
      };
      child.on('message', onMessage);
      void exited.then((code) => reject(new Error(`the broker process exited (code ${code}) while waiting for ${type}`)));
    });
  const { port } = await next<{ port: number }>('ready');
  return {
    port,
    measure() {
      const answer = next<BrokerMeasure>('measure');
      child.send({ type: 'measure' });
      return answer;
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface HostileCounts {
  inputs: number;
  connections: number;
  /** How each connection ended: closed by the broker, by us after sending, refused, or never closed by the broker. */
  closes: Record<string, number>;
  kinds: Record<string, number>;
}

const te = new TextEncoder();

function validPackets(rand: () => number, version: ProtocolVersion): { connect: Uint8Array; after: Uint8Array[] } {
  const id = Math.floor(rand() * 1e9);
  const connect = encode({
    type: 'connect', protocolVersion: version, clientId: `hostile-${id}`, clean: true, keepalive: 1,
    ...(rand() < 0.3 ? { username: 'u', password: te.encode('p') } : {}),
    ...(rand() < 0.2 ? { will: { topic: `hostile/will/${id}`, payload: te.encode('w'), qos: 1, retain: false } } : {}),
  } as Packet, version);
  const after: Uint8Array[] = [
    encode({ type: 'publish', topic: `hostile/${id % 97}`, payload: te.encode('x'.repeat(Math.floor(rand() * 64))), qos: 1,
      retain: false, dup: false, packetId: 1 + (id % 65535) } as Packet, version),
    encode({ type: 'subscribe', packetId: 2, subscriptions: [{ topicFilter: `hostile/${id % 13}/#`, qos: 1 }] } as Packet, version),
    encode({ type: 'publish', topic: 'hostile/q0', payload: te.encode('y'), qos: 0, retain: false, dup: false } as Packet, version),
    encode({ type: 'pingreq' } as Packet, version),
  ];
  return { connect, after };
}

function randomBytes(rand: () => number, max: number): Uint8Array {
  const bytes = new Uint8Array(1 + Math.floor(rand() * max));
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
  return bytes;
}

/** Bit flips, byte changes, insertions, deletions and cuts of a valid stream. */
function mutate(rand: () => number, input: Uint8Array): Uint8Array {
  let bytes = Array.from(input);
  const edits = 1 + Math.floor(rand() * 4);
  for (let e = 0; e < edits && bytes.length > 0; e++) {
    const at = Math.floor(rand() * bytes.length);
    const op = rand();
    if (op < 0.35) bytes[at] = bytes[at]! ^ (1 << Math.floor(rand() * 8));
    else if (op < 0.6) bytes[at] = Math.floor(rand() * 256);
    else if (op < 0.75) bytes.splice(at, 0, ...randomBytes(rand, 8));
    else if (op < 0.9) bytes.splice(at, 1 + Math.floor(rand() * 4));
    else bytes = bytes.slice(0, at);
  }
  return Uint8Array.from(bytes);
}

const hugeLengths = [
  [0x10, 0xff, 0xff, 0xff, 0x7f], // CONNECT of 256 MB
  [0x30, 0xff, 0xff, 0xff, 0x7f], // PUBLISH of 256 MB
  [0x30, 0xff, 0xff, 0xff, 0xff, 0x01], // a five-byte Remaining Length
  [0x82, 0x80, 0x80, 0x80], // unfinished Remaining Length
];

interface Plan {
  kind: string;
  chunks: Uint8Array[];
  /** Keep the socket open after sending: the broker must close it. */
  linger: boolean;
}

function plan(rand: () => number, maxInputs: number): Plan {
  const version: ProtocolVersion = rand() < 0.5 ? 4 : 5;
  const { connect, after } = validPackets(rand, version);
  const pick = (): Uint8Array => after[Math.floor(rand() * after.length)]!;
  const some = (make: () => Uint8Array): Uint8Array[] => Array.from({ length: 1 + Math.floor(rand() * maxInputs) }, make);
  const r = rand();
  if (r < 0.15) return { kind: 'random bytes', chunks: some(() => randomBytes(rand, 300)), linger: false };
  if (r < 0.35) return { kind: 'mutated CONNECT', chunks: [mutate(rand, connect), ...some(() => mutate(rand, pick()))], linger: false };
  if (r < 0.6) return { kind: 'mutated after CONNECT', chunks: [connect, ...some(() => mutate(rand, pick()))], linger: false };
  if (r < 0.7) return { kind: 'garbage after CONNECT', chunks: [connect, ...some(() => randomBytes(rand, 200))], linger: false };
  if (r < 0.78) {
    const huge = Uint8Array.from(hugeLengths[Math.floor(rand() * hugeLengths.length)]!);
    return { kind: 'huge remaining length', chunks: rand() < 0.5 ? [huge] : [connect, huge], linger: true };
  }
  if (r < 0.88) {
    // Slowloris: part of a packet, then silence.
    const whole = rand() < 0.5 ? connect : Uint8Array.from([...connect, ...pick()]);
    return { kind: 'slowloris', chunks: [whole.subarray(0, 1 + Math.floor(rand() * (whole.length - 1)))], linger: true };
  }
  if (r < 0.94) return { kind: 'truncated stream', chunks: [connect, pick().subarray(0, 2)], linger: rand() < 0.5 };
  return { kind: 'valid then silent', chunks: [connect, ...some(pick)], linger: true };
}

/** One hostile connection; resolves with how it ended. */
function hostileConnection(port: number, p: Plan, rand: () => number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let done = false;
    let sent = false;
    // Lingering sockets wait for the broker's CONNECT timeout or keepalive (1 s here, 1.5 s after CONNECT).
    const timer = setTimeout(() => finish('not closed by the broker'), p.linger ? 6000 : 3000);
    function finish(how: string): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(how);
    }
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.on('close', () => finish(sent ? (p.linger ? 'closed by the broker' : 'closed after sending') : 'closed before sending'));
    socket.on('connect', () => {
      for (const chunk of p.chunks) socket.write(chunk);
      sent = true;
      if (p.linger) return;
      // Half-close or drop: the broker must notice either.
      if (rand() < 0.5) socket.end();
      else setImmediate(() => finish('dropped by us'));
    });
  });
}

/** Runs hostile connections, `concurrency` at a time, until `inputs` chunks were sent or `deadline` (ms epoch) passed. */
export async function runHostile(
  port: number,
  options: { inputs: number; seed: number; concurrency: number; deadline: number; maxInputsPerConnection?: number },
): Promise<HostileCounts> {
  const rand = random(options.seed);
  const counts: HostileCounts = { inputs: 0, connections: 0, closes: {}, kinds: {} };
  const tally = (table: Record<string, number>, key: string): void => {
    table[key] = (table[key] ?? 0) + 1;
  };
  const worker = async (): Promise<void> => {
    while (counts.inputs < options.inputs && Date.now() < options.deadline) {
      const p = plan(rand, options.maxInputsPerConnection ?? 6);
      counts.inputs += p.chunks.length;
      counts.connections++;
      tally(counts.kinds, p.kind);
      tally(counts.closes, await hostileConnection(port, p, rand));
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return counts;
}

export interface GoodTraffic {
  /** Stops publishing; resolves once every acknowledged message arrived (or lists the lost ones). */
  stop(timeoutMs: number): Promise<{ acked: number; received: number; lost: number[] }>;
}

/** A QoS 1 subscriber and a publisher (up to 10 messages in flight) on their own topic. */
export async function goodTraffic(port: number): Promise<GoodTraffic> {
  const url = `mqtt://127.0.0.1:${port}`;
  const subscriber: MqttClient = await connect(url, { clientId: 'good-sub', reconnect: false });
  const publisher: MqttClient = await connect(url, { clientId: 'good-pub', reconnect: false });
  const received = new Set<number>();
  subscriber.on('message', (_topic, payload) => received.add(Number(Buffer.from(payload).toString())));
  await subscriber.subscribe('good/t', { qos: 1 });
  const acked: number[] = [];
  let running = true;
  let failure: unknown;
  let seq = 0;
  const lane = async (): Promise<void> => {
    while (running) {
      const n = seq++;
      await publisher.publish('good/t', String(n), { qos: 1 });
      acked.push(n);
    }
  };
  const lanes = Promise.all(Array.from({ length: 10 }, lane)).catch((error: unknown) => {
    failure = error;
  });
  return {
    async stop(timeoutMs) {
      running = false;
      await lanes;
      if (failure) throw failure;
      const until = Date.now() + timeoutMs;
      while (acked.some((n) => !received.has(n)) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      await Promise.all([subscriber.end(), publisher.end()]);
      return { acked: acked.length, received: received.size, lost: acked.filter((n) => !received.has(n)) };
    },
  };
}
