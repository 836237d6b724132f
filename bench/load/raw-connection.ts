/**
 * An MQTT 3.1.1 connection on a raw socket for the load generator: it writes bytes encoded beforehand and only
 * frames what it receives (fixed header and remaining length), leaving each packet's body to the caller. That
 * keeps the generator far cheaper per message than a broker, which must decode, route and encode everything.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { encode } from '../../src/packet/index.js';

/** Called once per received packet: first byte of the fixed header, and where the body lies in `buf`. */
export type FrameHandler = (first: number, buf: Buffer, start: number, end: number) => void;

export interface FrameReceiver {
  onFrame: FrameHandler;
  /** After all packets of one received chunk: the moment to flush replies collected for them in one write. */
  onChunkEnd(): void;
}

const TYPE_CONNACK = 2;

export interface DialOptions {
  port: number;
  clientId: string;
  clean?: boolean;
  /** Dial TLS (certificates are not checked: the test CA is not the point here). */
  tls?: boolean;
}

export class RawConnection {
  readonly socket: Socket;
  private receiver: FrameReceiver | undefined;
  /** Bytes of a packet cut by a chunk boundary. */
  private rest: Buffer | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
  }

  /** Connects and completes the MQTT handshake (CONNECT, CONNACK 0). */
  static open(options: DialOptions): Promise<RawConnection> {
    const connectPacket = encode(
      { type: 'connect', protocolVersion: 4, clientId: options.clientId, clean: options.clean ?? true, keepalive: 0 },
      4,
    );
    return new Promise((resolve, reject) => {
      const socket = options.tls
        ? tlsConnect({ host: '127.0.0.1', port: options.port, rejectUnauthorized: false })
        : tcpConnect(options.port, '127.0.0.1');
      const conn = new RawConnection(socket);
      const fail = (err: Error): void => reject(err);
      socket.once('error', fail);
      socket.once('close', () => reject(new Error(`connection ${options.clientId} closed during the handshake`)));
      socket.write(connectPacket);
      conn.receiver = {
        onFrame(first, buf, start) {
          if (first >> 4 !== TYPE_CONNACK || buf[start + 1] !== 0) {
            reject(new Error(`connection ${options.clientId} refused: ${first.toString(16)} ${buf[start + 1]}`));
            return;
          }
          socket.off('error', fail);
          socket.removeAllListeners('close');
          // Errors after the handshake end the run through the scenario's own checks, not an exception.
          socket.on('error', () => undefined);
          conn.receiver = undefined;
          resolve(conn);
        },
        onChunkEnd() {},
      };
    });
  }

  receiveWith(receiver: FrameReceiver): void {
    this.receiver = receiver;
  }

  write(bytes: Uint8Array): boolean {
    return this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest !== undefined) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = undefined;
    }
    const receiver = this.receiver;
    let pos = 0;
    const length = buf.length;
    while (pos + 2 <= length) {
      // Remaining length: a variable byte integer of up to 4 bytes.
      let remaining = 0;
      let multiplier = 1;
      let i = pos + 1;
      let complete = false;
      while (i < length && i < pos + 5) {
        const byte = buf[i++]!;
        remaining += (byte & 0x7f) * multiplier;
        if (byte < 0x80) {
          complete = true;
          break;
        }
        multiplier *= 128;
      }
      if (!complete || i + remaining > length) break;
      receiver?.onFrame(buf[pos]!, buf, i, i + remaining);
      pos = i + remaining;
    }
    if (pos < length) this.rest = buf.subarray(pos);
    receiver?.onChunkEnd();
  }
}
