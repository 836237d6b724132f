import type { EventEmitter } from 'node:events';
import type { BrokerEvents } from './events.js';
import { protocolName } from './client-state.js';
import { ReasonCode, type Subscription, type Will } from '../packet/index.js';
import type { ByteStream } from '../transport/index.js';
import { Connection, type ConnectionHost } from './connection.js';
import { FlushScheduler } from './flush-scheduler.js';
import type { Holdable } from './flow.js';
import type { CoreSettings } from './handlers/context.js';
import type { ClientInfo } from './hooks.js';
import type { LogLimiter, Logger } from './logger.js';
import { createMessage, withOwnPayload, type BrokerMessage } from './message.js';
import type { BrokerLimits, ConnectionPolicy, SessionDirectory } from './options.js';
import type { Router } from './router.js';
import type { Session } from './session.js';
import { SessionRegistry } from './sessions.js';
import { BrokerStats } from './stats.js';
import type { BrokerStore } from './store/store.js';
import { StoreWriter, type AckKind, type AckTarget } from './store/writer.js';
import { asBuffer } from '../transport/internal.js';

/**
 * The broker's shared state and the rules that span connections: accepting connections, routing and retaining
 * messages, the store's batches, and the end of each connection. Sessions live in the SessionRegistry; it knows
 * nothing of sockets.
 */
export class BrokerCore implements ConnectionHost {
  readonly connections = new Set<Connection>();
  readonly stats = new BrokerStats();
  readonly sessions: SessionRegistry;
  readonly writer: StoreWriter | undefined;
  /** When connections write their output (flush-scheduler.ts). */
  private readonly flushes = new FlushScheduler<Connection>((connection, err) => {
    this.internalError(`writing to ${connection.describe()}`, err);
    connection.abort('internal error while writing');
  });

  constructor(
    readonly settings: CoreSettings,
    readonly directory: SessionDirectory | undefined,
    readonly limits: BrokerLimits,
    readonly router: Router,
    readonly logger: Logger,
    /** Lines about connections that never got in, limited per address: a flood of bad logins cannot flood the log. */
    private readonly refusalLog: LogLimiter,
    private readonly events: EventEmitter<BrokerEvents>,
    store: BrokerStore | undefined,
  ) {
    if (store !== undefined) this.writer = new StoreWriter(store, logger, this.stats);
    this.sessions = new SessionRegistry({
      router,
      writer: this.writer,
      stats: this.stats,
      logger,
      limits,
      requireSameUsername: settings.requireSameUsername,
      sendWill: (clientId, will) => this.publishWill(clientId, will),
      sessionEnded: directory === undefined ? undefined : (clientId) => directory.ended(clientId),
      guarded: (where, work) => this.guarded(where, work),
    });
    const writer = this.writer;
    if (writer !== undefined) router.attach?.((op) => writer.record(op));
  }

  /** Serves MQTT on a stream from any transport. */
  accept(stream: ByteStream, policy: ConnectionPolicy): Connection | undefined {
    if (policy.hooks.acceptConnection?.(stream.peer, policy.listener) === false) {
      this.logger.debug(`${policy.listener}: connection from ${stream.peer.remoteAddress} refused by hook`);
      this.stats.refusedByHook++;
      stream.destroy();
      return undefined;
    }
    const connection = new Connection(this, stream, policy);
    this.connections.add(connection);
    this.stats.connectionsTotal++;
    connection.start();
    return connection;
  }

  scheduleFlush(connection: Connection, perTurn: boolean): void {
    this.flushes.schedule(connection, perTurn);
  }

