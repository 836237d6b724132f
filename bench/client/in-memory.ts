/**
 * The client's own CPU per message, with no socket, kernel or broker in the measurement:
 * `node --import tsx bench/client/in-memory.ts '{"qos":0|1,"window":N,"warmupSeconds":S,"seconds":S}'`.
 * The client is given a stream whose far end answers in the same process: CONNACK to CONNECT, one PUBACK per QoS 1
 * PUBLISH, all the answers to one write in one chunk a turn of the event loop later (as one read would bring
 * them), and a drain after every write (as a full socket would), so that QoS 0 settles per batch too. The far end
 * finds packet ids by position instead of decoding, so the figure is nearly all the client's: packet encoding and
 * parsing, the session, the link's batching, promises. Same loop and output as publisher.ts.
 */
import { connectWith } from '../../src/client/index.js';
import type { ByteStream, PeerInfo, StreamHandlers } from '../../src/transport/stream.js';
import type { ClientResult } from './publisher.js';

interface InMemorySpec {
  qos: 0 | 1;
  window: number;
  warmupSeconds: number;
  seconds: number;
}

const TOPIC = 'bench/client';
const payload = new Uint8Array(64).fill(0x61);
const spec = JSON.parse(process.argv[2] ?? '{}') as InMemorySpec;

/** A broker reduced to what a publisher needs answered. */
class AnsweringStream implements ByteStream {
  readonly peer: PeerInfo = { remoteAddress: '127.0.0.1', remotePort: 0, transport: 'tcp' };
  readonly bufferedAmount = 0;
  private handlers: StreamHandlers | undefined;
  private answers: number[] = [];
  private scheduled = false;
  private closed = false;

  start(handlers: StreamHandlers): void {
    this.handlers = handlers;
  }

  write(chunks: readonly Uint8Array[]): boolean {
    for (const chunk of chunks) {
      const type = chunk[0]! >> 4;
      if (type === 1) this.answers.push(0x20, 2, 0, 0);
      else if (type === 3 && (chunk[0]! & 0x06) !== 0) {
        // Fixed header, remaining length (one byte for these small packets), topic length and topic, packet id.
        const at = 2 + 2 + ((chunk[2]! << 8) | chunk[3]!);
        this.answers.push(0x40, 2, chunk[at]!, chunk[at + 1]!);
      }
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.answer);
    }
    return false;
  }

  private readonly answer = (): void => {
    this.scheduled = false;
    if (this.closed) return;
    const answers = this.answers;
    this.answers = [];
    if (answers.length > 0) this.handlers?.data(Uint8Array.from(answers));
    this.handlers?.drain();
  };

  pause(): void {}
  resume(): void {}

  end(): void {
    this.destroy();
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    setImmediate(() => this.handlers?.close());
  }
}

const client = await connectWith('mqtt://in-memory', { protocolVersion: 4, clientId: 'bench-in-memory', reconnect: false,
  keepalive: 0, maxInflight: spec.window }, async () => new AnsweringStream());
const options = { qos: spec.qos };

let completed = 0;
let running = true;
let failure: Error | undefined;
let owed = spec.window;
let pumping = false;
const pump = (): void => {
  if (pumping) return;
  pumping = true;
  while (owed > 0 && running) {
    owed--;
    client.publish(TOPIC, payload, options).then(onDone, onFail);
  }
  pumping = false;
};
const onDone = (): void => {
  completed++;
  owed++;
  pump();
};
const onFail = (err: Error): void => {
  failure = err;
  running = false;
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
pump();
await sleep(spec.warmupSeconds * 1000);
const cpuBefore = process.cpuUsage();
const countBefore = completed;
const startedAt = performance.now();
await sleep(spec.seconds * 1000);
const cpu = process.cpuUsage(cpuBefore);
const count = completed - countBefore;
const elapsed = performance.now() - startedAt;
running = false;
if (failure) {
  process.stderr.write(`publish failed: ${failure.message}\n`);
  process.exit(1);
}
const result: ClientResult = { rate: (count / elapsed) * 1000, cpuMicrosPerMessage: (cpu.user + cpu.system) / count };
process.stdout.write(JSON.stringify(result) + '\n');
await client.end({ force: true });
process.exit(0);
