/**
 * What a generator connection does: flood QoS 0 publishes, keep a window of QoS 1/2 publishes in flight, or
 * receive (and acknowledge) messages. Everything sent is encoded before the run; replies to one received chunk
 * go out in one write.
 */
import { encode, type QoS } from '../../src/packet/index.js';
import type { FrameReceiver, RawConnection } from './raw-connection.js';

const PUBLISH = 3;
const PUBACK = 4;
const PUBREC = 5;
const PUBREL = 6;
const PUBCOMP = 7;
const SUBACK = 9;
const MAX_PACKET_ID = 65535;

/** Many PUBLISH packets encoded back to back, so that consecutive ones go out as one slice. */
export interface PublishRing {
  bytes: Buffer;
  /** offsets[i] is where packet i starts; offsets[count] is the end. */
  offsets: Uint32Array;
  count: number;
}

/** Packet i has topic `topicOf(i)` and, for QoS 1/2, packet id `i % 65535 + 1`. */
export function publishRing(count: number, topicOf: (i: number) => string, qos: QoS, retain: boolean, payload: Uint8Array): PublishRing {
  const parts: Uint8Array[] = [];
  const offsets = new Uint32Array(count + 1);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const packet = encode(
      qos === 0
        ? { type: 'publish', topic: topicOf(i), payload, qos, retain, dup: false }
        : { type: 'publish', topic: topicOf(i), payload, qos, retain, dup: false, packetId: (i % MAX_PACKET_ID) + 1 },
      4,
    );
    parts.push(packet);
    offsets[i] = at;
    at += packet.length;
  }
  offsets[count] = at;
  return { bytes: Buffer.concat(parts), offsets, count };
}

/** Collects 4-byte acknowledgements (PUBACK, PUBREC, PUBREL, PUBCOMP) for one write per received chunk. */
class Replies {
  private buf = Buffer.allocUnsafe(4096);
  private length = 0;

  add(first: number, packetId: number): void {
    if (this.length === this.buf.length) this.grow();
    const b = this.buf;
    b[this.length] = first;
    b[this.length + 1] = 2;
    b[this.length + 2] = packetId >> 8;
    b[this.length + 3] = packetId & 0xff;
    this.length += 4;
  }

  flush(conn: RawConnection): void {
    if (this.length === 0) return;
    conn.write(this.buf.subarray(0, this.length));
    // The written bytes may still be queued in the socket: the next replies go into a fresh buffer.
    this.buf = Buffer.allocUnsafe(4096);
    this.length = 0;
  }

  private grow(): void {
    const bigger = Buffer.allocUnsafe(this.buf.length * 2);
    this.buf.copy(bigger);
    this.buf = bigger;
  }
}

/** QoS 0 publisher writing one pre-encoded batch after another, as fast as the socket drains. */
export class Flooder {
  sent = 0;
  private running = false;
  private readonly pump = (): void => {
    if (!this.running) return;
    this.sent += this.perBatch;
    if (this.conn.write(this.batch)) setImmediate(this.pump);
    else this.conn.socket.once('drain', this.pump);
  };

  constructor(
    private readonly conn: RawConnection,
    private readonly batch: Buffer,
    private readonly perBatch: number,
  ) {}

  start(): void {
    this.running = true;
    this.pump();
  }

  stop(): void {
    this.running = false;
  }
}

/** QoS 1/2 publisher keeping up to `window` messages unacknowledged, sending ring packets in order. */
export class WindowedPublisher implements FrameReceiver {
  /** Messages whose QoS flow completed (PUBACK or PUBCOMP). */
  completed = 0;
  private sent = 0;
  private running = false;
  private readonly replies = new Replies();

  constructor(
    private readonly conn: RawConnection,
    private readonly ring: PublishRing,
    private readonly window: number,
    /** Messages to send in all (Infinity: until stopped). */
    private readonly limit: number,
  ) {
    conn.receiveWith(this);
  }

  get inflight(): number {
    return this.sent - this.completed;
  }

  start(): void {
    this.running = true;
    this.fill();
  }

  stop(): void {
    this.running = false;
  }

  onFrame(first: number, buf: Buffer, start: number): void {
    const type = first >> 4;
    if (type === PUBACK || type === PUBCOMP) this.completed++;
    else if (type === PUBREC) this.replies.add(0x62, buf.readUInt16BE(start));
  }

