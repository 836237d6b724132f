// An in-process connection for tests: a socket-like client end (what RawClient talks to) and a ByteStream server
// end (what Broker.accept takes), behaving as the two sockets of a loopback TCP connection do where a test can
// tell: bytes arrive on a later turn of the event loop, in order, in reads of up to 64 KiB, each the reader's own
// copy; a bounded window is in flight and the rest waits in the writer's buffer, where back-pressure shows; end()
// lets what was written arrive first and destroy() drops what was still buffered; each end closes once it has
// sent and read end-of-stream, or at once when destroyed, and reports it.
import { EventEmitter } from 'node:events';
import { getDefaultHighWaterMark } from 'node:stream';
import type { ByteStream, PeerInfo, StreamHandlers } from '../../src/transport/index.js';

/** The most one read hands over, as a socket reads at most 64 KiB at a time. */
const READ_SIZE = 64 * 1024;
/** A write returns false once this much waits in the writer's buffer, as a socket's write does. */
const HIGH_WATER_MARK = getDefaultHighWaterMark(false);
/** Bytes in flight per direction by default: what the socket buffers of the two kernels would hold. */
const DEFAULT_WINDOW = 64 * 1024;

export interface MemoryPipeOptions {
  /** Bytes one direction holds in flight before writes stay in the writer's buffer; 0 makes every unread byte count there. */
  window?: number;
}

/** What one end tells its owner; called from timers, never from inside a call the owner made. */
interface EndOwner {
  data(chunk: Buffer): void;
  drain(): void;
  closed(): void;
}

/** One end of the pipe: its outgoing bytes (buffered, then in flight) and its reading of the other end's. */
class End {
  other!: End;
  owner!: EndOwner;
  /** Written and not yet in flight: the writer's own buffer (a socket's writableLength). */
  private buffered: Uint8Array[] = [];
  bufferedBytes = 0;
  /** On the way to the other end, copied as a kernel copies what it accepts. */
  private inFlight: Buffer[] = [];
  private inFlightBytes = 0;
  ending = false;
  /** End-of-stream follows the bytes in flight: end() was called and everything buffered went out. */
  private finSent = false;
  private needDrain = false;
  private eofRead = false;
  private readScheduled = false;
  paused: boolean;
  destroyed = false;
  private closed = false;

  constructor(
    private readonly window: number,
    startPaused: boolean,
  ) {
    this.paused = startPaused;
  }

  write(chunk: Uint8Array): boolean {
    // The other end is gone: a socket would fail later with EPIPE; here the bytes are simply lost.
    if (this.other.destroyed) return true;
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    this.send();
    if (this.bufferedBytes < HIGH_WATER_MARK) return true;
    this.needDrain = true;
    return false;
  }

  end(): void {
    if (this.ending || this.destroyed) return;
    this.ending = true;
    this.send();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.ending = true;
    // What was buffered is dropped; what was in flight still arrives, then end-of-stream.
    this.buffered = [];
    this.bufferedBytes = 0;
    this.needDrain = false;
    this.finSent = true;
    // Nothing reaches this end any more: what the other end had on its way here is lost.
    const other = this.other;
    other.buffered = [];
    other.bufferedBytes = 0;
    other.inFlight = [];
    other.inFlightBytes = 0;
    other.scheduleRead();
    this.closeLater();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.scheduleRead();
  }

  /** Moves buffered bytes into flight while the window has room, then end-of-stream once all went. */
  private send(): void {
    let sent = false;
    while (this.buffered.length > 0 && this.inFlightBytes < this.window) {
      const chunk = this.buffered[0]!;
      const room = this.window - this.inFlightBytes;
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      if (part === chunk) this.buffered.shift();
      else this.buffered[0] = chunk.subarray(room);
      this.bufferedBytes -= part.length;
      this.inFlight.push(Buffer.from(part));
      this.inFlightBytes += part.length;
      sent = true;
    }
    if (this.ending && !this.finSent && this.bufferedBytes === 0) {
      this.finSent = true;
      sent = true;
      this.closeIfDone();
    }
    // With a window of 0 the reader takes from the writer's buffer, so anything written there is for it to read.
    if (sent || (this.window === 0 && this.bufferedBytes > 0)) this.other.scheduleRead();
    if (this.needDrain && this.bufferedBytes === 0 && !this.destroyed) {
      this.needDrain = false;
      this.owner.drain();
    }
  }

  /** Up to `max` of the oldest bytes not yet read, as one buffer of the reader's own; undefined when none. */
  private take(max: number): Buffer | undefined {
    const parts: Uint8Array[] = [];
    let size = 0;
    // In flight first; with a window of 0 the reader takes straight from the writer's buffer.
    const sources: Uint8Array[][] = this.window === 0 ? [this.inFlight, this.buffered] : [this.inFlight];
    for (const from of sources) {
      while (from.length > 0 && size < max) {
        const chunk = from[0]!;
        const part = chunk.length <= max - size ? chunk : chunk.subarray(0, max - size);
        if (part === chunk) from.shift();
        else from[0] = chunk.subarray(part.length);
        if (from === this.buffered) this.bufferedBytes -= part.length;
        else this.inFlightBytes -= part.length;
        parts.push(part);
        size += part.length;
      }
    }
    if (size === 0) return undefined;
    // In-flight parts are already copies, but a part of one may share memory with the rest: one fresh buffer.
    return Buffer.concat(parts, size);
  }

