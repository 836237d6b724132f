import type { ByteStream } from '../../transport/index.js';

/** TLS settings of a listener (PEM contents, not paths: the config layer reads files and re-reads them on reload). */
export interface ListenerTlsOptions {
  cert: string | Uint8Array;
  key: string | Uint8Array;
  /** CA bundle that client certificates must chain to. */
  ca?: string | Uint8Array;
  /** Ask for a client certificate. */
  requestCertificate?: boolean;
  /** Refuse clients without a valid certificate (before any MQTT byte is read). */
  requireCertificate?: boolean;
  crl?: string | Uint8Array;
  /** Default 'TLSv1.2'. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

export interface ListenerOptions {
  /** Shown in logs; default `{protocol}://{host}:{port}` (`{protocol}+unix://{path}` for a Unix socket). */
  name?: string;
  /** `mqtt` = raw MQTT over TCP (or TLS when `tls` is set); `websockets` = MQTT over WebSocket (or WSS). */
  protocol?: 'mqtt' | 'websockets';
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port; `Listener.port` tells which. */
  port: number;
  /**
   * Listen on this Unix socket path instead of `host` and `port` (port 0 by convention, as Mosquitto's
   * `listener 0 /path`). A socket file left by a broker that died is replaced; one a live server owns is not.
   */
  unix?: string;
  tls?: ListenerTlsOptions;
  /** WebSocket path; default `/mqtt`. Requests for other paths get 404. */
  path?: string;
  /** WebSocket `Origin` values accepted; absent = any. */
  allowedOrigins?: string[];
  /**
   * PROXY protocol v1/v2: when set it is mandatory on this listener and accepted only from these addresses
   * (single addresses or CIDR blocks such as `10.0.0.0/8`); a header not complete within `headerTimeoutMs`
   * (default 5000) closes the connection.
   */
  proxyProtocol?: { trustedAddresses: string[]; headerTimeoutMs?: number };
  /**
   * Time from accept to a stream (PROXY header, TLS handshake, WebSocket upgrade), after which the connection is
   * closed; default 10000. The HTTP server's own request timeouts do not apply: it is fed sockets, never bound.
   */
  setupTimeoutMs?: number;
  /** Largest MQTT packet accepted, also the WebSocket maxPayload. */
  maxPacketSize?: number;
  /**
   * Connections the kernel completes and holds until the broker accepts them (the listen backlog); default 1024
   * (DEFAULT_BACKLOG). Linux caps it at `net.core.somaxconn`. Connections beyond it are dropped by the kernel and
   * retried by TCP a second or more later, which slows a reconnect storm down far more than accepting does.
   */
  backlog?: number;
}

/** Above Node's 511: a thousand devices reconnecting at once after an outage fit without retries (EMQX's default too). */
export const DEFAULT_BACKLOG = 1024;

/**
 * What went wrong with a connection at the transport level: a PROXY protocol header refused (untrusted address,
 * malformed, too slow), a TLS handshake failed, a WebSocket upgrade was refused or a WebSocket broke the protocol,
 * the connection was not set up in time, or its first bytes are not MQTT (an HTTP request, a TLS handshake on a
 * plain port, a packet other than CONNECT).
 */
export type TransportFault = 'proxy' | 'tls' | 'websocket' | 'timeout' | 'not-mqtt';

/** Each fault in a few words, for summaries of repeated log lines. */
export const transportFaultNames: Readonly<Record<TransportFault, string>> = {
  proxy: 'PROXY protocol header refused',
  tls: 'TLS handshake failed',
  websocket: 'WebSocket refused',
  timeout: 'connection not set up in time',
  'not-mqtt': 'not MQTT',
};

/** Called with the client's address (as a PROXY header gave it, if one was read), what went wrong, and why. */
export type RefusedHandler = (remoteAddress: string, reason: Error, fault: TransportFault) => void;

/** A bound server socket that turns each accepted connection into a ByteStream. */
export interface Listener {
  readonly options: ListenerOptions;
  readonly name: string;
  /** The bound port (after start). */
  readonly port: number;
  readonly host: string;
  /**
   * Binds and starts accepting. `onRefused` hears of connections closed before they became streams (untrusted or
   * malformed PROXY header, failed TLS handshake, WebSocket upgrade refused), and of streams that show they are not
   * MQTT (their first bytes, a WebSocket protocol error; the protocol layer closes those), for logs and metrics.
   */
  start(onStream: (stream: ByteStream) => void, onRefused?: RefusedHandler): Promise<void>;
  /** Stops accepting; existing streams are left to their owners. */
  close(): Promise<void>;
  /** Replaces TLS certificate, key, CA and CRL for new connections (SIGHUP). */
  reloadTls?(tls: ListenerTlsOptions): void;
}
