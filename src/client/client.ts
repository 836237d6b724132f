/**
 * The public client: promises and events over a `ClientSession` (the protocol rules, session.ts) and one `Link`
 * per connection (the event loop of its stream, link.ts); here are the connect and reconnect policy, the store
 * calls, and `end()`. Why it is longer than 500 lines: it is the whole public surface, each method documented
 * where editors show it (a third of the file is comments and imports), and each step of connecting, reconnecting
 * and ending emits an event, settles a promise or ends the client, so taking those steps elsewhere would only
 * move this class's fields behind an interface as wide as the class.
 */
import {
  encode,
  ReasonCode,
  type ConnackPacket,
  type DisconnectPacket,
  type Packet,
  type Properties,
  type ProtocolVersion,
  type PublishPacket,
  type SubscribePacket,
  type UnsubscribePacket,
} from '../packet/index.js';
import { validateTopicFilter, validateTopicName } from '../topic/index.js';
import type { ByteStream } from '../transport/browser.js';
import { AuthExchange } from './auth-exchange.js';
import { reconnectDelay, resolveReconnect, type ReconnectOptions } from './backoff.js';
import { connectPacket, randomHex, urlCredential } from './connect-packet.js';
import { Emitter } from './emitter.js';
import {
  ClientClosedError,
  ConnectionLostError,
  ConnectionRefusedError,
  DisconnectedError,
  InvalidOptionError,
  TimeoutError,
} from './errors.js';
import { Inbox } from './inbox.js';
import { Link, type LinkOwner } from './link.js';
import {
  checkClientOptions,
  checkPublishOptions,
  checkSubscribeOptions,
  subscriptionsFor,
  toBytes,
  type ClientOptions,
  type EndOptions,
  type Payload,
  type Provider,
  type PublishOptions,
  type RequestOptions,
  type SubscribeOptions,
  type UnsubscribeOptions,
} from './options.js';
import {
  ClientSession,
  type OutgoingMessage,
  type PublishAck,
  type RequestPacket,
  type ResubscribeResult,
  type SessionOwner,
} from './session.js';
import { MemoryMessageStore, type MessageStore, type StoredMessage } from './store.js';
import { monotonicNow, threadTimers, type CancelTimer, type Timers } from './timers.js';

/** Opens the byte stream to the broker named by the URL (TCP, TLS, WebSocket, browser WebSocket). */
export type Dialer = (url: URL, options: ClientOptions) => Promise<ByteStream>;

/** What the client takes from the platform it runs on, besides a dialer. */
export interface ClientRuntime {
  /** Keepalive and reconnect timers. Default: this thread's. */
  timers?: Timers;
  /**
   * The form received payloads are handed out in, given a view of the received bytes: Node's entry makes them
   * Buffers (a Uint8Array subclass, so `payload.toString()` gives the text). Default: the plain view.
   */
  bytes?: (view: Uint8Array) => Uint8Array;
}

export interface ClientEvents {
  /** A connection was established (also after each reconnect). */
  connect: [connack: ConnackPacket];
  /** A reconnect attempt starts. */
  reconnect: [];
  /** The connection was lost; the client reconnects unless it ends. */
  offline: [];
  /** An established connection closed; `error` says why when it was not an orderly close. */
  close: [error?: Error];
  /** The broker sent DISCONNECT (MQTT 5), with its reason code and properties. */
  disconnect: [packet: DisconnectPacket];
  message: [topic: string, payload: Uint8Array, packet: PublishPacket];
  /** Failed (re)connect attempts, store errors, refused resubscriptions; emitted only when someone listens. */
  error: [error: Error];
  /** The client has ended: every pending operation has settled. */
  end: [];
  /** A packet was queued for writing to the broker (PUBLISH after its topic alias was applied). */
  packetsend: [packet: Packet];
  /** A packet arrived from the broker (before the client acts on it). */
  packetreceive: [packet: Packet];
  /**
   * The broker answered the subscriptions the client made again after a connection without its session: the code
   * per filter (granted QoS, or 0x80 and above for a refusal, each refusal also an `error` ResubscribeError).
   */
  resubscribe: [results: ResubscribeResult[]];
}

