import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { ReusedReadBuffer, SocketStream, socketPeer } from './socket-stream.js';

/** Resolves with the socket once `readyEvent` fired, or rejects with the first error. */
function whenReady(socket: Socket, readyEvent: 'connect' | 'secureConnect'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      socket.off(readyEvent, onReady);
      socket.destroy();
      reject(error);
    };
    const onReady = (): void => {
      socket.off('error', onError);
      resolve(socket);
    };
    socket.once('error', onError);
    socket.once(readyEvent, onReady);
  });
}

/** Opens a TCP connection to an MQTT broker. */
export async function dialTcp(host: string, port: number): Promise<SocketStream> {
  const reads = new ReusedReadBuffer();
  const socket = await whenReady(netConnect({ host, port, onread: reads.option }), 'connect');
  return new SocketStream(socket, socketPeer(socket), undefined, reads);
}

/** Opens a connection to an MQTT broker's Unix socket at `path` (a `listener 0 /path` in mosquitto.conf). */
export async function dialUnix(path: string): Promise<SocketStream> {
  const reads = new ReusedReadBuffer();
  const socket = await whenReady(netConnect({ path, onread: reads.option }), 'connect');
  return new SocketStream(socket, socketPeer(socket), undefined, reads);
}

/** Opens a TLS connection to an MQTT broker; the handshake (and certificate check) completes first. */
export async function dialTls(host: string, port: number, options: ConnectionOptions): Promise<SocketStream> {
  const socket = await whenReady(tlsConnect({ host, port, ...options }), 'secureConnect');
  return new SocketStream(socket);
}
