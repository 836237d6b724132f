import type { AuthPacket, Properties, ProtocolVersion, QoS, Subscription } from '../packet/index.js';
import { parseSharedFilter, TopicError, validateTopicFilter } from '../topic/index.js';
import type { ReconnectOptions } from './backoff.js';
import { InvalidOptionError } from './errors.js';
import type { MessageStore } from './store.js';

export type Payload = string | Uint8Array;

const textEncoder = new TextEncoder();

/** A payload as bytes: a string in UTF-8. */
export function toBytes(payload: Payload): Uint8Array {
  return typeof payload === 'string' ? textEncoder.encode(payload) : payload;
}

/** A value, or a function giving it (sync or async), called at every connect so tokens can be refreshed. */
export type Provider<T> = T | (() => T | Promise<T>);

export interface WillOptions {
  topic: string;
  payload: Payload;
  qos?: QoS;
  retain?: boolean;
  /** MQTT 5 will properties (willDelayInterval, messageExpiryInterval, contentType, ...). */
  properties?: Properties;
}

/** What the enhanced-authentication callback answers to an AUTH challenge. */
export interface AuthResponse {
  authenticationData?: Uint8Array;
  properties?: Properties;
}

export interface TlsOptions {
  /** Trusted CA certificates (PEM). */
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  /** Client certificate and key (PEM) for mutual TLS. */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
  passphrase?: string;
  /** TLS SNI name; defaults to the URL host when it is a name. */
  servername?: string;
  /** `false` accepts any server certificate (testing only). Default true. */
  rejectUnauthorized?: boolean;
  /** `false` skips only the host-name check; the chain is still verified (mosquitto_pub's `--insecure`). Default true. */
  checkHostname?: boolean;
  /** Lowest and highest TLS versions to negotiate. */
  minVersion?: TlsVersion;
  maxVersion?: TlsVersion;
  ALPNProtocols?: string[];
}

export type TlsVersion = 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

export interface WebSocketOptions {
  /** Path when the URL has none. Default `/mqtt`. */
  path?: string;
  /** Extra HTTP headers of the upgrade request (Node only; browsers do not allow them). */
  headers?: Record<string, string>;
  /** WebSocket subprotocol. Default `mqtt`. */
  protocol?: string;
}

