/**
 * Read-only pictures of the broker's sessions and connections for operators (the admin API, alarms, metrics):
 * plain objects made on request, so nothing on the message path keeps anything for them.
 */
import type { ProtocolVersion, QoS } from '../packet/index.js';
import type { Connection } from './connection.js';
import type { DropReason } from './stats.js';
import { NEVER_EXPIRES, type ClientError, type Session } from './session.js';

/** A client's current connection. */
export interface ConnectionSnapshot {
  address: string;
  port: number;
  transport: 'tcp' | 'tls' | 'ws' | 'wss';
  listener: string;
  keepalive: number;
  /** Epoch ms of its CONNACK. */
  connectedAt: number;
  /** The verified client certificate's subject Common Name, if one was presented. */
  certificateCommonName?: string;
}

export interface SubscriptionSnapshot {
  /** As the client sent it, `$share/{group}/` included. */
  filter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  identifier?: number;
}

/** One session, connected or not. */
export interface ClientSnapshot {
  clientId: string;
  username: string | undefined;
  protocolVersion: ProtocolVersion;
  connected: boolean;
  connection: ConnectionSnapshot | undefined;
  /** Seconds the session outlives its connection; undefined: it never expires. */
  sessionExpiryInterval: number | undefined;
  /** Epoch ms its last connection ended, while it is offline. */
  disconnectedAt: number | undefined;
  /** Why its last connection ended. */
  disconnectReason: string | undefined;
  subscriptionCount: number;
  /** Messages waiting in its queue, and QoS 1/2 messages sent and not yet acknowledged. */
  queued: number;
  inflight: number;
  /** Bytes (payload, topic, properties) waiting in its queue. */
  queuedBytes: number;
  dropped: number;
  lastDrop: { reason: DropReason; at: number } | undefined;
  /** Its queue is full and it takes nothing: what overflows is dropped. */
  stuck: boolean;
}

/** One session with its subscriptions and its last errors. */
export interface ClientDetail extends ClientSnapshot {
  subscriptions: SubscriptionSnapshot[];
  lastErrors: ClientError[];
}

/** Figures over all sessions, made in one pass. */
export interface SessionFigures {
  online: number;
  /** Offline sessions kept for their client (persistent). */
  offline: number;
  queued: number;
  inflight: number;
  queuedBytes: number;
  /** Client ids of stuck subscribers (the first `limit` of them), and how many there are. */
  stuck: string[];
  stuckCount: number;
}

function commonName(connection: Connection): string | undefined {
  const cn = connection.peer.peerCertificate?.subject['CN'];
  return Array.isArray(cn) ? cn[0] : cn;
}

function connectionSnapshot(connection: Connection): ConnectionSnapshot {
  const peer = connection.peer;
  const snapshot: ConnectionSnapshot = {
    address: peer.remoteAddress,
    port: peer.remotePort,
    transport: peer.transport,
    listener: connection.policy.listener,
    keepalive: connection.client.keepalive,
    connectedAt: connection.openedAt,
  };
  const cn = commonName(connection);
  if (cn !== undefined) snapshot.certificateCommonName = cn;
  return snapshot;
}

export function clientSnapshot(session: Session, connection: Connection | undefined): ClientSnapshot {
  const outbox = session.outbox;
  return {
    clientId: session.clientId,
    username: session.username,
    protocolVersion: session.protocolVersion,
    connected: connection !== undefined,
    connection: connection === undefined ? undefined : connectionSnapshot(connection),
    sessionExpiryInterval: session.expiryInterval === NEVER_EXPIRES ? undefined : session.expiryInterval,
    disconnectedAt: connection === undefined ? session.disconnectedAt : undefined,
    disconnectReason: session.disconnectReason,
    subscriptionCount: session.subscriptions.size,
    queued: outbox.queued,
    inflight: outbox.inflightCount,
    queuedBytes: outbox.queuedWeight,
    dropped: outbox.dropped.queueFull + outbox.dropped.stuckSubscriber + outbox.dropped.tooLarge + outbox.dropped.expired,
    lastDrop: outbox.lastDropReason === undefined ? undefined : { reason: outbox.lastDropReason, at: outbox.lastDropAt },
    stuck: outbox.stuck,
  };
}

export function subscriptionSnapshots(session: Session): SubscriptionSnapshot[] {
  return [...session.subscriptions.values()].map((sub) => {
    const snapshot: SubscriptionSnapshot = {
      filter: sub.filter,
      qos: sub.qos,
      noLocal: sub.noLocal,
      retainAsPublished: sub.retainAsPublished,
      retainHandling: sub.retainHandling,
    };
    if (sub.identifier !== undefined) snapshot.identifier = sub.identifier;
    return snapshot;
  });
}

export function clientDetail(session: Session, connection: Connection | undefined): ClientDetail {
  return {
    ...clientSnapshot(session, connection),
    subscriptions: subscriptionSnapshots(session),
    lastErrors: session.lastErrors.map((error) => ({ ...error })),
  };
}

export function sessionFigures(sessions: Iterable<Session>, stuckLimit: number): SessionFigures {
  const figures: SessionFigures = { online: 0, offline: 0, queued: 0, inflight: 0, queuedBytes: 0, stuck: [], stuckCount: 0 };
  for (const session of sessions) {
    if (session.online) figures.online++;
    else figures.offline++;
    const outbox = session.outbox;
    figures.queued += outbox.queued;
    figures.inflight += outbox.inflightCount;
    figures.queuedBytes += outbox.queuedWeight;
    if (outbox.stuck) {
      figures.stuckCount++;
      if (figures.stuck.length < stuckLimit) figures.stuck.push(session.clientId);
    }
  }
  return figures;
}
