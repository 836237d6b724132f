import type { Socket } from 'node:net';
import { SocketStream } from '../../transport/socket-stream.js';
import type { ListenerOptions } from './listener.js';
import { SocketListener } from './socket-listener.js';

/** Plain MQTT over TCP. */
export class TcpListener extends SocketListener {
  constructor(options: ListenerOptions) {
    super(options, 'mqtt');
  }

  protected prepare(): void {}

  protected connect(socket: Socket, head: Uint8Array | undefined): void {
    this.deliver(socket, new SocketStream(socket, this.peerOf(socket), head));
  }
}
