import { encode, encodePublishHead } from '../packet/encode.js';
import { PacketError } from '../packet/errors.js';
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  Properties,
  ProtocolVersion,
  PubackPacket,
  PubcompPacket,
  PublishPacket,
  QoS,
  Subscription,
} from '../packet/types.js';
import { parseSharedFilter } from '../topic/shared.js';
import { TopicError, validateTopicFilter, validateTopicName } from '../topic/validate.js';
import type { ByteStream } from '../transport/stream.js';
import { reconnectDelay, resolveReconnect, type ReconnectOptions } from './backoff.js';
import { Connection } from './connection.js';
import { Emitter } from './emitter.js';
import {
  ClientClosedError,
  ConnectionLostError,
  ConnectionRefusedError,
  DeliveryError,
  DisconnectedError,
  ResubscribeError,
  InvalidOptionError,
  PacketTooLargeError,
  PublishError,
  QueueFullError,
  TimeoutError,
} from './errors.js';
import { Fifo } from './fifo.js';
import { MessageIterator, type DeferredAck, type IteratorOwner } from './message-iterator.js';
import {
  checkClientOptions,
  checkPublishOptions,
  checkSubscribeOptions,
  type ClientOptions,
  type EndOptions,
  type Payload,
  type Provider,
  type PublishOptions,
  type RequestOptions,
  type SubscribeOptions,
  type UnsubscribeOptions,
} from './options.js';
import { PendingResponses } from './responses.js';
import { MAX_TIMER_MS, renewalDelay } from './renewal.js';
import { MemoryMessageStore, type MessageStore, type StoredMessage } from './store.js';
import { atTickEnd } from '../transport/tick-end.js';
import { monotonicNow, threadTimers, type CancelTimer, type Timers } from './timers.js';

/** Opens the byte stream to the broker named by the URL (TCP, TLS, WebSocket, browser WebSocket). */
export type Dialer = (url: URL, options: ClientOptions) => Promise<ByteStream>;

/** What the client takes from the platform it runs on, besides a dialer. */
export interface ClientRuntime {
  /** Keepalive and reconnect timers. Default: this thread's. */
  timers?: Timers;
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
  /**
   * The broker answered the subscriptions the client made again after a connection without its session: the code
   * per filter (granted QoS, or 0x80 and above for a refusal, each refusal also an `error` ResubscribeError).
   */
  resubscribe: [results: ResubscribeResult[]];
}

export interface ResubscribeResult {
  topicFilter: string;
  reasonCode: number;
}

/** The SUBSCRIBE packets of one resubscription and the answers gathered so far. */
interface Resubscription {
  unanswered: number;
  results: ResubscribeResult[];
}

/** The acknowledgement a publish resolves with: PUBACK (QoS 1), PUBCOMP (QoS 2), nothing for QoS 0. */
export type PublishAck = PubackPacket | PubcompPacket | undefined;

type OutgoingMessage = Omit<StoredMessage, 'qos'> & { qos: QoS };

interface Outgoing {
  message: OutgoingMessage;
  /** Connections lost while this message was the oldest awaiting its acknowledgement. */
  losses: number;
  resolve: ((ack: PublishAck) => void) | undefined;
  reject: ((error: Error) => void) | undefined;
}

interface PendingRequest {
  packet: Packet & { type: 'subscribe' | 'unsubscribe' };
  /** Resubscriptions made by the client itself: dropped when the connection is lost, made again after. */
  internal: Resubscription | undefined;
  resolve: ((codes: number[]) => void) | undefined;
  reject: ((error: Error) => void) | undefined;
}

interface KnownSubscription {
  subscription: Subscription;
  properties: Properties | undefined;
}

const MAX_PACKET_ID = 65535;
/** In-flight QoS 1/2 publishes at most over MQTT 3.x, where the broker cannot say: Mosquitto's default window. */
const DEFAULT_INFLIGHT_3 = 20;
/** Server References followed in a row by the first connect. */
const MAX_REDIRECTS = 3;
/** Payloads from this size on are written as they are, after a separately encoded head. */
const SPLIT_PAYLOAD = 4096;
/** Held QoS 1/2 PUBLISHes are written once they number at least 1/COALESCE of those sent and unanswered. */
const COALESCE = 4;
/** The longest a QoS 1/2 PUBLISH is held for a batch, in ms (Node's shortest timer). */
const HOLD_MS = 1;
/**
 * Publishes in flight from which reading pauses while their answers arrive (see gatherAnswers). A paused read
 * gathers at most what is in flight per timer tick (1-1.3 ms); read answer by answer, a QoS 1 publish costs about
 * 10 µs of CPU, about 100 per ms: from 100 in flight, gathering does not hold back a publisher to a fast broker.
 */
const GATHER_MIN = 100;
const textEncoder = new TextEncoder();
const RESOLVED: Promise<PublishAck> = Promise.resolve(undefined);
function ignore(): void {}