export interface ClientOptions extends TlsOptions {
  /** 3 = MQTT 3.1, 4 = MQTT 3.1.1, 5 = MQTT 5.0 (default). */
  protocolVersion?: ProtocolVersion;
  /** Default: a random `culex-` id. `''` asks an MQTT 5 broker to assign one. */
  clientId?: Provider<string>;
  /** Clean Session (3.x) / Clean Start (5). Default true. */
  clean?: boolean;
  /** MQTT 5 Session Expiry Interval, seconds. */
  sessionExpiryInterval?: number;
  /** Seconds; 0 disables. Default 60. */
  keepalive?: number;
  username?: Provider<string | undefined>;
  password?: Provider<Payload | undefined>;
  /**
   * Epoch ms at which the credentials of the latest connect stop being valid (a SAS token's expiry), asked after
   * each CONNACK. Before that moment the client leaves the broker and connects again at once, calling `clientId`,
   * `username` and `password` anew; in-flight messages are resent, as after any reconnect.
   */
  credentialsExpireAt?: () => number | undefined;
  /** How long before `credentialsExpireAt` to renew, ms. Default a quarter of the lifetime left at connect, at most 15 minutes. */
  renewBefore?: number;
  will?: WillOptions;
  /** From dialing to CONNACK, ms. Default 30000. */
  connectTimeout?: number;
  /** Reconnect after a lost connection: `false` to end instead. Default on with back-off. */
  reconnect?: boolean | ReconnectOptions;
  /** MQTT 5 CONNECT properties (receiveMaximum, topicAliasMaximum, userProperties, ...). */
  properties?: Properties;
  /** MQTT 5 enhanced authentication: the method named in CONNECT. */
  authenticationMethod?: string;
  /** Initial authentication data sent in CONNECT; a function is called at every connect (a fresh nonce each time). */
  authenticationData?: Provider<Uint8Array | undefined>;
  /** Answers each AUTH challenge (Continue authentication) from the broker, at connect and re-authentication. */
  onAuth?: (challenge: AuthPacket) => AuthResponse | Promise<AuthResponse>;
  /**
   * Checks the Authentication Data that ends a successful exchange: the CONNACK's at connect, the AUTH Success's at
   * re-authentication (e.g. the server's proof in SCRAM). Throwing (or rejecting) fails that connect, or rejects
   * `reauthenticate` and disconnects with 0x87 (Not authorized). At connect, no packet is sent or handled before it returns.
   */
  onAuthSuccess?: (authenticationData: Uint8Array | undefined) => void | Promise<void>;
  /** Follow a Server Reference given with CONNACK or DISCONNECT (Use another server / Server moved). Default false. */
  followServerReference?: boolean;
  /** Automatically assign MQTT 5 topic aliases to outgoing topics, up to the broker's maximum. Default true. */
  autoTopicAlias?: boolean;
  /**
   * QoS 1/2 publishes sent and not yet acknowledged, at most; the rest wait in order. MQTT 3.x has no way for a
   * broker to state its window, and brokers drop what goes beyond it (Mosquitto answers a QoS 2 message past its
   * `max_inflight_messages`, 20 by default, with PUBREC and discards it). Default 20 for MQTT 3.x; MQTT 5 uses the
   * broker's Receive Maximum, lowered to this when given.
   */
  maxInflight?: number;
  /** Messages waiting for a connection (or for the in-flight window) before publish rejects. Default 10000. */
  queueLimit?: number;
  /**
   * Connections lost while a QoS 1/2 message was the oldest awaiting its acknowledgement, after which its publish
   * rejects with DeliveryError and the message is dropped (`Infinity`: never). Default 5.
   */
  maxDeliveryAttempts?: number;
  /** Queue QoS 0 publishes while offline (otherwise they reject). Default true. */
  queueQoSZero?: boolean;
  /** Subscribe again after reconnecting without a session. Default true. */
  resubscribe?: boolean;
  /** How long `end()` waits for in-flight messages to complete, ms. Default 10000. */
  endTimeout?: number;
  /** Outgoing message store. Default a MemoryMessageStore. */
  store?: MessageStore;
  websocket?: WebSocketOptions;
}

export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
  /** MQTT 5 only. */
  properties?: Properties;
}

export interface SubscribeOptions {
  qos?: QoS;
  /** MQTT 5 No Local. */
  nl?: boolean;
  /** MQTT 5 Retain As Published. */
  rap?: boolean;
  /** MQTT 5 Retain Handling. */
  rh?: 0 | 1 | 2;
  /** MQTT 5 only (subscriptionIdentifiers, userProperties). */
  properties?: Properties;
}

export interface UnsubscribeOptions {
  properties?: Properties;
}

export interface RequestOptions extends PublishOptions {
  /** ms until the request rejects with TimeoutError. Default 10000. */
  timeout?: number;
}

export interface EndOptions {
  /** Close at once, without waiting for in-flight messages. */
  force?: boolean;
  /** MQTT 5 DISCONNECT reason code. Default 0. */
  reasonCode?: number;
  properties?: Properties;
}

function refuse(what: string): never {
  throw new InvalidOptionError(`${what} needs MQTT 5 (protocolVersion: 5)`);
}

