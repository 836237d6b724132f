import { EventEmitter } from 'node:events';
import type { ByteStream } from '../transport/index.js';
import { BrokerCore } from './core.js';
import type { BrokerEvents } from './events.js';
import { createListener, transportFaultNames } from './listeners/index.js';
import type { Listener } from './listeners/listener.js';
import { LogLimiter, stderrLogger, type Logger } from './logger.js';
import { createMessage, type BrokerMessage, type PublishMessage } from './message.js';
import { ReasonCode, type QoS, type Subscription, type Will } from '../packet/index.js';
import { validateSubscriptionFilter } from '../topic/index.js';
import { clientDetail, clientSnapshot, sessionFigures, type ClientDetail, type ClientSnapshot, type SessionFigures } from './inspect.js';
import {
  defaultLimits,
  defaultListener,
  resolvePolicy,
  type BrokerLimits,
  type BrokerListenerOptions,
  type BrokerOptions,
  type ListenerPolicy,
} from './options.js';
import type { DeliveryOutcome, SessionDropCounts } from './outbox.js';
import { LocalRouter, type Router } from './router.js';
import type { BrokerMeters, BrokerStats, BrokerTap } from './stats.js';
import { sendRetained, subscriptionRecord, wantsRetained } from './subscription.js';
import type { BrokerStore, StoredSessionState } from './store/store.js';
import { SysPublisher } from './sys.js';
import { version } from './version.js';

/** A session as `Broker.sessionInfo` describes it. */
export interface SessionInfo {
  connected: boolean;
  /** Its subscriptions: filters as the client sent them, and the QoS granted. */
  subscriptions: Array<{ filter: string; qos: QoS }>;
  /** QoS 2 packet ids received from its client and not yet released (PUBREL). */
  incoming: number[];
  /** Messages waiting in its queue, and their bytes as the queue limits count them. */
  queued: number;
  queuedBytes: number;
  /** QoS 1/2 messages sent and not yet acknowledged. */
  inflight: number;
  /** Messages it dropped since the broker started, by cause. */
  dropped: SessionDropCounts;
}

/**
 * An MQTT 3.1/3.1.1/5.0 broker: `new Broker(options)`, `await broker.listen()`, `await broker.close()`.
 * Listeners, limits and hooks come from the options (see options.ts for every field and its default).
 */
export class Broker extends EventEmitter<BrokerEvents> {
  readonly logger: Logger;
  readonly limits: Readonly<BrokerLimits>;
  private readonly core: BrokerCore;
  private readonly sys: SysPublisher;
  private readonly store: BrokerStore | undefined;
  /** Bad connections are logged per address and kind, so that a flood of them cannot flood the log. */
  private readonly faultLog: LogLimiter;
  private started: Listener[] = [];
  private storeOpened = false;
  private state: 'idle' | 'listening' | 'closing' | 'closed' = 'idle';

  constructor(
    private readonly options: BrokerOptions = {},
    router: Router = new LocalRouter(),
  ) {
    super();
    this.logger = options.logger ?? stderrLogger('warn');
    this.faultLog = new LogLimiter(this.logger, options.logLimit);
    this.limits = { ...defaultLimits, ...options.limits };
    this.store = options.store;
    this.core = new BrokerCore(
      {
        retainAvailable: options.retainAvailable ?? true,
        requireSameUsername: options.requireSameUsername ?? true,
        responseInformation: options.responseInformation,
      },
      options.sessionDirectory,
      this.limits,
      router,
      this.logger,
      this.faultLog,
      this,
      options.store,
    );
    this.sys = new SysPublisher(this.core, version, options.sysInterval ?? 10, options.sysFigures);
  }

