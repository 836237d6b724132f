// A bare MQTT peer, built on the project's codec, for tests that must speak exact protocol: any CONNECT fields, any
// packet or raw bytes, the next packet of a type with a timeout, and the close. It talks over a TCP socket, or over
// anything else with a socket's few methods and events (the client end of test/helpers/memory-pipe.ts).
import { connect as netConnect, type Socket } from 'node:net';
import { encode, PacketParser } from '../../src/packet/index.js';
import type {
  ConnackPacket,
  ConnectPacket,
  Packet,
  PacketType,
  Properties,
  ProtocolVersion,
  PublishPacket,
  QoS,
  Subscription,
} from '../../src/packet/types.js';

export type PacketOf<T extends PacketType> = Extract<Packet, { type: T }>;

export interface RawClientOptions {
  host?: string;
  /** Protocol level used to encode and decode; a CONNECT sent later changes it. Default 4. */
  version?: ProtocolVersion;
  /** Answer incoming PUBLISH (PUBACK / PUBREC) and PUBREL (PUBCOMP) automatically. Default true. */
  autoAck?: boolean;
}

/** What RawClient needs of its connection; a net.Socket has it. */
export interface RawTransport {
  write(bytes: Uint8Array): boolean;
  /** Orderly close after what was written. */
  end(): unknown;
  /** Immediate close; buffered bytes are dropped. */
  destroy(): unknown;
  pause(): unknown;
  resume(): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
}

const DEFAULT_TIMEOUT = 5000;

/** `T` is the connection's own type, so tests on sockets keep the whole Socket API at `client.socket`. */
export class RawClient<T extends RawTransport = Socket> {
  version: ProtocolVersion;
  autoAck: boolean;
  /** Why the socket closed (undefined while open or after an orderly close), or the codec error that closed it. */
  closeError: Error | undefined;
  closed = false;
  private readonly parser: PacketParser;
  /** Received packets not yet taken by `expect`/`next`; `head` is the first unread index. */
  private queue: Packet[] = [];
  private head = 0;
  private wakeups: Array<() => void> = [];
  private nextId = 1;

