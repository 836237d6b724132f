import type { ListenerOptions } from './listeners/listener.js';
import type { BrokerHooks } from './hooks.js';
import type { ProtocolVersion, Will } from '../packet/index.js';
import type { LogLimitOptions, Logger } from './logger.js';
import type { BrokerStore, StoredSessionState } from './store/store.js';

/**
 * Per-session and per-connection limits. Durations are in seconds and 0 means "no limit" where stated, so that a
 * config file can carry them as they are.
 */
export interface BrokerLimits {
  /** Connected clients at once; 0 = unlimited. Default 0. */
  maxConnections: number;
  /** Largest packet accepted from and sent to a client, in bytes. Default 1 MiB. */
  maxPacketSize: number;
  /** QoS 1/2 messages sent to a client and not yet acknowledged (further bounded by its Receive Maximum). Default 100. */
  maxInflight: number;
  /** QoS 1/2 messages a client may have unacknowledged towards us (our Receive Maximum). Default 100. */
  receiveMaximum: number;
  /**
   * Messages queued per session beyond the in-flight window. At the limit a connected subscriber holds back the
   * publishers feeding it (flow.ts); for an offline or stuck one newer messages are dropped and counted. Default 1000.
   */
  maxQueuedMessages: number;
  /** Payload bytes queued per session. Default 16 MiB. */
  maxQueuedBytes: number;
  /**
   * Seconds a message may wait in a session's queue; older ones are dropped and counted when their turn comes.
   * 0 = no limit. Default 0.
   */
  maxQueuedAge: number;
  /** Subscriptions per client; 0 = unlimited. Default 0. */
  maxSubscriptionsPerClient: number;
  /** Retained messages kept; 0 = unlimited. New topics beyond it are not retained. Default 0. */
  maxRetainedMessages: number;
  /** Longest keepalive allowed, seconds (v5 clients get Server Keep Alive). Default 65535. */
  maxKeepalive: number;
  /** Most levels in a topic name or filter; 0 = unlimited. Default 200 (as Mosquitto). */
  maxTopicLevels: number;
  /**
   * User properties in one packet (v5); more close the connection with 0x83 before the rest is decoded. Each costs
   * about 60 bytes of memory for 5 bytes on the wire. 0 = unlimited. Default 256.
   */
  maxUserProperties: number;
  /** Topic aliases a client may use towards us (our Topic Alias Maximum). Default 10. */
  topicAliasMaximum: number;
  /** Seconds a connection may take to send CONNECT and finish authenticating. Default 10. */
  connectTimeout: number;
  /** Seconds a client's socket may stay undrained before it is disconnected. Default 30. */
  writeStallTimeout: number;
  /** Bytes waiting in a client's socket above which its messages wait in the session queue. Default 1 MiB. */
  maxWriteBuffer: number;
  /** Longest client id accepted, in UTF-8 bytes. Default 65535. */
  maxClientIdLength: number;
  /** Seconds a disconnected 3.x persistent session is kept; 0 = forever (Mosquitto's default). Default 0. */
  persistentClientExpiration: number;
  /** Cap on a v5 client's Session Expiry Interval, seconds; 0 = no cap. Default 0. */
  maxSessionExpiryInterval: number;
}

export const defaultLimits: Readonly<BrokerLimits> = Object.freeze({
  maxConnections: 0,
  maxPacketSize: 1024 * 1024,
  maxInflight: 100,
  receiveMaximum: 100,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 16 * 1024 * 1024,
  maxQueuedAge: 0,
  maxSubscriptionsPerClient: 0,
  maxRetainedMessages: 0,
  maxKeepalive: 65535,
  maxTopicLevels: 200,
  maxUserProperties: 256,
  topicAliasMaximum: 10,
  connectTimeout: 10,
  writeStallTimeout: 30,
  maxWriteBuffer: 1024 * 1024,
  maxClientIdLength: 65535,
  persistentClientExpiration: 0,
  maxSessionExpiryInterval: 0,
});

/**
 * Who owns each session when several brokers share them (a cluster): a CONNECT is accepted only once this broker
 * owns the client id's session, and a session that ends here is given up.
 */