  /**
   * Recovers state from the store, starts every listener (all or none), starts `$SYS`. On failure the broker is
   * idle again if the store did not open (listen may be retried), closed otherwise.
   */
  async listen(): Promise<void> {
    if (this.state !== 'idle') throw new Error('broker already started');
    this.state = 'listening';
    const configs: BrokerListenerOptions[] = this.options.listeners ?? [defaultListener];
    try {
      if (this.store !== undefined) await this.recover(this.store);
      for (const config of configs) {
        const { allowAnonymous: _a, refuseExcessKeepalive: _r, limits: _l, hooks: _h, holdPublishers: _p, ...listenerOptions } = config;
        const listener = createListener({ ...listenerOptions, maxPacketSize: listenerOptions.maxPacketSize ?? { ...this.limits, ...config.limits }.maxPacketSize });
        const policy = resolvePolicy(this.options, listener.name, { ...config, host: listener.host });
        await listener.start(
          (stream) => this.core.accept(stream, policy),
          (address, reason, fault) => this.faultLog.log('info', transportFaultNames[fault], address, `${listener.name}: connection from ${address}: ${reason.message}`),
        );
        this.started.push(listener);
        policy.listener = listener.name; // now with the bound port
        this.logger.info(
          `listening on ${listener.name} (${policy.allowAnonymous ? 'anonymous clients allowed' : 'anonymous clients refused'})`,
        );
      }
    } catch (err) {
      await Promise.all(this.started.map((l) => l.close()));
      this.started = [];
      if (this.storeOpened) {
        // Recovered state (sessions, timers, an open store) cannot be recovered a second time: close for good.
        await this.core.shutdown();
        await this.store!.close().catch(() => undefined);
        this.state = 'closed';
      } else this.state = 'idle';
      throw err;
    }
    this.sys.start();
  }

  /** The first listener's bound port. */
  get port(): number {
    const first = this.started[0];
    if (first === undefined) throw new Error('broker is not listening');
    return first.port;
  }

  /** Bound ports, in listener order. */
  get ports(): number[] {
    return this.started.map((l) => l.port);
  }

  /** The started listeners (name, host, port). */
  get boundListeners(): readonly Listener[] {
    return this.started;
  }

  get stats(): Readonly<BrokerStats> {
    return this.core.stats;
  }

  /** Clients past CONNACK. */
  get connectedClients(): number {
    return this.core.connectedCount;
  }

  /** Sessions held, connected or not. */
  get sessionCount(): number {
    return this.core.sessions.size;
  }

  /**
   * Serves MQTT on a stream from any transport (an embedding program's own server, a test's in-memory pipe).
   * `policy` defaults to the broker-wide settings, with anonymous clients allowed unless the options say otherwise.
   */
  accept(stream: ByteStream, policy: ListenerPolicy & { name?: string } = {}): void {
    const allowAnonymous = policy.allowAnonymous ?? this.options.allowAnonymous ?? true;
    const resolved = resolvePolicy(this.options, policy.name ?? 'embedded', { ...policy, allowAnonymous });
    this.core.accept(stream, resolved);
  }

  /** Subscriptions held, all sessions together. */
  get subscriptionCount(): number {
    return this.core.router.subscriptionCount;
  }

  /** Retained messages held. */
  get retainedCount(): number {
    return this.core.router.retainedCount;
  }

  /** True while store writes fail (new QoS 1/2 messages are refused meanwhile). */
  get storeFailing(): boolean {
    return this.core.storeFailing !== undefined;
  }

  /** Clients past CONNACK, by the name of the listener they came in on. */
  connectedByListener(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const connection of this.core.connections) {
      if (connection.state !== 'open') continue;
      const name = connection.policy.listener;
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    return counts;
  }

  /** Every session, connected or not, as plain objects (made on each call). */
  clients(): ClientSnapshot[] {
    const core = this.core;
    const out: ClientSnapshot[] = [];
    for (const session of core.sessions.values()) out.push(clientSnapshot(session, core.connectionOf(session)));
    return out;
  }

