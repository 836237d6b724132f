// Helpers of the bridge tests: a broker with bridges in this process, a logger that keeps its lines, clients that
// collect what they receive.
import { Broker, type BrokerOptions, type Logger } from '../../src/broker/index.js';
import { BridgeManager, type BridgeOptions } from '../../src/bridge/index.js';
import { connect, type ClientOptions, type MqttClient } from '../../src/client/index.js';
import { waitFor } from '../helpers/wait.js';

export interface RecordingLogger extends Logger {
  lines: string[];
}

/** Keeps info, warn and error lines (`level message`); debug lines too when asked. */
export function recordingLogger(debug = false): RecordingLogger {
  const lines: string[] = [];
  const keep = (level: string) => (message: string) => void lines.push(`${level} ${message}`);
  return {
    lines,
    error: keep('error'),
    warn: keep('warn'),
    info: keep('info'),
    debug: debug ? keep('debug') : () => undefined,
    enabled: (level) => debug || level !== 'debug',
  };
}

export interface Edge {
  broker: Broker;
  bridges: BridgeManager;
  logger: RecordingLogger;
  url: string;
  close(): Promise<void>;
}

/** A broker on a free port with the given bridges added. */
export async function startEdge(bridges: BridgeOptions[], options: BrokerOptions = {}): Promise<Edge> {
  const logger = recordingLogger();
  let manager: BridgeManager | undefined;
  const broker = new Broker({ listeners: [{ port: 0 }], logger, sysInterval: 0, sysFigures: () => manager?.sysFigures() ?? [], ...options });
  await broker.listen();
  manager = new BridgeManager(broker, logger);
  for (const bridge of bridges) manager.add(bridge);
  const bridgeManager = manager;
  return {
    broker,
    bridges: bridgeManager,
    logger,
    url: `mqtt://127.0.0.1:${broker.port}`,
    async close() {
      await bridgeManager.close();
      await broker.close();
    },
  };
}

export function whenConnected(edge: Edge, name: string, timeoutMs = 15_000): Promise<void> {
  return waitFor(() => edge.bridges.status(name).state === 'connected', timeoutMs, `bridge ${name} connected (${edge.logger.lines.filter((l) => l.includes(name)).slice(-3).join(' | ')})`);
}

export interface Received {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

/** A client that records every message it receives. */
export async function collector(url: string, filters: string[], options: ClientOptions & { qos?: 0 | 1 | 2; rap?: boolean } = {}): Promise<{ client: MqttClient; received: Received[] }> {
  const { qos = 2, rap, ...clientOptions } = options;
  const client = await connect(url, clientOptions);
  const received: Received[] = [];
  client.on('message', (topic, payload, packet) => received.push({ topic, payload: Buffer.from(payload).toString(), qos: packet.qos, retain: packet.retain }));
  if (filters.length > 0) await client.subscribe(filters, { qos, ...(rap !== undefined && { rap }) });
  return { client, received };
}
