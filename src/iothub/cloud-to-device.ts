import { randomUUID } from 'node:crypto';
import { CodedError, type KeyValueOp, type KeyValueStore } from '../registry/index.js';
import { KeyedSerializer } from './keyed-serializer.js';

/** A cloud-to-device message waiting in a device's queue. */
export interface CloudMessage {
  deviceId: string;
  messageId: string;
  /** Orders a device's queue. */
  sequence: number;
  correlationId?: string;
  userId?: string;
  contentType?: string;
  contentEncoding?: string;
  /** ISO time after which the message is dropped with an `Expired` outcome. */
  expiryTimeUtc?: string;
  properties: Record<string, string | null>;
  /** Base64 payload. */
  body: string;
  enqueuedTimeUtc: string;
}

export interface CloudMessageInput {
  body?: unknown;
  messageId?: string;
  correlationId?: string;
  userId?: string;
  contentType?: string;
  contentEncoding?: string;
  properties?: Record<string, string | null>;
  expiryTimeUtc?: string;
}

/**
 * The outcome of a message: acknowledged by the device (`Success`), refused by it (`Rejected`, an MQTT 5 PUBACK
 * with a failure code) or dropped unread (`Expired`, `Purged`).
 */
export interface CloudMessageFeedback {
  deviceId: string;
  messageId: string;
  correlationId?: string;
  statusCode: 'Success' | 'Rejected' | 'Expired' | 'Purged';
  description: string;
  originalEnqueuedTimeUtc: string;
  enqueuedTimeUtc: string;
}

export interface CloudToDeviceOptions {
  /** Queue depth per device (IoT Hub allows 50). */
  maxQueuedPerDevice: number;
  /** Outcomes kept for the service to read, newest last. */
  maxFeedback: number;
  /**
   * Hands a message to the device; false when it cannot take it now (offline, not subscribed, session full).
   * After true, `settled` says how it ended: acknowledged, rejected, or dropped (to be handed over again).
   */
  deliver(message: CloudMessage, settled: (outcome: 'acknowledged' | 'rejected' | 'dropped') => void): boolean;
}

const QUEUE = 'c2d/';
const FEEDBACK = 'c2d-feedback/';

function queueKey(message: CloudMessage): string {
  return `${QUEUE}${message.deviceId}/${message.sequence.toString().padStart(16, '0')}`;
}

function bodyBytes(body: unknown): Buffer {
  if (body === undefined || body === null) return Buffer.alloc(0);
  return Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
}

function checkProperties(properties: unknown): Record<string, string | null> {
  if (properties === undefined) return {};
  if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) {
    throw new CodedError(400, 400004, 'ArgumentInvalid', 'properties must be an object of strings');
  }
  for (const [key, value] of Object.entries(properties)) {
    if (value !== null && typeof value !== 'string') throw new CodedError(400, 400004, 'ArgumentInvalid', `property '${key}' must be a string or null`);
  }
  return properties as Record<string, string | null>;
}

/**
 * Durable per-device queues of cloud-to-device messages. A message stays in its queue while the device's session
 * holds it (the broker retransmits it at QoS 1 until the device acknowledges) and leaves it when the device
 * acknowledges or rejects it, or when it expires; the outcome is kept as feedback. A message the session drops
 * unacknowledged (or one in flight when the hub stops) is handed over again later.
 */
export class CloudToDevice {
  private readonly queues = new Map<string, CloudMessage[]>();
  /** Messages handed to a device's session and not yet settled. */
  private readonly handedOver = new WeakSet<CloudMessage>();
  private feedbackLog: CloudMessageFeedback[] = [];
  private nextSequence = 1;
  private nextFeedback = 1;
  private readonly serializer = new KeyedSerializer();

  constructor(
    private readonly store: KeyValueStore,
    private readonly options: CloudToDeviceOptions,
  ) {}

  async load(): Promise<void> {
    for (const [, value] of await this.store.list(QUEUE)) {
      const message = value as CloudMessage;
      const queue = this.queues.get(message.deviceId) ?? [];
      queue.push(message);
      this.queues.set(message.deviceId, queue);
      if (message.sequence >= this.nextSequence) this.nextSequence = message.sequence + 1;
    }
    const feedback = await this.store.list(FEEDBACK);
    this.feedbackLog = feedback.map(([, value]) => value as CloudMessageFeedback);
    const last = feedback[feedback.length - 1];
    if (last !== undefined) this.nextFeedback = Number(last[0].slice(FEEDBACK.length)) + 1;
  }

  /** Messages waiting for a device. */
  queued(deviceId: string): readonly CloudMessage[] {
    return this.queues.get(deviceId) ?? [];
  }

  /** Outcomes, oldest first, optionally of one device or message. */
  feedback(filter: { deviceId?: string; messageId?: string } = {}): CloudMessageFeedback[] {
    return this.feedbackLog.filter(
      (f) => (filter.deviceId === undefined || f.deviceId === filter.deviceId) && (filter.messageId === undefined || f.messageId === filter.messageId),
    );
  }

