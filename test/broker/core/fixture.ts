// Starts a broker on an ephemeral port with quiet defaults for the core tests, and tracks clients to close.
import { Broker } from '../../../src/broker/broker.js';
import { silentLogger } from '../../../src/broker/logger.js';
import type { BrokerOptions } from '../../../src/broker/options.js';
import type { ConnectPacket } from '../../../src/packet/types.js';
import { RawClient } from '../../helpers/raw-client.js';

export interface Fixture {
  broker: Broker;
  port: number;
  /** Connects a raw client (CONNACK awaited); it is destroyed by `close`. */
  connect(fields?: Partial<Omit<ConnectPacket, 'type'>>, autoAck?: boolean): Promise<RawClient>;
  /** Opens a raw TCP connection without sending anything. */
  open(version?: 3 | 4 | 5): Promise<RawClient>;
  close(): Promise<void>;
}

export async function startBroker(options: BrokerOptions = {}): Promise<Fixture> {
  const broker = new Broker({ listeners: [{ port: 0 }], sysInterval: 0, logger: silentLogger, ...options });
  await broker.listen();
  const port = broker.port;
  const clients: RawClient[] = [];
  return {
    broker,
    port,
    async connect(fields = {}, autoAck = true) {
      const { client, connack } = await RawClient.connect(port, fields, { autoAck });
      clients.push(client);
      if (connack.reasonCode !== 0) throw new Error(`CONNACK ${connack.reasonCode}`);
      return client;
    },
    async open(version = 4) {
      const client = await RawClient.open(port, { version });
      clients.push(client);
      return client;
    },
    async close() {
      for (const client of clients) client.destroy();
      await broker.close();
    },
  };
}

export const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString();
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
