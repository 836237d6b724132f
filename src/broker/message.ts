import type { Properties, QoS } from '../packet/index.js';

/** A message as `broker.publish`, `broker.deliverTo` and the publish hook see it. */
export interface PublishMessage {
  topic: string;
  payload: Uint8Array | string;
  qos?: QoS;
  retain?: boolean;
  /**
   * MQTT 5 properties passed on to subscribers (payload format, content type, response topic, correlation data,
   * user properties, message expiry). Topic aliases and subscription identifiers are per connection: ignored here.
   */
  properties?: Properties;
}

/**
 * A message inside the broker: routed once, shared by every subscriber that gets it. Never changed after
 * creation, so the same payload bytes go to every socket.
 */
export interface BrokerMessage {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly qos: QoS;
  readonly retain: boolean;
  /** Pass-through properties, without topic alias, subscription identifiers and message expiry. */
  readonly properties: Properties | undefined;
  /** Epoch milliseconds after which the message is dropped instead of delivered; undefined = never. */
  readonly expiresAt: number | undefined;
  /** Client id of the publisher (for No Local); undefined for messages the broker itself publishes. */
  readonly origin: string | undefined;
  /**
   * The topic in UTF-8, shared by every subscriber's PUBLISH head; undefined when the creator had none at hand (a
   * message recovered from a store): each send then encodes it.
   */
  readonly topicBytes?: Uint8Array | undefined;
  /**
   * When the PUBLISH that carried it was read (a stamp of `BrokerStats.arrival()`), for the delivery-latency metric;
   * 0 or undefined when not timed (only a sample of messages is, and only while metrics are on).
   */
  readonly arrivedAt?: number;
}

const encoder = new TextEncoder();

/**
 * Builds the broker's form of a message: expiry made absolute, per-connection properties removed. `topicBytes`,
 * the topic's UTF-8 form when the caller has it (a publisher's cache), else it is encoded here.
 */
export function createMessage(message: PublishMessage, origin: string | undefined, topicBytes?: Uint8Array, arrivedAt = 0): BrokerMessage {
  const payload = typeof message.payload === 'string' ? encoder.encode(message.payload) : message.payload;
  return brokerMessage(message.topic, payload, message.qos ?? 0, message.retain ?? false, message.properties, origin, topicBytes ?? Buffer.from(message.topic), arrivedAt);
}

/** `createMessage` from the fields of a received PUBLISH, without an intermediate object. */
export function brokerMessage(
  topic: string,
  payload: Uint8Array,
  qos: QoS,
  retain: boolean,
  properties: Properties | undefined,
  origin: string | undefined,
  topicBytes: Uint8Array | undefined,
  arrivedAt = 0,
): BrokerMessage {
  let expiresAt: number | undefined;
  if (properties !== undefined) {
    const expiry = properties.messageExpiryInterval;
    if (expiry !== undefined) expiresAt = Date.now() + expiry * 1000;
    // Copy only when a per-connection property has to go; most messages keep the received object.
    if (expiry !== undefined || properties.topicAlias !== undefined || properties.subscriptionIdentifiers !== undefined) {
      const { topicAlias: _alias, subscriptionIdentifiers: _ids, messageExpiryInterval: _expiry, ...rest } = properties;
      properties = Object.keys(rest).length === 0 ? undefined : rest;
    }
  }
  return { topic, payload, qos, retain, properties, expiresAt, origin, topicBytes, arrivedAt };
}

/** The same message on its own copy of the payload, not a view pinning the whole received chunk (retained). */
export function withOwnPayload(message: BrokerMessage): BrokerMessage {
  const payload = message.payload;
  // Uint8Array's slice copies; a Buffer's own slice (a hook's or an embedder's payload) would be another view.
  return payload.byteLength === payload.buffer.byteLength ? message : { ...message, payload: Uint8Array.prototype.slice.call(payload) };
}

/** Shared by every cache that has seen no topic yet: a connection that never publishes allocates no buffer. */
const NO_BYTES = new Uint8Array(0);

/**
 * The UTF-8 form of the topics one publisher sends, kept for the last topic: publishers mostly repeat theirs, so
 * most messages get their topic bytes without encoding or allocating.
 */
export class TopicBytesCache {
  private topic = '';
  private bytes: Uint8Array = NO_BYTES;

  get(topic: string): Uint8Array {
    if (topic !== this.topic) {
      this.bytes = Buffer.from(topic);
      this.topic = topic;
    }
    return this.bytes;
  }
}

/** Seconds of life left, rounded up, for the Message Expiry Interval sent on; 0 when expired. */
export function remainingExpiry(message: BrokerMessage, now: number): number {
  if (message.expiresAt === undefined) return 0;
  const left = message.expiresAt - now;
  return left <= 0 ? 0 : Math.ceil(left / 1000);
}

/** Memory a decoded user property takes beyond its characters (the pair array and two string headers). */
const PAIR_OVERHEAD = 64;
/** What a message's properties weigh, by properties object: shared by every session the message is queued for. */
const propertyWeights = new WeakMap<Properties, number>();

/**
 * Bytes a queued copy of a message holds, for the queue limits: payload, topic and properties. Properties count
 * at what they cost in memory, not on the wire: 200,000 empty user properties are 1 MB on the wire and far more
 * decoded.
 */
export function messageWeight(message: BrokerMessage): number {
  const properties = message.properties;
  const base = message.payload.length + message.topic.length;
  if (properties === undefined) return base;
  let weight = propertyWeights.get(properties);
  if (weight === undefined) {
    weight = 0;
    for (const key in properties) {
      const value = properties[key as keyof Properties];
      if (typeof value === 'string') weight += value.length;
      else if (value instanceof Uint8Array) weight += value.length;
      else if (Array.isArray(value)) {
        for (const item of value) weight += Array.isArray(item) ? PAIR_OVERHEAD + item[0].length + item[1].length : 8;
      } else weight += 8;
    }
    propertyWeights.set(properties, weight);
  }
  return base + weight;
}
