import type { EventEmitter } from 'node:events';
import type { BrokerEvents } from './broker.js';
import type { Will } from '../packet/types.js';
import type { ByteStream } from '../transport/stream.js';
import { Connection } from './connection.js';
import { PublishContext } from './flow.js';
import type { ClientInfo } from './hooks.js';
import type { Logger } from './logger.js';
import { createMessage, type BrokerMessage } from './message.js';
import type { BrokerLimits, ConnectionPolicy } from './options.js';
import type { Router, SubscriptionRecord } from './router.js';
import { NEVER_EXPIRES, Session } from './session.js';
import { BrokerStats } from './stats.js';
import type { BrokerStore, StoredSessionState } from './store/store.js';
import { StoreWriter } from './store/writer.js';
import { atTickEnd } from '../transport/tick-end.js';

/** Broker-wide settings the protocol handlers consult. */
export interface CoreSettings {
  retainAvailable: boolean;
  requireSameUsername: boolean;
  responseInformation: string | undefined;
  /** Limits for sessions recovered from a store (no listener created them). */
  limits: BrokerLimits;
}

/** `v3.1`, `v3.1.1` or `v5` for log lines. */
export function protocolName(version: number): string {
  return version === 3 ? 'v3.1' : version === 4 ? 'v3.1.1' : 'v5';
}

/** Longest delay setTimeout takes; longer timers are re-armed when they fire. */
const MAX_TIMER = 0x7fffffff;

/**
 * The broker's shared state and the rules that span connections: sessions (attach, takeover, expiry), Wills,
 * retained messages, routing and persistence. Connections call into it; it knows nothing of sockets.
 */
export class BrokerCore {
  readonly sessions = new Map<string, Session>();
  readonly connections = new Set<Connection>();
  readonly stats = new BrokerStats();
  /** Connections with bytes to write this tick, flushed together in one microtask. */
  private readonly flushQueue: Connection[] = [];
  private readonly flushAll = (): void => {
    const queue = this.flushQueue;
    // A flush may queue another connection: the loop reads the length each time round.
    for (let i = 0; i < queue.length; i++) {
      const connection = queue[i]!;
      try {
        connection.flush();
      } catch (err) {
        this.internalError(`writing to ${connection.describe()}`, err);
        connection.abort('internal error while writing');
      }
    }
    queue.length = 0;
  };
  /** The connection whose PUBLISH is being routed, for back-pressure (flow.ts). */
  readonly publishing = new PublishContext();
  readonly writer: StoreWriter | undefined;

  constructor(
    readonly settings: CoreSettings,
    readonly router: Router,
    readonly logger: Logger,
    private readonly events: EventEmitter<BrokerEvents>,
    store: BrokerStore | undefined,
  ) {
    if (store !== undefined) this.writer = new StoreWriter(store, logger);
  }

  /** Serves MQTT on a stream from any transport. */
  accept(stream: ByteStream, policy: ConnectionPolicy): Connection | undefined {
    if (policy.hooks.acceptConnection?.(stream.peer, policy.listener) === false) {
      this.logger.debug(`${policy.listener}: connection from ${stream.peer.remoteAddress} refused by hook`);
      stream.destroy();
      return undefined;
    }
    const connection = new Connection(this, stream, policy);
    this.connections.add(connection);
    this.stats.connectionsTotal++;
    connection.start();
    return connection;
  }

  /**
   * An exception where nothing above would catch it (a close path, a timer, an event listener): without this it
   * would end the process and every client with it. It is logged and counted; the caller ends what it was doing.
   */
  internalError(where: string, err: unknown): void {
    this.stats.internalErrors++;
    const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.logger.error(`internal error ${where}: ${detail}`);
  }

  /** Runs a timer's or event's work, containing what it throws. */
  guarded(where: string, work: () => void): void {
    try {
      work();
    } catch (err) {
      this.internalError(where, err);
    }
  }

  /** Has `connection.flush()` called at the end of this tick. */
  scheduleFlush(connection: Connection): void {
    if (this.flushQueue.push(connection) === 1) atTickEnd(this.flushAll);
  }

  /** Clients past CONNACK. */
  get connectedCount(): number {
    return this.stats.clientsConnected;
  }

  emitConnected(info: ClientInfo): void {
    this.events.emit('connected', info);
  }

  emitUnsubscribed(info: ClientInfo, topicFilters: string[]): void {
    if (topicFilters.length > 0 && this.events.listenerCount('unsubscribed') > 0) this.events.emit('unsubscribed', info, topicFilters);
  }

  // ---- sessions

