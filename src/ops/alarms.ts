/**
 * Alarms: conditions an operator must hear of, checked every few seconds against thresholds (memory, connections
 * near the limit, the store failing, subscribers stuck, new clients refused for overload), each published when it
 * starts and when it ends as a retained JSON message on `$SYS/broker/alarms/{name}`, listed by the admin API and
 * counted in /metrics. A raised alarm clears only once its figure is back under 90% of the threshold, so a figure
 * hovering at it does not flap.
 */
import { getHeapStatistics } from 'node:v8';
import type { OverloadMonitor } from '../auth/index.js';
import type { Broker } from '../broker/index.js';

export interface AlarmOptions {
  /** Seconds between checks. Default 5. */
  intervalSeconds?: number;
  /** The V8 heap used, as a share of its limit, that raises `memory`. Default 0.85. */
  memoryRatio?: number;
  /** Connected clients, as a share of `maxConnections` (when set), that raises `connections`. Default 0.9. */
  connectionsRatio?: number;
  /** Stuck subscribers (full queue, nothing taken) that raise `stuck-subscribers`. Default 1. */
  stuckSubscribers?: number;
}

export type AlarmName = 'memory' | 'connections' | 'store' | 'stuck-subscribers' | 'overload' | 'cluster';
export const alarmNames: readonly AlarmName[] = ['memory', 'connections', 'store', 'stuck-subscribers', 'overload', 'cluster'];

/** What the `overload` alarm reads of the broker's overload protection (its thresholds are that protection's). */
export type OverloadState = Pick<OverloadMonitor, 'overloaded' | 'last' | 'counts'>;

/** What the alarms watch besides the broker. */
export interface AlarmSources {
  /** The overload protection: `overload` is raised while it refuses new clients. Absent: never raised. */
  overload?: OverloadState | undefined;
  /** On a cluster node, its view of the cluster: `cluster` is raised while the engine is unreachable. */
  cluster?: (() => { engineReachable: boolean; nodes: string[] }) | undefined;
}

export interface Alarm {
  name: AlarmName;
  active: boolean;
  /** Epoch ms it was raised. */
  raisedAt: number;
  /** Epoch ms it cleared; undefined while active. */
  clearedAt: number | undefined;
  /** In words, with the figure and the threshold. */
  message: string;
  details: Record<string, unknown>;
}

/** What one check found for one condition: over the threshold or not, and how it reads. */
interface Reading {
  /** The figure as a share of the threshold: ≥ 1 raises, < 0.9 clears. */
  level: number;
  message: string;
  details: Record<string, unknown>;
}

/** Alarms raised and cleared, kept for the API. */
const HISTORY = 100;
const CLEAR_BELOW = 0.9;

export class Alarms {
  private readonly current = new Map<AlarmName, Alarm>();
  private readonly past: Alarm[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly options: Required<AlarmOptions>;
  /** Overload episodes already seen: one that began and ended between two checks still raises the alarm once. */
  private overloadEpisodes: number;

  constructor(
    private readonly broker: Broker,
    options: AlarmOptions = {},
    private readonly sources: AlarmSources = {},
  ) {
    // Field by field: a threshold given as undefined (a configuration without it) takes its default.
    this.options = {
      intervalSeconds: options.intervalSeconds ?? 5,
      memoryRatio: options.memoryRatio ?? 0.85,
      connectionsRatio: options.connectionsRatio ?? 0.9,
      stuckSubscribers: options.stuckSubscribers ?? 1,
    };
    this.overloadEpisodes = sources.overload?.counts.episodes ?? 0;
  }

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), this.options.intervalSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Active alarms, by name. */
  active(): Alarm[] {
    return [...this.current.values()];
  }

  /** Cleared alarms, newest last. */
  history(): Alarm[] {
    return [...this.past];
  }

  isActive(name: AlarmName): boolean {
    return this.current.has(name);
  }

