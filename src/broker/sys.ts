import type { BrokerCore } from './core.js';
import { createMessage } from './message.js';

/** Averaging windows of the `$SYS/broker/load/...` figures, as Mosquitto publishes them. */
const windows: ReadonlyArray<[string, number]> = [
  ['1min', 60],
  ['5min', 300],
  ['15min', 900],
];

/** Counters whose per-minute rates appear under `$SYS/broker/load/{name}/{window}`. */
const loadCounters: ReadonlyArray<[string, (core: BrokerCore) => number]> = [
  ['messages/received', (c) => c.stats.messagesReceived],
  ['messages/sent', (c) => c.stats.messagesSent],
  ['publish/received', (c) => c.stats.publishReceived],
  ['publish/sent', (c) => c.stats.publishSent],
  ['publish/dropped', (c) => c.stats.publishDropped],
  ['bytes/received', (c) => c.stats.bytesReceived],
  ['bytes/sent', (c) => c.stats.bytesSent],
  ['connections', (c) => c.stats.connectionsTotal],
  ['sockets', (c) => c.stats.connectionsTotal],
];

/**
 * Publishes the broker's figures as retained messages under `$SYS/broker/`, named as Mosquitto names them,
 * every `interval` seconds; a topic is published again only when its value changed.
 */
export class SysPublisher {
  private timer: NodeJS.Timeout | undefined;
  private readonly last = new Map<string, string>();
  private readonly previous = new Map<string, number>();
  private readonly averages = new Map<string, number>();
  private heapMaximum = 0;

  constructor(
    private readonly core: BrokerCore,
    private readonly version: string,
    private readonly interval: number,
    /** More figures under `$SYS/broker/` (a cluster node's). */
    private readonly extra?: () => Array<[string, number | string]>,
  ) {}

  start(): void {
    if (this.interval <= 0) return;
    this.publish('$SYS/broker/version', `culex version ${this.version}`);
    for (const [name, read] of loadCounters) this.previous.set(name, read(this.core));
    this.update();
    this.timer = setInterval(() => this.update(), this.interval * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Computes and publishes every figure now. */
  update(): void {
    const core = this.core;
    const stats = core.stats;
    let stored = 0;
    let inflight = 0;
    for (const session of core.sessions.values()) {
      stored += session.outbox.queued + session.outbox.inflightCount;
      inflight += session.outbox.inflightCount;
    }
    const heap = process.memoryUsage().heapUsed;
    if (heap > this.heapMaximum) this.heapMaximum = heap;
    const connected = stats.clientsConnected;
    const figures: Array<[string, number | string]> = [
      ['uptime', `${Math.floor((Date.now() - stats.startedAt) / 1000)} seconds`],
      ['clients/connected', connected],
      ['clients/disconnected', Math.max(0, core.sessions.size - connected)],
      ['clients/total', Math.max(core.sessions.size, connected)],
      ['clients/maximum', stats.clientsMaximum],
      ['clients/expired', stats.clientsExpired],
      ['messages/received', stats.messagesReceived],
      ['messages/sent', stats.messagesSent],
      ['messages/stored', stored],
      ['messages/inflight', inflight],
      ['messages/dropped', stats.publishDropped],
      ['store/messages/count', stored],
      ['publish/messages/received', stats.publishReceived],
      ['publish/messages/sent', stats.publishSent],
      ['publish/messages/dropped', stats.publishDropped],
      ['publish/bytes/received', stats.publishBytesReceived],
      ['publish/bytes/sent', stats.publishBytesSent],
      ['bytes/received', stats.bytesReceived],
      ['bytes/sent', stats.bytesSent],
      ['subscriptions/count', core.router.subscriptionCount],
      ['retained messages/count', core.router.retainedCount],
      ['heap/current', heap],
      ['heap/maximum', this.heapMaximum],
    ];
    for (const [name, value] of figures) this.publish(`$SYS/broker/${name}`, String(value));
    for (const [name, value] of this.extra?.() ?? []) this.publish(`$SYS/broker/${name}`, String(value));
    for (const [name, read] of loadCounters) {
      const now = read(core);
      const perMinute = ((now - (this.previous.get(name) ?? now)) * 60) / this.interval;
      this.previous.set(name, now);
      for (const [label, seconds] of windows) {
        const key = `${name}/${label}`;
        const k = Math.exp(-this.interval / seconds);
        const average = (this.averages.get(key) ?? 0) * k + perMinute * (1 - k);
        this.averages.set(key, average);
        this.publish(`$SYS/broker/load/${key}`, average.toFixed(2));
      }
    }
  }

  private publish(topic: string, value: string): void {
    if (this.last.get(topic) === value) return;
    this.last.set(topic, value);
    this.core.dispatch(createMessage({ topic, payload: value, qos: 0, retain: true }, undefined), undefined);
  }
}
