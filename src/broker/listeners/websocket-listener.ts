import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Server as HttpsServer, createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { WebSocketStream } from '../../transport/index.js';
import { classifyFirstBytes } from './first-bytes.js';
import type { ListenerOptions, ListenerTlsOptions } from './listener.js';
import { SocketListener } from './socket-listener.js';
import { clientCertificateOptions, handshakeError, secureContextOptions } from './tls-options.js';

/** Largest MQTT packet: 1 byte of type, 4 of remaining length, 268,435,455 of the rest. */
const MAX_MQTT_PACKET = 268_435_460;
/** Room for the fixed header when a configured maximum counts only what follows it. */
const FIXED_HEADER_MARGIN = 5;

/** Prefers MQTT 3.1.1/5's registered subprotocol name over MQTT 3.1's. Offering none is accepted too. */
function chooseSubprotocol(offered: Set<string>): string | false {
  if (offered.has('mqtt')) return 'mqtt';
  if (offered.has('mqttv3.1')) return 'mqttv3.1';
  return false;
}

function httpError(status: 400 | 403 | 404, reason: string): string {
  return `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;
}

/** Why a request the HTTP parser could not read was refused; `raw` holds the bytes it choked on, when it kept them. */
function badRequestReason(error: Error, raw: Uint8Array | undefined): string {
  switch (raw === undefined || raw.length === 0 ? undefined : classifyFirstBytes(raw)) {
    case 'connect':
    case 'mqtt':
      return 'sent MQTT without a WebSocket upgrade (a plain MQTT client on a WebSocket port)';
    case 'tls':
      return 'sent a TLS handshake to a plain WebSocket port';
    case 'proxy':
      return 'sent a PROXY protocol header to a listener without proxyProtocol';
    default:
      return `malformed HTTP request: ${error.message}`;
  }
}

/** MQTT over WebSocket (or over secure WebSocket when `tls` is set): binary frames on one path. */
export class WebSocketListener extends SocketListener {
  private http: Server | HttpsServer | undefined;
  private readonly wss: WebSocketServer;
  private readonly path: string;

  constructor(
    options: ListenerOptions,
    private tls: ListenerTlsOptions | undefined,
  ) {
    super(options, tls ? 'wss' : 'ws');
    this.path = options.path ?? '/mqtt';
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: (options.maxPacketSize ?? MAX_MQTT_PACKET) + FIXED_HEADER_MARGIN,
      handleProtocols: chooseSubprotocol,
    });
    // A handshake ws refuses (bad key, version, method): answered and reported here instead of by ws alone.
    this.wss.on('wsClientError', (error: Error, socket: Duplex) => {
      this.refuse(socket as Socket, new Error(`WebSocket upgrade refused: ${error.message}`), 'websocket', httpError(400, 'Bad Request'));
    });
  }

  protected prepare(): void {
    // The HTTP server is never bound: it serves sockets the listener accepted.
    const http = this.tls
      ? createHttpsServer({ ...secureContextOptions(this.tls), ...clientCertificateOptions(this.tls) })
      : createHttpServer();
    http.on('request', (request: IncomingMessage, response: ServerResponse) => {
      response.writeHead(this.pathOf(request) === this.path ? 426 : 404, { Connection: 'close' }).end();
    });
    http.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(request, socket, head));
    http.on('clientError', (error: Error & { code?: string; rawPacket?: Buffer }, socket: Duplex) => {
      // A peer that hangs up mid-request has nothing to be told; Node's own handler would only close it too.
      if (error.code === 'ECONNRESET') socket.destroy();
      else this.refuse(socket as Socket, new Error(badRequestReason(error, error.rawPacket)), 'websocket', httpError(400, 'Bad Request'));
    });
    http.on('tlsClientError', (error: Error, socket: TLSSocket) => this.refuse(socket, handshakeError(error, socket), 'tls'));
    this.http = http;
  }

  protected connect(socket: Socket, head: Uint8Array | undefined): void {
    // The HTTP parser (or the TLS socket) reads what is buffered in the socket first: bytes past a PROXY header
    // are the start of the request.
    if (head) socket.unshift(head);
    this.http!.emit('connection', socket);
    // The HTTP parser listens for 'data' but leaves a socket paused for the PROXY header paused; a TLS socket
    // reads the buffered bytes itself and must be the only reader.
    if (!this.tls) socket.resume();
  }

  reloadTls(tls: ListenerTlsOptions): void {
    const options = secureContextOptions(tls);
    this.tls = tls;
    if (this.http instanceof HttpsServer) this.http.setSecureContext(options);
  }

  private upgrade(request: IncomingMessage, duplex: Duplex, head: Buffer): void {
    const socket = duplex as Socket;
    if (this.pathOf(request) !== this.path) {
      const reason = new Error(`WebSocket upgrade for unknown path ${JSON.stringify(request.url)}`);
      this.refuse(socket, reason, 'websocket', httpError(404, 'Not Found'));
      return;
    }
    const allowed = this.options.allowedOrigins;
    const origin = request.headers.origin;
    if (allowed && (origin === undefined || !allowed.includes(origin))) {
      const reason = new Error(`WebSocket origin ${JSON.stringify(origin ?? null)} is not allowed`);
      this.refuse(socket, reason, 'websocket', httpError(403, 'Forbidden'));
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (ws: WebSocket) => {
      const peer = { ...this.peerOf(socket), transport: this.tls ? ('wss' as const) : ('ws' as const) };
      const stream = new WebSocketStream(ws, peer);
      const address = peer.remoteAddress;
      ws.once('message', (data: unknown, isBinary: boolean) => {
        if (!isBinary) this.report(address, new Error('sent a text frame; MQTT needs binary frames'), 'websocket');
        else if (Buffer.isBuffer(data)) this.checkFirstBytes(address, data, this.tls !== undefined);
      });
      ws.once('error', (error: Error) => this.report(address, new Error(`WebSocket protocol error: ${error.message}`), 'websocket'));
      this.deliver(socket, stream);
    });
  }

  private pathOf(request: IncomingMessage): string {
    const url = request.url ?? '/';
    const query = url.indexOf('?');
    return query < 0 ? url : url.slice(0, query);
  }
}
