import type { WebSocket as WsSocket, RawData } from 'ws';
import type { ByteStream, PeerInfo, StreamHandlers } from './stream.js';

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

/**
 * A ByteStream over a `ws` WebSocket (server side, or a Node client). MQTT packets may span frames and a frame may
 * hold several packets: the parser sees a byte stream. A text frame is a protocol violation and closes the stream.
 */
export class WebSocketStream implements ByteStream {
  private handlers: StreamHandlers | undefined;
  private closed = false;
  private pending: Uint8Array[] | undefined = [];
  private earlyClose: { error?: Error } | undefined;
  /** ws has no 'drain' event: we watch the underlying socket. */
  private waitingDrain = false;

  constructor(
    private readonly ws: WsSocket,
    readonly peer: PeerInfo,
    /** Above this many buffered bytes `write` returns false. */
    private readonly highWaterMark = 64 * 1024,
  ) {
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (!isBinary) {
        ws.close(1003, 'MQTT needs binary frames');
        this.finish(new Error('text frame received on an MQTT WebSocket'));
        return;
      }
      const bytes = toBytes(data);
      if (this.handlers) this.handlers.data(bytes);
      else this.pending?.push(bytes);
    });
    ws.on('error', (err: Error) => this.finish(err));
    ws.on('close', () => this.finish());
  }

  start(handlers: StreamHandlers): void {
    this.handlers = handlers;
    const pending = this.pending ?? [];
    this.pending = undefined;
    for (const chunk of pending) handlers.data(chunk);
    if (this.earlyClose) {
      const { error } = this.earlyClose;
      this.earlyClose = undefined;
      handlers.close(error);
    }
  }

  write(chunks: readonly Uint8Array[]): boolean {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return false;
    const frame = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks as Uint8Array[]);
    this.ws.send(frame, { binary: true, compress: false });
    if (this.ws.bufferedAmount < this.highWaterMark) return true;
    this.watchDrain();
    return false;
  }

  private watchDrain(): void {
    if (this.waitingDrain) return;
    this.waitingDrain = true;
    const socket = (this.ws as unknown as { _socket?: import('node:net').Socket })._socket;
    const onDrain = (): void => {
      this.waitingDrain = false;
      if (!this.closed) this.handlers?.drain();
    };
    if (socket) socket.once('drain', onDrain);
    else setImmediate(onDrain);
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  end(): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(1000);
  }

  destroy(error?: Error): void {
    this.ws.terminate();
    this.finish(error);
  }

  private finish(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    if (this.handlers) this.handlers.close(error);
    else this.earlyClose = error ? { error } : {};
  }
}