  flushSoon(): void {
    this.flushes.soon();
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

  get connectedCount(): number {
    return this.stats.clientsConnected;
  }

  get storeFailing(): number | undefined {
    return this.writer?.failing;
  }

  whenStored(): Promise<void> {
    const writer = this.writer;
    if (writer === undefined) return Promise.resolve();
    return new Promise((resolve) => writer.afterCommit({ committed: (stored) => (stored ? void resolve() : false) }));
  }

  whenStoreWritable(): Promise<boolean> {
    return this.writer === undefined ? Promise.resolve(true) : this.writer.whenWritable();
  }

  acknowledgeWhenStored(target: AckTarget, kind: AckKind, packetId: number, reasonCode: number): void {
    if (this.writer === undefined) target.sendStoredAck(kind, packetId, reasonCode);
    else this.writer.ackAfterCommit(target, kind, packetId, reasonCode);
  }

  routerReady(): Promise<void> | undefined {
    return this.router.ready?.();
  }

  forEachRetained(topicFilter: string, visit: (message: BrokerMessage) => void, canRead?: (topic: string) => boolean): void {
    this.router.forEachRetained(topicFilter, visit, canRead);
  }

  emitConnected(info: ClientInfo): void {
    this.events.emit('connected', info);
  }

  emitSubscribed(info: ClientInfo, subscriptions: Subscription[]): void {
    if (subscriptions.length > 0 && this.events.listenerCount('subscribed') > 0) this.events.emit('subscribed', info, subscriptions);
  }

  emitUnsubscribed(info: ClientInfo, topicFilters: string[]): void {
    if (topicFilters.length > 0 && this.events.listenerCount('unsubscribed') > 0) this.events.emit('unsubscribed', info, topicFilters);
  }

  connectionClosed(connection: Connection, wasOpen: boolean, will: Will | undefined, reason: string): void {
    this.connections.delete(connection);
    const peer = connection.peer;
    const client = connection.client;
    if (wasOpen) {
      this.stats.clientsConnected--;
      this.logger.info(
        `client disconnected: id=${client.clientId} address=${peer.remoteAddress}:${peer.remotePort} listener=${connection.policy.listener} protocol=${protocolName(client.version)} username=${client.username ?? '-'} keepalive=${client.keepalive} reason=${reason}`,
      );
      if (connection.info !== undefined) this.events.emit('disconnected', connection.info, reason);
    } else if (client.clientId !== '' || reason.startsWith('refused')) {
      this.refusalLog.log(
        'info',
        'client not connected',
        peer.remoteAddress,
        `client not connected: id=${client.clientId || '?'} address=${peer.remoteAddress}:${peer.remotePort} listener=${connection.policy.listener} reason=${reason}`,
      );
    } else this.logger.debug(`connection from ${peer.remoteAddress} closed: ${reason}`);
    const session = connection.session;
    if (session !== undefined) {
      if (session.connection === connection) session.disconnectReason = reason;
      this.sessions.detach(session, connection, wasOpen ? will : undefined);
    }
    if (wasOpen) this.directory?.disconnected(client.clientId);
  }

  // ---- messages

  /** Retains (when flagged) and routes a message; returns how many sessions took it. */
  dispatch(message: BrokerMessage, from: ClientInfo | undefined, publisher?: Holdable): number {
    if (message.retain && this.settings.retainAvailable) this.retain(message);
    const delivered = this.router.route(message, publisher);
    // Listeners get the payload as a Buffer, as Node programs expect; the message routed keeps its plain view.
    if (this.events.listenerCount('message') > 0) this.events.emit('message', { ...message, payload: asBuffer(message.payload) }, from);
    return delivered;
  }

  /** The open connection of a session here, if any. */
  connectionOf(session: Session): Connection | undefined {
    const connection = session.connection;
    // A session's connection is one of this broker's Connections: the set confirms it without a cast's guess.
    return connection !== undefined && this.connections.has(connection as Connection) ? (connection as Connection) : undefined;
  }

  /**
   * Removes a topic's retained message without routing anything (an operator's delete: subscribers get no empty
   * message); false when the topic had none.
   */
  clearRetained(topic: string): boolean {
    if (!this.router.hasRetained(topic)) return false;
    this.router.retain(createMessage({ topic, payload: new Uint8Array(0), retain: true }, undefined));
    if (!topic.startsWith('$SYS/')) this.writer?.record({ op: 'deleteRetained', topic });
    return true;
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

  private retain(message: BrokerMessage): void {
    const router = this.router;
    if (message.payload.length === 0) {
      this.clearRetained(message.topic);
      return;
    }
    const max = this.limits.maxRetainedMessages;
    if (max > 0 && router.retainedCount >= max && !router.hasRetained(message.topic)) {
      this.logger.warn(`retained message limit (${max}) reached: ${message.topic} not retained`);
      return;
    }
    let own = withOwnPayload(message);
    // Delivered later to new subscribers: its arrival time would make their deliveries look late.
    if (own.arrivedAt) own = { ...own, arrivedAt: 0 };
    router.retain(own);
    // `$SYS` figures are recomputed at start, not stored.
    if (!message.topic.startsWith('$SYS/')) this.writer?.record({ op: 'putRetained', message: own });
  }

  // ---- recovery and shutdown

  /** Retained messages recovered from a store (expired ones are dropped and their records deleted). */
  restoreRetained(retained: BrokerMessage[]): void {
    const now = Date.now();
    for (const message of retained) {
      if (message.expiresAt === undefined || message.expiresAt > now) this.router.retain(message);
      else this.writer?.record({ op: 'deleteRetained', topic: message.topic });
    }
  }

  /** Disconnects every client (v5: 0x8B), sends their Wills, stops timers and writes what is pending. */
  async shutdown(): Promise<void> {
    for (const connection of [...this.connections]) {
      if (connection.state === 'open') connection.disconnect(ReasonCode.ServerShuttingDown, 'server shutting down');
      else connection.abort('server shutting down');
    }
    this.sessions.stopTimers();
    await this.writer?.drain();
  }
}
