/**
 * MQTT.js's `connect(url, options)` arguments as the URL and options of Culex's client, with MQTT.js's defaults:
 * MQTT 3.1.1, a reconnect 1 s after a loss (backing off from there), no topic aliases unless asked.
 */
import { randomBytes } from 'node:crypto';
import type { ClientOptions, WillOptions } from '../client/index.js';
import { fromMqttJsProperties } from './packets.js';
import type { IClientOptions } from './types.js';

/** What `connect` works from: the URL to dial, Culex's options, and MQTT.js's as the program sees them. */
export interface ResolvedOptions {
  url: URL;
  culex: ClientOptions;
  /** The program's options with MQTT.js's defaults filled in (`client.options`). */
  mqttjs: IClientOptions & Required<Pick<IClientOptions, 'protocolVersion' | 'clientId' | 'keepalive' | 'clean' | 'reconnectPeriod' | 'connectTimeout' | 'resubscribe'>>;
}

const DEFAULTS = {
  protocolVersion: 4,
  keepalive: 60,
  clean: true,
  reconnectPeriod: 1000,
  connectTimeout: 30_000,
  resubscribe: true,
} as const;

/** Culex's default ceiling of the reconnect back-off, ms. */
const MAX_RECONNECT_DELAY = 30_000;

const SCHEMES = new Set(['mqtt', 'mqtts', 'tcp', 'ssl', 'tls', 'ws', 'wss']);

/** MQTT.js's arguments: a URL with options, or options alone (`host`, `port`, `protocol`). */
export function resolveOptions(brokerUrl: string | IClientOptions | undefined, given: IClientOptions | undefined): ResolvedOptions {
  const options: IClientOptions = typeof brokerUrl === 'object' ? { ...brokerUrl } : { ...given };
  if (typeof brokerUrl === 'string' && brokerUrl !== '') {
    const parsed = new URL(brokerUrl);
    // What the options say wins over the URL, as in MQTT.js.
    options.protocol ??= parsed.protocol.slice(0, -1) as IClientOptions['protocol'];
    options.hostname ??= parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    if (parsed.port !== '') options.port ??= Number(parsed.port);
    if (parsed.pathname !== '' && parsed.pathname !== '/') options.path ??= decodeURIComponent(parsed.pathname) + parsed.search;
    if (parsed.username !== '') options.auth ??= `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`;
    options.clientId ??= parsed.searchParams.get('clientId') ?? undefined;
  }
  if (options.auth !== undefined) {
    const colon = options.auth.indexOf(':');
    options.username ??= colon < 0 ? options.auth : options.auth.slice(0, colon);
    if (colon >= 0 && colon < options.auth.length - 1) options.password ??= options.auth.slice(colon + 1);
  }
  let scheme: string = options.protocol ?? 'mqtt';
  if (scheme.endsWith('+unix')) {
    options.unixSocket = true;
    scheme = scheme.slice(0, -'+unix'.length);
  }
  if (!SCHEMES.has(scheme)) throw new Error(`culex/mqtt: unsupported protocol '${scheme}' (mqtt, mqtts, tcp, ssl, ws, wss)`);
  const mqttjs = {
    ...DEFAULTS,
    ...withoutUndefined(options),
    clientId: options.clientId ?? `culex_${randomBytes(4).toString('hex')}`,
  };
  return { url: brokerUrlOf(scheme, mqttjs), culex: culexOptions(mqttjs), mqttjs };
}

function withoutUndefined(options: IClientOptions): IClientOptions {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as IClientOptions;
}

function brokerUrlOf(scheme: string, options: IClientOptions): URL {
  if (options.unixSocket) {
    if (!options.path) throw new Error('culex/mqtt: a Unix socket needs its path (the path option)');
    if (scheme !== 'mqtt' && scheme !== 'tcp') throw new Error(`culex/mqtt: a Unix socket carries plain MQTT only, not ${scheme}`);
    return new URL(`unix://${encodeURI(options.path)}`);
  }
  const host = options.hostname ?? options.host ?? 'localhost';
  const url = new URL(`${scheme}://${host.includes(':') ? `[${host}]` : host}`);
  if (options.port !== undefined) url.port = String(options.port);
  if (scheme.startsWith('ws')) url.pathname = options.path ?? '/mqtt';
  return url;
}

function culexOptions(options: ResolvedOptions['mqttjs']): ClientOptions {
  const version = options.protocolVersion;
  const culex: ClientOptions = {
    protocolVersion: version,
    clientId: options.clientId,
    clean: options.clean,
    keepalive: options.keepalive,
    connectTimeout: options.connectTimeout,
    resubscribe: options.resubscribe,
    autoTopicAlias: options.autoAssignTopicAlias === true || options.autoUseTopicAlias === true,
    reconnect: options.reconnectPeriod > 0
      ? { initialDelay: options.reconnectPeriod, maxDelay: Math.max(options.reconnectPeriod, MAX_RECONNECT_DELAY) }
      : false,
  };
  copy(options, culex, ['username', 'password', 'queueQoSZero', 'ca', 'cert', 'key', 'passphrase', 'servername',
    'rejectUnauthorized', 'ALPNProtocols', 'minVersion', 'maxVersion']);
  if (options.wsOptions?.headers) culex.websocket = { headers: options.wsOptions.headers };
  if (options.will) {
    const will: WillOptions = { topic: options.will.topic, payload: options.will.payload, qos: options.will.qos, retain: options.will.retain };
    const properties = fromMqttJsProperties(options.will.properties);
    if (properties) will.properties = properties;
    culex.will = will;
  }
  const properties = fromMqttJsProperties(options.properties);
  if (properties && version === 5) {
    // CONNECT's authentication properties are separate options of Culex's client.
    const { authenticationMethod, authenticationData, sessionExpiryInterval, ...rest } = properties;
    if (authenticationMethod !== undefined) culex.authenticationMethod = authenticationMethod;
    if (authenticationData !== undefined) culex.authenticationData = authenticationData;
    if (sessionExpiryInterval !== undefined) culex.sessionExpiryInterval = sessionExpiryInterval;
    if (Object.keys(rest).length > 0) culex.properties = rest;
  }
  return { ...culex, ...options.culex };
}

function copy<K extends keyof IClientOptions & keyof ClientOptions>(from: IClientOptions, to: ClientOptions, keys: K[]): void {
  for (const key of keys) if (from[key] !== undefined) (to as Record<K, unknown>)[key] = from[key];
}
