/** The native configuration file: JSON checked against `nativeSchema`, mapped onto BrokerConfig. */
import type { AuthChainOptions } from '../auth/index.js';
import type { LogFormat, LogLevel, BrokerLimits } from '../broker/index.js';
import { bridgeProblems, type BridgeOptions, type HttpSinkOptions } from '../bridge/index.js';
import { ConfigError } from './config-error.js';
import type { AlarmSettings, BrokerConfig, ConfiguredBridge, ConfiguredBrokerOptions, ConfiguredListener, DialectSettings, HttpSettings, TlsFiles } from './config-types.js';
import { parseJsonSource } from './json-source.js';
import { bridge as bridgeSchema, checkNode, nativeSchema, sink as sinkSchema } from './native-schema.js';

/** What the schema lets through, typed. */
interface NativeTls {
  cert: string;
  key: string;
  ca?: string;
  caPath?: string;
  crl?: string;
  requestCertificate?: boolean;
  requireCertificate?: boolean;
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

/** `port` or `unix`, the schema says: a Unix socket listener has port 0. */
type NativeListener = Omit<ConfiguredListener, 'tlsFiles' | 'port'> & { port?: number; tls?: NativeTls };

interface NativeBridgeTls {
  ca?: string;
  caPath?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
  alpn?: string[];
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

type NativeBridge = Omit<BridgeOptions, 'tls' | 'websocket' | 'restartTimeout'> & {
  tls?: NativeBridgeTls;
  websocketPath?: string;
  restartTimeout?: { base: number; cap?: number };
};

function configuredBridge({ tls, websocketPath, restartTimeout, ...rest }: NativeBridge): ConfiguredBridge {
  const bridge: ConfiguredBridge = rest;
  if (tls) {
    const { ca, caPath, cert, key, ...settings } = tls;
    bridge.tlsFiles = {
      ...settings,
      ...(ca !== undefined && { caFile: ca }),
      ...(caPath !== undefined && { caPath }),
      ...(cert !== undefined && { certFile: cert }),
      ...(key !== undefined && { keyFile: key }),
    };
  }
  if (websocketPath !== undefined) bridge.websocket = { path: websocketPath };
  if (restartTimeout !== undefined) bridge.restartTimeout = { base: restartTimeout.base, cap: restartTimeout.cap ?? restartTimeout.base };
  return bridge;
}

/** One bridge given outside a file (the admin API), as JSON text: checked as the file's `bridges` entries are. */
export function parseNativeBridge(text: string, source: string): ConfiguredBridge {
  const bridge = configuredBridge(checkNode(parseJsonSource(text, source), bridgeSchema, source, '') as NativeBridge);
  const { tlsFiles, ...options } = bridge;
  const problems = bridgeProblems(tlsFiles ? { ...options, tls: {} } : options);
  if (problems.length > 0) throw new ConfigError(source, 0, problems.join('; '));
  return bridge;
}

type NativeSink = Omit<HttpSinkOptions, 'headers'> & { headers?: string[] };

/** A sink with its `Name: value` header lines as a record; throws a ConfigError naming a bad one. */
function configuredSink({ headers, ...rest }: NativeSink, at: string, file: string): HttpSinkOptions {
  const sink: HttpSinkOptions = rest;
  if (!/^https?:\/\//.test(sink.url)) throw new ConfigError(file, 0, `${at}.url: expected an http:// or https:// URL, not '${sink.url}'`);
  if (headers !== undefined) {
    sink.headers = {};
    for (const line of headers) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new ConfigError(file, 0, `${at}.headers: expected 'Name: value', not '${line}'`);
      sink.headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
  }
  return sink;
}

/** One sink given outside a file (the admin API), as JSON text: checked as the file's `sinks` entries are. */
export function parseNativeSink(text: string, source: string): HttpSinkOptions {
  return configuredSink(checkNode(parseJsonSource(text, source), sinkSchema, source, '') as NativeSink, 'sink', source);
}

interface NativeFile extends ConfiguredBrokerOptions {
  $schema?: string;
  listeners?: NativeListener[];
  limits?: Partial<BrokerLimits>;
  auth?: AuthChainOptions;
  dialect?: DialectSettings;
  persistence?: { dataDir?: string; fsync?: boolean };
  security?: BrokerConfig['security'];
  cluster?: BrokerConfig['cluster'];
  bridges?: NativeBridge[];
  sinks?: NativeSink[];
  logLevel?: LogLevel;
  logFormat?: LogFormat;
  http?: Omit<HttpSettings, 'tls'> & { tls?: { cert: string; key: string } };
  alarms?: AlarmSettings;
  presence?: boolean;
}

function tlsFiles(tls: NativeTls): TlsFiles {
  const files: TlsFiles = { certFile: tls.cert, keyFile: tls.key };
  if (tls.ca !== undefined) files.caFile = tls.ca;
  if (tls.caPath !== undefined) files.caPath = tls.caPath;
  if (tls.crl !== undefined) files.crlFile = tls.crl;
  if (tls.requestCertificate !== undefined) files.requestCertificate = tls.requestCertificate;
  if (tls.requireCertificate !== undefined) files.requireCertificate = tls.requireCertificate;
  if (tls.minVersion !== undefined) files.minVersion = tls.minVersion;
  return files;
}

export function parseNativeConfig(text: string, file: string): BrokerConfig {
  const parsed = checkNode(parseJsonSource(text, file), nativeSchema, file, '') as NativeFile;
  const { $schema: _ignored, listeners = [], auth, dialect, persistence = {}, security, cluster, bridges, sinks, logLevel, logFormat, http, alarms, presence, ...broker } = parsed;
  const config: BrokerConfig = {
    file,
    format: 'native',
    broker,
    listeners: listeners.map(({ tls, port = 0, ...rest }) => (tls ? { ...rest, port, tlsFiles: tlsFiles(tls) } : { ...rest, port })),
    persistence,
    notes: [],
  };
  if (auth) config.auth = auth;
  if (dialect) config.dialect = dialect;
  if (security) config.security = security;
  if (cluster) config.cluster = cluster;
  if (bridges) {
    config.bridges = bridges.map(configuredBridge);
    config.bridges.forEach(({ tlsFiles, ...options }, i) => {
      const problems = bridgeProblems(tlsFiles ? { ...options, tls: {} } : options);
      if (problems.length > 0) throw new ConfigError(file, 0, `bridges[${i}] (${options.name}): ${problems.join('; ')}`);
    });
  }
  if (sinks) config.sinks = sinks.map((sink, i) => configuredSink(sink, `sinks[${i}]`, file));
  if (logLevel) config.logLevel = logLevel;
  if (logFormat) config.logFormat = logFormat;
  if (alarms) config.alarms = alarms;
  if (presence !== undefined) config.presence = presence;
  if (http) {
    const { tls, ...rest } = http;
    config.http = tls ? { ...rest, tls: { certFile: tls.cert, keyFile: tls.key } } : rest;
  }
  return config;
}