  /** Queues a message (durably) and tries to deliver it at once. */
  enqueue(deviceId: string, input: CloudMessageInput): Promise<CloudMessage> {
    return this.serializer.run(deviceId, async () => {
      const queue = this.queues.get(deviceId) ?? [];
      const ops: KeyValueOp[] = [];
      this.expire(deviceId, queue, Date.now(), ops);
      if (queue.length >= this.options.maxQueuedPerDevice) {
        throw new CodedError(403, 403004, 'DeviceMaximumQueueDepthExceeded', `the queue of '${deviceId}' holds ${queue.length} messages, its maximum`);
      }
      const message: CloudMessage = {
        deviceId,
        messageId: input.messageId ?? randomUUID(),
        sequence: this.nextSequence++,
        properties: checkProperties(input.properties),
        body: bodyBytes(input.body).toString('base64'),
        enqueuedTimeUtc: new Date().toISOString(),
      };
      for (const field of ['correlationId', 'userId', 'contentType', 'contentEncoding', 'expiryTimeUtc'] as const) {
        const value = input[field];
        if (value === undefined) continue;
        if (typeof value !== 'string') throw new CodedError(400, 400004, 'ArgumentInvalid', `${field} must be a string`);
        message[field] = value;
      }
      if (message.expiryTimeUtc !== undefined && Number.isNaN(Date.parse(message.expiryTimeUtc))) {
        throw new CodedError(400, 400004, 'ArgumentInvalid', 'expiryTimeUtc must be an ISO 8601 time');
      }
      ops.push({ type: 'put', key: queueKey(message), value: message });
      await this.store.write(ops);
      queue.push(message);
      this.queues.set(deviceId, queue);
      await this.drain(deviceId, queue);
      return message;
    });
  }

  /** Delivers what a device's queue holds, as far as the device takes it (call when it connects or subscribes). */
  flush(deviceId: string): Promise<void> {
    return this.serializer.run(deviceId, async () => {
      const queue = this.queues.get(deviceId);
      if (queue !== undefined) await this.drain(deviceId, queue);
    });
  }

  /** Resolves when no queue operation is running. */
  idle(): Promise<void> {
    return this.serializer.idle();
  }

  /** Drops expired messages of every device. */
  async sweep(): Promise<void> {
    const now = Date.now();
    for (const [deviceId, queue] of this.queues) {
      if (!queue.some((m) => m.expiryTimeUtc !== undefined)) continue;
      await this.serializer.run(deviceId, async () => {
        const ops: KeyValueOp[] = [];
        this.expire(deviceId, queue, now, ops);
        await this.store.write(ops);
      });
    }
  }

  /** Empties a device's queue (the device was deleted); the messages get a `Purged` outcome. */
  purge(deviceId: string): Promise<void> {
    return this.serializer.run(deviceId, async () => {
      const queue = this.queues.get(deviceId) ?? [];
      const ops: KeyValueOp[] = [];
      for (const message of queue) this.settle(message, 'Purged', 'device deleted', ops);
      this.queues.delete(deviceId);
      await this.store.write(ops);
    });
  }

  private async drain(deviceId: string, queue: CloudMessage[]): Promise<void> {
    const ops: KeyValueOp[] = [];
    const now = Date.now();
    this.expire(deviceId, queue, now, ops);
    for (const message of queue) {
      if (this.handedOver.has(message)) continue;
      if (!this.options.deliver(message, (outcome) => this.delivered(message, outcome))) break;
      this.handedOver.add(message);
    }
    await this.store.write(ops);
  }

  /** The device's session settled a message: it leaves the queue, or waits to be handed over again. */
  private delivered(message: CloudMessage, outcome: 'acknowledged' | 'rejected' | 'dropped'): void {
    this.handedOver.delete(message);
    if (outcome === 'dropped') return;
    const deviceId = message.deviceId;
    // A failed write leaves the message in the stored queue: it is handed over again after a restart.
    this.serializer.run(deviceId, async () => {
      const queue = this.queues.get(deviceId);
      const at = queue?.indexOf(message) ?? -1;
      if (queue === undefined || at < 0) return; // expired or purged meanwhile
      queue.splice(at, 1);
      if (queue.length === 0) this.queues.delete(deviceId);
      const ops: KeyValueOp[] = [];
      if (outcome === 'acknowledged') this.settle(message, 'Success', 'acknowledged by the device', ops);
      else this.settle(message, 'Rejected', 'rejected by the device', ops);
      await this.store.write(ops);
    }).catch(() => undefined);
  }

  private expire(deviceId: string, queue: CloudMessage[], now: number, ops: KeyValueOp[]): void {
    let kept = 0;
    for (const message of queue) {
      if (message.expiryTimeUtc !== undefined && Date.parse(message.expiryTimeUtc) <= now) this.settle(message, 'Expired', 'expired before delivery', ops);
      else queue[kept++] = message;
    }
    queue.length = kept;
    if (kept === 0) this.queues.delete(deviceId);
  }

  private settle(message: CloudMessage, statusCode: CloudMessageFeedback['statusCode'], description: string, ops: KeyValueOp[]): void {
    ops.push({ type: 'del', key: queueKey(message) });
    const feedback: CloudMessageFeedback = {
      deviceId: message.deviceId,
      messageId: message.messageId,
      statusCode,
      description,
      originalEnqueuedTimeUtc: message.enqueuedTimeUtc,
      enqueuedTimeUtc: new Date().toISOString(),
    };
    if (message.correlationId !== undefined) feedback.correlationId = message.correlationId;
    const number = this.nextFeedback++;
    this.feedbackLog.push(feedback);
    ops.push({ type: 'put', key: FEEDBACK + number.toString().padStart(16, '0'), value: feedback });
    if (this.feedbackLog.length > this.options.maxFeedback) {
      this.feedbackLog.shift();
      ops.push({ type: 'del', key: FEEDBACK + (number - this.options.maxFeedback).toString().padStart(16, '0') });
    }
  }
}