  /** One session with its subscriptions and last errors; undefined when there is none. */
  client(clientId: string): ClientDetail | undefined {
    const session = this.core.sessions.get(clientId);
    return session === undefined ? undefined : clientDetail(session, this.core.connectionOf(session));
  }

  /** Online and offline sessions, queued and in-flight messages, stuck subscribers (the first `stuckLimit` ids). */
  sessionFigures(stuckLimit = 10): SessionFigures {
    return sessionFigures(this.core.sessions.values(), stuckLimit);
  }

  /**
   * Ends a session: its client, if connected, gets DISCONNECT with `reasonCode` (v5; its Will is sent), then its
   * subscriptions and queued messages go. False when there is no such session.
   */
  endSession(clientId: string, reasonCode: number = ReasonCode.AdministrativeAction, reason = 'session ended by the broker'): boolean {
    const sessions = this.core.sessions;
    if (sessions.get(clientId) === undefined) return false;
    this.disconnectClient(clientId, reasonCode, reason);
    // Looked up again: the disconnect may have ended it already (no expiry).
    const session = sessions.get(clientId);
    if (session !== undefined) sessions.end(session);
    return true;
  }

  /**
   * Subscribes a session (connected or not) as if its client had, without the subscribe hooks: an operator's
   * server-side subscription. Matching retained messages follow as Retain Handling says. Returns the granted QoS,
   * or a reason code: 0x8F for a filter that is not valid; undefined when there is no such session.
   */
  subscribe(clientId: string, subscription: Subscription, identifier?: number): number | undefined {
    const core = this.core;
    const session = core.sessions.get(clientId);
    if (session === undefined) return undefined;
    const limits = this.limits;
    if (validateSubscriptionFilter(subscription.topicFilter, limits.maxTopicLevels > 0 ? { maxLevels: limits.maxTopicLevels } : undefined) !== undefined) {
      return ReasonCode.TopicFilterInvalid;
    }
    const existed = session.subscriptions.has(subscription.topicFilter);
    const record = subscriptionRecord(session, subscription, subscription.qos, identifier);
    core.sessions.subscribe(session, record);
    if (wantsRetained(record, existed)) sendRetained(core, session, record);
    return subscription.qos;
  }

  /** Removes a session's subscription (filter as subscribed, `$share/...` included); undefined without the session. */
  unsubscribe(clientId: string, topicFilter: string): boolean | undefined {
    const session = this.core.sessions.get(clientId);
    if (session === undefined) return undefined;
    return this.core.sessions.unsubscribe(session, topicFilter);
  }

  /** Calls `visit` for each retained message whose topic matches the filter (`#` does not match `$SYS/...`). */
  forEachRetained(topicFilter: string, visit: (message: BrokerMessage) => void): void {
    this.core.forEachRetained(topicFilter, visit);
  }

  /** Deletes a topic's retained message without sending anything to subscribers; false when it had none. */
  clearRetained(topic: string): boolean {
    return this.core.clearRetained(topic);
  }

  /**
   * Watches packets and drops (a live trace) while set; undefined stops. The tap is called on the broker's own
   * path: it must be quick and must not throw.
   */
  setTap(tap: BrokerTap | undefined): void {
    this.core.stats.tap = tap;
  }

  /** Times store batches and a sample of deliveries (metrics) while set; undefined stops. */
  setMeters(meters: BrokerMeters | undefined): void {
    this.core.stats.meters = meters;
  }

  /** Publishes as the broker (no hooks): retained when flagged, routed to every matching subscription. */
  publish(message: PublishMessage): number {
    return this.core.dispatch(createMessage(message, undefined), undefined);
  }

