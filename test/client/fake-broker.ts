import { createServer, type Server, type Socket } from 'node:net';
import { connect, type ClientOptions, type MqttClient } from '../../src/client/index.js';
import { encode, PacketParser, type ConnackPacket, type ConnectPacket, type Packet } from '../../src/packet/index.js';

/** One client connection to the scripted broker: read what the client sent, answer by hand. */
export class FakeConnection {
  readonly received: Packet[] = [];
  private readonly parser = new PacketParser();
  private read = 0;
  private wake: (() => void) | undefined;
  closed = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.parser.push(chunk);
      for (let p = this.parser.next(); p; p = this.parser.next()) this.received.push(p);
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  get version(): 3 | 4 | 5 {
    return this.parser.protocolVersion;
  }

  /** The next packet the client sends (skipping PINGREQ unless asked for), failing after `timeoutMs`. */
  async next<T extends Packet['type']>(type?: T, timeoutMs = 5000): Promise<Extract<Packet, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.read < this.received.length) {
        const packet = this.received[this.read++]!;
        if (packet.type === 'pingreq' && type !== 'pingreq') continue;
        if (type && packet.type !== type) throw new Error(`expected ${type}, got ${packet.type}`);
        return packet as Extract<Packet, { type: T }>;
      }
      if (this.closed) throw new Error(`connection closed while waiting for ${type ?? 'a packet'}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${type ?? 'a packet'}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        };
      });
    }
  }

  send(packet: Packet): void {
    if (!this.closed) this.socket.write(encode(packet, this.version));
  }

  /** Reads CONNECT and answers CONNACK; returns the CONNECT. */
  async accept(connack: Partial<ConnackPacket> = {}): Promise<Extract<Packet, { type: 'connect' }>> {
    const connect = await this.next('connect');
    this.send({ type: 'connack', sessionPresent: false, reasonCode: 0, ...connack });
    return connect;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A scripted MQTT server on 127.0.0.1 for cases a real broker cannot be made to produce. */
export class FakeBroker {
  port = 0;
  readonly connections: FakeConnection[] = [];
  /** Clients made by `open` or given to `track`, ended by `stop`. */
  private readonly clients: MqttClient[] = [];
  private readonly server: Server;
  private waiter: (() => void) | undefined;

  constructor() {
    this.server = createServer((socket) => {
      this.connections.push(new FakeConnection(socket));
      this.waiter?.();
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** The `index`-th connection (0-based), waiting for it to arrive. */
  async connection(index: number, timeoutMs = 5000): Promise<FakeConnection> {
    const deadline = Date.now() + timeoutMs;
    while (this.connections.length <= index) {
      if (Date.now() > deadline) throw new Error(`no connection #${index} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.connections[index]!;
  }

  /**
   * Connects a client (no reconnect unless `options` asks) and answers its CONNECT with `connack`; the client is
   * ended when the broker stops.
   */
  async open(options: ClientOptions = {}, connack: Partial<ConnackPacket> = {}): Promise<{ c: FakeConnection; client: MqttClient; hello: ConnectPacket }> {
    const index = this.connections.length;
    const connecting = connect(this.url, { reconnect: false, ...options });
    const c = await this.connection(index);
    const hello = await c.accept(connack);
    const client = this.track(await connecting);
    return { c, client, hello };
  }

  /** Ends `client` when the broker stops. */
  track(client: MqttClient): MqttClient {
    this.clients.push(client);
    return client;
  }

  async stop(): Promise<void> {
    for (const client of this.clients) await client.end({ force: true });
    for (const c of this.connections) c.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
