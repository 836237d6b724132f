/**
 * An HTTP sink (webhook): client lifecycle events and the messages matching some topic filters, each POSTed to a URL,
 * one at a time and in order, retried with back-off until the endpoint answers 2xx.
 *
 * Like a bridge, the sink is a persistent session on its own broker (LocalLink), so its queue is the broker's: kept
 * in the store across restarts, bounded by count, bytes and age, and full without holding any publisher back
 * (newer messages dropped and counted). A lifecycle event is put into that queue as a QoS 1 message
 * (`broker.deliverTo`), so events are kept the same way. A QoS 1/2 message is acknowledged to the broker only once
 * the endpoint took it; QoS 0 messages are posted once, best effort, and at most MAX_HELD_QOS0 wait in memory.
 */
import { createHmac } from 'node:crypto';
import type { Broker, ClientInfo, Logger } from '../broker/index.js';
import type { Packet, PublishPacket, Subscription } from '../packet/index.js';
import { LocalLink } from './local-link.js';
import type { BridgeQueueLimits } from './options.js';

export type SinkEvent = 'connected' | 'disconnected' | 'subscribed' | 'unsubscribed';

export interface HttpSinkOptions {
  /** Unique on this broker; the sink's session is `sink.<name>`. */
  name: string;
  /** http:// or https:// endpoint. */
  url: string;
  /** Topic filters whose messages are posted. Default none. */
  topics?: string[];
  /** Lifecycle events posted. Default none. */
  events?: SinkEvent[];
  /** `json` (default): a JSON document per message; `raw`: the payload itself, topic and QoS in headers. */
  format?: 'json' | 'raw';
  headers?: Record<string, string>;
  /** With a secret, each request carries `X-Culex-Signature: sha256=<hex HMAC-SHA256 of the body>`. */
  hmacSecret?: string;
  /** Milliseconds a request may take. Default 5000. */
  timeoutMs?: number;
  /** Back-off between attempts, ms: doubling from `base` up to `cap`. Default 500 and 30000. */
  retry?: { base: number; cap: number };
  /** Bounds of the queue (as a bridge's). */
  queue?: BridgeQueueLimits;
}

export interface HttpSinkStatus {
  name: string;
  state: 'delivering' | 'idle' | 'retrying' | 'stopped';
  /** Requests the endpoint accepted. */
  delivered: number;
  /** Failed attempts (each retried). */
  failures: number;
  lastError: string | undefined;
  lastErrorAt: number | undefined;
  /** Waiting in the broker's store, and posted but not yet accepted. */
  queued: number;
  inflight: number;
  /** Dropped: the queue was full, a message waited too long, QoS 0 beyond the memory bound or not accepted. */
  dropped: { queueFull: number; expired: number; overflow: number; failed: number };
}

/** The topic of events in the sink's queue (`#` does not match it). */
const EVENT_TOPIC = '$culex/sink/event';
const MAX_HELD_QOS0 = 1000;
/** The listener names of the in-memory connections of bridges and sinks (LocalLink's `name`). */
const INTERNAL_LISTENER = /^(bridge|sink):/;

export class HttpSink {
  private link: LocalLink | undefined;
  /** Messages to post, in order; the head is being posted. */
  private readonly pending: PublishPacket[] = [];
  private heldQoS0 = 0;
  private posting = false;
  private stopped = true;
  private retryDelay = 0;
  private retryTimer: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private abort: AbortController | undefined;
  private delivered = 0;
  private failures = 0;
  private overflow = 0;
  /** QoS 0 messages the endpoint did not accept (they are posted once). */
  private failedQoS0 = 0;
  private lastError: string | undefined;
  private lastErrorAt: number | undefined;
  /** The sink's session on the broker. */
  readonly clientId: string;
  private readonly listeners: Array<[SinkEvent, (...args: never[]) => void]> = [];
  /** Resolves `start` once the broker answered its SUBSCRIBE. */
  private subscribed: (() => void) | undefined;

  constructor(
    readonly options: HttpSinkOptions,
    private readonly broker: Broker,
    private readonly logger: Logger,
  ) {
    this.clientId = `sink.${options.name}`;
  }

