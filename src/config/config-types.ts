/**
 * What a broker configuration file says, whatever its form (the native JSON file or a mosquitto.conf): broker
 * options, listeners, the password/ACL files or cloud dialects and persistence. File names stay names here: certificates and
 * auth files are read when the broker starts and again on SIGHUP.
 */
import type { AuthChainOptions, ProtectionOptions } from '../auth/index.js';
import type { BridgeOptions } from '../bridge/index.js';
import type { BrokerListenerOptions, BrokerOptions, LogFormat, LogLevel } from '../broker/index.js';
import type { AliyunIotProfileOptions, AliyunMqProfileOptions, TencentProfileOptions } from '../dialects/index.js';

/** A listener's TLS files and settings. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  caFile?: string;
  /** Directory of CA certificates (`*.pem`, `*.crt`), added to `caFile`'s. */
  caPath?: string;
  crlFile?: string;
  requestCertificate?: boolean;
  requireCertificate?: boolean;
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

/** A cloud platform's devices served instead of password files: where their secrets are, the profile's settings. */
export type DialectSettings = { secretsFile: string } & (
  | ({ type: 'tencent' } & Pick<TencentProfileOptions, 'methods' | 'expiryGraceMs' | 'productIdLength' | 'confineTopics'>)
  | ({ type: 'aliyun-mq' } & Pick<AliyunMqProfileOptions, 'instanceId' | 'expiryNoticeMs'>)
  | ({ type: 'aliyun-iot' } & Pick<AliyunIotProfileOptions, 'signMethods' | 'acceptSdkSha1Quirk' | 'maxTimestampSkewMs'>)
);

export interface ConfiguredListener extends Omit<BrokerListenerOptions, 'tls' | 'hooks'> {
  tlsFiles?: TlsFiles;
  /** This listener's own auth methods (per-listener settings); else the broker-wide `auth` applies. */
  auth?: AuthChainOptions;
  /** The client certificate's Common Name becomes the user name; CONNECT's user name and password are ignored. */
  useIdentityAsUsername?: boolean;
  /** The client certificate's whole subject (RFC 2253 form, as Mosquitto writes it) becomes the user name. */
  useSubjectAsUsername?: boolean;
  /** This listener's cloud dialect, instead of any password/ACL files. */
  dialect?: DialectSettings;
}

/** A bridge's certificate files and TLS settings (Mosquitto's bridge_cafile, bridge_capath, ...). */
export interface BridgeTlsFiles {
  caFile?: string;
  /** Directory of CA certificates (`*.pem`, `*.crt`), added to `caFile`'s. */
  caPath?: string;
  certFile?: string;
  keyFile?: string;
  /** Skip the host name check (the chain is still verified). */
  insecure?: boolean;
  alpn?: string[];
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

/** A bridge as a file configures it: its certificates as file names, read when the broker starts. */
export type ConfiguredBridge = Omit<BridgeOptions, 'tls'> & { tlsFiles?: BridgeTlsFiles };

export interface PersistenceSettings {
  /** Directory of the durable store; absent = memory only. */
  dataDir?: string;
  /** Flush every batch to the disk. */
  fsync?: boolean;
}

export type ConfiguredBrokerOptions = Omit<BrokerOptions, 'listeners' | 'hooks' | 'store' | 'logger' | 'sessionDirectory' | 'sysFigures'>;

/** This broker as one node of a cluster on NATS JetStream. */
export interface ClusterSettings {
  servers: string[];
  name?: string;
  node?: string;
  replicas?: number;
  journalBatchMs?: number;
  user?: string;
  password?: string;
  token?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** The admin HTTP(S) listener: metrics, the admin API (off unless configured). */
export interface HttpSettings {
  /** Default 127.0.0.1. */
  host?: string;
  port: number;
  /** Admin users, `culex passwd` format (HTTP Basic). */
  passwordFile?: string;
  /** API tokens, `name:sha256-hex` lines (`culex ctl token`). */
  tokensFile?: string;
  /** HTTPS with these PEM files. */
  tls?: { certFile: string; keyFile: string };
  /** `GET /metrics` without credentials. */
  publicMetrics?: boolean;
}

export interface BrokerConfig {
  file: string;
  format: 'native' | 'mosquitto';
  broker: ConfiguredBrokerOptions;
  /** Empty: the broker's default listener. */
  listeners: ConfiguredListener[];
  /** Broker-wide auth methods: password/ACL files, an HTTP service, JWT, in an order. */
  auth?: AuthChainOptions;
  /** Broker-wide cloud dialect (excludes `auth`), for listeners without their own auth or dialect. */
  dialect?: DialectSettings;
  persistence: PersistenceSettings;
  /** Set: the broker is one node of a cluster, its state in NATS. */
  cluster?: ClusterSettings;
  /** Bridges to other brokers (mosquitto.conf `connection` sections, the native file's `bridges`). */
  bridges?: ConfiguredBridge[];
  /** Connection rates, failed-authentication delay, inbound rate limits; defaults from `defaultConnectionGuard`. */
  security?: ProtectionOptions;
  logLevel?: LogLevel;
  /** `json`: one JSON object a line, for log collectors. Default text. */
  logFormat?: LogFormat;
  /** The admin HTTP(S) listener. */
  http?: HttpSettings;
  /** Settings accepted but without effect in culex, for the start-up log. */
  notes: string[];
}
