import { connect as netConnect, type Socket } from 'node:net';
import { createListener, type Listener, type ListenerOptions, type TransportFault } from '../../../src/broker/listeners/index.js';
import { PacketParser } from '../../../src/packet/parser.js';
import type { Packet } from '../../../src/packet/types.js';
import type { ByteStream } from '../../../src/transport/stream.js';
import { waitFor } from '../../helpers/wait.js';

/** One accepted stream and what happened on it. */
export interface Session {
  stream: ByteStream;
  received: Uint8Array[];
  packets: Packet[];
  closed: boolean;
  closeError: Error | undefined;
}

export interface Running {
  listener: Listener;
  sessions: Session[];
  /** Connections closed before they became streams, and WebSocket protocol errors. */
  refused: Array<{ address: string; reason: Error; fault: TransportFault }>;
  /** Streams whose first bytes are not MQTT (most tests here send other bytes on purpose). */
  notMqtt: Array<{ address: string; reason: Error }>;
  /** Waits for the n-th (0-based) accepted stream. */
  session(index: number): Promise<Session>;
  close(): Promise<void>;
}

/** How a test server answers: echo every byte back, or speak just enough MQTT for a client to connect. */
export type Behaviour = 'echo' | 'mqtt';

const CONNACK_V4 = Uint8Array.of(0x20, 0x02, 0x00, 0x00);
const CONNACK_V5 = Uint8Array.of(0x20, 0x03, 0x00, 0x00, 0x00);
const PINGRESP = Uint8Array.of(0xd0, 0x00);

function serve(stream: ByteStream, behaviour: Behaviour): Session {
  const session: Session = { stream, received: [], packets: [], closed: false, closeError: undefined };
  const parser = new PacketParser();
  stream.start({
    data(chunk) {
      session.received.push(chunk);
      if (behaviour === 'echo') {
        stream.write([chunk]);
        return;
      }
      parser.push(chunk);
      for (let packet = parser.next(); packet; packet = parser.next()) {
        session.packets.push(packet);
        if (packet.type === 'connect') stream.write([packet.protocolVersion === 5 ? CONNACK_V5 : CONNACK_V4]);
        else if (packet.type === 'pingreq') stream.write([PINGRESP]);
        else if (packet.type === 'disconnect') stream.end();
      }
    },
    drain() {},
    close(error) {
      session.closed = true;
      session.closeError = error;
    },
  });
  return session;
}

export async function startListener(options: ListenerOptions, behaviour: Behaviour = 'echo'): Promise<Running> {
  const listener = createListener(options);
  const sessions: Session[] = [];
  const refused: Running['refused'] = [];
  const notMqtt: Running['notMqtt'] = [];
  await listener.start(
    (stream) => sessions.push(serve(stream, behaviour)),
    (address, reason, fault) => (fault === 'not-mqtt' ? notMqtt.push({ address, reason }) : refused.push({ address, reason, fault })),
  );
  return {
    listener,
    sessions,
    refused,
    notMqtt,
    async session(index) {
      await waitFor(() => sessions.length > index, 5000, `stream ${index} on ${listener.name}`);
      return sessions[index]!;
    },
    async close() {
      await listener.close();
      for (const session of sessions) session.stream.destroy();
    },
  };
}

/** All bytes a socket (or TLS socket) receives, for reading a given amount back. */
export class Receiver {
  private chunks: Buffer[] = [];
  private total = 0;
  closed = false;
  error: Error | undefined;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.total += chunk.length;
    });
    socket.on('error', (error) => (this.error = error));
    socket.on('close', () => (this.closed = true));
  }

  async read(length: number, what = `${length} bytes`): Promise<Buffer> {
    await waitFor(() => this.total >= length || this.closed, 5000, what);
    const all = Buffer.concat(this.chunks);
    if (all.length < length) throw new Error(`closed after ${all.length} of ${length} bytes while waiting for ${what}`);
    this.chunks = [all.subarray(length)];
    this.total = all.length - length;
    return all.subarray(0, length);
  }

  async waitClosed(what = 'the connection to close'): Promise<void> {
    await waitFor(() => this.closed, 5000, what);
  }
}

export async function tcpConnect(port: number): Promise<Socket> {
  const socket = netConnect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** CONNECT for MQTT 3.1.1, client id "c", keep-alive 60, clean session. */
export const CONNECT_V4 = Uint8Array.of(0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, 0x63);
export const PINGREQ = Uint8Array.of(0xc0, 0x00);
export { CONNACK_V4, PINGRESP };
