/**
 * What a bridge is configured with (the native file's `bridges[]`, or a mosquitto.conf `connection` section), its
 * defaults (Mosquitto's where it has one), and the check that refuses a configuration that cannot work.
 */
import { hostname } from 'node:os';
import type { ProtocolVersion } from '../packet/index.js';
import type { CloudCredentials } from './credentials.js';
import type { RemoteTls } from './remote-link.js';
import { topicProblem, type BridgeTopic } from './topics.js';

export interface BridgeOptions {
  /** Mosquitto's `connection`: the bridge's name, unique on this broker. */
  name: string;
  /**
   * Remote addresses, tried in order (fail-over): `host[:port]` (TCP, or TLS when `tls` is given), or a URL
   * `mqtt://`, `mqtts://`, `ws://`, `wss://` (WebSocket path from the URL, default /mqtt).
   */
  addresses: string[];
  /** Mosquitto's round_robin: after a failure try the next address rather than the first again. Default false. */
  roundRobin?: boolean;
  topics: BridgeTopic[];
  /** 3 (MQTT 3.1), 4 (3.1.1, Mosquitto's default) or 5. */
  protocolVersion?: ProtocolVersion;
  /** Client id on the remote. Default `<name>.<host name>`, as Mosquitto. */
  remoteClientId?: string;
  /** Client id of the bridge's session on this broker. Default `local.<remote client id>`, as Mosquitto. */
  localClientId?: string;
  remoteUsername?: string;
  remotePassword?: string;
  /** A cloud platform's device credentials instead of a user name and password (signed again at each connect). */
  credentials?: CloudCredentials;
  /** Clean session on the remote: its subscriptions and queued messages are not kept across connections. Default false. */
  cleanSession?: boolean;
  /** A new local session (dropping what waited for the remote) each time the bridge starts. Default: cleanSession. */
  localCleanSession?: boolean;
  tls?: RemoteTls;
  websocket?: { path?: string; headers?: Record<string, string> };
  /** Seconds. Default 60 (at least 5). */
  keepalive?: number;
  /**
   * Seconds between connection attempts: one number (constant), or a base and a cap (backoff with decorrelated
   * jitter, as Mosquitto). Default base 5, cap 30.
   */
  restartTimeout?: number | { base: number; cap: number };
  /** Set the bridge bit of the 3.x protocol level (Mosquitto's try_private). Default true. */
  tryPrivate?: boolean;
  /** Publish the connection state, retained 1 or 0, locally and on the remote (Will). Default true. */
  notifications?: boolean;
  /** Default `$SYS/broker/connection/<remote client id>/state`. */
  notificationTopic?: string;
  /** Only on this broker, not on the remote. Default false. */
  notificationsLocalOnly?: boolean;
  /** Keep the retain flag of messages sent to the remote. Default true. */
  outgoingRetain?: boolean;
  /** Largest packet sent to the remote, bytes; 0 = the remote's own limit. Default 0. */
  maxPacketSize?: number;
  /** MQTT 5: QoS 1/2 messages the remote may send the bridge unacknowledged. Default 100. */
  receiveMaximum?: number;
  /** MQTT 5: the remote session's expiry, seconds. Default: forever, 0 with cleanSession. */
  sessionExpiryInterval?: number;
  /** QoS 1/2 messages sent to the remote and not yet acknowledged, at most. Default 20 (3.x), 100 (5). */
  maxInflight?: number;
  /** Bounds of the queue that holds messages while the remote is away; see `BridgeQueueLimits`. */
  queue?: BridgeQueueLimits;
  /** A message that crossed this many bridges is not forwarded again. Default 8. */
  maxHops?: number;
}

/** The queue of messages for the remote, kept in the broker's store; newer messages are dropped when it is full. */
export interface BridgeQueueLimits {
  /** Messages. Default the broker's maxQueuedMessages. */
  maxMessages?: number;
  /** Bytes (payload, topic and properties). Default the broker's maxQueuedBytes. */
  maxBytes?: number;
  /** Seconds a message may wait; older ones are dropped when their turn comes. Default 0: no limit. */
  maxAge?: number;
}

/** A bridge's options with every default filled in. */
export type ResolvedBridge = Required<Omit<BridgeOptions, 'credentials' | 'tls' | 'websocket' | 'remoteUsername' | 'remotePassword' | 'sessionExpiryInterval' | 'queue'>> &
  Pick<BridgeOptions, 'credentials' | 'tls' | 'websocket' | 'remoteUsername' | 'remotePassword' | 'queue'> & {
    sessionExpiryInterval: number;
    restartTimeout: { base: number; cap: number };
    urls: URL[];
  };

/** Parses `host[:port]` or a URL into the URL the bridge dials. */
export function addressUrl(address: string, tls: boolean): URL {
  if (/^[a-z]+:\/\//i.test(address)) return new URL(address);
  // `host:port`, `[v6]:port`, or a bare host; Mosquitto's default port is 1883 even with TLS.
  const scheme = tls ? 'mqtts' : 'mqtt';
  const withPort = /^(\[[^\]]+\]|[^:[\]]+):(\d+)$/.exec(address);
  if (withPort !== null) return new URL(`${scheme}://${withPort[1]}:${withPort[2]}`);
  const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
  return new URL(`${scheme}://${host}:1883`);
}