// `new Promise(captureSettlers)` leaves its settle functions here: a publish costs no executor closure.
let capturedResolve: ((ack: PublishAck) => void) | undefined;
let capturedReject: ((error: Error) => void) | undefined;
function captureSettlers(resolve: (ack: PublishAck) => void, reject: (error: Error) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

function toBytes(payload: Payload): Uint8Array {
  return typeof payload === 'string' ? textEncoder.encode(payload) : payload;
}

function randomHex(bytes: number): string {
  const buf = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(buf);
  let s = '';
  for (const b of buf) s += b.toString(16).padStart(2, '0');
  return s;
}

async function provide<T>(value: Provider<T>): Promise<T> {
  return typeof value === 'function' ? await (value as () => T | Promise<T>)() : value;
}

/**
 * An MQTT client. Create it with `connect(url, options)`. Publishes, subscriptions and requests return promises
 * that always settle: on success, on a negative acknowledgement, or when the client ends.
 */
export class MqttClient extends Emitter<ClientEvents> implements IteratorOwner {
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
  private readonly queueLimit: number;
  private readonly maxDeliveryAttempts: number;
  private readonly timers: Timers;

  private conn: Connection | undefined;
  /** The connection whose CONNACK `onAuthSuccess` is checking: its later packets wait. */
  private verifying: Connection | undefined;
  private ending: Promise<void> | undefined;
  private ended = false;
  private cancelReconnect: CancelTimer | undefined;
  /** Loading the store: publishes made before it finished get their store ids after it. */
  private storeReady: Promise<void> | undefined;
  private loaded = false;
  /** Store writes of `put` not yet finished (a store may answer a whole batch with one promise). */
  private readonly storeWrites = new Set<Promise<void>>();
  private reconnectAttempt = 0;
  private lastError: Error | undefined;

  private nextMessageId = 1;
  private nextPacketId = 0;
  /** Outgoing QoS 1/2 publishes sent and not yet completed, by packet id. */
  private readonly inflight = new Map<number, Outgoing>();
  /** Publishes waiting for a connection or for the broker's Receive Maximum, in order. */
  private readonly waiting = new Fifo<Outgoing>();
  /**
   * Packet ids of messages given up while the broker may still hold them in our session: not reused until a
   * connection starts a new session (the broker would take a new QoS 2 message under one for the old one).
   */
  private readonly retiredIds = new Set<number>();
  /** SUBSCRIBE and UNSUBSCRIBE waiting for their acknowledgement, by packet id. */
  private readonly requests = new Map<number, PendingRequest>();
  private readonly subscriptions = new Map<string, KnownSubscription>();
  /** Received QoS 2 packet ids not yet released: false until the message was taken, true once PUBREC went out. */
  private readonly incomingQos2 = new Map<number, boolean>();
  private readonly iterators = new Set<MessageIterator>();
  private readonly responses = new PendingResponses();
  private responseTopic: string | undefined;
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
    checkClientOptions(options);
    this.url = new URL(url);
    this.options = options;
    this.protocolVersion = options.protocolVersion ?? 5;
    this.store = options.store ?? new MemoryMessageStore();
    this.reconnectOptions = resolveReconnect(options.reconnect, options.keepalive);
    this.maxDeliveryAttempts = options.maxDeliveryAttempts ?? 5;
    this.queueLimit = options.queueLimit ?? 10_000;
  }

  /** Whether a connection is established right now. */
  get connected(): boolean {
    return this.conn?.connected === true;
  }

  /** Outgoing publishes not yet completed (in flight plus queued). */
  get pendingCount(): number {
    return this.inflight.size + this.waiting.length;
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

  /**
   * Takes over what a previous client left in the store, ahead of anything published meanwhile (which gets its
   * store id and record only now, so that no id is used twice).
   */
  private async loadStore(): Promise<void> {
    const stored = await this.store.load();
    const early = this.waiting.drain();
    for (const message of stored) {
      this.nextMessageId = Math.max(this.nextMessageId, message.id + 1);
      const outgoing: Outgoing = { message, losses: 0, resolve: undefined, reject: undefined };
      if (message.packetId !== undefined && !this.inflight.has(message.packetId)) {
        this.inflight.set(message.packetId, outgoing);
      } else {
        delete message.packetId;
        this.waiting.push(outgoing);
      }
    }
    this.loaded = true;
    for (const outgoing of early) {
      if (outgoing.message.qos > 0) {
        outgoing.message.id = this.nextMessageId++;
        this.storePut(outgoing.message as StoredMessage);
      }
      this.waiting.push(outgoing);
    }
  }

  /**
   * Connects now instead of when the back-off says, for when the network is known to be back (the browser's
   * `online` event does this by itself). Nothing happens while connected or connecting, nor once ended.
   */
  reconnect(): void {
    if (this.ending || !this.loaded || (this.conn !== undefined && !this.conn.closed)) return;
    this.cancelReconnect?.();
    this.cancelReconnect = undefined;
    this.reconnectAttempt = 0;
    this.attemptReconnect();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Publishing

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
    const qos = options?.qos ?? 0;
    const message: OutgoingMessage = {
      // Before the store is loaded an id could clash with a stored message: loadStore gives it one.
      id: qos === 0 || !this.loaded ? 0 : this.nextMessageId++,
      topic,
      payload: toBytes(payload),
      qos,
      retain: options?.retain ?? false,
    };
    if (options?.properties) message.properties = options.properties;
    const conn = this.conn;
    const sendNow = conn !== undefined && conn.connected && this.waiting.length === 0;
    if (qos === 0) {
      if (sendNow) {
        const error = this.refusal(conn, message) ?? this.sendPublish(conn, message, false);
        if (error) return Promise.reject(error);
        if (conn.writable) return RESOLVED;
        // Back-pressure: QoS 0 settles once the transport has room again.
        return new Promise((resolve) => conn.drainWaiters.push(() => resolve(undefined)));
      }
      if (this.options.queueQoSZero === false) return Promise.reject(new ClientClosedError('not connected'));
    }
    const direct = sendNow && this.inflight.size < conn.sendQuota;
    if (!direct && this.waiting.length >= this.queueLimit) return Promise.reject(new QueueFullError(this.queueLimit));
    const settled = new Promise<PublishAck>(captureSettlers);
    const outgoing: Outgoing = { message, losses: 0, resolve: capturedResolve, reject: capturedReject };
    if (direct) this.transmit(conn, outgoing);
    else {
      if (qos > 0 && this.loaded) this.storePut(message as StoredMessage);
      this.waiting.push(outgoing);
    }
    return settled;
  }

  /** Sends a queued or new publish: checks the broker's limits, gives QoS 1/2 a packet id and records it in flight. */
  private transmit(conn: Connection, outgoing: Outgoing): void {
    const message = outgoing.message;
    let refusal = this.refusal(conn, message);
    if (message.qos === 0) {
      refusal ??= this.sendPublish(conn, message, false);
      if (refusal) outgoing.reject?.(refusal);
      else outgoing.resolve?.(undefined);
      return;
    }
    if (!refusal) {
      message.packetId = this.allocatePacketId();
      refusal = this.sendPublish(conn, message, false);
    }
    if (refusal) {
      delete message.packetId;
      this.storeDelete(message.id);
      outgoing.reject?.(refusal);
      return;
    }
    this.inflight.set(message.packetId!, outgoing);
    this.storePut(message as StoredMessage);
  }

  /** What the broker said in CONNACK it does not support (MQTT-3.2.2-11, MQTT-3.2.2-14). */
  private refusal(conn: Connection, message: OutgoingMessage): Error | undefined {
    if (message.qos > conn.maxQoS) return new PublishError(0x9b, `the broker accepts QoS ${conn.maxQoS} at most`);
    if (message.retain && !conn.retainAvailable) return new PublishError(0x9a, 'the broker does not retain messages');
    const alias = message.properties?.topicAlias;
    if (alias !== undefined && (alias < 1 || alias > conn.aliasMax)) {
      return new PublishError(0x94, `topic alias ${alias} is outside the broker's 1-${conn.aliasMax}`);
    }
    return undefined;
  }

  /** Encodes and queues one PUBLISH; returns the error instead of sending when it cannot go. */
  private sendPublish(conn: Connection, message: OutgoingMessage, dup: boolean): Error | undefined {
    const packet: PublishPacket = {
      type: 'publish',
      topic: message.topic,
      payload: message.payload,
      qos: message.qos,
      retain: message.retain,
      dup,
    };
    if (message.packetId !== undefined) packet.packetId = message.packetId;
    if (message.properties) packet.properties = message.properties;
    if (conn.aliasMax > 0) this.applyTopicAlias(conn, packet);
    // A large payload is not copied: the head is encoded alone and both go out together.
    const payload = message.payload;
    const split = payload.length >= SPLIT_PAYLOAD;
    let bytes: Uint8Array;
    try {
      const version = this.protocolVersion;
      bytes = split ? encodePublishHead(packet, version, payload.length) : encode(packet, version);
    } catch (error) {
      return error instanceof PacketError ? new PublishError(error.reasonCode, error.message) : (error as Error);
    }
    const size = split ? bytes.length + payload.length : bytes.length;
    if (size > conn.maxPacketSize) return new PacketTooLargeError(size, conn.maxPacketSize);
    this.write(conn, bytes, message.qos > 0, split ? payload : undefined);
    return undefined;
  }

  /** Outgoing topic aliases: the first message on a topic carries topic and a new alias, later ones only the alias. */
  private applyTopicAlias(conn: Connection, packet: PublishPacket): void {
    if (packet.properties?.topicAlias !== undefined) return;
    const known = conn.aliasOut.get(packet.topic);
    let alias = known;
    if (alias === undefined) {
      if (conn.aliasOut.size >= conn.aliasMax) return;
      alias = conn.aliasOut.size + 1;
      conn.aliasOut.set(packet.topic, alias);
    }
    packet.properties = { ...packet.properties, topicAlias: alias };
    if (known !== undefined) packet.topic = '';
  }

  /** Sends waiting publishes while the broker's Receive Maximum allows, in order. */
  private pump(): void {
    const conn = this.conn;
    if (!conn?.connected) return;
    for (;;) {
      const next = this.waiting.peek();
      if (!next || (next.message.qos > 0 && this.inflight.size >= conn.sendQuota)) break;
      this.waiting.shift();
      this.transmit(conn, next);
    }
    this.checkIdle();
  }

  private allocatePacketId(): number {
    for (let i = 0; i < MAX_PACKET_ID; i++) {
      this.nextPacketId = (this.nextPacketId % MAX_PACKET_ID) + 1;
      const id = this.nextPacketId;
      if (!this.inflight.has(id) && !this.requests.has(id) && !this.retiredIds.has(id)) return id;
    }
    throw new QueueFullError(MAX_PACKET_ID);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Subscriptions

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
    const list = typeof filters === 'string' ? [filters] : filters;
    if (list.length === 0) return Promise.reject(new InvalidOptionError('no topic filter given'));
    const subscriptions: Subscription[] = [];
    for (const topicFilter of list) {
      const shared = parseSharedFilter(topicFilter);
      const error = shared instanceof TopicError ? shared : validateTopicFilter(topicFilter);
      if (error) return Promise.reject(new InvalidOptionError(error.message, error.reasonCode));
      if (shared && options?.nl) {
        return Promise.reject(new InvalidOptionError('No Local cannot be set on a shared subscription (MQTT-3.8.3-4)'));
      }
      const subscription: Subscription = { topicFilter, qos: options?.qos ?? 0 };
      if (options?.nl !== undefined) subscription.noLocal = options.nl;
      if (options?.rap !== undefined) subscription.retainAsPublished = options.rap;
      if (options?.rh !== undefined) subscription.retainHandling = options.rh;
      subscriptions.push(subscription);
    }
    const packetId = this.allocatePacketId();
    const packet: PendingRequest['packet'] = { type: 'subscribe', packetId, subscriptions };
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
    const packet: PendingRequest['packet'] = { type: 'unsubscribe', packetId: this.allocatePacketId(), topicFilters };
    if (options?.properties) packet.properties = options.properties;
    return this.track(packet);
  }

  /** Registers a SUBSCRIBE/UNSUBSCRIBE; it is sent now if connected, else when the connection is made. */
  private track(packet: PendingRequest['packet']): Promise<number[]> {
    return new Promise((resolve, reject) => {
      this.requests.set(packet.packetId, { packet, internal: undefined, resolve, reject });
      const conn = this.conn;
      if (conn?.connected) this.sendPacket(conn, packet);
    });
  }

  private onSubscriptionAck(packetId: number, reasonCodes: number[]): void {
    const request = this.requests.get(packetId);
    if (!request) return;
    this.requests.delete(packetId);
    const packet = request.packet;
    if (packet.type === 'subscribe') {
      packet.subscriptions.forEach((subscription, i) => {
        const code = reasonCodes[i] ?? 0x80;
        if (code < 0x80) this.subscriptions.set(subscription.topicFilter, { subscription, properties: packet.properties });
      });
      if (request.internal) this.onResubscribed(request.internal, packet.subscriptions, reasonCodes);
    } else {
      for (const filter of packet.topicFilters) this.subscriptions.delete(filter);
    }
    request.resolve?.(reasonCodes);
    this.checkIdle();
  }

  /** Reports a resubscription once every SUBACK of it arrived; a refused filter is no longer a subscription. */
  private onResubscribed(round: Resubscription, subscriptions: Subscription[], reasonCodes: number[]): void {
    subscriptions.forEach(({ topicFilter }, i) => {
      const reasonCode = reasonCodes[i] ?? 0x80;
      round.results.push({ topicFilter, reasonCode });
      if (reasonCode < 0x80) return;
      this.subscriptions.delete(topicFilter);
      this.emitError(new ResubscribeError(topicFilter, reasonCode, this.protocolVersion));
    });
    if (--round.unanswered === 0) this.emit('resubscribe', round.results);
  }

  /** After a connection without a session: the known subscriptions again, grouped by their properties. */
  private resubscribe(conn: Connection): void {
    const groups = new Map<Properties | undefined, Subscription[]>();
    for (const { subscription, properties } of this.subscriptions.values()) {
      const group = groups.get(properties);
      if (group) group.push(subscription);
      else groups.set(properties, [subscription]);
    }
    const round: Resubscription = { unanswered: groups.size, results: [] };
    for (const [properties, subscriptions] of groups) {
      const packet: PendingRequest['packet'] = { type: 'subscribe', packetId: this.allocatePacketId(), subscriptions };
      if (properties) packet.properties = properties;
      this.requests.set(packet.packetId, { packet, internal: round, resolve: undefined, reject: undefined });
      this.sendPacket(conn, packet);
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Receiving

  /**
   * Received messages whose topic matches `filter`, as an async iterator (`for await`). It filters locally: it does
   * not subscribe. The QoS 1/2 acknowledgement of a message is sent when the loop takes it, so the broker's flow
   * control bounds what waits here. Leaving the loop stops the iterator; ending the client finishes it.
   */
  messages(filter: string): AsyncIterableIterator<PublishPacket> {
    const error = validateTopicFilter(filter);
    if (error) throw new InvalidOptionError(error.message, error.reasonCode);
    const iterator = new MessageIterator(this, filter);
    if (this.ending) iterator.close();
    else this.iterators.add(iterator);
    return iterator;
  }

  /** @internal */
  removeIterator(iterator: MessageIterator): void {
    this.iterators.delete(iterator);
  }

  /** @internal Every iterator that buffered the message has handed it over: acknowledge it, in arrival order. */
  releaseAck(ack: DeferredAck): void {
    if (--ack.refs > 0) return;
    const conn = this.conn;
    if (ack.connection === conn && conn) this.flushAcks(conn);
    // From an earlier connection: a QoS 2 packet id belongs to the session and is answered now; a QoS 1 message
    // will come again (DUP) if the session lives on, so its stale PUBACK is not sent.
    else if (ack.packet.qos === 2) this.acknowledge(ack.packet);
  }

  /** Sends the acknowledgements that are due, up to the first message an iterator still holds (MQTT-4.6.0-2/3). */
  private flushAcks(conn: Connection): void {
    for (let head = conn.acks.peek(); head && head.refs === 0; head = conn.acks.peek()) {
      conn.acks.shift();
      this.acknowledge(head.packet);
    }
  }

  private onPublish(conn: Connection, packet: PublishPacket): void {
    const alias = packet.properties?.topicAlias;
    if (alias !== undefined) {
      if (alias === 0 || alias > (this.options.properties?.topicAliasMaximum ?? 0)) {
        this.protocolViolation(conn, 0x94, `topic alias ${alias} out of range`);
        return;
      }
      if (packet.topic.length > 0) conn.aliasIn.set(alias, packet.topic);
      else {
        const topic = conn.aliasIn.get(alias);
        if (topic === undefined) {
          this.protocolViolation(conn, 0x82, `unknown topic alias ${alias}`);
          return;
        }
        packet.topic = topic;
      }
    }
    if (packet.qos === 2) {
      const id = packet.packetId!;
      const state = this.incomingQos2.get(id);
      if (state !== undefined) {
        // A resent message we already have: never deliver it twice; answer again if we had answered.
        if (state) this.sendPacket(conn, { type: 'pubrec', packetId: id });
        return;
      }
      this.incomingQos2.set(id, false);
    }
    // A response to request() belongs to that request alone, also when it comes too late for it.
    const response = packet.topic === this.responseTopic;
    if (response) this.responses.resolve(packet);
    else this.emit('message', packet.topic, packet.payload, packet);
    if (this.iterators.size === 0 && conn.acks.length === 0) {
      if (packet.qos > 0) this.acknowledge(packet);
      return;
    }
    // Held acknowledgements keep their order: this one queues behind them (one reference is ours until the end).
    let ack: DeferredAck | undefined;
    if (packet.qos > 0) {
      ack = { packet, refs: 1, connection: conn };
      conn.acks.push(ack);
    }
    if (!response) for (const iterator of this.iterators) if (iterator.accepts(packet.topic)) iterator.push(packet, ack);
    if (ack) this.releaseAck(ack);
  }

  /** Sends PUBACK or PUBREC for a received message (on the current connection; if lost, the broker resends). */
  private acknowledge(packet: PublishPacket): void {
    const packetId = packet.packetId!;
    if (packet.qos === 2) {
      if (!this.incomingQos2.has(packetId)) return;
      this.incomingQos2.set(packetId, true);
    }
    const conn = this.conn;
    if (!conn?.connected) return;
    this.sendPacket(conn, { type: packet.qos === 1 ? 'puback' : 'pubrec', packetId });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Request / response (MQTT 5)

  /**
   * Publishes a request with a Response Topic and Correlation Data and resolves with the matching response.
   * The client subscribes to its response topic on first use. Rejects with TimeoutError after `timeout` ms.
   */
  async request(topic: string, payload: Payload, options: RequestOptions = {}): Promise<PublishPacket> {
    if (this.protocolVersion !== 5) throw new InvalidOptionError('request/response needs MQTT 5 (protocolVersion: 5)');
    if (this.ending) throw new ClientClosedError();
    if (!this.responseTopic) {
      this.responseTopic = `culex/response/${randomHex(12)}`;
      this.responseSubscription = this.subscribe(this.responseTopic, { qos: 1 });
    }
    await this.responseSubscription;
    const { correlationData, response } = this.responses.open(options.timeout ?? 10_000);
    const properties: Properties = { ...options.properties, responseTopic: this.responseTopic, correlationData };
    try {
      await this.publish(topic, payload, { qos: options.qos ?? 1, retain: options.retain ?? false, properties });
    } catch (error) {
      this.responses.reject(correlationData, error as Error);
    }
    return response;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Enhanced authentication (MQTT 5)

  /** Starts MQTT 5 re-authentication; resolves when the broker answers AUTH Success. */
  reauthenticate(authenticationData?: Uint8Array): Promise<void> {
    const conn = this.conn;
    const method = this.options.authenticationMethod;
    if (this.protocolVersion !== 5 || !method) {
      return Promise.reject(new InvalidOptionError('re-authentication needs MQTT 5 and authenticationMethod'));
    }
    if (!conn?.connected) return Promise.reject(new ConnectionLostError('not connected'));
    if (conn.reauth) return Promise.reject(new InvalidOptionError('re-authentication already in progress'));
    return new Promise((resolve, reject) => {
      conn.reauth = { resolve, reject };
      const properties: Properties = { authenticationMethod: method };
      if (authenticationData) properties.authenticationData = authenticationData;
      this.sendPacket(conn, { type: 'auth', reasonCode: 0x19, properties });
    });
  }

  private async onAuth(conn: Connection, packet: AuthPacket): Promise<void> {
    const method = this.options.authenticationMethod;
    if (packet.reasonCode === 0x00) {
      await this.onReauthSuccess(conn, packet);
      return;
    }
    if (packet.reasonCode !== 0x18 || !method || !this.options.onAuth ||
      packet.properties?.authenticationMethod !== method) {
      this.protocolViolation(conn, 0x82, 'unexpected AUTH packet');
      return;
    }
    try {
      const answer = await this.options.onAuth(packet);
      if (conn.closed) return;
      const properties: Properties = { ...answer.properties, authenticationMethod: method };
      if (answer.authenticationData) properties.authenticationData = answer.authenticationData;
      this.sendPacket(conn, { type: 'auth', reasonCode: 0x18, properties });
    } catch (error) {
      this.emitError(error as Error);
      this.protocolViolation(conn, 0x87, 'authentication callback failed');
    }
  }

  /** AUTH Success ends a re-authentication: it completes once `onAuthSuccess` accepts its data. */
  private async onReauthSuccess(conn: Connection, packet: AuthPacket): Promise<void> {
    if (!conn.reauth) return;
    try {
      await this.options.onAuthSuccess?.(packet.properties?.authenticationData);
    } catch (error) {
      // A closed connection has already rejected the re-authentication.
      if (conn.closed) return;
      const reauth = conn.reauth;
      conn.reauth = undefined;
      reauth?.reject(error as Error);
      this.abandon(conn, 0x87, error as Error, true);
      return;
    }
    const reauth = conn.reauth;
    conn.reauth = undefined;
    if (!conn.closed) reauth?.resolve();
  }

  /** Accepts a successful CONNACK of an authenticated connect once `onAuthSuccess` has checked its data. */
  private async verifyConnack(conn: Connection, connack: ConnackPacket, verify: NonNullable<ClientOptions['onAuthSuccess']>): Promise<void> {
    try {
      await verify(connack.properties?.authenticationData);
    } catch (error) {
      this.abandon(conn, 0x87, error as Error, true);
      return;
    } finally {
      if (this.verifying === conn) this.verifying = undefined;
    }
    if (conn.closed) return;
    this.accept(conn, connack);
    // A `connect` listener may have closed it already.
    if (!conn.closed) this.readPackets(conn);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Connection

  /** One connection attempt: dial, CONNECT, wait for CONNACK (and AUTH exchanges). */
  private async connectOnce(): Promise<ConnackPacket> {
    const conn = new Connection(this.protocolVersion, this.options.properties?.maximumPacketSize, this.flushConnection);
    conn.sendQuota = this.options.maxInflight ?? (this.protocolVersion === 5 ? 65535 : DEFAULT_INFLIGHT_3);
    this.conn = conn;
    const timeout = this.options.connectTimeout ?? 30_000;
    const timer = setTimeout(() => this.fail(conn, new TimeoutError(`no CONNACK within ${timeout} ms`)), timeout);
    try {
      const options = this.options;
      // An id the broker assigned is kept for reconnects, so the session can resume.
      const given = options.clientId;
      const keep = given === undefined || (given === '' && this.clientId !== '');
      const idSource = keep ? this.clientId || `culex-${randomHex(8)}` : given;
      // Racing the handshake makes a timeout (or end()) interrupt a hanging credential function or dial.
      const [clientId, username, password, authenticationData] = await Promise.race([
        Promise.all([
          provide(idSource),
          provide(options.username ?? this.urlUsername()),
          provide(options.password ?? this.urlPassword()),
          provide(options.authenticationData),
        ]),
        conn.handshake as Promise<never>,
      ]);
      const connect = encode(this.connectPacket(clientId, username, password, authenticationData), this.protocolVersion);
      const dialing = this.dial(this.url, options);
      dialing.then((late) => conn.closed && late.destroy(), ignore);
      const stream = await Promise.race([dialing, conn.handshake as Promise<never>]);
      if (conn.closed) {
        stream.destroy();
        return await conn.handshake;
      }
      conn.stream = stream;
      stream.start({
        data: (chunk) => this.onData(conn, chunk),
        drain: () => this.onDrain(conn),
        close: (error) => this.fail(conn, error ?? new ConnectionLostError('connection closed by the broker')),
      });
      this.clientId = clientId;
      this.write(conn, connect, false);
      return await conn.handshake;
    } catch (error) {
      this.fail(conn, error as Error);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Credentials written into the URL (`mqtt://user:secret@host`) stand in for the options. */
  private urlUsername(): string | undefined {
    return this.url.username ? decodeURIComponent(this.url.username) : undefined;
  }

  private urlPassword(): string | undefined {
    return this.url.password ? decodeURIComponent(this.url.password) : undefined;
  }

  private connectPacket(
    clientId: string,
    username: string | undefined,
    password: Payload | undefined,
    authenticationData: Uint8Array | undefined,
  ): ConnectPacket {
    const options = this.options;
    if (this.protocolVersion < 5) {
      if (clientId === '' && (this.protocolVersion === 3 || options.clean === false)) {
        throw new InvalidOptionError('an empty clientId needs clean: true (MQTT 3.1.1) or MQTT 3.1.1 at least');
      }
      if (password !== undefined && username === undefined) {
        throw new InvalidOptionError('MQTT 3.x sends a password only with a username');
      }
    }
    const packet: ConnectPacket = {
      type: 'connect',
      protocolVersion: this.protocolVersion,
      clientId,
      clean: options.clean ?? true,
      keepalive: options.keepalive ?? 60,
    };
    if (username !== undefined) packet.username = username;
    if (password !== undefined) packet.password = toBytes(password);
    const will = options.will;
    if (will) {
      const { topic, qos = 0, retain = false } = will;
      packet.will = { topic, payload: toBytes(will.payload), qos, retain };
      if (will.properties) packet.will.properties = will.properties;
    }
    if (this.protocolVersion === 5) {
      const properties: Properties = { ...options.properties };
      if (options.sessionExpiryInterval !== undefined) properties.sessionExpiryInterval = options.sessionExpiryInterval;
      if (options.authenticationMethod !== undefined) {
        properties.authenticationMethod = options.authenticationMethod;
        if (authenticationData) properties.authenticationData = authenticationData;
      }
      if (Object.keys(properties).length > 0) packet.properties = properties;
    }
    return packet;
  }

  private onConnack(conn: Connection, connack: ConnackPacket): void {
    const properties = connack.properties;
    if (properties?.serverReference !== undefined) {
      this.serverReference = properties.serverReference;
      if (this.options.followServerReference) this.follow(properties.serverReference);
    }
    if (connack.reasonCode !== 0) {
      this.fail(conn, new ConnectionRefusedError(connack.reasonCode, this.protocolVersion, properties));
      return;
    }
    if (connack.sessionPresent && (this.options.clean ?? true)) {
      // MQTT-3.2.2-4: we asked for a new session; a broker claiming an old one is broken.
      this.protocolViolation(conn, 0x82, 'session present after a clean start', true);
      return;
    }
    const verify = this.options.onAuthSuccess;
    if (verify && this.options.authenticationMethod !== undefined) {
      // Packets after the CONNACK wait until the broker has proved itself.
      this.verifying = conn;
      void this.verifyConnack(conn, connack, verify);
      return;
    }
    this.accept(conn, connack);
  }

  /** The broker accepted us: take its limits, resume or restart the session, and go online. */
  private accept(conn: Connection, connack: ConnackPacket): void {
    const properties = connack.properties;
    conn.connected = true;
    conn.acceptedAt = monotonicNow();
    this.connack = connack;
    if (properties) {
      if (properties.receiveMaximum !== undefined) conn.sendQuota = Math.min(conn.sendQuota, properties.receiveMaximum);
      if (properties.maximumPacketSize !== undefined) conn.maxPacketSize = properties.maximumPacketSize;
      if (properties.maximumQoS !== undefined) conn.maxQoS = properties.maximumQoS;
      if (properties.retainAvailable !== undefined) conn.retainAvailable = properties.retainAvailable;
      if (properties.topicAliasMaximum !== undefined && this.options.autoTopicAlias !== false) {
        conn.aliasMax = properties.topicAliasMaximum;
      }
      if (properties.assignedClientIdentifier !== undefined) this.clientId = properties.assignedClientIdentifier;
    }
    this.startKeepalive(conn, properties?.serverKeepAlive ?? this.options.keepalive ?? 60);
    this.scheduleRenewal(conn, this.options.credentialsExpireAt?.());

    for (const [id, request] of this.requests) if (request.internal) this.requests.delete(id);
    const resend = [...this.inflight.values()].sort((a, b) => a.message.id - b.message.id);
    if (connack.sessionPresent) {
      // The broker still has our session: finish the interrupted flows under their packet ids.
      for (const outgoing of resend) {
        const message = outgoing.message;
        if (message.released) this.sendPacket(conn, { type: 'pubrel', packetId: message.packetId! });
        else this.sendPublish(conn, message, true);
      }
    } else {
      // A new session: nothing the broker had is left. Subscribe again and send unfinished messages as new ones.
      // A message the broker answered with PUBREC is already its own: only its packet id is left to release.
      this.incomingQos2.clear();
      this.retiredIds.clear();
      const again: Outgoing[] = [];
      for (const outgoing of resend) {
        if (outgoing.message.released) {
          this.storeDelete(outgoing.message.id);
          outgoing.resolve?.(undefined);
          continue;
        }
        delete outgoing.message.packetId;
        this.storePut(outgoing.message as StoredMessage);
        again.push(outgoing);
      }
      this.inflight.clear();
      this.waiting.unshiftAll(again);
      if (this.options.resubscribe !== false) this.resubscribe(conn);
    }
    for (const request of this.requests.values()) if (!request.internal) this.sendPacket(conn, request.packet);
    this.pump();
    conn.settleHandshake.resolve(connack);
    this.emit('connect', connack);
  }

  private onData(conn: Connection, chunk: Uint8Array): void {
    if (conn.closed) return;
    conn.lastReceived = monotonicNow();
    conn.parser.push(chunk);
    if (this.verifying !== conn) this.readPackets(conn);
  }

  /** Handles the packets parsed so far, stopping while a CONNACK's authentication is being checked. */
  private readPackets(conn: Connection): void {
    const parser = conn.parser;
    let answers = 0;
    let messages = false;
    for (;;) {
      let packet: Packet | null;
      try {
        packet = parser.next();
      } catch (error) {
        const code = error instanceof PacketError ? error.reasonCode : 0x81;
        this.protocolViolation(conn, code, (error as Error).message);
        return;
      }
      if (packet === null) {
        // Answers that arrived may release publishes held for a batch.
        if (conn.held > 0) this.scheduleFlush(conn);
        this.gatherAnswers(conn, answers, messages);
        return;
      }
      if (packet.type === 'puback' || packet.type === 'pubcomp') answers++;
      else if (packet.type === 'publish') messages = true;
      this.handle(conn, packet);
      if (conn.closed || this.verifying === conn) return;
    }
  }

  /**
   * After a read that brought answers to our publishes and nothing else, while many are in flight: reading pauses
   * for HOLD_MS so that the next answers are read together, instead of waking the process for every one or two (a
   * broker may send each PUBACK in its own segment). Per QoS 1 publish, that wake-up and read cost more than all
   * the JavaScript (docs/benchmarks.md, "Client optimisations"). No pause with few in flight (a lone publish is
   * answered at once), nor again right after a pause that gathered few: the broker may be holding its answers back
   * until our TCP acknowledgement (Nagle's algorithm, Mosquitto's default), which rides on our next write.
   */
  private gatherAnswers(conn: Connection, answers: number, messages: boolean): void {
    const resumed = conn.resumed;
    conn.resumed = false;
    if (answers === 0 || messages) return;
    if (resumed && answers * COALESCE < GATHER_MIN) {
      // The publishes these answers release go at once, and our TCP acknowledgement with them.
      conn.urgent = true;
      return;
    }
    const stream = conn.stream;
    if (this.inflight.size + answers < GATHER_MIN || conn.readTimer !== undefined || !stream?.pausesAtOnce) return;
    stream.pause();
    conn.readTimer = setTimeout(conn.resumeReading, HOLD_MS);
  }

  private handle(conn: Connection, packet: Packet): void {
    if (!conn.connected && packet.type !== 'connack' && packet.type !== 'auth' && packet.type !== 'disconnect') {
      this.protocolViolation(conn, 0x82, `${packet.type} before CONNACK`);
      return;
    }
    switch (packet.type) {
      case 'connack':
        if (conn.connected) this.protocolViolation(conn, 0x82, 'second CONNACK');
        else this.onConnack(conn, packet);
        return;
      case 'publish':
        this.onPublish(conn, packet);
        return;
      case 'puback':
      case 'pubcomp': {
        const outgoing = this.inflight.get(packet.packetId);
        if (!outgoing || (outgoing.message.qos === 1) !== (packet.type === 'puback')) return;
        this.complete(outgoing, packet);
        return;
      }
      case 'pubrec': {
        const outgoing = this.inflight.get(packet.packetId);
        if (!outgoing || outgoing.message.qos !== 2) {
          const pubrel: Packet = { type: 'pubrel', packetId: packet.packetId };
          if (this.protocolVersion === 5) pubrel.reasonCode = 0x92;
          this.sendPacket(conn, pubrel);
          return;
        }
        if ((packet.reasonCode ?? 0) >= 0x80) {
          this.complete(outgoing, packet);
          return;
        }
        if (!outgoing.message.released) {
          outgoing.message.released = true;
          this.storePut(outgoing.message as StoredMessage);
        }
        this.sendPacket(conn, { type: 'pubrel', packetId: packet.packetId });
        return;
      }
      case 'pubrel': {
        const pubcomp: Packet = { type: 'pubcomp', packetId: packet.packetId };
        if (!this.incomingQos2.delete(packet.packetId) && this.protocolVersion === 5) pubcomp.reasonCode = 0x92;
        this.sendPacket(conn, pubcomp);
        return;
      }
      case 'suback':
      case 'unsuback':
        this.onSubscriptionAck(packet.packetId, packet.reasonCodes);
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
        this.fail(conn, new DisconnectedError(packet.reasonCode ?? 0, packet.properties));
        return;
      }
      case 'auth':
        void this.onAuth(conn, packet);
        return;
      default:
        this.protocolViolation(conn, 0x82, `unexpected ${packet.type} from the broker`);
    }
  }

  /** A QoS 1/2 publish finished: PUBACK, PUBCOMP, or a negative PUBREC. */
  private complete(outgoing: Outgoing, ack: Packet & { type: 'puback' | 'pubrec' | 'pubcomp' }): void {
    const message = outgoing.message;
    this.inflight.delete(ack.packetId);
    this.storeDelete(message.id);
    const code = ack.reasonCode ?? 0;
    // PUBCOMP 0x92 answers a PUBREL resent after the broker had already released the id: after PUBREC the
    // message was the broker's, so the publish succeeded all the same.
    if (code >= 0x80 && ack.type !== 'pubcomp') outgoing.reject?.(new PublishError(code, ack.properties?.reasonString));
    else outgoing.resolve?.(ack.type === 'pubrec' ? undefined : ack);
    this.pump();
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

  /** Closes the connection after a protocol error by the broker, telling it why (MQTT 5) once it accepted us. */
  private protocolViolation(conn: Connection, reasonCode: number, message: string, accepted = conn.connected): void {
    this.abandon(conn, reasonCode, new ConnectionLostError(message, reasonCode), accepted);
  }

  /** Writes DISCONNECT at once; nothing may follow it on this connection (MQTT-3.14.4-1). */
  private sendDisconnect(conn: Connection, disconnect: DisconnectPacket): void {
    this.sendPacket(conn, disconnect);
    conn.sealed = true;
    conn.flush();
  }

  /** Leaves the broker with `error`, sending DISCONNECT with `reasonCode` first (MQTT 5) if it accepted us. */
  private abandon(conn: Connection, reasonCode: number, error: Error, accepted: boolean): void {
    if (accepted && this.protocolVersion === 5) this.sendDisconnect(conn, { type: 'disconnect', reasonCode });
    this.fail(conn, error);
  }

  /** Ends one connection (once); if it was established, the client goes offline and reconnects or ends. */
  private fail(conn: Connection, error: Error): void {
    if (conn.closed) return;
    conn.closed = true;
    conn.markClosed();
    conn.cancelKeepalive?.();
    if (conn.holdTimer !== undefined) clearTimeout(conn.holdTimer);
    if (conn.readTimer !== undefined) clearTimeout(conn.readTimer);
    if (conn.renewTimer !== undefined) clearTimeout(conn.renewTimer);
    conn.stream?.destroy();
    conn.settleHandshake.reject(error);
    conn.reauth?.reject(error);
    for (const waiter of conn.drainWaiters) waiter();
    conn.drainWaiters = [];
    if (!conn.connected) return;
    conn.connected = false;
    this.lastError = error;
    this.emit('close', error);
    this.emit('offline');
    this.checkIdle();
    if (this.ending) return;
    if (!conn.renewing) this.countLoss(conn);
    if (conn.renewing) this.attemptReconnect();
    else if (this.reconnectOptions) this.scheduleReconnect();
    else void this.shutdown(new ClientClosedError('connection lost', error));
  }

  /**
   * A connection the broker dropped: the back-off starts over only after one that stayed up a while, and the
   * oldest message awaiting its acknowledgement (brokers answer in order: the likeliest cause) loses an attempt.
   */
  private countLoss(conn: Connection): void {
    const resetAfter = this.reconnectOptions?.resetAfter ?? 0;
    if (monotonicNow() - conn.acceptedAt >= resetAfter) this.reconnectAttempt = 0;
    let oldest: Outgoing | undefined;
    for (const outgoing of this.inflight.values()) {
      if (outgoing.message.released) continue;
      if (!oldest || outgoing.message.id < oldest.message.id) oldest = outgoing;
    }
    if (!oldest || ++oldest.losses < this.maxDeliveryAttempts) return;
    const message = oldest.message;
    this.inflight.delete(message.packetId!);
    this.retiredIds.add(message.packetId!);
    this.storeDelete(message.id);
    oldest.reject?.(new DeliveryError(oldest.losses, message.payload.length));
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

  private emitError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Credential renewal

  private scheduleRenewal(conn: Connection, expiresAt: number | undefined): void {
    const delay = renewalDelay(expiresAt, Date.now(), this.options.renewBefore);
    if (delay === undefined) return;
    // A renewal further away than a timer can wait is reached in steps.
    const step = Math.min(delay, MAX_TIMER_MS);
    conn.renewTimer = setTimeout(() => {
      conn.renewTimer = undefined;
      if (step < delay) this.scheduleRenewal(conn, expiresAt);
      else this.renew(conn);
    }, step);
    conn.renewTimer.unref?.();
  }

  /** Leaves the broker cleanly (DISCONNECT, so no will) and connects again at once with fresh credentials. */
  private renew(conn: Connection): void {
    if (conn !== this.conn || !conn.connected || this.ending) return;
    conn.renewing = true;
    this.sendDisconnect(conn, { type: 'disconnect', reasonCode: 0 });
    this.fail(conn, new ConnectionLostError('reconnecting to renew credentials', 0));
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Keepalive

  private startKeepalive(conn: Connection, seconds: number): void {
    if (seconds <= 0) return;
    conn.keepaliveMs = seconds * 1000;
    conn.lastReceived = conn.lastSent = monotonicNow();
    conn.cancelKeepalive = this.timers.schedule(() => this.keepaliveCheck(conn), conn.keepaliveMs);
  }

  /**
   * Keepalive is timed from what arrives, so that a dead path is noticed however much the application writes
   * into it: PINGREQ when nothing has arrived for a keepalive period (or nothing was sent for one, MQTT-3.1.2-23),
   * and the connection is dead when nothing has arrived for 1.5 periods, the bound a broker applies to us.
   */
  private keepaliveCheck(conn: Connection): void {
    conn.cancelKeepalive = undefined;
    if (conn.closed) return;
    const period = conn.keepaliveMs;
    const now = monotonicNow();
    const silent = now - conn.lastReceived;
    if (silent >= period * 1.5) {
      const error = new ConnectionLostError(
        `nothing received from the broker for ${(silent / 1000).toFixed(1)} s (keepalive ${period / 1000} s)`, 0x8d);
      this.abandon(conn, 0x8d, error, true);
      return;
    }
    // A PINGREQ is unanswered while nothing arrived since it went.
    let pinging = conn.pingSent >= conn.lastReceived;
    if (!pinging && (silent >= period || now - conn.lastSent >= period)) {
      this.sendPacket(conn, { type: 'pingreq' });
      conn.pingSent = conn.lastSent = now;
      pinging = true;
    }
    let next = Math.min(conn.lastReceived + period * 1.5, conn.lastSent + period);
    if (!pinging) next = Math.min(next, conn.lastReceived + period);
    // Timers may fire a little early; a short floor keeps that from spinning.
    conn.cancelKeepalive = this.timers.schedule(() => this.keepaliveCheck(conn), Math.max(next - now, 10));
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Writing

  private sendPacket(conn: Connection, packet: Packet): void {
    this.write(conn, encode(packet, this.protocolVersion), false);
  }

  /**
   * Queues one encoded packet (`tail`: its payload, when written apart); everything queued in one task goes out in
   * a single write. `publish` marks a QoS 1/2 PUBLISH, which may wait for a bigger batch (see flushConnection).
   */
  private write(conn: Connection, bytes: Uint8Array, publish: boolean, tail?: Uint8Array): void {
    if (conn.sealed) return;
    conn.out.push(bytes);
    if (tail) conn.out.push(tail);
    if (publish) conn.held++;
    else conn.urgent = true;
    this.scheduleFlush(conn);
  }

  private scheduleFlush(conn: Connection): void {
    if (conn.flushScheduled) return;
    conn.flushScheduled = true;
    atTickEnd(conn.flush);
  }

  /**
   * Writes what was queued. QoS 1/2 PUBLISHes wait while they are few next to those already sent and unanswered:
   * those answers are on their way, and each arriving read releases a bigger batch. One system call then carries
   * dozens of publishes instead of one or two (docs/benchmarks.md, "Client optimisations"). A publish goes at
   * once when nothing is awaiting an answer, so a lone publish is never delayed, and a held one goes after HOLD_MS
   * at the latest (a slow or distant broker's answers do not hold it back for a round trip).
   */
  private readonly flushConnection = (conn: Connection): void => {
    conn.flushScheduled = false;
    const chunks = conn.out;
    if (chunks.length === 0) return;
    if (!conn.urgent && conn.held * COALESCE < this.inflight.size - conn.held) {
      conn.holdTimer ??= setTimeout(conn.release, HOLD_MS);
      return;
    }
    if (conn.holdTimer !== undefined) {
      clearTimeout(conn.holdTimer);
      conn.holdTimer = undefined;
    }
    conn.out = [];
    conn.held = 0;
    conn.urgent = false;
    if (conn.closed || !conn.stream) return;
    conn.lastSent = monotonicNow();
    conn.writable = conn.stream.write(chunks);
  };

  private onDrain(conn: Connection): void {
    conn.writable = true;
    const waiters = conn.drainWaiters;
    conn.drainWaiters = [];
    for (const waiter of waiters) waiter();
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

  private storeDelete(id: number): void {
    const result = this.store.delete(id);
    if (result) result.then(undefined, this.onStoreError);
  }

  private readonly onStoreError = (error: Error): void => this.emitError(error);

  // ---------------------------------------------------------------------------------------------------------------
  // Ending

  private checkIdle(): void {
    if (this.idleWaiters.length === 0) return;
    if (this.conn?.connected && (this.inflight.size > 0 || this.waiting.length > 0 || this.requests.size > 0)) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const waiter of waiters) waiter();
  }

  /**
   * Ends the client: waits (up to `endTimeout`) for in-flight and queued messages while connected, sends
   * DISCONNECT and closes. With `force` it closes at once. Every pending operation settles; unfinished outgoing
   * QoS 1/2 messages stay in the store for a later client.
   */
  end(options: EndOptions = {}): Promise<void> {
    if (options.force && this.ending && !this.ended) {
      const conn = this.conn;
      if (conn) this.fail(conn, new ClientClosedError());
      this.checkIdleNow();
    }
    this.ending ??= this.close(options);
    return this.ending;
  }

  private checkIdleNow(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const waiter of waiters) waiter();
  }

  private async close(options: EndOptions): Promise<void> {
    this.cancelReconnect?.();
    this.cancelReconnect = undefined;
    const conn = this.conn;
    if (conn && !options.force && conn.connected) {
      await this.whenIdle(this.options.endTimeout ?? 10_000);
      if (conn.connected && !conn.closed) {
        const disconnect: DisconnectPacket = { type: 'disconnect' };
        if (this.protocolVersion === 5) {
          if (options.reasonCode !== undefined) disconnect.reasonCode = options.reasonCode;
          if (options.properties) disconnect.properties = options.properties;
        }
        this.sendDisconnect(conn, disconnect);
        conn.stream?.end();
        // The broker closes after DISCONNECT; do not wait for it long.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([conn.closedPromise, new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)))]);
        clearTimeout(timer);
      }
    }
    if (conn) this.fail(conn, new ClientClosedError());
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

  /** Settles everything still pending with `error` and releases the store. */
  private async shutdown(error: Error): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.ending ??= Promise.resolve();
    this.cancelReconnect?.();
    this.cancelReconnect = undefined;
    if (this.conn) this.fail(this.conn, error);
    const inflight = [...this.inflight.values()];
    this.inflight.clear();
    for (const outgoing of [...inflight, ...this.waiting.drain()]) outgoing.reject?.(error);
    const requests = [...this.requests.values()];
    this.requests.clear();
    for (const request of requests) request.reject?.(error);
    this.responses.rejectAll(error);
    for (const iterator of [...this.iterators]) iterator.close();
    this.checkIdleNow();
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