  private constructor(
    /** The connection: a net.Socket, or another RawTransport. */
    readonly socket: T,
    options: RawClientOptions,
  ) {
    this.version = options.version ?? 4;
    this.autoAck = options.autoAck ?? true;
    this.parser = new PacketParser({ protocolVersion: this.version });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => (this.closeError ??= err));
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** Opens the TCP connection (no MQTT bytes sent yet). */
  static open(port: number, options: RawClientOptions = {}): Promise<RawClient<Socket>> {
    return new Promise((resolve, reject) => {
      const socket = netConnect(port, options.host ?? '127.0.0.1');
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.setNoDelay(true);
        resolve(new RawClient(socket, options));
      });
    });
  }

  /** Speaks over a connection that is already open (no MQTT bytes sent yet). */
  static over<T extends RawTransport>(transport: T, options: RawClientOptions = {}): RawClient<T> {
    return new RawClient(transport, options);
  }

  /** Opens a connection, sends CONNECT and waits for CONNACK (whatever its code). */
  static async connect(
    port: number,
    fields: Partial<Omit<ConnectPacket, 'type'>> = {},
    options: Omit<RawClientOptions, 'version'> = {},
  ): Promise<{ client: RawClient<Socket>; connack: ConnackPacket }> {
    const version = fields.protocolVersion ?? 4;
    const client = await RawClient.open(port, { ...options, version });
    const connack = await client.connect(fields);
    return { client, connack };
  }

  /** Sends CONNECT (defaults: this client's version, clean, keepalive 0, a random client id) and awaits CONNACK. */
  async connect(fields: Partial<Omit<ConnectPacket, 'type'>> = {}, timeoutMs = DEFAULT_TIMEOUT): Promise<ConnackPacket> {
    const packet: ConnectPacket = {
      type: 'connect',
      protocolVersion: this.version,
      clientId: `raw-${Math.random().toString(36).slice(2, 10)}`,
      clean: true,
      keepalive: 0,
      ...fields,
    };
    this.send(packet);
    return this.expect('connack', timeoutMs);
  }

  /** Encodes and writes one packet; a CONNECT also switches this client's protocol level. */
  send(packet: Packet): void {
    if (packet.type === 'connect') {
      this.version = packet.protocolVersion;
      this.parser.protocolVersion = packet.protocolVersion;
    }
    this.socket.write(encode(packet, this.version));
  }

  /** Writes bytes as they are. */
  sendRaw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** A packet identifier not used by this client recently (1..65535, wrapping). */
  packetId(): number {
    const id = this.nextId;
    this.nextId = id === 65535 ? 1 : id + 1;
    return id;
  }

  /** Takes the first received packet of `type` (others stay queued), waiting up to `timeoutMs`. */
  async expect<T extends PacketType>(type: T, timeoutMs = DEFAULT_TIMEOUT): Promise<PacketOf<T>> {
    const packet = await this.take((p) => p.type === type, timeoutMs, `a ${type.toUpperCase()}`);
    return packet as PacketOf<T>;
  }

  /** Takes the next received packet whatever its type. */
  next(timeoutMs = DEFAULT_TIMEOUT): Promise<Packet> {
    return this.take(() => true, timeoutMs, 'a packet');
  }

  /** Takes the first received PUBLISH on `topic`. */
  expectPublish(topic: string, timeoutMs = DEFAULT_TIMEOUT): Promise<PublishPacket> {
    return this.take((p) => p.type === 'publish' && p.topic === topic, timeoutMs, `a PUBLISH to ${topic}`) as Promise<
      PublishPacket
    >;
  }

  /** Waits `ms` and returns (and removes) whatever packets arrived and were not taken yet. */
  async drain(ms: number): Promise<Packet[]> {
    await new Promise((r) => setTimeout(r, ms));
    const rest = this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    return rest;
  }

  /** Packets received and not yet taken, without removing them. */
  pending(): readonly Packet[] {
    return this.queue.slice(this.head);
  }

  /** Resolves once the connection is closed; rejects after `timeoutMs` if it stays open. */
  async closedWithin(timeoutMs = DEFAULT_TIMEOUT): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`connection still open after ${timeoutMs} ms`);
      await this.sleepUntilWoken(left);
    }
  }

  /** SUBSCRIBE and its SUBACK's reason codes. */
  async subscribe(
    subscriptions: string | Subscription | Subscription[],
    qos: QoS = 0,
    properties?: Properties,
  ): Promise<number[]> {
    const list: Subscription[] =
      typeof subscriptions === 'string'
        ? [{ topicFilter: subscriptions, qos }]
        : Array.isArray(subscriptions)
          ? subscriptions
          : [subscriptions];
    const packetId = this.packetId();
    this.send({ type: 'subscribe', packetId, subscriptions: list, ...(properties && { properties }) });
    const suback = await this.take(
      (p) => p.type === 'suback' && p.packetId === packetId,
      DEFAULT_TIMEOUT,
      `SUBACK ${packetId}`,
    );
    return (suback as PacketOf<'suback'>).reasonCodes;
  }

  async unsubscribe(topicFilters: string[]): Promise<number[]> {
    const packetId = this.packetId();
    this.send({ type: 'unsubscribe', packetId, topicFilters });
    const unsuback = await this.take(
      (p) => p.type === 'unsuback' && p.packetId === packetId,
      DEFAULT_TIMEOUT,
      `UNSUBACK ${packetId}`,
    );
    return (unsuback as PacketOf<'unsuback'>).reasonCodes;
  }

  /**
   * Publishes and completes the QoS flow (PUBACK, or PUBREC-PUBREL-PUBCOMP); returns the reason code of the
   * PUBACK/PUBREC (0 for QoS 0).
   */
  async publish(
    topic: string,
    payload: string | Uint8Array,
    qos: QoS = 0,
    extra: Partial<Pick<PublishPacket, 'retain' | 'dup' | 'properties'>> = {},
  ): Promise<number> {
    const body = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
    const packet: PublishPacket = { type: 'publish', topic, payload: body, qos, retain: false, dup: false, ...extra };
    if (qos === 0) {
      this.send(packet);
      return 0;
    }
    const packetId = this.packetId();
    this.send({ ...packet, packetId });
    const ackType = qos === 1 ? 'puback' : 'pubrec';
    const ack = (await this.take(
      (p) => p.type === ackType && p.packetId === packetId,
      DEFAULT_TIMEOUT,
      `${ackType.toUpperCase()} ${packetId}`,
    )) as PacketOf<'puback' | 'pubrec'>;
    const code = ack.reasonCode ?? 0;
    if (qos === 2 && code < 0x80) {
      this.send({ type: 'pubrel', packetId });
      await this.take((p) => p.type === 'pubcomp' && p.packetId === packetId, DEFAULT_TIMEOUT, `PUBCOMP ${packetId}`);
    }
    return code;
  }

  /** Sends DISCONNECT (v5: with `reasonCode`) and closes the connection after it. */
  disconnect(reasonCode?: number, properties?: Properties): void {
    if (this.closed) return;
    this.send({
      type: 'disconnect',
      ...(reasonCode !== undefined && { reasonCode }),
      ...(properties && { properties }),
    });
    this.socket.end();
  }

  /** Drops the connection without DISCONNECT (an abnormal close for the broker). */
  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.parser.push(chunk);
    try {
      for (let packet = this.parser.next(); packet !== null; packet = this.parser.next()) {
        if (this.autoAck) this.acknowledge(packet);
        this.queue.push(packet);
      }
    } catch (err) {
      this.closeError = err as Error;
      this.socket.destroy();
    }
    this.wake();
  }

  /** Sends the acknowledgement `autoAck` would send for `packet` (PUBACK, PUBREC or PUBCOMP), if it needs one. */
  acknowledge(packet: Packet): void {
    if (packet.type === 'publish' && packet.packetId !== undefined) {
      this.send({ type: packet.qos === 1 ? 'puback' : 'pubrec', packetId: packet.packetId });
    } else if (packet.type === 'pubrel') {
      this.send({ type: 'pubcomp', packetId: packet.packetId });
    }
  }

  private async take(match: (p: Packet) => boolean, timeoutMs: number, what: string): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = this.head; i < this.queue.length; i++) {
        const packet = this.queue[i]!;
        if (!match(packet)) continue;
        if (i === this.head) {
          this.head++;
          // Compact now and then so a long run does not keep every packet alive.
          if (this.head > 1024 && this.head * 2 > this.queue.length) {
            this.queue = this.queue.slice(this.head);
            this.head = 0;
          }
        } else {
          this.queue.splice(i, 1);
        }
        return packet;
      }
      if (this.closed) {
        const why = this.closeError ? ` (${this.closeError.message})` : '';
        throw new Error(`connection closed while waiting for ${what}${why}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        const seen = this.pending().map((p) => p.type);
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; queued: [${seen.join(', ')}]`);
      }
      await this.sleepUntilWoken(left);
    }
  }

  private sleepUntilWoken(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const wakeups = this.wakeups;
      function done(): void {
        clearTimeout(timer);
        const i = wakeups.indexOf(done);
        if (i >= 0) wakeups.splice(i, 1);
        resolve();
      }
      wakeups.push(done);
    });
  }

  private wake(): void {
    const waiting = this.wakeups;
    this.wakeups = [];
    for (const w of waiting) w();
  }
}