  /**
   * Gives an authenticated connection its session: takes over a connected one, resumes or discards a stored
   * one. Returns a reason code when the session belongs to another user.
   */
  attach(connection: Connection, clean: boolean, expiryInterval: number): { session: Session; present: boolean } | number {
    const clientId = connection.clientId;
    let session = this.sessions.get(clientId);
    if (session !== undefined && this.settings.requireSameUsername && session.username !== connection.username) {
      return 0x87;
    }
    if (session?.connection !== undefined) session.connection.disconnect(0x8e, 'session taken over');
    session = this.sessions.get(clientId);
    if (session !== undefined && clean) {
      this.endSession(session);
      session = undefined;
    }
    const present = session !== undefined;
    if (session === undefined) {
      session = new Session(clientId, connection.username, connection.version, connection.policy.limits, this.stats, this.publishing);
      this.sessions.set(clientId, session);
    } else {
      clearTimeout(session.expiryTimer);
      session.expiryTimer = undefined;
      if (session.pendingWill !== undefined) {
        clearTimeout(session.pendingWill.timer);
        session.pendingWill = undefined;
      }
      session.username = connection.username;
      session.protocolVersion = connection.version;
    }
    session.expiryInterval = expiryInterval;
    session.disconnectedAt = undefined;
    session.connection = connection;
    session.outbox.target = connection;
    connection.session = session;
    this.updatePersistence(session);
    return { session, present };
  }

  /** Persistent sessions record their changes in the store; others live only in memory. */
  updatePersistence(session: Session): void {
    const writer = this.writer;
    if (writer === undefined) return;
    const persistent = session.expiryInterval > 0;
    const wasPersistent = session.outbox.persist !== undefined;
    session.outbox.persist = persistent ? writer : undefined;
    if (persistent) {
      writer.record({ op: 'putSession', session: session.toStored() });
      if (!wasPersistent) {
        for (const sub of session.subscriptions.values()) this.recordSubscription(session, sub);
      }
    } else if (wasPersistent) writer.record({ op: 'deleteSession', clientId: session.clientId });
  }

  recordSubscription(session: Session, sub: SubscriptionRecord): void {
    if (session.outbox.persist === undefined) return;
    session.outbox.persist.record({
      op: 'putSubscription',
      clientId: session.clientId,
      subscription: {
        filter: sub.filter,
        qos: sub.qos,
        noLocal: sub.noLocal,
        retainAsPublished: sub.retainAsPublished,
        retainHandling: sub.retainHandling,
        identifier: sub.identifier,
      },
    });
  }

  /** Called once per connection when it ends, whatever ended it. */
  connectionClosed(connection: Connection, wasOpen: boolean, will: Will | undefined, reason: string): void {
    this.connections.delete(connection);
    if (wasOpen) {
      this.stats.clientsConnected--;
      const peer = connection.stream.peer;
      this.logger.info(
        `client disconnected: id=${connection.clientId} address=${peer.remoteAddress}:${peer.remotePort} listener=${connection.policy.listener} protocol=${protocolName(connection.version)} username=${connection.username ?? '-'} keepalive=${connection.keepalive} reason=${reason}`,
      );
      if (connection.info !== undefined) this.events.emit('disconnected', connection.info, reason);
    } else if (connection.clientId !== '' || reason.startsWith('refused')) {
      this.logger.info(
        `client not connected: id=${connection.clientId || '?'} address=${connection.stream.peer.remoteAddress}:${connection.stream.peer.remotePort} listener=${connection.policy.listener} reason=${reason}`,
      );
    } else this.logger.debug(`connection from ${connection.stream.peer.remoteAddress} closed: ${reason}`);
    const session = connection.session;
    if (session === undefined || session.connection !== connection) return;
    session.connection = undefined;
    session.outbox.detach();
    session.disconnectedAt = Date.now();
    if (will !== undefined && wasOpen) this.scheduleWill(session, will);
    if (session.expiryInterval === 0) {
      this.endSession(session);
      return;
    }
    if (session.expiryInterval !== NEVER_EXPIRES) this.armExpiry(session, session.disconnectedAt + session.expiryInterval * 1000);
    session.outbox.persist?.record({ op: 'putSession', session: session.toStored() });
  }

  private armExpiry(session: Session, dueAt: number): void {
    const delay = Math.max(0, dueAt - Date.now());
    session.expiryTimer = setTimeout(() => {
      session.expiryTimer = undefined;
      if (delay > MAX_TIMER) this.armExpiry(session, dueAt);
      else {
        this.stats.clientsExpired++;
        this.guarded(`expiring the session of ${session.clientId}`, () => this.endSession(session));
      }
    }, Math.min(delay, MAX_TIMER));
  }

  private scheduleWill(session: Session, will: Will, dueAt?: number): void {
    const delay = session.protocolVersion === 5 ? (will.properties?.willDelayInterval ?? 0) : 0;
    const due = dueAt ?? Date.now() + delay * 1000;
    if (due <= Date.now() || session.expiryInterval === 0) {
      this.publishWill(session.clientId, will);
      return;
    }
    const pending = { will, dueAt: due, timer: undefined as NodeJS.Timeout | undefined };
    pending.timer = setTimeout(
      () => {
        if (session.pendingWill !== pending) return;
        session.pendingWill = undefined;
        this.guarded(`sending the will of ${session.clientId}`, () => this.publishWill(session.clientId, will));
        session.outbox.persist?.record({ op: 'putSession', session: session.toStored() });
      },
      Math.min(due - Date.now(), MAX_TIMER),
    );
    session.pendingWill = pending;
  }