export interface SessionDirectory {
  /**
   * Makes this broker the owner of `clientId`'s session: resolves with the state another broker handed over (to
   * resume; `clean` asks it to be discarded instead), undefined when there is none elsewhere, or a reason code to
   * refuse the CONNECT with (the owner cannot be reached, the engine is down).
   */
  claim(clientId: string, clean: boolean): Promise<StoredSessionState | number | undefined>;
  /** The CONNECT that claimed the session is done with it (attached, refused, or its client gone). */
  settled(clientId: string): void;
  /** A session ended here (expired, or its clean connection closed): no broker owns it any more. */
  ended(clientId: string): void;
  /** A client is connected here, with this Will (so that the cluster sends it should this broker die). */
  connected(clientId: string, protocolVersion: ProtocolVersion, will: Will | undefined): void;
  /** The client's connection here ended; its Will, if any, was sent or kept with its session. */
  disconnected(clientId: string): void;
}

/** Connection policy that can differ per listener. */
export interface ListenerPolicy {
  /** Accept clients without a user name. Default: true on a loopback address, false elsewhere. */
  allowAnonymous?: boolean;
  /** Refuse 3.x clients whose keepalive is 0 or above maxKeepalive instead of holding them to their own. Default false. */
  refuseExcessKeepalive?: boolean;
  limits?: Partial<BrokerLimits>;
  hooks?: BrokerHooks;
  /**
   * A subscriber's full queue holds back the connections publishing to it (flow.ts). `false` drops (and counts)
   * the overflow instead, for subscribers that must never slow publishers down (bridges, HTTP sinks). Default true.
   */
  holdPublishers?: boolean;
}

export type BrokerListenerOptions = ListenerOptions & ListenerPolicy;

export interface BrokerOptions extends Omit<ListenerPolicy, 'limits'> {
  /** Default: one plain MQTT listener on 127.0.0.1:1883. */
  listeners?: BrokerListenerOptions[];
  limits?: Partial<BrokerLimits>;
  /** Whether retained messages are kept (CONNACK Retain Available). Default true. */
  retainAvailable?: boolean;
  /** Seconds between `$SYS` updates; 0 = off. Default 10. */
  sysInterval?: number;
  /** Resuming or taking over a session needs the user name that created it. Default true. */
  requireSameUsername?: boolean;
  /** Sent as Response Information to v5 clients that ask for it; none when absent. */
  responseInformation?: string;
  /** Where sessions, queued messages and retained messages are kept; default: the broker's memory only. */
  store?: BrokerStore;
  /** Sessions shared with other brokers (a cluster node's); a single broker has none. */
  sessionDirectory?: SessionDirectory;
  /** More `$SYS/broker/...` figures, published with the broker's own (a cluster node's). */
  sysFigures?: () => Array<[string, number | string]>;
  logger?: Logger;
  /**
   * Lines about a peer's bad connections (TLS handshake failures, bytes that are not MQTT, ...): how many per
   * address and kind in each interval before they are only counted and summed up. Default 5 a minute.
   */
  logLimit?: LogLimitOptions;
}

/** The policy a connection runs under, defaults filled in. */
export interface ConnectionPolicy {
  listener: string;
  allowAnonymous: boolean;
  refuseExcessKeepalive: boolean;
  limits: BrokerLimits;
  hooks: BrokerHooks;
  holdPublishers: boolean;
}

export const defaultListener: ListenerOptions = { protocol: 'mqtt', host: '127.0.0.1', port: 1883 };

/**
 * True for addresses only this machine can reach: a bind host, or a peer address (IPv4-mapped included), or a Unix
 * socket (`unix:/path`, as its listener names it).
 */
export function isLoopback(host: string | undefined): boolean {
  if (host === undefined) return true;
  return host === 'localhost' || host === '::1' || host.startsWith('127.') || host.startsWith('::ffff:127.') || host.startsWith('unix:');
}

/** Merges broker-wide and listener settings into one connection policy. */
export function resolvePolicy(
  options: BrokerOptions,
  listenerName: string,
  listener: ListenerPolicy & { host?: string },
): ConnectionPolicy {
  return {
    listener: listenerName,
    allowAnonymous: listener.allowAnonymous ?? options.allowAnonymous ?? isLoopback(listener.host),
    refuseExcessKeepalive: listener.refuseExcessKeepalive ?? options.refuseExcessKeepalive ?? false,
    limits: { ...defaultLimits, ...options.limits, ...listener.limits },
    hooks: { ...options.hooks, ...listener.hooks },
    holdPublishers: listener.holdPublishers ?? options.holdPublishers ?? true,
  };
}
