import type { Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { SocketStream } from '../../transport/index.js';
import type { ListenerOptions, ListenerTlsOptions } from './listener.js';
import { SocketListener } from './socket-listener.js';
import { clientCertificateOptions, handshakeError, secureContextOptions } from './tls-options.js';

/** MQTT over TLS 1.2+, with optional or required client certificates; a failed handshake never reaches MQTT. */
export class TlsListener extends SocketListener {
  private tlsServer: Server | undefined;

  constructor(
    options: ListenerOptions,
    private tls: ListenerTlsOptions,
  ) {
    super(options, 'mqtts');
  }

  protected prepare(): void {
    const server = createServer({ ...secureContextOptions(this.tls), ...clientCertificateOptions(this.tls) });
    server.on('secureConnection', (socket: TLSSocket) => {
      const peer = this.peerOf(socket);
      const stream = new SocketStream(socket, peer);
      socket.once('data', (chunk: Uint8Array) => this.checkFirstBytes(peer.remoteAddress, chunk, true));
      this.deliver(socket, stream);
    });
    server.on('tlsClientError', (error: Error, socket: TLSSocket) => this.refuse(socket, handshakeError(error, socket), 'tls'));
    this.tlsServer = server;
  }

  protected connect(socket: Socket, head: Uint8Array | undefined): void {
    // The TLS socket reads what is buffered in the raw socket first, so bytes past a PROXY header are not lost.
    if (head) socket.unshift(head);
    this.tlsServer!.emit('connection', socket);
  }

  reloadTls(tls: ListenerTlsOptions): void {
    const options = secureContextOptions(tls);
    this.tls = tls;
    this.tlsServer?.setSecureContext(options);
  }
}