  /** Reads every condition now, raising and clearing alarms. */
  check(): void {
    const { broker, options } = this;
    const heap = getHeapStatistics();
    const heapRatio = heap.used_heap_size / heap.heap_size_limit;
    this.update('memory', {
      level: heapRatio / options.memoryRatio,
      message: `heap ${(heapRatio * 100).toFixed(1)}% of its limit (alarm at ${(options.memoryRatio * 100).toFixed(1)}%)`,
      details: { heapUsedBytes: heap.used_heap_size, heapLimitBytes: heap.heap_size_limit, rssBytes: process.memoryUsage.rss() },
    });
    const max = broker.limits.maxConnections;
    const connected = broker.connectedClients;
    this.update(
      'connections',
      max === 0
        ? undefined
        : {
            level: connected / (max * options.connectionsRatio),
            message: `${connected} clients connected of at most ${max} (alarm at ${Math.ceil(max * options.connectionsRatio)})`,
            details: { connected, maxConnections: max },
          },
    );
    this.update('store', {
      level: broker.storeFailing ? 1 : 0,
      message: 'store writes fail: new QoS 1/2 messages are refused until a write succeeds',
      details: {},
    });
    const figures = broker.sessionFigures(10);
    this.update('stuck-subscribers', {
      level: figures.stuckCount / options.stuckSubscribers,
      message: `${figures.stuckCount} subscribers take nothing while their queues are full (their overflow is dropped)`,
      details: { count: figures.stuckCount, clientIds: figures.stuck },
    });
    this.update('overload', this.overloadReading());
    const cluster = this.sources.cluster?.();
    this.update(
      'cluster',
      cluster === undefined
        ? undefined
        : {
            level: cluster.engineReachable ? 0 : 1,
            message: 'cluster engine unreachable: this node serves its own clients only; QoS 1/2 messages and persistent sessions are refused until it is back',
            details: { nodes: cluster.nodes },
          },
    );
  }

  /** The protection has its own recovery margin: the alarm follows its episodes, raised and cleared with them. */
  private overloadReading(): Reading | undefined {
    const overload = this.sources.overload;
    if (overload === undefined) return undefined;
    const { episodes, refused } = overload.counts;
    const missed = episodes > this.overloadEpisodes;
    this.overloadEpisodes = episodes;
    const { eventLoopDelayMs, memoryMB } = overload.last;
    const figures = `event-loop delay ${eventLoopDelayMs.toFixed(0)} ms, resident memory ${memoryMB.toFixed(0)} MiB`;
    return {
      level: overload.overloaded || missed ? 1 : 0,
      message: overload.overloaded ? `new clients are refused for overload (${figures})` : `new clients were refused for overload since the last check (now ${figures})`,
      details: { eventLoopDelayMs, memoryMB, episodes, refusedTotal: refused },
    };
  }

  private update(name: AlarmName, reading: Reading | undefined): void {
    const alarm = this.current.get(name);
    const level = reading?.level ?? 0;
    if (alarm === undefined) {
      if (reading === undefined || level < 1) return;
      const raised: Alarm = { name, active: true, raisedAt: Date.now(), clearedAt: undefined, message: reading.message, details: reading.details };
      this.current.set(name, raised);
      this.broker.logger.warn(`alarm ${name} raised: ${reading.message}`);
      this.publish(raised);
      return;
    }
    if (reading !== undefined && level >= CLEAR_BELOW) {
      // Still on: its figures follow, without a new message for each change.
      alarm.message = reading.message;
      alarm.details = reading.details;
      return;
    }
    this.current.delete(name);
    alarm.active = false;
    alarm.clearedAt = Date.now();
    if (this.past.push(alarm) > HISTORY) this.past.shift();
    this.broker.logger.info(`alarm ${name} cleared`);
    this.publish(alarm);
  }

  private publish(alarm: Alarm): void {
    const payload = JSON.stringify(alarmJson(alarm));
    this.broker.publish({ topic: `$SYS/broker/alarms/${alarm.name}`, payload, qos: 0, retain: true });
  }
}

/** An alarm as JSON (API, `$SYS`): times as ISO 8601. */
export function alarmJson(alarm: Alarm): Record<string, unknown> {
  return {
    name: alarm.name,
    active: alarm.active,
    raisedAt: new Date(alarm.raisedAt).toISOString(),
    clearedAt: alarm.clearedAt === undefined ? null : new Date(alarm.clearedAt).toISOString(),
    message: alarm.message,
    details: alarm.details,
  };
}
