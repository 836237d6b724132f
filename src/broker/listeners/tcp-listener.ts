import type { Socket } from 'node:net';
import { SocketStream } from '../../transport/index.js';
import type { ListenerOptions } from './listener.js';
import { SocketListener } from './socket-listener.js';

/** Plain MQTT over TCP. */
export class TcpListener extends SocketListener {
  constructor(options: ListenerOptions) {
    super(options, 'mqtt');
  }

  protected prepare(): void {}

  protected connect(socket: Socket, head: Uint8Array | undefined): void {
    const peer = this.peerOf(socket);
    // The stream pauses the socket: the first 'data' comes once its owner reads, to both listeners in turn.
    const stream = new SocketStream(socket, peer, head);
    if (head) this.checkFirstBytes(peer.remoteAddress, head, false);
    else socket.once('data', (chunk: Uint8Array) => this.checkFirstBytes(peer.remoteAddress, chunk, false));
    this.deliver(socket, stream);
  }
}
