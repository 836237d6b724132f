// Starts a broker with quiet defaults for the core tests, connects raw clients to it, and tracks them to close.
// Clients reach the broker over an in-memory pipe (test/helpers/memory-pipe.ts) unless the test is about sockets
// and asks for `transport: 'tcp'` (loopback connections to the first listener). A client in memory is accepted
// with the broker-wide policy, not a listener's own options: tests of those use `tcp`. The listeners (an
// ephemeral loopback port by default) are started either way, for tests that dial `port` themselves.
import { Broker } from '../../../src/broker/broker.js';
import { silentLogger } from '../../../src/broker/logger.js';
import type { BrokerOptions } from '../../../src/broker/options.js';
import type { ConnackPacket, ConnectPacket, ProtocolVersion } from '../../../src/packet/types.js';
import { memoryPipe } from '../../helpers/memory-pipe.js';
import { RawClient, type RawClientOptions, type RawTransport } from '../../helpers/raw-client.js';

/** A raw client over either transport. */
export type Client = RawClient<RawTransport>;

export interface FixtureOptions {
  /** How `connect`, `handshake` and `open` reach the broker: `memory` (default), each client on its own pipe, or `tcp`. */
  transport?: 'memory' | 'tcp';
}

export interface Fixture {
  broker: Broker;
  /** The first listener's port. */
  port: number;
  /** Connects a raw client (CONNACK awaited, and it must accept); it is destroyed by `close`. */
  connect(fields?: Partial<Omit<ConnectPacket, 'type'>>, autoAck?: boolean): Promise<Client>;
  /** Connects a raw client and returns it with its CONNACK, whatever the code. */
  handshake(
    fields?: Partial<Omit<ConnectPacket, 'type'>>,
    options?: Omit<RawClientOptions, 'version' | 'host'>,
  ): Promise<{ client: Client; connack: ConnackPacket }>;
  /** Opens a connection without sending anything. */
  open(version?: ProtocolVersion): Promise<Client>;
  close(): Promise<void>;
}

export async function startBroker(options: BrokerOptions = {}, fixture: FixtureOptions = {}): Promise<Fixture> {
  const transport = fixture.transport ?? 'memory';
  const broker = new Broker({ listeners: [{ port: 0 }], sysInterval: 0, logger: silentLogger, ...options });
  await broker.listen();
  const port = broker.port;
  const clients: Client[] = [];
  const open = async (options: RawClientOptions): Promise<Client> => {
    let client: Client;
    if (transport === 'tcp') client = await RawClient.open(port, options);
    else {
      const pipe = memoryPipe();
      broker.accept(pipe.server, { name: 'memory' });
      client = RawClient.over(pipe.client, options);
    }
    clients.push(client);
    return client;
  };
  const handshake: Fixture['handshake'] = async (fields = {}, options = {}) => {
    const client = await open({ ...options, version: fields.protocolVersion ?? 4 });
    return { client, connack: await client.connect(fields) };
  };
  return {
    broker,
    port,
    async connect(fields = {}, autoAck = true) {
      const { client, connack } = await handshake(fields, { autoAck });
      if (connack.reasonCode !== 0) throw new Error(`CONNACK ${connack.reasonCode}`);
      return client;
    },
    handshake,
    open: (version = 4) => open({ version }),
    async close() {
      for (const client of clients) client.destroy();
      await broker.close();
    },
  };
}

export const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString();
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