/** Why the options cannot make a bridge (every problem), or an empty list. */
export function bridgeProblems(options: BridgeOptions): string[] {
  const problems: string[] = [];
  if (!/^[^\s/#+,]+$/.test(options.name ?? '')) problems.push(`bridge name '${options.name}' must be a word without spaces, '/', '#', '+' or ','`);
  if (options.addresses.length === 0) problems.push('at least one address is needed');
  for (const address of options.addresses) {
    try {
      const url = addressUrl(address, options.tls !== undefined);
      if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(url.protocol)) problems.push(`address '${address}': scheme ${url.protocol} is not mqtt, mqtts, ws or wss`);
    } catch {
      problems.push(`address '${address}' is not host[:port] or a URL`);
    }
  }
  if (options.topics.length === 0) problems.push('at least one topic is needed');
  for (const topic of options.topics) {
    const problem = topicProblem(topic);
    if (problem !== undefined) problems.push(`topic ${problem}`);
  }
  if (options.protocolVersion !== undefined && ![3, 4, 5].includes(options.protocolVersion)) problems.push('protocol version must be 3, 4 or 5');
  if (options.remotePassword !== undefined && options.remoteUsername === undefined && options.protocolVersion !== 5) {
    problems.push('remote_password needs remote_username before MQTT 5');
  }
  if (options.credentials !== undefined && (options.remoteUsername !== undefined || options.remotePassword !== undefined)) {
    problems.push('credentials and a remote user name or password exclude each other');
  }
  if (options.keepalive !== undefined && (options.keepalive < 5 || options.keepalive > 65535)) problems.push('keepalive must be from 5 to 65535 seconds');
  const restart = options.restartTimeout;
  if (restart !== undefined && (typeof restart === 'number' ? restart < 0 : restart.base < 0 || restart.cap < restart.base)) {
    problems.push('restart timeout must be seconds >= 0, and a cap not below its base');
  }
  for (const id of [options.remoteClientId, options.localClientId]) {
    if (id !== undefined && (id === '' || id.includes(','))) problems.push(`client id '${id}' must be non-empty and without ','`);
  }
  if (options.maxHops !== undefined && options.maxHops < 1) problems.push('maxHops must be 1 or more');
  if (options.maxInflight !== undefined && (options.maxInflight < 1 || options.maxInflight > 65535)) problems.push('maxInflight must be from 1 to 65535');
  if (options.receiveMaximum !== undefined && (options.receiveMaximum < 1 || options.receiveMaximum > 65535)) problems.push('receiveMaximum must be from 1 to 65535');
  return problems;
}

/** Fills in the defaults. */
export function resolveBridge(options: BridgeOptions): ResolvedBridge {
  const version = options.protocolVersion ?? 4;
  const remoteClientId = options.remoteClientId ?? `${options.name}.${hostname()}`;
  const clean = options.cleanSession ?? false;
  const restart = options.restartTimeout ?? { base: 5, cap: 30 };
  const resolved: ResolvedBridge = {
    name: options.name,
    addresses: options.addresses,
    urls: options.addresses.map((address) => addressUrl(address, options.tls !== undefined)),
    roundRobin: options.roundRobin ?? false,
    topics: options.topics,
    protocolVersion: version,
    remoteClientId,
    localClientId: options.localClientId ?? `local.${remoteClientId}`,
    cleanSession: clean,
    localCleanSession: options.localCleanSession ?? clean,
    keepalive: options.keepalive ?? 60,
    restartTimeout: typeof restart === 'number' ? { base: restart, cap: restart } : restart,
    tryPrivate: options.tryPrivate ?? true,
    notifications: options.notifications ?? true,
    notificationTopic: options.notificationTopic ?? `$SYS/broker/connection/${remoteClientId}/state`,
    notificationsLocalOnly: options.notificationsLocalOnly ?? false,
    outgoingRetain: options.outgoingRetain ?? true,
    maxPacketSize: options.maxPacketSize ?? 0,
    receiveMaximum: options.receiveMaximum ?? 100,
    sessionExpiryInterval: options.sessionExpiryInterval ?? (clean ? 0 : 0xffffffff),
    maxInflight: options.maxInflight ?? (version === 5 ? 100 : 20),
    maxHops: options.maxHops ?? 8,
  };
  if (options.credentials !== undefined) resolved.credentials = options.credentials;
  if (options.tls !== undefined) resolved.tls = options.tls;
  if (options.websocket !== undefined) resolved.websocket = options.websocket;
  if (options.remoteUsername !== undefined) resolved.remoteUsername = options.remoteUsername;
  if (options.remotePassword !== undefined) resolved.remotePassword = options.remotePassword;
  if (options.queue !== undefined) resolved.queue = options.queue;
  return resolved;
}
