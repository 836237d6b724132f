import type { Packet, Properties, Subscription } from '../../packet/index.js';
import type { PeerInfo } from '../../transport/index.js';
import type { ClientState } from '../client-state.js';
import type { Holdable } from '../flow.js';
import type { ClientInfo } from '../hooks.js';
import type { Logger } from '../logger.js';
import type { BrokerMessage, TopicBytesCache } from '../message.js';
import type { ConnectionPolicy, SessionDirectory } from '../options.js';
import type { DeliveryTarget } from '../outbox.js';
import type { Session, SessionConnection } from '../session.js';
import type { SessionRegistry } from '../sessions.js';
import type { BrokerStats } from '../stats.js';
import type { AckKind, AckTarget } from '../store/writer.js';
import type { IncomingAliases } from '../topic-aliases.js';

/** Broker-wide settings the protocol handlers consult. */
export interface CoreSettings {
  retainAvailable: boolean;
  requireSameUsername: boolean;
  responseInformation: string | undefined;
}

/** The broker as the packet handlers see it: sessions, routing, the store's state, counters and the log. */
export interface BrokerServices {
  readonly stats: BrokerStats;
  readonly logger: Logger;
  readonly settings: CoreSettings;
  readonly sessions: SessionRegistry;
  /** Sessions shared with other brokers (a cluster); undefined for a single broker. */
  readonly directory: SessionDirectory | undefined;
  /** Resolves once every change recorded so far is stored (at once without a store). */
  whenStored(): Promise<void>;
  /** Clients past CONNACK. */
  readonly connectedCount: number;
  /** Set while store writes fail: the reason code to refuse new QoS 1/2 messages with. */
  readonly storeFailing: number | undefined;
  /** While the store fails: true once the changes waiting to be written again are stored, false if that fails. */
  whenStoreWritable(): Promise<boolean>;
  /** Sends the acknowledgement once every change recorded so far (by any session) is stored. */
  acknowledgeWhenStored(target: AckTarget, kind: AckKind, packetId: number, reasonCode: number): void;
  /** Retains (when flagged) and routes a message; returns how many sessions took it. */
  dispatch(message: BrokerMessage, from: ClientInfo | undefined, publisher?: Holdable): number;
  /**
   * Undefined, or (in a cluster) a promise that resolves once new subscriptions take effect everywhere and the
   * retained messages written before are known here: SUBACK waits for it.
   */
  routerReady(): Promise<void> | undefined;
  /** Every retained message whose topic matches the filter and passes `canRead`. */
  forEachRetained(topicFilter: string, visit: (message: BrokerMessage) => void, canRead?: (topic: string) => boolean): void;
  emitConnected(info: ClientInfo): void;
  emitSubscribed(info: ClientInfo, subscriptions: Subscription[]): void;
  emitUnsubscribed(info: ClientInfo, topicFilters: string[]): void;
}

/**
 * `connect`: waiting for CONNECT; `auth`: an AUTH exchange is under way before CONNACK; `open`: CONNACK sent;
 * `closed`: torn down (late events are ignored).
 */
export type ConnectionState = 'connect' | 'auth' | 'open' | 'closed';

/**
 * What a packet handler may read and do on its connection: the agreed client state, the listener's policy, the
 * session once attached, sending packets and closing. The broker's `Connection` implements it; tests use fakes.
 */
export interface HandlerContext extends AckTarget, Holdable, SessionConnection, DeliveryTarget {
  readonly broker: BrokerServices;
  readonly policy: ConnectionPolicy;
  readonly client: ClientState;
  readonly peer: PeerInfo;
  readonly state: ConnectionState;
  /** Attached at CONNACK. */
  readonly session: Session | undefined;
  /** Who the client is, as hooks see it; set at CONNACK. */
  readonly info: ClientInfo | undefined;
  /** QoS 1/2 PUBLISH received and not yet acknowledged (our Receive Maximum applies). */
  readonly inboundUnacked: number;
  readonly incomingAliases: IncomingAliases;
  /** The UTF-8 form of this client's last published topic. */
  readonly topicBytes: TopicBytesCache;
  /** `client-id (address:port)` for log lines. */
  describe(): string;
  /** Who the client is now, as hooks see it. */
  clientInfo(): ClientInfo;

  send(packet: Packet): void;
  /** PUBACK / PUBREC / PUBREL / PUBCOMP; the reason code only in v5, and only when not Success. */
  sendAck(kind: AckKind, packetId: number, reasonCode: number, reasonString?: string): void;
  /** The accepting CONNACK; false when even its bare form exceeds the client's Maximum Packet Size. */
  sendConnack(sessionPresent: boolean, properties: Properties | undefined): boolean;

  /** An AUTH exchange starts before CONNACK. */
  startAuthentication(): void;
  /**
   * The client's credentials end at `at` (epoch ms): the connection is closed then (v5: DISCONNECT 0xA0), counted
   * from CONNACK on; undefined removes the deadline. Set by each successful authentication and re-authentication.
   */
  setDeadline(at: number | undefined): void;
  /** CONNACK sent: the session is attached and timers switch from the connect timeout to keepalive. */
  open(session: Session): ClientInfo;
  /** One more inbound QoS 1/2 message awaiting our acknowledgement. */
  takeInbound(): void;
  /** One inbound QoS 1/2 message is done (PUBACK, failed PUBREC or PUBCOMP sent). */
  releaseInbound(): void;

  /** A protocol violation: v5 hears the reason code (DISCONNECT, or CONNACK before CONNECT is done), 3.x nothing. */
  protocolError(reasonCode: number, reason: string): void;
  /** CONNACK with a failure code (mapped onto a 3.x return code), then close. */
  refuse(reasonCode: number, reason: string): void;
  /** Close without a word. */
  abort(reason: string): void;
  /** Ends the connection (the Will is sent when `sendWill`). */
  close(reason: string, sendWill: boolean): void;
}

/** A context past CONNACK: its session and client info are set (Connection dispatches on that invariant). */
export interface OpenContext extends HandlerContext {
  readonly session: Session;
  readonly info: ClientInfo;
}
