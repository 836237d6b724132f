/**
 * Two ByteStreams joined in memory: what one end writes, the other reads, in order and never within the write
 * call (a peer answering inside the broker's flush would re-enter it). How a bridge talks MQTT to the broker it
 * runs in, through `broker.accept`, with the broker's flow control intact: a paused end stops reading, and the
 * writer sees the bytes it is owed as `bufferedAmount` and a `drain` once they are read.
 */
import type { ByteStream, PeerInfo, StreamHandlers } from '../transport/index.js';

/** Bytes an end may have waiting at its peer before `write` asks the writer to wait for `drain`. */
const HIGH_WATER = 1024 * 1024;

class MemoryEnd implements ByteStream {
  other!: MemoryEnd;
  private handlers: StreamHandlers | undefined;
  /** Chunks written by the other end and not yet read here. */
  private inbox: Uint8Array[] = [];
  private inboxBytes = 0;
  private paused = false;
  private scheduled = false;
  private closing = false;
  closed = false;
  /** The other end's `write` returned false: it is owed a `drain`. */
  private owesDrain = false;

  constructor(readonly peer: PeerInfo) {}

  start(handlers: StreamHandlers): void {
    this.handlers = handlers;
    if (this.closed) queueMicrotask(() => handlers.close());
    else this.schedule();
  }

  get bufferedAmount(): number {
    return this.other.inboxBytes;
  }

  readonly pausesAtOnce = true;

  write(chunks: readonly Uint8Array[]): boolean {
    if (this.closed || this.closing) return false;
    const other = this.other;
    for (const chunk of chunks) {
      if (chunk.length === 0) continue;
      other.inbox.push(chunk);
      other.inboxBytes += chunk.length;
    }
    other.schedule();
    if (other.inboxBytes < HIGH_WATER) return true;
    other.owesDrain = true;
    return false;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.schedule();
  }

  /** Closes both ends once the other has read what this end wrote. */
  end(): void {
    if (this.closed || this.closing) return;
    this.closing = true;
    this.other.schedule();
  }

  destroy(error?: Error): void {
    if (this.closed) return;
    this.finish(error);
    this.other.finish(undefined);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(this.deliver);
  }

  private readonly deliver = (): void => {
    this.scheduled = false;
    if (this.closed || this.handlers === undefined) return;
    while (!this.paused && this.inbox.length > 0 && !this.closed) {
      const chunk = this.inbox.shift()!;
      this.inboxBytes -= chunk.length;
      this.handlers.data(chunk);
    }
    if (this.owesDrain && this.inboxBytes < HIGH_WATER && !this.other.closed) {
      this.owesDrain = false;
      this.other.handlers?.drain();
    }
    if (this.inbox.length === 0 && this.other.closing) this.destroy();
  };

  private finish(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.inbox = [];
    this.inboxBytes = 0;
    const handlers = this.handlers;
    if (handlers !== undefined) queueMicrotask(() => handlers.close(error));
  }
}

/** A joined pair: `[a, b]`, each seeing `peer` as the other side. */
export function memoryStreams(peerOfA: PeerInfo, peerOfB: PeerInfo): [ByteStream, ByteStream] {
  const a = new MemoryEnd(peerOfA);
  const b = new MemoryEnd(peerOfB);
  a.other = b;
  b.other = a;
  return [a, b];
}
