// The broker a test talks to: Culex embedded in the test process, the `culex broker` command with a JSON
// configuration file, or a private Mosquitto to check a test itself. `CULEX_TEST_BROKERS=culex,mosquitto`
// overrides which ones the parameterised tests run against.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestCerts } from '../helpers/certs.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';
import type { Broker } from '../../src/broker/index.js';
import type { BrokerLimits, BrokerListenerOptions, BrokerOptions } from '../../src/broker/options.js';

export type BrokerKind = 'culex' | 'culex-cli' | 'mosquitto';
const kinds: readonly BrokerKind[] = ['culex', 'culex-cli', 'mosquitto'];

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

/** The brokers to run against: `CULEX_TEST_BROKERS` when set, else `defaults`. */
export function brokerKinds(defaults: BrokerKind[] = ['culex']): BrokerKind[] {
  const env = process.env.CULEX_TEST_BROKERS;
  if (env === undefined || env === '') return defaults;
  const names = env.split(',').map((s) => s.trim());
  for (const name of names) {
    if (!kinds.includes(name as BrokerKind)) throw new Error(`unknown broker in CULEX_TEST_BROKERS: ${name}`);
  }
  return names as BrokerKind[];
}

const running = new Set<BrokerUnderTest>();
// `--test-force-exit` can end the process before `after` hooks run: broker processes still get their signal
// (each `stop()` sends it synchronously before waiting).
process.once('exit', () => {
  for (const target of running) void target.stop();
});

export async function startBroker(kind: BrokerKind, options: StartOptions = {}): Promise<BrokerUnderTest> {
  const target =
    kind === 'culex'
      ? await startCulex(options)
      : kind === 'culex-cli'
        ? await startCulexCommand(options)
        : await startMosquittoTarget(options);
  const stop = target.stop;
  target.stop = () => {
    running.delete(target);
    return stop();
  };
  running.add(target);
  return target;
}

/**
 * `culex broker -c FILE --memory` in its own process, with a JSON configuration giving the listeners the embedded
 * broker gets and the limits; hooks and refused subscriptions do not apply.
 */
async function startCulexCommand(options: StartOptions): Promise<BrokerUnderTest> {
  const port = await freePort();
  const listeners: Record<string, unknown>[] = [{ host: '127.0.0.1', port }];
  const target: BrokerUnderTest = { kind: 'culex-cli', port, stop: async () => undefined };
  const certs = options.tls;
  const tls = certs && { cert: certs.serverCertFile, key: certs.serverKeyFile, ca: certs.caFile, requestCertificate: true };
  if (tls) {
    target.tlsPort = await freePort();
    listeners.push({ host: '127.0.0.1', port: target.tlsPort, tls });
  }
  if (options.websockets) {
    target.wsPort = await freePort();
    listeners.push({ protocol: 'websockets', host: '127.0.0.1', port: target.wsPort });
    if (tls) {
      target.wssPort = await freePort();
      listeners.push({ protocol: 'websockets', host: '127.0.0.1', port: target.wssPort, tls });
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'culex-cli-broker-'));
  const configFile = join(dir, 'broker.json');
  // Tests connect from loopback at will, as they do to the embedded broker, which has no connection guard.
  const security = { exemptLoopback: true };
  await writeFile(configFile, JSON.stringify({ listeners, sysInterval: 0, security, ...(options.limits && { limits: options.limits }) }));
  const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main, 'broker', '-c', configFile, '--memory'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`culex broker did not start within 20 s: ${output}`)), 20_000);
      const onData = (d: Buffer): void => {
        output += d.toString();
        // One line per listener once it is bound.
        if (output.split('listening on').length > listeners.length) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`culex broker exited (${code}) at start: ${output}`));
      });
    });
  } catch (err) {
    await stop();
    throw err;
  }
  target.stop = stop;
  return target;
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
