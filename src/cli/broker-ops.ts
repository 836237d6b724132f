/**
 * `culex broker`'s operations flags (`--http`, `--http-passwd`, ..., `--presence`, `--log-format`) onto the
 * configuration, and what they start: alarms (always), presence events, the admin HTTP listener.
 */
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Protection } from '../auth/index.js';
import { BridgeError, type BridgeManager } from '../bridge/index.js';
import type { Broker, Logger, LogFormat } from '../broker/index.js';
import { ConfigError, type BrokerConfig, type HttpSettings } from '../config/index.js';
import { bridgeOptions, parseNativeBridge, parseNativeSink } from '../config/internal.js';
import { Alarms, OpsServer, Presence, type BridgeControl, type ClusterPeers } from '../ops/index.js';

export const opsHelp = `      --http [HOST:]PORT  serve the admin interface over HTTP: Prometheus metrics at /metrics, the admin API
                          under /api/v1 (docs/operate.md); HOST defaults to 127.0.0.1 (default off)
      --http-passwd FILE  admin users for HTTP Basic, in culex passwd format (re-read on SIGHUP)
      --http-tokens FILE  API tokens for Bearer, made by \`culex ctl token\` (re-read on SIGHUP)
      --http-cert FILE    serve HTTPS with this certificate chain (PEM) ...
      --http-key FILE     ... and this key
      --http-public-metrics  answer GET /metrics without credentials (default: credentials needed)
      --presence          publish \$SYS/broker/clients/{clientId}/connected and /disconnected (default off)
      --log-format F      text or json (one JSON object a line: time, level, msg) (default text)
`;

/** parseArgs options of the flags above. */
export const opsOptions = {
  http: { type: 'string' },
  'http-passwd': { type: 'string' },
  'http-tokens': { type: 'string' },
  'http-cert': { type: 'string' },
  'http-key': { type: 'string' },
  'http-public-metrics': { type: 'boolean' },
  presence: { type: 'boolean' },
  'log-format': { type: 'string' },
} as const;

export interface OpsFlags {
  http?: string;
  'http-passwd'?: string;
  'http-tokens'?: string;
  'http-cert'?: string;
  'http-key'?: string;
  'http-public-metrics'?: boolean;
  presence?: boolean;
  'log-format'?: string;
}

/** `PORT`, `HOST:PORT` or `[IPv6]:PORT`. */
export function parseHttpAddress(text: string): { host?: string; port: number } {
  const match = /^(?:(\[[^\]]+\]|[^:]+):)?(\d{1,5})$/.exec(text);
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || port > 65535) throw new Error(`--http takes [HOST:]PORT, not '${text}'`);
  const host = match[1]?.replace(/^\[(.*)\]$/, '$1');
  return host === undefined ? { port } : { host, port };
}

/** Applies the flags over the file's settings (flags win); throws an Error worded for the user. */
export function applyOpsFlags(flags: OpsFlags, config: BrokerConfig): void {
  if (flags['log-format'] !== undefined) {
    if (flags['log-format'] !== 'text' && flags['log-format'] !== 'json') throw new Error(`--log-format takes text or json, not '${flags['log-format']}'`);
    config.logFormat = flags['log-format'];
  }
  if (flags.presence) config.presence = true;
  const rest = [flags['http-passwd'], flags['http-tokens'], flags['http-cert'], flags['http-key'], flags['http-public-metrics']];
  if (flags.http === undefined) {
    if (config.http === undefined && rest.some((value) => value !== undefined)) throw new Error('the --http-... flags need --http (or http in the configuration file)');
    if (config.http === undefined) return;
  }
  const http: HttpSettings = flags.http === undefined ? config.http! : { ...config.http, ...parseHttpAddress(flags.http) };
  if (flags['http-passwd'] !== undefined) http.passwordFile = flags['http-passwd'];
  if (flags['http-tokens'] !== undefined) http.tokensFile = flags['http-tokens'];
  if ((flags['http-cert'] === undefined) !== (flags['http-key'] === undefined)) throw new Error('--http-cert and --http-key go together');
  if (flags['http-cert'] !== undefined) http.tls = { certFile: flags['http-cert'], keyFile: flags['http-key']! };
  if (flags['http-public-metrics']) http.publicMetrics = true;
  if (http.passwordFile === undefined && http.tokensFile === undefined) {
    throw new Error('--http needs --http-passwd or --http-tokens: the admin interface is never open to anyone');
  }
  config.http = http;
}

