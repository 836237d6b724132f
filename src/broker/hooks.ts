import type { ConnectPacket, ProtocolVersion, QoS, Subscription } from '../packet/index.js';
import type { PeerInfo } from '../transport/index.js';
import type { PublishMessage } from './message.js';

/** Who a connected (or connecting) client is, as hooks and events see it. */
export interface ClientInfo {
  readonly clientId: string;
  /** The authenticated user name (a hook may set it, e.g. from a certificate). */
  readonly username: string | undefined;
  readonly protocolVersion: ProtocolVersion;
  readonly keepalive: number;
  readonly peer: PeerInfo;
  /** Name of the listener the client came in on. */
  readonly listener: string;
}

/**
 * One authentication, from CONNECT to success or failure, or one re-authentication. The same object is passed
 * to every round of an AUTH exchange: a mechanism keeps its own progress in `state`.
 */
export interface AuthenticateContext {
  readonly clientId: string;
  readonly username: string | undefined;
  /** Never log this. */
  readonly password: Uint8Array | undefined;
  readonly peer: PeerInfo;
  readonly listener: string;
  readonly protocolVersion: ProtocolVersion;
  readonly connect: ConnectPacket;
  /** MQTT 5 Authentication Method; undefined for plain user name and password. */
  readonly method: string | undefined;
  /** Authentication Data of the CONNECT or of the latest AUTH packet. Never log this. */
  data: Uint8Array | undefined;
  /** 0 for the CONNECT (or the AUTH that starts a re-authentication), then 1, 2, ... */
  step: number;
  /** True on a live connection that asked to re-authenticate (AUTH 0x19). */
  readonly reauthenticate: boolean;
  /** The mechanism's own progress between rounds. */
  state: unknown;
}

export type AuthenticateResult =
  /**
   * Accepted; `username` replaces the one in CONNECT; `data` goes to the client in CONNACK/AUTH. With `expiresAt`
   * (epoch ms, the credentials' end) the connection is closed then (v5: DISCONNECT 0xA0 Maximum connect time) unless
   * a re-authentication succeeds first; a successful re-authentication replaces the deadline (none: no deadline).
   */
  | { result: 'success'; username?: string; data?: Uint8Array; expiresAt?: number }
  /** Another round: `data` goes to the client in AUTH 0x18 and the hook is called again with its answer. */
  | { result: 'continue'; data?: Uint8Array }
  /** Refused with an MQTT 5 reason code (mapped onto a 3.x return code), default 0x87 Not authorized. */
  | { result: 'fail'; reasonCode?: number; reasonString?: string };

export interface PublishAuthorization {
  readonly client: ClientInfo;
  readonly topic: string;
  readonly qos: QoS;
  readonly retain: boolean;
  /** True when the topic is the Will of a CONNECT being checked. */
  readonly will: boolean;
}

export interface SubscribeAuthorization {
  readonly client: ClientInfo;
  /** As the client sent it, `$share/...` included. */
  readonly subscription: Subscription;
}

/**
 * Refuses a PUBLISH by closing the connection, as cloud hubs do, instead of answering it: no PUBACK or PUBREC goes
 * out, so the client cannot take the message for delivered. v5 clients get DISCONNECT with the reason code
 * (default 0x87 Not authorized); the Will is sent as on any server-side close.
 */
export interface DisconnectVerdict {
  action: 'disconnect';
  reasonCode?: number;
  reasonString?: string;
}

export type PublishHookResult =
  | undefined
  | DisconnectVerdict
  | { action: 'accept' }
  /** Not routed; the publisher gets this reason code (v5) in PUBACK/PUBREC. */
  | { action: 'reject'; reasonCode: number; reasonString?: string }
  /** Routed as this message instead. */
  | { action: 'rewrite'; message: PublishMessage }
  /** Answered by the hook itself (e.g. a dialect's command topic): acknowledged, not routed. */
  | { action: 'consume'; reasonCode?: number };

type MaybeAsync<T> = T | Promise<T>;

/**
 * The inbound rate limits one connection publishes under (see `BrokerHooks.meterInbound`). Asked for every PUBLISH
 * the client sends, on the packet path: keep it cheap.
 */
export interface InboundMeter {
  /**
   * A PUBLISH with `bytes` of payload arrived. 0: go on. A number of ms: the PUBLISH is handled, then nothing more is
   * read from the client for that long. A DisconnectVerdict: the connection is closed (v5: DISCONNECT with its code)
   * and this PUBLISH is neither routed nor acknowledged.
   */
  publish(bytes: number): number | DisconnectVerdict;
}

/**
 * The broker's extension points. Each may be synchronous or return a promise; a connection processes its packets
 * in order, waiting for a hook before the next packet. Hooks can differ per listener.
 */
export interface BrokerHooks {
  /**
   * Called for every CONNECT (and each AUTH round). Without this hook a client is accepted when the listener
   * allows anonymous clients or it gave a user name, and an Authentication Method is refused (0x8C).
   */
  authenticate?(context: AuthenticateContext): MaybeAsync<AuthenticateResult>;
  /**
   * `true` allows, `false` refuses (0x87), a number >= 0x80 refuses with that reason code, a DisconnectVerdict closes
   * the connection without acknowledging (for a Will at CONNECT: refused with its reason code).
   */
  authorizePublish?(request: PublishAuthorization): MaybeAsync<boolean | number | DisconnectVerdict>;
  /**
   * `true` grants the requested QoS, `false` refuses (0x87 in v5, 0x80 in 3.x), 0/1/2 grants at most that QoS,
   * a number >= 0x80 refuses with that reason code.
   */
  authorizeSubscribe?(request: SubscribeAuthorization): MaybeAsync<boolean | number>;
  /**
   * Synchronous, before any byte is read from a new connection (rate limits, ban lists): false closes it at once.
   */
  acceptConnection?(peer: PeerInfo, listener: string): boolean;
  /**
   * Synchronous, for each CONNECT before it is authenticated, and again once authenticated if that changed the user
   * name (bans, overload, flapping): a reason code refuses the CONNECT with it (3.x: the mapped return code);
   * undefined lets it go on.
   */
  admitClient?(client: ClientInfo): number | undefined;
  /**
   * Called once per connection when it opens (CONNACK): the inbound rate limits its PUBLISH packets are metered
   * against, or undefined for none (then the packet path does no metering at all).
   */
  meterInbound?(client: ClientInfo): InboundMeter | undefined;
  /**
   * Synchronous, on the delivery path: may this client receive a message on this topic (read ACLs, including
   * retained messages and `$SYS`)? Called per matching session and message, so keep it cheap.
   */
  authorizeRead?(client: ClientInfo, topic: string): boolean;
  /** Sees each client PUBLISH after authorisation; may accept, reject, rewrite or consume it. */
  onPublish?(client: ClientInfo, message: PublishMessage): MaybeAsync<PublishHookResult>;
  /**
   * Awaited before the refusal of any failed authentication is sent (the authenticate hook's, the anonymous rule's,
   * an unsupported Authentication Method's, a failed re-authentication's): a place to delay or count failures.
   * `attempt.username` is the user name the client gave (none for an anonymous client).
   */
  onAuthFailure?(peer: PeerInfo, attempt: { username: string | undefined }): MaybeAsync<void>;
}
