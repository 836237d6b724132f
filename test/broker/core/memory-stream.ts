// An in-process ByteStream pair for driving the broker's state machine without sockets. The far end can be
// frozen (its writes report back-pressure and pile up), which sockets make hard to arrange exactly.
import { encode, PacketParser } from '../../../src/packet/index.js';
import type { Packet, ProtocolVersion } from '../../../src/packet/types.js';
import type { ByteStream, PeerInfo, StreamHandlers } from '../../../src/transport/stream.js';

/** The broker's end of the pipe. */
export class MemoryStream implements ByteStream {
  readonly peer: PeerInfo = { remoteAddress: '192.0.2.1', remotePort: 1, transport: 'tcp' };
  handlers: StreamHandlers | undefined;
  /** Batches the broker wrote, in order. */
  readonly writes: Uint8Array[][] = [];
  /** When true, writes report back-pressure and stay buffered until `thaw`. */
  frozen = false;
  bufferedAmount = 0;
  paused = false;
  closed = false;
  private held: Uint8Array[] = [];

  constructor(private readonly deliver: (chunk: Uint8Array) => void) {}

  start(handlers: StreamHandlers): void {
    this.handlers = handlers;
  }

  write(chunks: readonly Uint8Array[]): boolean {
    if (this.closed) return false;
    this.writes.push([...chunks]);
    if (this.frozen) {
      for (const c of chunks) this.bufferedAmount += c.length;
      this.held.push(...chunks);
      return false;
    }
    for (const c of chunks) this.deliver(c);
    return true;
  }

  thaw(): void {
    this.frozen = false;
    const held = this.held;
    this.held = [];
    this.bufferedAmount = 0;
    for (const c of held) this.deliver(c);
    this.handlers?.drain();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
  }

  end(): void {
    this.destroy();
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    queueMicrotask(() => this.handlers?.close());
  }

  /** Bytes from the client. */
  push(bytes: Uint8Array): void {
    if (!this.closed) this.handlers?.data(bytes);
  }
}

/** The client's end: encodes packets into the broker's stream and decodes what comes back. */
export class MemoryPeer {
  readonly stream: MemoryStream;
  readonly received: Packet[] = [];
  private readonly parser: PacketParser;

  constructor(private version: ProtocolVersion = 5) {
    this.parser = new PacketParser({ protocolVersion: version });
    this.stream = new MemoryStream((chunk) => {
      this.parser.push(chunk);
      for (let p = this.parser.next(); p !== null; p = this.parser.next()) this.received.push(p);
    });
  }

  send(packet: Packet): void {
    if (packet.type === 'connect') {
      this.version = packet.protocolVersion;
      this.parser.protocolVersion = packet.protocolVersion;
    }
    this.stream.push(encode(packet, this.version));
  }

  /** Received packets of a type, removed from `received`. */
  take<T extends Packet['type']>(type: T): Array<Extract<Packet, { type: T }>> {
    const out: Array<Extract<Packet, { type: T }>> = [];
    for (let i = 0; i < this.received.length; ) {
      const p = this.received[i]!;
      if (p.type === type) {
        out.push(p as Extract<Packet, { type: T }>);
        this.received.splice(i, 1);
      } else i++;
    }
    return out;
  }
}

/** Lets queued microtasks and immediate callbacks run (the broker flushes its writes once per tick). */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