/** Throws InvalidOptionError for MQTT 5 options given to an MQTT 3.x client, and for malformed values. */
export function checkClientOptions(options: ClientOptions): void {
  const version = options.protocolVersion ?? 5;
  if (version !== 3 && version !== 4 && version !== 5) {
    throw new InvalidOptionError(`protocolVersion must be 3, 4 or 5, not ${String(version)}`);
  }
  if (options.keepalive !== undefined && !(options.keepalive >= 0 && options.keepalive <= 65535)) {
    throw new InvalidOptionError('keepalive must be between 0 and 65535 seconds');
  }
  if (options.renewBefore !== undefined && !(options.renewBefore >= 0 && Number.isFinite(options.renewBefore))) {
    throw new InvalidOptionError('renewBefore must be a number of milliseconds, 0 or more');
  }
  if (options.maxInflight !== undefined && !(Number.isInteger(options.maxInflight) && options.maxInflight >= 1 && options.maxInflight <= 65535)) {
    throw new InvalidOptionError('maxInflight must be a whole number from 1 to 65535');
  }
  const attempts = options.maxDeliveryAttempts;
  if (attempts !== undefined && !(attempts >= 1 && (Number.isInteger(attempts) || attempts === Infinity))) {
    throw new InvalidOptionError('maxDeliveryAttempts must be a whole number, 1 or more (or Infinity)');
  }
  if (options.will && options.will.qos !== undefined && ![0, 1, 2].includes(options.will.qos)) {
    throw new InvalidOptionError('will.qos must be 0, 1 or 2');
  }
  if (version === 5) return;
  if (options.properties) refuse('properties');
  if (options.sessionExpiryInterval !== undefined) refuse('sessionExpiryInterval');
  if (options.will?.properties) refuse('will.properties');
  if (options.authenticationMethod !== undefined || options.onAuth || options.onAuthSuccess) refuse('enhanced authentication');
}

export function checkPublishOptions(version: ProtocolVersion, options: PublishOptions | undefined): void {
  if (!options) return;
  if (options.qos !== undefined && options.qos !== 0 && options.qos !== 1 && options.qos !== 2) {
    throw new InvalidOptionError('qos must be 0, 1 or 2');
  }
  if (version !== 5 && options.properties) refuse('publish properties');
  if (options.properties?.subscriptionIdentifiers) {
    throw new InvalidOptionError('a PUBLISH from a client cannot carry subscription identifiers (MQTT-3.3.4-6)');
  }
}

export function checkSubscribeOptions(version: ProtocolVersion, options: SubscribeOptions | undefined): void {
  if (!options) return;
  if (options.qos !== undefined && options.qos !== 0 && options.qos !== 1 && options.qos !== 2) {
    throw new InvalidOptionError('qos must be 0, 1 or 2');
  }
  if (version === 5) return;
  if (options.properties) refuse('subscribe properties');
  if (options.nl !== undefined || options.rap !== undefined || options.rh !== undefined) refuse('nl, rap and rh');
}

/** The subscriptions of one SUBSCRIBE, or why they cannot be made. */
export function subscriptionsFor(
  filters: string | string[],
  options: SubscribeOptions | undefined,
): Subscription[] | InvalidOptionError {
  const list = typeof filters === 'string' ? [filters] : filters;
  if (list.length === 0) return new InvalidOptionError('no topic filter given');
  const subscriptions: Subscription[] = [];
  for (const topicFilter of list) {
    const shared = parseSharedFilter(topicFilter);
    const error = shared instanceof TopicError ? shared : validateTopicFilter(topicFilter);
    if (error) return new InvalidOptionError(error.message, error.reasonCode);
    if (shared && options?.nl) {
      return new InvalidOptionError('No Local cannot be set on a shared subscription (MQTT-3.8.3-4)');
    }
    const subscription: Subscription = { topicFilter, qos: options?.qos ?? 0 };
    if (options?.nl !== undefined) subscription.noLocal = options.nl;
    if (options?.rap !== undefined) subscription.retainAsPublished = options.rap;
    if (options?.rh !== undefined) subscription.retainHandling = options.rh;
    subscriptions.push(subscription);
  }
  return subscriptions;
}