  onChunkEnd(): void {
    this.replies.flush(this.conn);
    if (this.running) this.fill();
  }

  private fill(): void {
    const room = Math.min(this.window - this.inflight, this.limit - this.sent);
    if (room <= 0) return;
    const { count, offsets, bytes } = this.ring;
    let from = this.sent % count;
    let left = room;
    while (left > 0) {
      const n = Math.min(left, count - from);
      this.conn.write(bytes.subarray(offsets[from], offsets[from + n]));
      left -= n;
      from = 0;
    }
    this.sent += room;
  }
}

/** Counts received PUBLISHes, acknowledges QoS 1/2 ones, and optionally records latency from a stamped payload. */
export class Receiver implements FrameReceiver {
  received = 0;
  /** Latencies in milliseconds, recorded while `recording`; the payload starts with a float64 performance.now(). */
  latencies: Float64Array | undefined;
  latencyCount = 0;
  recording = false;
  /** performance.now() at the end of the read that brought the last PUBLISH, and the first one (0 until one came). */
  lastAt = 0;
  firstAt = 0;
  private readonly replies = new Replies();
  private subacked: (() => void) | undefined;

  constructor(private readonly conn: RawConnection) {
    conn.receiveWith(this);
  }

  subscribe(filter: string, qos: QoS, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no SUBACK for ${filter} within ${timeoutMs} ms`)), timeoutMs);
      this.subacked = () => {
        clearTimeout(timer);
        resolve();
      };
      this.conn.write(encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: filter, qos }] }, 4));
    });
  }

  onFrame(first: number, buf: Buffer, start: number): void {
    const type = first >> 4;
    if (type === PUBLISH) {
      this.received++;
      const qos = (first >> 1) & 3;
      if (qos === 0 && this.latencies === undefined) return;
      let at = start + 2 + buf.readUInt16BE(start);
      if (qos !== 0) {
        this.replies.add(qos === 1 ? 0x40 : 0x50, buf.readUInt16BE(at));
        at += 2;
      }
      if (this.recording && this.latencies !== undefined && this.latencyCount < this.latencies.length) {
        this.latencies[this.latencyCount++] = performance.now() - buf.readDoubleLE(at);
      }
    } else if (type === PUBREL) {
      this.replies.add(0x70, buf.readUInt16BE(start));
    } else if (type === SUBACK) {
      this.subacked?.();
      this.subacked = undefined;
    }
  }

  onChunkEnd(): void {
    this.replies.flush(this.conn);
    this.lastAt = performance.now();
    if (this.firstAt === 0 && this.received > 0) this.firstAt = this.lastAt;
  }
}

/** Publisher at a fixed rate whose payloads carry their send time, for latency. */
export class PacedPublisher implements FrameReceiver {
  sent = 0;
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private readonly payloadAt: number;

  constructor(
    private readonly conn: RawConnection,
    /** One encoded QoS 0 or 1 PUBLISH whose payload ends the packet and is at least 8 bytes. */
    private readonly template: Buffer,
    payloadLength: number,
    private readonly qos: 0 | 1,
    private readonly rate: number,
  ) {
    this.payloadAt = template.length - payloadLength;
    conn.receiveWith(this);
  }

  start(): void {
    this.startedAt = performance.now();
    // A 1 ms timer that sends whatever is due keeps the rate exact without a busy loop.
    this.timer = setInterval(() => this.tick(), 1);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** PUBACKs need no answer, and at this rate the window never fills: nothing to do. */
  onFrame(): void {}

  onChunkEnd(): void {}

  private tick(): void {
    const due = Math.min(1000, Math.floor(((performance.now() - this.startedAt) * this.rate) / 1000) - this.sent);
    if (due <= 0) return;
    const size = this.template.length;
    const out = Buffer.allocUnsafe(size * due);
    for (let k = 0; k < due; k++) {
      const at = k * size;
      this.template.copy(out, at);
      if (this.qos !== 0) out.writeUInt16BE(((this.sent + k) % MAX_PACKET_ID) + 1, at + this.payloadAt - 2);
      out.writeDoubleLE(performance.now(), at + this.payloadAt);
    }
    this.sent += due;
    this.conn.write(out);
  }
}
