// The broker a test talks to: Culex embedded in the test process, or a private Mosquitto to check a test itself.
// `CULEX_TEST_BROKERS=culex,mosquitto` (default `culex`) picks which ones the parameterised tests run against.
import type { TestCerts } from '../helpers/certs.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';
import type { Broker } from '../../src/broker/index.js';
import type { BrokerLimits, BrokerListenerOptions, BrokerOptions } from '../../src/broker/options.js';

export type BrokerKind = 'culex' | 'mosquitto';

export interface StartOptions {
  /** Adds a TLS listener (client certificates requested, not required). */
  tls?: TestCerts;
  /** Adds a WebSocket listener, and a secure one as well when `tls` is set. */
  websockets?: boolean;
  limits?: Partial<BrokerLimits>;
  /** Filters whose subscription is refused (SUBACK 0x80). */
  refuseSubscriptions?: string[];
  /** More Culex options (hooks, sysInterval, ...). */
  culex?: Omit<BrokerOptions, 'listeners' | 'limits'>;
  /** More mosquitto.conf lines. */
  mosquittoConfig?: string[];
}

export interface BrokerUnderTest {
  kind: BrokerKind;
  port: number;
  tlsPort?: number;
  wsPort?: number;
  wssPort?: number;
  /** The embedded broker (Culex only). */
  broker?: Broker;
  stop(): Promise<void>;
}

export function brokerKinds(): BrokerKind[] {
  const names = (process.env.CULEX_TEST_BROKERS ?? 'culex').split(',').map((s) => s.trim());
  for (const name of names) {
    if (name !== 'culex' && name !== 'mosquitto') throw new Error(`unknown broker in CULEX_TEST_BROKERS: ${name}`);
  }
  return names as BrokerKind[];
}

export function startBroker(kind: BrokerKind, options: StartOptions = {}): Promise<BrokerUnderTest> {
  return kind === 'culex' ? startCulex(options) : startMosquittoTarget(options);
}

async function startCulex(options: StartOptions): Promise<BrokerUnderTest> {
  const listeners: BrokerListenerOptions[] = [{ protocol: 'mqtt', host: '127.0.0.1', port: 0, name: 'tcp' }];
  const tls = options.tls && {
    cert: options.tls.serverCert,
    key: options.tls.serverKey,
    ca: options.tls.ca,
    requestCertificate: true,
  };
  if (tls) listeners.push({ protocol: 'mqtt', host: '127.0.0.1', port: 0, name: 'tls', tls });
  if (options.websockets) {
    listeners.push({ protocol: 'websockets', host: '127.0.0.1', port: 0, name: 'ws' });
    if (tls) listeners.push({ protocol: 'websockets', host: '127.0.0.1', port: 0, name: 'wss', tls });
  }
  const refused = options.refuseSubscriptions;
  const hooks = {
    ...options.culex?.hooks,
    ...(refused && {
      authorizeSubscribe: ({ subscription }: { subscription: { topicFilter: string } }) =>
        refused.includes(subscription.topicFilter) ? 0x80 : true,
    }),
  };
  // Loaded on demand so that runs against Mosquitto alone do not need the broker module.
  const { Broker } = await import('../../src/broker/index.js');
  const broker = new Broker({
    sysInterval: 0,
    ...options.culex,
    hooks,
    listeners,
    ...(options.limits && { limits: options.limits }),
  });
  await broker.listen();
  const portOf = (name: string): number | undefined => broker.boundListeners.find((l) => l.name === name)?.port;
  const target: BrokerUnderTest = {
    kind: 'culex',
    port: portOf('tcp') ?? 0,
    broker,
    stop: () => broker.close(),
  };
  const tlsPort = portOf('tls');
  const wsPort = portOf('ws');
  const wssPort = portOf('wss');
  if (tlsPort !== undefined) target.tlsPort = tlsPort;
  if (wsPort !== undefined) target.wsPort = wsPort;
  if (wssPort !== undefined) target.wssPort = wssPort;
  return target;
}

async function startMosquittoTarget(options: StartOptions): Promise<BrokerUnderTest> {
  const lines = [...(options.mosquittoConfig ?? [])];
  const limits = options.limits ?? {};
  if (limits.maxKeepalive !== undefined) lines.push(`max_keepalive ${limits.maxKeepalive}`);
  if (limits.maxQueuedMessages !== undefined) lines.push(`max_queued_messages ${limits.maxQueuedMessages}`);
  if (limits.maxQueuedBytes !== undefined) lines.push(`max_queued_bytes ${limits.maxQueuedBytes}`);
  if (limits.maxInflight !== undefined) lines.push(`max_inflight_messages ${limits.maxInflight}`);
  if (limits.maxPacketSize !== undefined) lines.push(`max_packet_size ${limits.maxPacketSize}`);
  if (limits.receiveMaximum !== undefined) lines.push(`max_inflight_messages ${limits.receiveMaximum}`);
  let wssPort: number | undefined;
  if (options.websockets && options.tls) {
    wssPort = await freePort();
    lines.push(`listener ${wssPort} 127.0.0.1`, 'protocol websockets', `cafile ${options.tls.caFile}`,
      `certfile ${options.tls.serverCertFile}`, `keyfile ${options.tls.serverKeyFile}`);
  }
  const mosquitto = await startMosquitto({
    ...(options.websockets && { websockets: true }),
    ...(options.tls && { tls: options.tls }),
    extraConfig: lines.join('\n'),
  });
  const target: BrokerUnderTest = { kind: 'mosquitto', port: mosquitto.port, stop: () => mosquitto.stop() };
  if (mosquitto.tlsPort !== undefined) target.tlsPort = mosquitto.tlsPort;
  if (mosquitto.wsPort !== undefined) target.wsPort = mosquitto.wsPort;
  if (wssPort !== undefined) target.wssPort = wssPort;
  return target;
}