/** In-flight QoS 1/2 publishes at most over MQTT 3.x, where the broker cannot say: Mosquitto's default window. */
const DEFAULT_INFLIGHT_3 = 20;
/** Server References followed in a row by the first connect. */
const MAX_REDIRECTS = 3;
const RESOLVED: Promise<PublishAck> = Promise.resolve(undefined);
function ignore(): void {}

// `new Promise(captureSettlers)` leaves its settle functions here: a publish costs no executor closure.
let capturedResolve: ((ack: PublishAck) => void) | undefined;
let capturedReject: ((error: Error) => void) | undefined;
function captureSettlers(resolve: (ack: PublishAck) => void, reject: (error: Error) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

async function provide<T>(value: Provider<T>): Promise<T> {
  return typeof value === 'function' ? await (value as () => T | Promise<T>)() : value;
}

/**
 * An MQTT client. Create it with `connect(url, options)`. Publishes, subscriptions and requests return promises
 * that always settle: on success, on a negative acknowledgement, or when the client ends.
 */
export class MqttClient extends Emitter<ClientEvents> {
  readonly protocolVersion: ProtocolVersion;
  /** The client identifier in use (the broker's Assigned Client Identifier when it gave one). */
  clientId = '';
  /** The last successful CONNACK. */
  connack: ConnackPacket | undefined;
  /** MQTT 5 Server Reference from the last CONNACK or DISCONNECT that carried one. */
  serverReference: string | undefined;

  private url: URL;
  private readonly options: ClientOptions;
  private readonly store: MessageStore;
  private readonly reconnectOptions: Required<ReconnectOptions> | undefined;
  private readonly timers: Timers;
  private readonly bytes: ((view: Uint8Array) => Uint8Array) | undefined;
  private readonly session: ClientSession;
  private readonly inbox: Inbox;
  private readonly auth: AuthExchange;
  /** What each connection's link reports to. */
  private readonly linkOwner: LinkOwner;

  private link: Link | undefined;
  private ending: Promise<void> | undefined;
  private ended = false;
  private cancelReconnect: CancelTimer | undefined;
  /** Loading the store: publishes made before it finished get their store ids after it. */
  private storeReady: Promise<void> | undefined;
  /** Store writes of `put` not yet finished (a store may answer a whole batch with one promise). */
  private readonly storeWrites = new Set<Promise<void>>();
  private reconnectAttempt = 0;
  private lastError: Error | undefined;
  private responseSubscription: Promise<unknown> | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(
    url: string | URL,
    options: ClientOptions,
    private readonly dial: Dialer,
    runtime: ClientRuntime = {},
  ) {
    super();
    this.timers = runtime.timers ?? threadTimers;
    this.bytes = runtime.bytes;
    checkClientOptions(options);
    this.url = new URL(url);
    this.options = options;
    this.protocolVersion = options.protocolVersion ?? 5;
    this.store = options.store ?? new MemoryMessageStore();
    this.reconnectOptions = resolveReconnect(options.reconnect, options.keepalive);
    const sessionOwner: SessionOwner = {
      storePut: (message) => this.storePut(message),
      storeDelete: (id) => this.storeDelete(id),
      resubscribed: (results) => this.emit('resubscribe', results),
      resubscribeRefused: (error) => this.emitError(error),
    };
    const session = new ClientSession({
      protocolVersion: this.protocolVersion,
      maxDeliveryAttempts: options.maxDeliveryAttempts ?? 5,
      queueLimit: options.queueLimit ?? 10_000,
      resubscribe: options.resubscribe !== false,
    }, sessionOwner);
    this.session = session;
    this.linkOwner = {
      get inflightCount() {
        return session.inflightCount;
      },
      handle: (link, packet) => this.handle(link, packet),
      fail: (link, error) => this.fail(link, error),
      renew: (link) => this.renew(link),
      sent: (packet) => void this.emit('packetsend', packet),
    };
    const emitMessage = (packet: PublishPacket): void => void this.emit('message', packet.topic, packet.payload, packet);
    this.inbox = new Inbox(session, () => this.link, emitMessage);
    this.auth = new AuthExchange(this.protocolVersion, options, {
      emitError: (error) => this.emitError(error),
      accept: (link, connack) => this.accept(link, connack),
    });
  }

  /** Whether a connection is established right now. */
  get connected(): boolean {
    return this.link?.connected === true;
  }

  /** Outgoing publishes not yet completed (in flight plus queued). */
  get pendingCount(): number {
    return this.session.pendingCount;
  }

  /** Loads the store and makes the first connection; the client ends if that fails. */
  async start(): Promise<void> {
    try {
      await (this.storeReady = this.loadStore());
      // A refusal naming another server is followed a few times when asked to (Use another server / Server moved).
      for (let redirects = 0; ; redirects++) {
        try {
          await this.connectOnce();
          break;
        } catch (error) {
          const moved = error instanceof ConnectionRefusedError && error.serverReference !== undefined;
          if (!moved || !this.options.followServerReference || redirects >= MAX_REDIRECTS) throw error;
        }
      }
    } catch (error) {
      await this.shutdown(error as Error);
      throw error;
    }
  }

  /**
   * Loads the store and connects in the background: a failed first attempt is retried with back-off like a lost
   * connection (each failure an `error` event), and publishes and subscriptions wait in the queue meanwhile.
   */
  begin(): void {
    this.storeReady = this.loadStore();
    this.storeReady.then(() => {
      if (this.ending) return;
      this.connectOnce().then(undefined, this.onReconnectFailed);
    }, (error: Error) => {
      this.emitError(error);
      void this.shutdown(error);
    });
  }

  private async loadStore(): Promise<void> {
    this.session.restore(await this.store.load());
  }

  /**
   * Connects now instead of when the back-off says, for when the network is known to be back (the browser's
   * `online` event does this by itself). Nothing happens while connected or connecting, nor once ended.
   */
  reconnect(): void {
    if (this.ending || !this.session.loaded || (this.link !== undefined && !this.link.closed)) return;
    this.cancelReconnect?.();
    this.cancelReconnect = undefined;
    this.reconnectAttempt = 0;
    this.attemptReconnect();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Requests of the application

  /**
   * Publishes a message. Settles when the QoS flow completes: at once for QoS 0 (or when it is written, if it was
   * queued), on PUBACK for QoS 1, on PUBCOMP for QoS 2. Rejects with PublishError on a negative acknowledgement.
   */
  publish(topic: string, payload: Payload, options?: PublishOptions): Promise<PublishAck> {
    if (this.ending) return Promise.reject(new ClientClosedError());
    try {
      checkPublishOptions(this.protocolVersion, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const topicError = validateTopicName(topic);
    if (topicError) return Promise.reject(new InvalidOptionError(topicError.message, topicError.reasonCode));
    const session = this.session;
    const qos = options?.qos ?? 0;
    const message: OutgoingMessage = {
      id: session.messageId(qos),
      topic,
      payload: toBytes(payload),
      qos,
      retain: options?.retain ?? false,
    };
    if (options?.properties) message.properties = options.properties;
    if (qos === 0) {
      if (session.ready) {
        const error = session.publishNow(message);
        if (error) return Promise.reject(error);
        const link = this.link!;
        if (link.writable) return RESOLVED;
        // Back-pressure: QoS 0 settles once the transport has room again.
        return new Promise((resolve) => link.drainWaiters.push(() => resolve(undefined)));
      }
      if (this.options.queueQoSZero === false) return Promise.reject(new ClientClosedError('not connected'));
    }
    const full = session.queueFull(qos);
    if (full) return Promise.reject(full);
    const settled = new Promise<PublishAck>(captureSettlers);
    session.publish({ message, losses: 0, resolve: capturedResolve, reject: capturedReject });
    return settled;
  }

  /**
   * Subscribes to one or more filters; resolves with the SUBACK reason code per filter (the granted QoS, or a code
   * of 0x80 and above for a refusal). Subscriptions are made again after reconnecting without a session.
   */
  subscribe(filters: string | string[], options?: SubscribeOptions): Promise<number[]> {
    if (this.ending) return Promise.reject(new ClientClosedError());
    try {
      checkSubscribeOptions(this.protocolVersion, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const subscriptions = subscriptionsFor(filters, options);
    if (subscriptions instanceof InvalidOptionError) return Promise.reject(subscriptions);
    const packet: SubscribePacket = { type: 'subscribe', packetId: this.session.allocatePacketId(), subscriptions };
    if (options?.properties) packet.properties = options.properties;
    return this.track(packet);
  }

  /** Unsubscribes; resolves with the UNSUBACK reason code per filter (MQTT 5) or an empty array (3.x). */
  unsubscribe(filters: string | string[], options?: UnsubscribeOptions): Promise<number[]> {
    if (this.ending) return Promise.reject(new ClientClosedError());
    if (options?.properties && this.protocolVersion !== 5) {
      return Promise.reject(new InvalidOptionError('unsubscribe properties need MQTT 5 (protocolVersion: 5)'));
    }
    const topicFilters = typeof filters === 'string' ? [filters] : filters;
    if (topicFilters.length === 0) return Promise.reject(new InvalidOptionError('no topic filter given'));
    const packet: UnsubscribePacket = { type: 'unsubscribe', packetId: this.session.allocatePacketId(), topicFilters };
    if (options?.properties) packet.properties = options.properties;
    return this.track(packet);
  }

  private track(packet: RequestPacket): Promise<number[]> {
    return new Promise((resolve, reject) => this.session.track(packet, resolve, reject));
  }

  /**
   * Received messages whose topic matches `filter`, as an async iterator (`for await`). It filters locally: it does
   * not subscribe. The QoS 1/2 acknowledgement of a message is sent when the loop takes it, so the broker's flow
   * control bounds what waits here. Leaving the loop stops the iterator; ending the client finishes it.
   */
  messages(filter: string): AsyncIterableIterator<PublishPacket> {
    const error = validateTopicFilter(filter);
    if (error) throw new InvalidOptionError(error.message, error.reasonCode);
    return this.inbox.iterate(filter, this.ending !== undefined);
  }

  /**
   * Publishes a request with a Response Topic and Correlation Data and resolves with the matching response (MQTT 5).
   * The client subscribes to its response topic on first use. Rejects with TimeoutError after `timeout` ms.
   */
  async request(topic: string, payload: Payload, options: RequestOptions = {}): Promise<PublishPacket> {
    if (this.protocolVersion !== 5) throw new InvalidOptionError('request/response needs MQTT 5 (protocolVersion: 5)');
    if (this.ending) throw new ClientClosedError();
    const inbox = this.inbox;
    if (!inbox.responseTopic) {
      inbox.responseTopic = `culex/response/${randomHex(12)}`;
      this.responseSubscription = this.subscribe(inbox.responseTopic, { qos: 1 });
    }
    await this.responseSubscription;
    const { correlationData, response } = inbox.responses.open(options.timeout ?? 10_000);
    const properties: Properties = { ...options.properties, responseTopic: inbox.responseTopic, correlationData };
    try {
      await this.publish(topic, payload, { qos: options.qos ?? 1, retain: options.retain ?? false, properties });
    } catch (error) {
      inbox.responses.reject(correlationData, error as Error);
    }
    return response;
  }

  /** Starts MQTT 5 re-authentication; resolves when the broker answers AUTH Success. */
  reauthenticate(authenticationData?: Uint8Array): Promise<void> {
    return this.auth.reauthenticate(this.link, authenticationData);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Connecting

  /** One connection attempt: dial, CONNECT, wait for CONNACK (and AUTH exchanges). */
  private async connectOnce(): Promise<ConnackPacket> {
    const options = this.options;
    const link = new Link(this.linkOwner, {
      protocolVersion: this.protocolVersion,
      maxPacketSize: options.properties?.maximumPacketSize,
      topicAliasMaximum: options.properties?.topicAliasMaximum ?? 0,
      sendQuota: options.maxInflight ?? (this.protocolVersion === 5 ? 65535 : DEFAULT_INFLIGHT_3),
      timers: this.timers,
    });
    this.link = link;
    const timeout = options.connectTimeout ?? 30_000;
    const timer = setTimeout(() => this.fail(link, new TimeoutError(`no CONNACK within ${timeout} ms`)), timeout);
    try {
      // An id the broker assigned is kept for reconnects, so the session can resume.
      const given = options.clientId;
      const keep = given === undefined || (given === '' && this.clientId !== '');
      const idSource = keep ? this.clientId || `culex-${randomHex(8)}` : given;
      // Racing the handshake makes a timeout (or end()) interrupt a hanging credential function or dial.
      const [clientId, username, password, authenticationData] = await Promise.race([
        Promise.all([
          provide(idSource),
          provide(options.username ?? urlCredential(this.url.username)),
          provide(options.password ?? urlCredential(this.url.password)),
          provide(options.authenticationData),
        ]),
        link.handshake as Promise<never>,
      ]);
      const credentials = { clientId, username, password, authenticationData };
      const connect = connectPacket(options, this.protocolVersion, credentials);
      const bytes = encode(connect, this.protocolVersion);
      const dialing = this.dial(this.url, options);
      dialing.then((late) => link.closed && late.destroy(), ignore);
      const stream = await Promise.race([dialing, link.handshake as Promise<never>]);
      if (link.closed) {
        stream.destroy();
        return await link.handshake;
      }
      link.attach(stream);
      this.clientId = clientId;
      link.sendEncoded(bytes, connect);
      return await link.handshake;
    } catch (error) {
      this.fail(link, error as Error);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A packet from the broker on `link`. */
  private handle(link: Link, packet: Packet): void {
    if (packet.type === 'publish' && this.bytes) packet.payload = this.bytes(packet.payload);
    this.emit('packetreceive', packet);
    switch (packet.type) {
      case 'connack':
        this.onConnack(link, packet);
        return;
      case 'publish': {
        const violation = link.aliasesIn.resolve(packet);
        if (violation) link.protocolViolation(violation.reasonCode, violation.message);
        else if (this.session.receive(packet)) this.inbox.deliver(link, packet);
        return;
      }
      case 'puback':
      case 'pubrec':
      case 'pubrel':
      case 'pubcomp':
      case 'suback':
      case 'unsuback':
        this.session.handle(packet);
        this.checkIdle();
        return;
      case 'pingresp':
        return;
      case 'disconnect': {
        this.emit('disconnect', packet);
        const reference = packet.properties?.serverReference;
        if (reference !== undefined) {
          this.serverReference = reference;
          if (this.options.followServerReference) this.follow(reference);
        }
        this.fail(link, new DisconnectedError(packet.reasonCode ?? ReasonCode.NormalDisconnection, packet.properties));
        return;
      }
      case 'auth':
        void this.auth.onAuth(link, packet);
        return;
      default:
        link.protocolViolation(ReasonCode.ProtocolError, `unexpected ${packet.type} from the broker`);
    }
  }

  private onConnack(link: Link, connack: ConnackPacket): void {
    const properties = connack.properties;
    if (properties?.serverReference !== undefined) {
      this.serverReference = properties.serverReference;
      if (this.options.followServerReference) this.follow(properties.serverReference);
    }
    if (connack.reasonCode !== ReasonCode.Success) {
      this.fail(link, new ConnectionRefusedError(connack.reasonCode, this.protocolVersion, properties));
      return;
    }
    if (connack.sessionPresent && (this.options.clean ?? true)) {
      // MQTT-3.2.2-4: we asked for a new session; a broker claiming an old one is broken.
      link.protocolViolation(ReasonCode.ProtocolError, 'session present after a clean start', true);
      return;
    }
    if (this.auth.checksConnack) void this.auth.verifyConnack(link, connack);
    else this.accept(link, connack);
  }

  /** The broker accepted us: take its limits, resume or restart the session, and go online. */
  private accept(link: Link, connack: ConnackPacket): void {
    const properties = connack.properties;
    link.accepted(connack, this.options.autoTopicAlias !== false);
    this.session.online(link);
    this.connack = connack;
    if (properties?.assignedClientIdentifier !== undefined) this.clientId = properties.assignedClientIdentifier;
    link.startKeepalive(properties?.serverKeepAlive ?? this.options.keepalive ?? 60);
    link.scheduleRenewal(this.options.credentialsExpireAt?.(), this.options.renewBefore);
    this.session.resume(connack.sessionPresent);
    this.checkIdle();
    link.settleHandshake.resolve(connack);
    this.emit('connect', connack);
  }

  /** The broker's Server Reference: `host[:port]`, or a whole URL. */
  private follow(reference: string): void {
    const first = reference.split(/[ ,]/)[0];
    if (!first) return;
    try {
      if (first.includes('://')) this.url = new URL(first);
      else {
        const next = new URL(this.url);
        next.host = first;
        this.url = next;
      }
    } catch {
      // An unusable reference is only reported, through the serverReference field.
    }
  }

  /** Ends one connection (once); if it was established, the client goes offline and reconnects or ends. */
  private fail(link: Link, error: Error): void {
    if (!link.close(error)) return;
    if (!link.connected) return;
    link.connected = false;
    this.session.offline();
    this.lastError = error;
    this.emit('close', error);
    this.emit('offline');
    this.checkIdle();
    if (this.ending) return;
    if (link.renewing) {
      this.attemptReconnect();
      return;
    }
    // The back-off starts over only after a connection that stayed up a while.
    if (monotonicNow() - link.acceptedAt >= (this.reconnectOptions?.resetAfter ?? 0)) this.reconnectAttempt = 0;
    this.session.connectionLost();
    if (this.reconnectOptions) this.scheduleReconnect();
    else void this.shutdown(new ClientClosedError(`connection lost: ${error.message}`, error));
  }

  private scheduleReconnect(): void {
    const options = this.reconnectOptions;
    if (!options) {
      // With `reconnect: false`, a failed renewal or a failed first connection of `begin` ends the client.
      void this.shutdown(new ClientClosedError('connecting failed and reconnect is off', this.lastError));
      return;
    }
    if (this.reconnectAttempt >= options.maxAttempts) {
      void this.shutdown(new ClientClosedError('gave up reconnecting', this.lastError));
      return;
    }
    const delay = reconnectDelay(options, this.reconnectAttempt++);
    this.cancelReconnect = this.timers.schedule(this.attemptReconnect, delay);
  }

  private readonly attemptReconnect = (): void => {
    this.cancelReconnect = undefined;
    if (this.ending) return;
    this.emit('reconnect');
    this.connectOnce().then(undefined, this.onReconnectFailed);
  };

  private readonly onReconnectFailed = (error: Error): void => {
    if (this.ending) return;
    this.lastError = error;
    this.emitError(error);
    this.scheduleReconnect();
  };

  /** Leaves the broker cleanly (DISCONNECT, so no will) and connects again at once with fresh credentials. */
  private renew(link: Link): void {
    if (link !== this.link || !link.connected || this.ending) return;
    link.renewing = true;
    link.sendDisconnect({ type: 'disconnect', reasonCode: ReasonCode.NormalDisconnection });
    this.fail(link, new ConnectionLostError('reconnecting to renew credentials', ReasonCode.NormalDisconnection));
  }

  private emitError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Store

  private storePut(message: StoredMessage): void {
    const result = this.store.put(message);
    if (!result) return;
    result.then(undefined, this.onStoreError);
    if (this.storeWrites.has(result)) return;
    this.storeWrites.add(result);
    const done = (): void => void this.storeWrites.delete(result);
    result.then(done, done);
  }

  private storeDelete(id: number): void {
    const result = this.store.delete(id);
    if (result) result.then(undefined, this.onStoreError);
  }

  private readonly onStoreError = (error: Error): void => this.emitError(error);

  /**
   * Resolves once every QoS 1/2 message given to `publish` before the call is in the store: with `FileStore`,
   * written to its file (a killed process loses none of them; with `sync: true`, neither does a power loss).
   * Rejects with the store's error when a write failed. A message that was acknowledged meanwhile may have left
   * the store already.
   */
  async whenStored(): Promise<void> {
    await this.storeReady;
    await Promise.all(this.storeWrites);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Ending

  /**
   * Ends the client: waits (up to `endTimeout`) for in-flight and queued messages while connected, sends
   * DISCONNECT and closes. With `force` it closes at once. Every pending operation settles; unfinished outgoing
   * QoS 1/2 messages stay in the store for a later client.
   */
  end(options: EndOptions = {}): Promise<void> {
    if (options.force && this.ending && !this.ended) {
      const link = this.link;
      if (link) this.fail(link, new ClientClosedError());
      this.wakeIdleWaiters();
    }
    this.ending ??= this.close(options);
    return this.ending;
  }

  /** Lets `end()` go on once nothing awaits the broker, or the connection is gone. */
  private checkIdle(): void {
    if (this.idleWaiters.length === 0) return;
    if (this.link?.connected && this.session.busy) return;
    this.wakeIdleWaiters();
  }

  private wakeIdleWaiters(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const waiter of waiters) waiter();
  }

  private async close(options: EndOptions): Promise<void> {
    this.cancelReconnect?.();
    this.cancelReconnect = undefined;
    const link = this.link;
    if (link && !options.force && link.connected) {
      await this.whenIdle(this.options.endTimeout ?? 10_000);
      if (link.connected && !link.closed) {
        const disconnect: DisconnectPacket = { type: 'disconnect' };
        if (this.protocolVersion === 5) {
          if (options.reasonCode !== undefined) disconnect.reasonCode = options.reasonCode;
          if (options.properties) disconnect.properties = options.properties;
        }
        link.sendDisconnect(disconnect);
        link.stream?.end();
        // The broker closes after DISCONNECT; do not wait for it long.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([link.closedPromise, new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)))]);
        clearTimeout(timer);
      }
    }
    if (link) this.fail(link, new ClientClosedError());
    await this.shutdown(new ClientClosedError());
  }

  private whenIdle(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve();
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.idleWaiters.push(done);
      this.checkIdle();
    });
  }

  /** Settles everything still pending with `error` and closes the store. */
  private async shutdown(error: Error): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.ending ??= Promise.resolve();
    this.cancelReconnect?.();
    this.cancelReconnect = undefined;
    if (this.link) this.fail(this.link, error);
    this.session.failAll(error);
    this.inbox.responses.rejectAll(error);
    this.inbox.closeAll();
    this.wakeIdleWaiters();
    try {
      await this.store.close();
    } catch (storeError) {
      this.emitError(storeError as Error);
    }
    this.emit('end');
  }
}

/** Creates a client that dials with `dialer` and resolves once its first connection is accepted. */
export async function connectWith(url: string | URL, options: ClientOptions, dialer: Dialer, runtime?: ClientRuntime): Promise<MqttClient> {
  const client = new MqttClient(url, options, dialer, runtime);
  await client.start();
  return client;
}

/** Creates a client that dials with `dialer` and connects in the background, retrying until it can (see `begin`). */
export function createClientWith(url: string | URL, options: ClientOptions, dialer: Dialer, runtime?: ClientRuntime): MqttClient {
  const client = new MqttClient(url, options, dialer, runtime);
  client.begin();
  return client;
}