  /** Opens the sink's session, subscribed to its topics once it resolves, and starts posting what it holds. */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    const queue = this.options.queue;
    const link = await LocalLink.open(this.broker, {
      name: `sink:${this.options.name}`,
      clientId: this.clientId,
      clean: false,
      // One QoS 1/2 message posted at a time keeps them in order; the rest wait in the broker's store.
      receiveMaximum: 1,
      limits: {
        ...(queue?.maxMessages !== undefined && { maxQueuedMessages: queue.maxMessages }),
        ...(queue?.maxBytes !== undefined && { maxQueuedBytes: queue.maxBytes }),
        ...(queue?.maxAge !== undefined && { maxQueuedAge: queue.maxAge }),
      },
    }, {
      packet: (packet) => this.onPacket(packet),
      lost: (reason) => this.logger.warn(`sink ${this.options.name}: its session on this broker was closed: ${reason}`),
    });
    this.link = link;
    // Events are put straight into the session's queue (deliverTo): no subscription, so no client can post one.
    const filters = this.options.topics ?? [];
    if (filters.length > 0) {
      const subscriptions: Subscription[] = filters.map((topicFilter) => ({ topicFilter, qos: 2, retainAsPublished: true }));
      const answered = new Promise<void>((resolve) => (this.subscribed = resolve));
      link.send({ type: 'subscribe', packetId: 1, subscriptions });
      await answered;
    }
    for (const event of this.options.events ?? []) this.listen(event);
  }

  /** Stops posting; what was not accepted stays queued in the broker for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const [event, listener] of this.listeners.splice(0)) this.broker.off(event, listener as never);
    this.abort?.abort();
    if (this.retryTimer !== undefined) {
      clearTimeout(this.retryTimer.timer);
      this.retryTimer.resolve();
    }
    this.link?.close();
    this.link = undefined;
    this.pending.length = 0;
    this.heldQoS0 = 0;
  }

  status(): HttpSinkStatus {
    const info = this.broker.sessionInfo(this.clientId);
    return {
      name: this.options.name,
      state: this.stopped ? 'stopped' : this.retryTimer !== undefined ? 'retrying' : this.posting ? 'delivering' : 'idle',
      delivered: this.delivered,
      failures: this.failures,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      queued: info?.queued ?? 0,
      inflight: this.pending.length,
      dropped: { queueFull: (info?.dropped.queueFull ?? 0) + (info?.dropped.stuckSubscriber ?? 0), expired: info?.dropped.expired ?? 0, overflow: this.overflow, failed: this.failedQoS0 },
    };
  }

  private listen(event: SinkEvent): void {
    const record = (client: ClientInfo, detail: Record<string, unknown>): void => {
      // The broker's own sessions (bridges, sinks) are not clients of interest.
      if (INTERNAL_LISTENER.test(client.listener)) return;
      const body = { event, time: new Date().toISOString(), clientId: client.clientId, username: client.username ?? null, address: client.peer.remoteAddress, listener: client.listener, ...detail };
      this.broker.deliverTo(this.clientId, { topic: EVENT_TOPIC, payload: JSON.stringify(body), qos: 1, retain: false });
    };
    const listener =
      event === 'connected' ? (client: ClientInfo) => record(client, { protocolVersion: client.protocolVersion })
      : event === 'disconnected' ? (client: ClientInfo, reason: string) => record(client, { reason })
      : event === 'subscribed' ? (client: ClientInfo, subs: Subscription[]) => record(client, { subscriptions: subs.map((s) => ({ filter: s.topicFilter, qos: s.qos })) })
      : (client: ClientInfo, filters: string[]) => record(client, { filters });
    this.broker.on(event, listener as never);
    this.listeners.push([event, listener as (...args: never[]) => void]);
  }

  private onPacket(packet: Packet): void {
    if (packet.type === 'suback') {
      this.subscribed?.();
      this.subscribed = undefined;
    }
    // A QoS 2 message is done for the sink once posted (PUBREC); the broker's PUBREL only needs its answer.
    if (packet.type === 'pubrel') this.link?.send({ type: 'pubcomp', packetId: packet.packetId });
    if (packet.type !== 'publish') return;
    if (packet.qos === 0 && this.heldQoS0 >= MAX_HELD_QOS0) {
      this.overflow++;
      return;
    }
    if (packet.qos === 0) this.heldQoS0++;
    this.pending.push(packet);
    if (!this.posting) void this.drain();
  }

  /** Posts the pending messages in order, each until accepted (QoS 0: once). */
  private async drain(): Promise<void> {
    this.posting = true;
    while (!this.stopped && this.pending.length > 0) {
      const packet = this.pending[0]!;
      const ok = await this.post(packet);
      if (this.stopped) break;
      if (!ok && packet.qos > 0) {
        this.retryDelay = Math.min(this.options.retry?.cap ?? 30_000, Math.max(this.options.retry?.base ?? 500, this.retryDelay * 2));
        await new Promise<void>((resolve) => {
          this.retryTimer = { timer: setTimeout(resolve, this.retryDelay), resolve };
        });
        this.retryTimer = undefined;
        continue;
      }
      this.pending.shift();
      if (packet.qos === 0) {
        this.heldQoS0--;
        if (!ok) this.failedQoS0++;
      }
      else this.link?.send({ type: packet.qos === 1 ? 'puback' : 'pubrec', packetId: packet.packetId! });
    }
    this.posting = false;
  }

  private async post(packet: PublishPacket): Promise<boolean> {
    const { body, headers } = this.request(packet);
    this.abort = new AbortController();
    const timeoutMs = this.options.timeoutMs ?? 5000;
    const timer = setTimeout(() => this.abort?.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    try {
      const response = await fetch(this.options.url, { method: 'POST', body, headers, signal: this.abort.signal });
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) {
        this.delivered++;
        if (this.retryDelay > 0) this.logger.info(`sink ${this.options.name}: ${this.options.url} accepts again`);
        this.retryDelay = 0;
        return true;
      }
      this.failed(`${this.options.url} answered ${response.status} ${response.statusText}`);
    } catch (error) {
      if (this.stopped) return false;
      const err = error as Error & { cause?: Error };
      const cause = this.abort.signal.aborted ? (this.abort.signal.reason as Error).message : (err.cause?.message ?? err.message);
      this.failed(`POST ${this.options.url} failed: ${cause}`);
    } finally {
      clearTimeout(timer);
    }
    return false;
  }

  private request(packet: PublishPacket): { body: Uint8Array<ArrayBuffer> | string; headers: Record<string, string> } {
    const headers: Record<string, string> = { ...this.options.headers };
    let body: Uint8Array<ArrayBuffer> | string;
    if (packet.topic === EVENT_TOPIC) {
      body = Buffer.from(packet.payload).toString();
      headers['content-type'] = 'application/json';
    } else if (this.options.format === 'raw') {
      body = new Uint8Array(packet.payload);
      headers['content-type'] = 'application/octet-stream';
      headers['x-culex-topic'] = encodeURIComponent(packet.topic);
      headers['x-culex-qos'] = String(packet.qos);
      headers['x-culex-retain'] = String(packet.retain);
    } else {
      const payload = Buffer.from(packet.payload);
      const text = payload.toString();
      // A payload that is not UTF-8 text goes as base64 (re-encoding would alter it).
      const utf8 = Buffer.from(text).equals(payload);
      body = JSON.stringify({
        event: 'message', time: new Date().toISOString(), topic: packet.topic, qos: packet.qos, retain: packet.retain,
        ...(utf8 ? { payload: text } : { payloadBase64: payload.toString('base64') }),
        ...(packet.properties?.userProperties !== undefined && { userProperties: packet.properties.userProperties }),
      });
      headers['content-type'] = 'application/json';
    }
    if (this.options.hmacSecret !== undefined) headers['x-culex-signature'] = `sha256=${createHmac('sha256', this.options.hmacSecret).update(body).digest('hex')}`;
    return { body, headers };
  }

  private failed(cause: string): void {
    this.failures++;
    // One line per outage, not one per attempt.
    if (this.lastError === undefined || this.retryDelay === 0) this.logger.warn(`sink ${this.options.name}: ${cause}; retrying`);
    this.lastError = cause;
    this.lastErrorAt = Date.now();
  }
}
