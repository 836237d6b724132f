import type { ByteStream, PeerInfo, StreamHandlers } from './stream.js';

/** Above this many buffered bytes `write` returns false. */
const HIGH_WATER_MARK = 64 * 1024;
/** Browsers have no drain event for WebSockets: while above the mark, look again this often (ms). */
const DRAIN_POLL = 10;

/**
 * A ByteStream over the browser's WebSocket (also Node's global one). A browser cannot stop a WebSocket from
 * reading, so `pause` holds incoming data back until `resume`.
 */
export class BrowserWebSocketStream implements ByteStream {
  readonly peer: PeerInfo;
  private handlers: StreamHandlers | undefined;
  private held: Uint8Array[] = [];
  private paused = false;
  private closed = false;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly ws: WebSocket) {
    ws.binaryType = 'arraybuffer';
    const url = new URL(ws.url);
    this.peer = {
      remoteAddress: url.hostname,
      remotePort: Number(url.port) || (url.protocol === 'wss:' ? 443 : 80),
      transport: url.protocol === 'wss:' ? 'wss' : 'ws',
    };
    ws.onmessage = (event: MessageEvent) => {
      if (typeof event.data === 'string') {
        this.destroy(new Error('text frame received on an MQTT WebSocket'));
        return;
      }
      const bytes = new Uint8Array(event.data as ArrayBuffer);
      if (this.handlers && !this.paused) this.handlers.data(bytes);
      else this.held.push(bytes);
    };
    ws.onclose = () => this.finish();
    ws.onerror = () => this.finish(new Error('WebSocket error'));
  }

  start(handlers: StreamHandlers): void {
    this.handlers = handlers;
    this.release();
    if (this.closed) handlers.close();
  }

  write(chunks: readonly Uint8Array[]): boolean {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) return false;
    let frame: Uint8Array;
    if (chunks.length === 1) frame = chunks[0]!;
    else {
      let size = 0;
      for (const chunk of chunks) size += chunk.length;
      frame = new Uint8Array(size);
      let at = 0;
      for (const chunk of chunks) {
        frame.set(chunk, at);
        at += chunk.length;
      }
    }
    this.ws.send(frame as Uint8Array<ArrayBuffer>);
    if (this.ws.bufferedAmount < HIGH_WATER_MARK) return true;
    this.watchDrain();
    return false;
  }

  private watchDrain(): void {
    if (this.drainTimer !== undefined) return;
    const check = (): void => {
      this.drainTimer = undefined;
      if (this.closed) return;
      if (this.ws.bufferedAmount < HIGH_WATER_MARK) this.handlers?.drain();
      else this.drainTimer = setTimeout(check, DRAIN_POLL);
    };
    this.drainTimer = setTimeout(check, DRAIN_POLL);
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.release();
  }

  private release(): void {
    const handlers = this.handlers;
    if (!handlers) return;
    while (!this.paused && this.held.length > 0) handlers.data(this.held.shift()!);
  }

  end(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
  }

  destroy(error?: Error): void {
    this.ws.onmessage = null;
    this.end();
    this.finish(error);
  }

  private finish(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    if (this.drainTimer !== undefined) clearTimeout(this.drainTimer);
    if (this.handlers) this.handlers.close(error);
  }
}

/** Opens a browser WebSocket with the `mqtt` subprotocol; resolves once it is open. */
export function dialBrowserWebSocket(url: string, protocol = 'mqtt'): Promise<BrowserWebSocketStream> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [protocol]);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => resolve(new BrowserWebSocketStream(ws));
    ws.onerror = () => reject(new Error(`WebSocket connection to ${url} failed`));
    ws.onclose = () => reject(new Error(`WebSocket connection to ${url} closed`));
  });
}