  publishWill(clientId: string, will: Will): void {
    let properties = will.properties;
    if (properties?.willDelayInterval !== undefined) {
      const { willDelayInterval: _delay, ...rest } = properties;
      properties = rest;
    }
    this.logger.debug(`sending will of ${clientId} to ${will.topic}`);
    this.dispatch(createMessage({ topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, properties }, clientId), undefined);
  }

  /** The session is over: a pending Will goes out, subscriptions go, shared messages go to other members. */
  endSession(session: Session): void {
    if (session.ended) return;
    session.ended = true;
    clearTimeout(session.expiryTimer);
    const pending = session.pendingWill;
    if (pending !== undefined) {
      clearTimeout(pending.timer);
      session.pendingWill = undefined;
      this.publishWill(session.clientId, pending.will);
    }
    for (const sub of session.subscriptions.values()) this.router.remove(sub);
    session.subscriptions.clear();
    const persist = session.outbox.persist;
    session.outbox.persist = undefined;
    session.outbox.release();
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    persist?.record({ op: 'deleteSession', clientId: session.clientId });
  }

  // ---- messages

  /** Retains (when flagged) and routes a message; returns how many sessions took it. */
  dispatch(message: BrokerMessage, from: ClientInfo | undefined): number {
    if (message.retain && this.settings.retainAvailable) this.retain(message);
    const delivered = this.router.route(message);
    if (this.events.listenerCount('message') > 0) this.events.emit('message', message, from);
    return delivered;
  }

  private retain(message: BrokerMessage): void {
    const router = this.router;
    if (message.payload.length === 0) {
      if (!router.hasRetained(message.topic)) return;
      router.retain(message);
      this.writer?.record({ op: 'deleteRetained', topic: message.topic });
      return;
    }
    const max = this.settings.limits.maxRetainedMessages;
    if (max > 0 && router.retainedCount >= max && !router.hasRetained(message.topic)) {
      this.logger.warn(`retained message limit (${max}) reached: ${message.topic} not retained`);
      return;
    }
    // Keep a retained payload on its own bytes, not as a view pinning the whole received chunk.
    const own = message.payload.byteLength === message.payload.buffer.byteLength ? message : { ...message, payload: message.payload.slice() };
    router.retain(own);
    // `$SYS` figures are recomputed at start, not stored.
    if (!message.topic.startsWith('$SYS/')) this.writer?.record({ op: 'putRetained', message: own });
  }

  // ---- recovery and shutdown

  /** Rebuilds sessions, subscriptions, queues and retained messages from a store. */
  restore(
    retained: BrokerMessage[],
    sessions: StoredSessionState[],
    parseSubscription: (filter: string) => { topicFilter: string; group: string | undefined },
  ): void {
    const now = Date.now();
    for (const message of retained) {
      if (message.expiresAt === undefined || message.expiresAt > now) this.router.retain(message);
      else this.writer?.record({ op: 'deleteRetained', topic: message.topic });
    }
    for (const state of sessions) {
      const stored = state.session;
      const dueAt = stored.expiryInterval === NEVER_EXPIRES ? Infinity : (stored.disconnectedAt ?? now) + stored.expiryInterval * 1000;
      const session = new Session(stored.clientId, stored.username, stored.protocolVersion, this.settings.limits, this.stats, this.publishing);
      session.expiryInterval = stored.expiryInterval;
      session.disconnectedAt = stored.disconnectedAt ?? now;
      session.outbox.persist = this.writer;
      this.sessions.set(session.clientId, session);
      for (const sub of state.subscriptions) {
        const { topicFilter, group } = parseSubscription(sub.filter);
        const identifiers = sub.identifier === undefined ? undefined : [sub.identifier];
        const record: SubscriptionRecord = { session, ...sub, topicFilter, group, identifiers };
        session.subscriptions.set(sub.filter, record);
        this.router.add(record);
      }
      for (const outgoing of state.outgoing) {
        session.outbox.restore(outgoing, outgoing.shared === undefined ? undefined : this.router.sharedGroup?.(outgoing.shared));
      }
      for (const id of state.incoming) session.addIncoming(id);
      if (stored.will !== undefined) this.scheduleWill(session, stored.will.will, stored.will.dueAt);
      if (dueAt <= now) {
        this.stats.clientsExpired++;
        this.endSession(session);
      } else if (dueAt !== Infinity) this.armExpiry(session, dueAt);
    }
  }

  /** Disconnects every client (v5: 0x8B), sends their Wills, stops timers and writes what is pending. */
  async shutdown(): Promise<void> {
    for (const connection of [...this.connections]) {
      if (connection.state === 'open') connection.disconnect(0x8b, 'server shutting down');
      else connection.abort('server shutting down');
    }
    for (const session of this.sessions.values()) {
      clearTimeout(session.expiryTimer);
      clearTimeout(session.pendingWill?.timer);
    }
    await this.writer?.drain();
  }
}
