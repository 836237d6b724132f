/**
 * What a broker configuration file says, whatever its form (the native JSON file or a mosquitto.conf): broker
 * options, listeners, the password/ACL files or cloud dialects and persistence. File names stay names here: certificates and
 * auth files are read when the broker starts and again on SIGHUP.
 */
import type { AuthChainOptions, ProtectionOptions } from '../auth/index.js';
import type { BrokerListenerOptions, BrokerOptions, LogLevel } from '../broker/index.js';
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

/** `security`: what `Protection` takes (defaults from `defaultConnectionGuard`), and the bans' file. */
export interface SecuritySettings extends ProtectionOptions {
  /** Default: `bans.json` in the data directory; without one, bans last until the broker stops. */
  bansFile?: string;
}

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
  user?: string;
  password?: string;
  token?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
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
  /** Connection rates, failed-authentication delay, rate limits, overload, flapping, where bans are kept. */
  security?: SecuritySettings;
  logLevel?: LogLevel;
  /** Settings accepted but without effect in culex, for the start-up log. */
  notes: string[];
}