  /**
   * Delivers to one session, subscribed or not; false when there is no such session or it dropped the message.
   * When it returns true, `onSettled` (if given) is later told how the delivery ended: `acknowledged` (PUBACK or
   * PUBCOMP; at QoS 0 once written to the connection), `rejected` (a v5 failure code) or `dropped` (expired,
   * too large for the client, or the session ended). The callback does not survive a broker restart.
   */
  deliverTo(clientId: string, message: PublishMessage, onSettled?: (outcome: DeliveryOutcome) => void): boolean {
    const session = this.core.sessions.get(clientId);
    if (session === undefined) return false;
    const m = createMessage(message, undefined);
    return session.outbox.deliver(m, m.qos, m.retain, undefined, undefined, undefined, onSettled);
  }

  /** What the broker holds for a session (connected or not), undefined when there is none. */
  sessionInfo(clientId: string): SessionInfo | undefined {
    const session = this.core.sessions.get(clientId);
    if (session === undefined) return undefined;
    const outbox = session.outbox;
    return {
      connected: session.online,
      subscriptions: [...session.subscriptions.values()].map((sub) => ({ filter: sub.filter, qos: sub.qos })),
      incoming: session.incomingIds(),
      queued: outbox.queued,
      queuedBytes: outbox.queuedWeight,
      inflight: outbox.inflightCount,
      dropped: { ...outbox.dropped },
    };
  }

  /**
   * Closes a client's connection (v5: DISCONNECT with `reasonCode` and `reason` as its Reason String; its Will is
   * sent); false when not connected.
   */
  disconnectClient(clientId: string, reasonCode: number = ReasonCode.AdministrativeAction, reason = 'disconnected by the broker'): boolean {
    const connection = this.core.sessions.get(clientId)?.connection;
    if (connection === undefined) return false;
    connection.disconnect(reasonCode, reason);
    return true;
  }

  /**
   * Writes the whole state of every persistent session to the store again and resolves once that is stored (false
   * when the write failed). A store that keeps a log (the cluster journal) may then drop what came before.
   */
  recordSessions(): Promise<boolean> {
    for (const session of this.core.sessions.values()) session.recordWhole();
    return this.core.whenStoreWritable();
  }

  /**
   * Gives a session up to another broker of a cluster: its client gets DISCONNECT 0x8E and the session's whole
   * state is returned (undefined when there is no such session, or with `discard`, which ends it here instead).
   */
  handOver(clientId: string, discard: boolean): StoredSessionState | undefined {
    return this.core.sessions.handOver(clientId, discard);
  }

  /** Takes in an offline session from elsewhere (a cluster node adopting a dead node's sessions). */
  adoptSession(state: StoredSessionState): void {
    this.core.sessions.detachAdopted(this.core.sessions.adopt(state));
  }

  /** Sends a Will as a client's (a cluster node sending the Wills of a dead node's clients). */
  sendWill(clientId: string, will: Will): void {
    this.core.publishWill(clientId, will);
  }

  /** Publishes the `$SYS` figures now (they also go out every `sysInterval` seconds). */
  updateSys(): void {
    this.sys.update();
  }

  /** Stops listening, disconnects every client (v5: 0x8B), sends their Wills, writes pending state, closes the store. */
  async close(): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.sys.stop();
    await Promise.all(this.started.map((l) => l.close()));
    await this.core.shutdown();
    await this.store?.close();
    this.faultLog.flush();
    this.state = 'closed';
  }

  private async recover(store: BrokerStore): Promise<void> {
    const found = await store.open();
    this.storeOpened = true;
    if (found) {
      this.logger.info(
        `store opened in ${found.milliseconds} ms: ${found.sessions} sessions, ${found.subscriptions} subscriptions, ${found.outgoing} outgoing and ${found.incoming} incoming messages, ${found.retained} retained messages, ${found.bytes} bytes, ${found.orphans} orphaned records removed`,
      );
    }
    const [retained, sessions] = await Promise.all([store.loadRetained(), store.loadSessions()]);
    this.core.restoreRetained(retained);
    this.core.sessions.restore(sessions);
    if (retained.length > 0 || sessions.length > 0) {
      this.logger.info(`recovered ${sessions.length} sessions and ${retained.length} retained messages`);
    }
  }
}
