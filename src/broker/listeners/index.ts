import type { Listener, ListenerOptions } from './listener.js';
import { TcpListener } from './tcp-listener.js';
import { TlsListener } from './tls-listener.js';
import { WebSocketListener } from './websocket-listener.js';

export { transportFaultNames } from './listener.js';
export type { Listener, ListenerOptions, ListenerTlsOptions, RefusedHandler, TransportFault } from './listener.js';

/** A listener of the configured kind: MQTT over TCP, TLS, WebSocket or secure WebSocket. */
export function createListener(options: ListenerOptions): Listener {
  if (options.protocol === 'websockets') return new WebSocketListener(options, options.tls);
  return options.tls ? new TlsListener(options, options.tls) : new TcpListener(options);
}
