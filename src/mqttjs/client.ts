/**
 * MQTT.js's `MqttClient` on Culex's client: the same methods (callbacks and `*Async`), events, fields and packet
 * shapes, while flow control, back-off, resending and the store are Culex's. Each start makes one Culex client
 * (`inner`); a refused CONNACK, `end()` or a lost connection without reconnect ends it, and `reconnect()` makes
 * the next one, as MQTT.js lets a client be reconnected after it stopped.
 */
import { EventEmitter } from 'node:events';
import {
  ConnectionRefusedError,
  createClient,
  MqttClientError,
  ResubscribeError,
  type MqttClient as CulexClient,
  type PublishPacket,
  type SubscribeOptions,
} from '../client/index.js';
import { fromMqttJsProperties, toMqttJsPacket, toMqttJsProperties } from './packets.js';
import type { ResolvedOptions } from './options.js';
import type {
  ClientSubscribeCallback,
  DoneCallback,
  IClientOptions,
  IClientPublishOptions,
  IClientSubscribeOptions,
  IClientSubscribeProperties,
  IClientUnsubscribeProperties,
  IConnackPacket,
  IDisconnectPacket,
  IPublishPacket,
  ISubscriptionGrant,
  ISubscriptionMap,
  MqttClientEventCallbacks,
  MqttJsProperties,
  Packet,
  PacketCallback,
} from './types.js';

/** One filter to subscribe to, with the options that apply to it. */
type SubscriptionRequest = Partial<IClientSubscribeOptions> & { topic: string };

