import type { ConnectionOptions } from 'node:tls';
import WebSocket from 'ws';
import { WebSocketStream } from './ws-stream.js';

export interface WebSocketDialOptions {
  /** Subprotocol; MQTT over WebSocket uses `mqtt`. */
  protocol: string;
  headers?: Record<string, string>;
  /** TLS settings for `wss:`. */
  tls?: ConnectionOptions;
}

/** Opens a WebSocket (Node, `ws` package) to an MQTT broker; resolves once the upgrade succeeded. */
export function dialWebSocket(url: URL, options: WebSocketDialOptions): Promise<WebSocketStream> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [options.protocol], {
      perMessageDeflate: false,
      headers: options.headers,
      ...options.tls,
    });
    const onError = (error: Error): void => {
      ws.off('open', onOpen);
      ws.terminate();
      reject(error);
    };
    const onOpen = (): void => {
      ws.off('error', onError);
      const socket = (ws as unknown as { _socket?: { remoteAddress?: string; remotePort?: number } })._socket;
      resolve(
        new WebSocketStream(ws, {
          remoteAddress: socket?.remoteAddress ?? url.hostname,
          remotePort: socket?.remotePort ?? Number(url.port),
          transport: url.protocol === 'wss:' ? 'wss' : 'ws',
        }),
      );
    };
    ws.once('error', onError);
    ws.once('open', onOpen);
  });
}