export function logFormat(config: BrokerConfig): LogFormat {
  return config.logFormat ?? 'text';
}

function nameOf(entry: unknown): string {
  return typeof entry === 'object' && entry !== null && 'name' in entry && typeof entry.name === 'string' ? entry.name : '(unnamed)';
}

/**
 * A bridge or sink the admin API was given, checked as the configuration file's entries are (`parse` throws a
 * ConfigError about `source`): the same refusal, worded for the request, as the manager's own (`BridgeError`).
 */
async function checked<T>(entry: unknown, source: 'bridge' | 'sink', parse: (text: string) => T | Promise<T>): Promise<T> {
  try {
    return await parse(JSON.stringify(entry));
  } catch (err) {
    if (err instanceof ConfigError) throw new BridgeError(nameOf(entry), 'invalid', [err.message.replace(new RegExp(`^${source}(:\\d+)?: `), '')]);
    throw err;
  }
}

/**
 * The broker's bridges and sinks for the admin API. `manager` makes the BridgeManager when the first one is added (a
 * broker started without bridges or sinks has none until then); `current` is the one made, if any.
 */
export function bridgeControl(current: () => BridgeManager | undefined, manager: () => BridgeManager): BridgeControl {
  const options = (entry: unknown) => checked(entry, 'bridge', (text) => bridgeOptions(parseNativeBridge(text, 'bridge')));
  const existing = (name: string, what: 'bridge' | 'sink'): BridgeManager => {
    const bridges = current();
    if (bridges === undefined) throw new BridgeError(name, 'unknown', [`no ${what} of that name`]);
    return bridges;
  };
  return {
    status: () => current()?.status() ?? [],
    add: async (entry) => manager().add(await options(entry)),
    change: async (entry) => {
      const bridge = await options(entry);
      return existing(bridge.name, 'bridge').change(bridge);
    },
    remove: (name) => existing(name, 'bridge').remove(name),
    pause: (name) => existing(name, 'bridge').pause(name),
    resume: async (name) => existing(name, 'bridge').resume(name),
    sinks: () => current()?.sinkStatus() ?? [],
    addSink: async (entry) => manager().addSink(await checked(entry, 'sink', (text) => parseNativeSink(text, 'sink'))),
    removeSink: (name) => existing(name, 'sink').removeSink(name),
  };
}

/** What runs beside the broker; `reload` re-reads what SIGHUP re-reads, `close` stops it all. */
export interface Operations {
  reload(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the alarms, presence events when configured, and the admin listener when the configuration has one;
 * `reload` is what SIGHUP re-reads of the broker's files; `protection` gives the ban list the admin API manages and
 * the overload state the `overload` alarm follows; `bridges`, those the admin API manages (none on a cluster node).
 */
export async function startOperations(
  config: BrokerConfig,
  broker: Broker,
  nodeName: string | undefined,
  reload: () => Promise<void>,
  protection: Pick<Protection, 'bans' | 'overload'>,
  logger: Logger,
  bridges?: BridgeControl,
  /** On a cluster node: the other nodes, which the admin API answers for too. */
  peers?: ClusterPeers,
): Promise<Operations> {
  const settings = config.alarms ?? {};
  const thresholds = {
    intervalSeconds: settings.intervalSeconds,
    memoryRatio: settings.memoryPercent === undefined ? undefined : settings.memoryPercent / 100,
    connectionsRatio: settings.connectionsPercent === undefined ? undefined : settings.connectionsPercent / 100,
    stuckSubscribers: settings.stuckSubscribers,
  };
  const alarms = new Alarms(broker, thresholds, { overload: protection.overload, cluster: peers?.status });
  const presence = config.presence ? new Presence(broker) : undefined;
  const http = config.http;
  let server: OpsServer | undefined;
  if (http !== undefined) {
    const tls = http.tls === undefined ? undefined : { cert: await readFile(http.tls.certFile), key: await readFile(http.tls.keyFile) };
    server = await OpsServer.start({
      broker,
      http: { host: http.host, port: http.port, passwordFile: http.passwordFile, tokensFile: http.tokensFile, tls, publicMetrics: http.publicMetrics },
      nodeName: nodeName ?? hostname(),
      peers,
      reload,
      alarms,
      bans: protection.bans,
      bridges,
      logger,
    });
  }
  alarms.start();
  presence?.start();
  return {
    reload: () => (server === undefined ? reload() : server.reload()),
    async close() {
      presence?.stop();
      alarms.stop();
      await server?.close();
    },
  };
}