  private scheduleRead(): void {
    if (this.readScheduled || this.paused || this.destroyed || this.eofRead) return;
    this.readScheduled = true;
    setImmediate(() => this.read());
  }

  /** One read, on its own turn of the event loop: bytes, or end-of-stream once they are all read. */
  private read(): void {
    this.readScheduled = false;
    if (this.paused || this.destroyed || this.eofRead) return;
    const other = this.other;
    const chunk = other.take(READ_SIZE);
    if (chunk !== undefined) {
      this.owner.data(chunk);
      // The reader made room: the writer's buffer moves on, and it hears 'drain' once that is empty.
      other.send();
      this.scheduleRead();
    } else if (other.finSent) {
      this.eofRead = true;
      // A half-closed peer is gone for MQTT: both ends close their side in turn (allowHalfOpen false).
      this.end();
      this.closeIfDone();
    }
  }

  private closeIfDone(): void {
    if (this.finSent && this.eofRead) this.closeLater();
  }

  private closeLater(): void {
    if (this.closed) return;
    this.closed = true;
    setImmediate(() => this.owner.closed());
  }
}

/** The client end: a stand-in for a connected net.Socket, with the events RawClient listens to. */
export class MemorySocket extends EventEmitter {
  constructor(private readonly pipeEnd: End) {
    super();
    pipeEnd.owner = {
      data: (chunk) => this.emit('data', chunk),
      drain: () => this.emit('drain'),
      closed: () => this.emit('close', false),
    };
  }

  write(bytes: Uint8Array): boolean {
    if (this.pipeEnd.destroyed) return false;
    if (this.pipeEnd.ending) {
      // As a socket does: an error event, then the socket is destroyed.
      process.nextTick(() => {
        this.emit('error', Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' }));
        this.destroy();
      });
      return false;
    }
    return this.pipeEnd.write(bytes);
  }

  end(): this {
    this.pipeEnd.end();
    return this;
  }

  destroy(): this {
    this.pipeEnd.destroy();
    return this;
  }

  pause(): this {
    this.pipeEnd.pause();
    return this;
  }

  resume(): this {
    this.pipeEnd.resume();
    return this;
  }

  /** Bytes written and not yet in flight. */
  get writableLength(): number {
    return this.pipeEnd.bufferedBytes;
  }
}

/** The server end, as a broker takes a connection: nothing is read before `start`. */
export class MemoryServerStream implements ByteStream {
  /** Pausing stops the reads at once, as with a socket that reads into its own buffer. */
  readonly pausesAtOnce = true;
  private handlers: StreamHandlers | undefined;
  private reported = false;

  constructor(
    readonly peer: PeerInfo,
    private readonly pipeEnd: End,
  ) {
    pipeEnd.owner = {
      data: (chunk) => this.handlers?.data(chunk),
      drain: () => this.handlers?.drain(),
      closed: () => this.report(),
    };
  }

  start(handlers: StreamHandlers): void {
    this.handlers = handlers;
    this.pipeEnd.resume();
  }

  write(chunks: readonly Uint8Array[]): boolean {
    if (this.pipeEnd.ending) return false;
    let ok = true;
    for (const chunk of chunks) ok = this.pipeEnd.write(chunk);
    return ok;
  }

  get bufferedAmount(): number {
    return this.pipeEnd.bufferedBytes;
  }

  pause(): void {
    this.pipeEnd.pause();
  }

  resume(): void {
    if (this.handlers !== undefined) this.pipeEnd.resume();
  }

  end(): void {
    this.pipeEnd.end();
  }

  destroy(error?: Error): void {
    this.pipeEnd.destroy();
    // As SocketStream does: the close is reported within destroy, with its reason.
    this.report(error);
  }

  private report(error?: Error): void {
    if (this.reported || this.handlers === undefined) return;
    this.reported = true;
    this.handlers.close(error);
  }
}

let pipes = 0;

/** A new connection: `client` for a RawClient, `server` for `Broker.accept`. */
export function memoryPipe(options: MemoryPipeOptions = {}): { client: MemorySocket; server: MemoryServerStream } {
  const window = options.window ?? DEFAULT_WINDOW;
  const n = pipes++;
  // A documentation address (192.0.2.x, RFC 5737), and a port of its own for each pipe.
  const peer: PeerInfo = { remoteAddress: `192.0.2.${(n % 254) + 1}`, remotePort: 1024 + (n % 64_000), transport: 'tcp' };
  const clientEnd = new End(window, false);
  const serverEnd = new End(window, true);
  clientEnd.other = serverEnd;
  serverEnd.other = clientEnd;
  return { client: new MemorySocket(clientEnd), server: new MemoryServerStream(peer, serverEnd) };
}