/** An error with the MQTT reason code (or CONNACK return code) as `code`, as MQTT.js reports them. */
export class ErrorWithReasonCode extends Error {
  override name = 'ErrorWithReasonCode';
  constructor(
    message: string,
    readonly code: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Culex's error as MQTT.js would give it: with the reason code as `code`. */
function compatible(error: Error): Error {
  if (error instanceof MqttClientError && error.reasonCode !== undefined) {
    return new ErrorWithReasonCode(error.message, error.reasonCode, { cause: error });
  }
  return error;
}

/** Calls a program's callback outside the promise machinery, so that what it throws is not a rejection. */
function settle<T>(promise: Promise<T>, callback: ((error: Error | null, value?: T) => void) | undefined): void {
  promise.then(
    (value) => callback && process.nextTick(callback, null, value),
    (error: Error) => callback && process.nextTick(callback, error),
  );
}

export interface MqttClient {
  on<K extends keyof MqttClientEventCallbacks>(event: K, listener: MqttClientEventCallbacks[K]): this;
  once<K extends keyof MqttClientEventCallbacks>(event: K, listener: MqttClientEventCallbacks[K]): this;
  off<K extends keyof MqttClientEventCallbacks>(event: K, listener: MqttClientEventCallbacks[K]): this;
  addListener<K extends keyof MqttClientEventCallbacks>(event: K, listener: MqttClientEventCallbacks[K]): this;
  removeListener<K extends keyof MqttClientEventCallbacks>(event: K, listener: MqttClientEventCallbacks[K]): this;
  prependListener<K extends keyof MqttClientEventCallbacks>(event: K, listener: MqttClientEventCallbacks[K]): this;
  emit<K extends keyof MqttClientEventCallbacks>(event: K, ...args: Parameters<MqttClientEventCallbacks[K]>): boolean;
}

/** An MQTT.js-compatible client; `connect(url, options)` makes one. */
export class MqttClient extends EventEmitter {
  /** MQTT.js's options with its defaults filled in. */
  readonly options: ResolvedOptions['mqttjs'];
  /** Between a lost connection (or a failed attempt) and the next accepted one. */
  reconnecting = false;
  /** `end()` was called (and `reconnect()` was not called since). */
  disconnecting = false;
  /** `end()` has finished. */
  disconnected = false;
  /** The last CONNACK's properties (MQTT 5). */
  serverProperties: MqttJsProperties | undefined;

  private readonly url: URL;
  private readonly culexOptions: ResolvedOptions['culex'];
  private inner: CulexClient | undefined;
  /** Operations made while no Culex client runs (`manualConnect`, after a refusal): run by the next one. */
  private waiting: Array<(inner: CulexClient) => void> = [];
  private endCallbacks: DoneCallback[] = [];

  constructor(resolved: ResolvedOptions) {
    super();
    this.url = resolved.url;
    this.culexOptions = resolved.culex;
    this.options = resolved.mqttjs;
    if (!this.options.manualConnect) this.connect();
  }

  /** Whether a connection is established right now. */
  get connected(): boolean {
    return this.inner?.connected === true;
  }

  /** Starts connecting (MQTT.js does this in `mqtt.connect` unless `manualConnect`). */
  connect(): this {
    if (this.inner) return this;
    const inner = createClient(this.url, this.culexOptions);
    this.inner = inner;
    this.listen(inner);
    const waiting = this.waiting;
    this.waiting = [];
    for (const run of waiting) run(inner);
    return this;
  }

  private listen(inner: CulexClient): void {
    const version = this.options.protocolVersion;
    const current = (): boolean => inner === this.inner;
    /** The first attempt and those after a `reconnect` event, until one is accepted. */
    let attempting = true;
    inner.on('connect', (connack) => {
      if (!current()) return;
      attempting = false;
      this.reconnecting = false;
      this.serverProperties = toMqttJsProperties(connack.properties);
      this.emit('connect', toMqttJsPacket(connack, version) as IConnackPacket);
    });
    inner.on('reconnect', () => {
      if (!current()) return;
      attempting = true;
      this.reconnecting = true;
      this.emit('reconnect');
    });
    // MQTT.js says `offline` (when it will reconnect) before `close`; Culex's client the other way round.
    inner.on('close', () => {
      if (!current()) return;
      if (!this.disconnecting && this.options.reconnectPeriod > 0) this.goOffline();
      this.emit('close');
    });
    inner.on('error', (error) => {
      if (!current()) return;
      const failedAttempt = attempting && !(error instanceof ResubscribeError);
      this.report(error);
      if (!failedAttempt) return;
      // As in MQTT.js, every failed attempt closes its stream, and a refusal stops the reconnecting.
      if (error instanceof ConnectionRefusedError && !this.options.reconnectOnConnackError) {
        this.inner = undefined;
        this.reconnecting = false;
        void inner.end({ force: true });
      } else if (this.options.reconnectPeriod > 0) {
        this.goOffline();
      }
      this.emit('close');
    });
    inner.on('disconnect', (packet) => {
      if (current()) this.emit('disconnect', toMqttJsPacket(packet, version) as IDisconnectPacket);
    });
    inner.on('message', (topic, payload, packet) => {
      if (current()) this.emit('message', topic, payload as Buffer, toMqttJsPacket(packet, version) as IPublishPacket);
    });
    inner.on('packetsend', (packet) => {
      if (current() && this.listenerCount('packetsend') > 0) this.emit('packetsend', toMqttJsPacket(packet, version));
    });
    inner.on('packetreceive', (packet) => {
      if (current() && this.listenerCount('packetreceive') > 0) this.emit('packetreceive', toMqttJsPacket(packet, version));
    });
    inner.on('end', () => {
      if (!current()) return;
      // Without `end()`, a lost connection without reconnect: MQTT.js stays usable through `reconnect()`.
      this.inner = undefined;
      if (this.disconnecting) this.finishEnd();
    });
  }

  private goOffline(): void {
    if (this.reconnecting) return;
    this.reconnecting = true;
    this.emit('offline');
  }

  /** Emits `error` when someone listens (an unheard error does not end the process, unlike in MQTT.js). */
  private report(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', compatible(error));
  }

  /** Runs `operation` on the running Culex client, or on the next one to start. */
  private call<T>(operation: (inner: CulexClient) => Promise<T>): Promise<T> {
    if (this.disconnecting) return Promise.reject(new Error('client disconnecting'));
    if (this.inner) return operation(this.inner);
    return new Promise((resolve, reject) => this.waiting.push((inner) => operation(inner).then(resolve, reject)));
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Publishing

  publish(topic: string, message: string | Buffer, callback?: PacketCallback): this;
  publish(topic: string, message: string | Buffer, options?: IClientPublishOptions, callback?: PacketCallback): this;
  publish(topic: string, message: string | Buffer, options?: IClientPublishOptions | PacketCallback, callback?: PacketCallback): this {
    if (typeof options === 'function') [callback, options] = [options, undefined];
    const done = callback;
    settle(this.publishAsync(topic, message, options), done && ((error, packet) => (error ? done(error) : done(undefined, packet))));
    return this;
  }

  /**
   * Publishes; resolves once the QoS flow completes with the PUBLISH as sent (QoS 1 and 2; nothing for QoS 0),
   * rejects with ErrorWithReasonCode on a negative acknowledgement.
   */
  publishAsync(topic: string, message: string | Buffer, options: IClientPublishOptions = {}): Promise<IPublishPacket | undefined> {
    const qos = options.qos ?? 0;
    const retain = options.retain ?? false;
    const publishOptions: { qos: typeof qos; retain: boolean; properties?: ReturnType<typeof fromMqttJsProperties> } = { qos, retain };
    const properties = this.options.protocolVersion === 5 ? fromMqttJsProperties(options.properties) : undefined;
    if (properties) publishOptions.properties = properties;
    return this.call((inner) => inner.publish(topic, message, publishOptions)).then(
      (ack) => {
        if (!ack) return undefined;
        const sent: IPublishPacket = {
          cmd: 'publish',
          topic,
          payload: typeof message === 'string' ? Buffer.from(message) : message,
          qos,
          retain,
          dup: false,
          messageId: ack.packetId,
        };
        if (options.properties) sent.properties = options.properties;
        return sent;
      },
      (error: Error) => Promise.reject(compatible(error)),
    );
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Subscribing

  subscribe(topics: string | string[] | ISubscriptionMap, callback?: ClientSubscribeCallback): this;
  subscribe(topics: string | string[] | ISubscriptionMap, options?: IClientSubscribeOptions | IClientSubscribeProperties, callback?: ClientSubscribeCallback): this;
  subscribe(
    topics: string | string[] | ISubscriptionMap,
    options?: IClientSubscribeOptions | IClientSubscribeProperties | ClientSubscribeCallback,
    callback?: ClientSubscribeCallback,
  ): this {
    if (typeof options === 'function') [callback, options] = [options, undefined];
    const done = callback;
    // MQTT.js hands the grants to the callback with the error of a refused filter.
    this.subscribeGrants(topics, options).then(
      ({ granted, error }) => done && process.nextTick(done, error ?? null, granted),
      (error: Error) => done && process.nextTick(done, error),
    );
    return this;
  }

  /** Subscribes; resolves with `[{ topic, qos }]` (MQTT 5: also `nl`, `rap`, `rh`), rejects if a filter is refused. */
  async subscribeAsync(topics: string | string[] | ISubscriptionMap, options?: IClientSubscribeOptions | IClientSubscribeProperties): Promise<ISubscriptionGrant[]> {
    const { granted, error } = await this.subscribeGrants(topics, options);
    if (error) throw Object.assign(error, { granted });
    return granted;
  }

  /**
   * One SUBSCRIBE per distinct set of options (a map may give each filter its own; Culex's client takes one set per
   * call), the grants in the order the filters were given.
   */
  private async subscribeGrants(
    topics: string | string[] | ISubscriptionMap,
    options: IClientSubscribeOptions | IClientSubscribeProperties | undefined,
  ): Promise<{ granted: ISubscriptionGrant[]; error?: ErrorWithReasonCode }> {
    // As in MQTT.js, a map's filters take their own options only (and the common properties), and their grants
    // repeat only the options given.
    const common = { qos: 0 as const, ...(this.options.protocolVersion === 5 ? { nl: false, rap: false, rh: 0 } : {}), ...options };
    const requests: SubscriptionRequest[] = typeof topics === 'string'
      ? [{ ...common, topic: topics }]
      : Array.isArray(topics)
        ? topics.map((topic) => ({ ...common, topic }))
        : Object.entries(topics).map(([topic, own]) => ({ properties: options?.properties, ...own, topic }));
    if (requests.length === 0) return { granted: [] };
    const v5 = this.options.protocolVersion === 5;
    const groups = new Map<string, { options: SubscribeOptions; topics: string[] }>();
    for (const request of requests) {
      const chosen: SubscribeOptions = { qos: request.qos ?? 0 };
      if (v5) {
        chosen.nl = request.nl ?? false;
        chosen.rap = request.rap ?? false;
        chosen.rh = (request.rh ?? 0) as 0 | 1 | 2;
        const properties = fromMqttJsProperties(request.properties);
        if (properties) chosen.properties = properties;
      }
      const key = JSON.stringify(chosen);
      const group = groups.get(key) ?? { options: chosen, topics: [] };
      group.topics.push(request.topic);
      groups.set(key, group);
    }
    const codes = new Map<string, number>();
    try {
      await Promise.all([...groups.values()].map(async (group) => {
        const granted = await this.call((inner) => inner.subscribe(group.topics, group.options));
        group.topics.forEach((topic, i) => codes.set(topic, granted[i]!));
      }));
    } catch (error) {
      throw compatible(error as Error);
    }
    let error: ErrorWithReasonCode | undefined;
    const granted = requests.map((request): ISubscriptionGrant => {
      const code = codes.get(request.topic)!;
      if (code >= 0x80) error ??= new ErrorWithReasonCode(`Subscribe error: refused with code ${code} (${request.topic})`, code);
      const grant: ISubscriptionGrant = { topic: request.topic, qos: code };
      if (v5) {
        if (request.nl !== undefined) grant.nl = request.nl;
        if (request.rap !== undefined) grant.rap = request.rap;
        if (request.rh !== undefined) grant.rh = request.rh;
      }
      return grant;
    });
    return error ? { granted, error } : { granted };
  }

  unsubscribe(topics: string | string[], callback?: PacketCallback): this;
  unsubscribe(topics: string | string[], options?: IClientUnsubscribeProperties, callback?: PacketCallback): this;
  unsubscribe(topics: string | string[], options?: IClientUnsubscribeProperties | PacketCallback, callback?: PacketCallback): this {
    if (typeof options === 'function') [callback, options] = [options, undefined];
    const done = callback;
    settle(this.unsubscribeAsync(topics, options), done && ((error, packet) => (error ? done(error) : done(undefined, packet))));
    return this;
  }

  /** Unsubscribes; resolves with the UNSUBACK (MQTT 5: its reason codes as `reasonCode`). */
  unsubscribeAsync(topics: string | string[], options: IClientUnsubscribeProperties = {}): Promise<Packet> {
    const properties = this.options.protocolVersion === 5 ? fromMqttJsProperties(options.properties) : undefined;
    const filters = typeof topics === 'string' ? [topics] : topics;
    return this.call((inner) => inner.unsubscribe(filters, properties ? { properties } : undefined)).then(
      (codes) => {
        const unsuback: Packet = { cmd: 'unsuback' };
        if (this.options.protocolVersion === 5) unsuback.reasonCode = codes;
        return unsuback;
      },
      (error: Error) => Promise.reject(compatible(error)),
    );
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Ending and reconnecting

  end(callback?: DoneCallback): this;
  end(force?: boolean, callback?: DoneCallback): this;
  end(options?: Partial<IDisconnectPacket>, callback?: DoneCallback): this;
  end(force?: boolean, options?: Partial<IDisconnectPacket>, callback?: DoneCallback): this;
  end(
    first?: boolean | Partial<IDisconnectPacket> | DoneCallback,
    second?: Partial<IDisconnectPacket> | DoneCallback,
    third?: DoneCallback,
  ): this {
    const args = [first, second, third];
    const force = typeof first === 'boolean' ? first : false;
    const disconnect = args.find((arg): arg is Partial<IDisconnectPacket> => typeof arg === 'object' && arg !== null);
    const callback = args.find((arg): arg is DoneCallback => typeof arg === 'function');
    if (this.disconnecting) {
      if (callback) {
        if (this.disconnected) process.nextTick(callback);
        else this.endCallbacks.push(callback);
      }
      return this;
    }
    this.disconnecting = true;
    if (callback) this.endCallbacks.push(callback);
    this.waiting = [];
    const inner = this.inner;
    if (!inner) {
      process.nextTick(() => this.finishEnd());
      return this;
    }
    const options: { force: boolean; reasonCode?: number; properties?: ReturnType<typeof fromMqttJsProperties> } = { force };
    if (disconnect?.reasonCode !== undefined) options.reasonCode = disconnect.reasonCode;
    const properties = fromMqttJsProperties(disconnect?.properties);
    if (properties) options.properties = properties;
    inner.end(options).then(undefined, (error: Error) => this.report(error));
    return this;
  }

  endAsync(force?: boolean, options?: Partial<IDisconnectPacket>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.end(force ?? false, options ?? {}, (error) => (error ? reject(error) : resolve()));
    });
  }

  private finishEnd(): void {
    if (this.disconnected) return;
    this.disconnected = true;
    this.reconnecting = false;
    this.emit('end');
    const callbacks = this.endCallbacks;
    this.endCallbacks = [];
    for (const callback of callbacks) callback();
  }

  /**
   * Connects again: at once when the client is waiting to reconnect, or with a fresh start after `end()`, a refused
   * connection or a lost one without reconnect (messages that were pending then have settled already).
   */
  reconnect(): this {
    if (this.inner) {
      this.inner.reconnect();
      return this;
    }
    if (this.disconnecting && !this.disconnected) return this;
    this.disconnecting = false;
    this.disconnected = false;
    return this.connect();
  }
}

export type { IClientOptions };
