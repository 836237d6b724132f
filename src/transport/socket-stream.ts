import type { OnReadOpts, Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { ByteStream, PeerInfo, StreamHandlers } from './stream.js';

/** Describes a Node socket's peer; `proxied` overrides the address when a PROXY protocol header gave one. */
export function socketPeer(socket: Socket, proxied?: { address: string; port: number }): PeerInfo {
  const tls = socket instanceof TLSSocket;
  const peer: PeerInfo = {
    remoteAddress: proxied?.address ?? socket.remoteAddress ?? '',
    remotePort: proxied?.port ?? socket.remotePort ?? 0,
    transport: tls ? 'tls' : 'tcp',
  };
  if (tls && socket.authorized) {
    const cert = socket.getPeerCertificate();
    if (cert && cert.subject) {
      peer.peerCertificate = {
        subject: cert.subject as unknown as Record<string, string | string[]>,
        raw: cert.raw,
        fingerprint256: cert.fingerprint256,
      };
    }
  }
  return peer;
}

/** Size of the buffer a socket made with `ReusedReadBuffer` reads into: as much as libuv reads at once. */
const READ_BUFFER_SIZE = 64 * 1024;

/**
 * The `onread` option of `net.connect`: the socket reads into one buffer, reused for every read, and each read is
 * handed on as a small copy. That skips Node's per-read allocation and its Readable stream machinery, and it makes
 * `pause()` stop reading at once (a plain socket keeps reading until 16 KiB wait in its readable buffer), which
 * lets a client leave answers in the kernel to read them in one go.
 */
export class ReusedReadBuffer {
  /** Reads delivered before the SocketStream took over. */
  private early: Uint8Array[] = [];
  private deliver: ((chunk: Uint8Array) => void) | undefined;
  readonly option: OnReadOpts = {
    buffer: Buffer.allocUnsafe(READ_BUFFER_SIZE),
    callback: (size: number, buffer: Uint8Array): boolean => {
      // A copy: the parser keeps views of what it was given (payloads, partial packets); small ones share a pool.
      const chunk = Buffer.from(buffer.subarray(0, size));
      if (this.deliver) this.deliver(chunk);
      else this.early.push(chunk);
      return true;
    },
  };

  /** Sends every read, including those that came before, to `deliver`. */
  attach(deliver: (chunk: Uint8Array) => void): Uint8Array[] {
    this.deliver = deliver;
    const early = this.early;
    this.early = [];
    return early;
  }
}

/** The stream a socket belongs to, for the shared event listeners below. */
const streamOf = Symbol('culex.stream');
type OwnedSocket = Socket & { [streamOf]?: SocketStream };

// One set of listener functions for every socket rather than closures per connection (idle memory: a closure and
// its context are about 100 bytes): each finds its stream through the socket it is called on.
function onSocketError(this: OwnedSocket, err: Error): void {
  this[streamOf]?.finish(err);
}
function onSocketClose(this: OwnedSocket): void {
  this[streamOf]?.finish();
}
function onSocketData(this: OwnedSocket, chunk: Uint8Array): void {
  this[streamOf]?.data(chunk);
}
function onSocketDrain(this: OwnedSocket): void {
  this[streamOf]?.drained();
}
function onSocketEnd(this: OwnedSocket): void {
  // A half-closed peer is gone for MQTT purposes.
  this.end();
}

/** A ByteStream over a TCP or TLS socket; several chunks go out in one writev through cork/uncork. */
export class SocketStream implements ByteStream {
  private handlers: StreamHandlers | undefined;
  private closed = false;
  private pending: Uint8Array[] | undefined;
  /** A close that happened before start(), reported by start(). */
  private earlyClose: { error?: Error } | undefined;

  constructor(
    private readonly socket: Socket,
    readonly peer: PeerInfo = socketPeer(socket),
    /** Bytes already read from the socket (e.g. after a PROXY header) that belong to the stream. */
    head?: Uint8Array,
    /** The socket was made with this buffer's `onread` option: reads arrive through it, not as 'data' events. */
    private readonly reads?: ReusedReadBuffer,
  ) {
    socket.setNoDelay(true);
    if (head && head.length > 0) this.pending = [head];
    // Until start(), hold data so nothing is lost between accept and the protocol taking over.
    socket.pause();
    // Listened to from the start: an error before start() must neither be lost nor go unhandled.
    (socket as OwnedSocket)[streamOf] = this;
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
  }

  start(handlers: StreamHandlers): void {
    this.handlers = handlers;
    const socket = this.socket;
    if (this.reads) {
      const early = this.reads.attach((chunk) => handlers.data(chunk));
      if (early.length > 0) (this.pending ??= []).push(...early);
    } else {
      socket.on('data', onSocketData);
    }
    socket.on('drain', onSocketDrain);
    socket.on('end', onSocketEnd);
    if (this.pending) {
      for (const chunk of this.pending) handlers.data(chunk);
      this.pending = undefined;
    }
    if (this.earlyClose) {
      const { error } = this.earlyClose;
      this.earlyClose = undefined;
      handlers.close(error);
    } else {
      socket.resume();
    }
  }

  write(chunks: readonly Uint8Array[]): boolean {
    const socket = this.socket;
    if (this.closed || socket.destroyed) return false;
    if (chunks.length === 1) return socket.write(chunks[0]!);
    socket.cork();
    let ok = true;
    for (const chunk of chunks) ok = socket.write(chunk);
    socket.uncork();
    return ok;
  }

  get pausesAtOnce(): boolean {
    return this.reads !== undefined;
  }

  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(error?: Error): void {
    this.socket.destroy();
    this.finish(error);
  }

  /** Bytes read from the socket ('data'). */
  data(chunk: Uint8Array): void {
    this.handlers!.data(chunk);
  }

  drained(): void {
    this.handlers!.drain();
  }

  /** The socket closed or failed: the handlers hear it once (or, before start(), when they come). */
  finish(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    if (this.handlers) this.handlers.close(error);
    else this.earlyClose = error ? { error } : {};
  }
}
