/**
 * `GET /metrics`: the broker's figures in the Prometheus text format, with prom-client. Counters and gauges are read
 * from what the broker counts anyway (its stats, sessions, router) when Prometheus scrapes, so metrics cost the
 * message path nothing; only the two latency histograms are fed as things happen, from the broker's meters (a store
 * batch at a time, and one message in 16 from arrival to delivery).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Broker, BrokerMeters, DropReason, SessionFigures } from '../broker/index.js';
import { version } from '../broker/internal.js';
import { reasonCodeName } from '../packet/index.js';
import type { Route } from './routes.js';

const QOS_LABELS = ['0', '1', '2'] as const;

/** Drop reasons as label values, snake_case as Prometheus labels go. */
const dropLabels: Record<DropReason, string> = {
  queueFull: 'queue_full',
  stuckSubscriber: 'stuck_subscriber',
  tooLarge: 'too_large',
  expired: 'expired',
  noSubscribers: 'no_subscribers',
  notAuthorized: 'not_authorized',
  rejected: 'rejected',
  storeFailure: 'store_failure',
};

/** `bad user name or password` → `bad_user_name_or_password`. */
export function labelOf(words: string): string {
  return words.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '');
}

/** A counter whose total the broker keeps: set from it at each scrape (it only ever grows). */
function readCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

function readGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/** Everything `/metrics` shows for one broker; `meters` feeds the broker's histograms while attached. */
export class BrokerMetrics {
  readonly registry = new Registry();
  private readonly storeLatency: Histogram;
  private readonly storeSize: Histogram;
  private readonly deliveryLatency: Histogram;
  /** What the broker calls to feed the histograms. */
  readonly meters: BrokerMeters;

  constructor(private readonly broker: Broker) {
    const registry = this.registry;
    const stats = broker.stats;
    collectDefaultMetrics({ register: registry });
    // Gauges named like counters (promtool refuses them); nodejs_active_{handles,requests,resources} say the same by type.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);

    new Gauge({ name: 'culex_build_info', help: 'Culex version (value 1)', labelNames: ['version'], registers: [registry] }).set({ version }, 1);
    readGauge(registry, 'culex_start_time_seconds', 'when the broker started, Unix time in seconds', () => stats.startedAt / 1000);

    new Gauge({
      name: 'culex_connections',
      help: 'clients connected (past CONNACK), by listener',
      labelNames: ['listener'],
      registers: [registry],
      collect() {
        this.reset();
        for (const listener of broker.boundListeners) this.set({ listener: listener.name }, 0);
        for (const [listener, count] of broker.connectedByListener()) this.set({ listener }, count);
      },
    });
    readGauge(registry, 'culex_connections_max', 'most clients connected at once since start', () => stats.clientsMaximum);
    readCounter(registry, 'culex_connections_total', 'connections accepted (before CONNECT), all listeners', () => stats.connectionsTotal);
    new Counter({
      name: 'culex_connections_refused_total',
      help: 'connections refused: CONNACK by reason code, or refused_by_hook before any byte was read (rate limits, bans)',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [code, count] of stats.refused) this.inc({ reason: labelOf(reasonCodeName(code)) }, count);
        if (stats.refusedByHook > 0) this.inc({ reason: 'refused_by_hook' }, stats.refusedByHook);
      },
    });
    readCounter(registry, 'culex_authentication_failures_total', 'failed authentications (CONNECT or re-authentication)', () => stats.authFailures);

    // One pass over the sessions serves every gauge of a scrape.
    let cached: { at: number; figures: SessionFigures } | undefined;
    const figures = (): SessionFigures => {
      const now = Date.now();
      if (cached === undefined || now - cached.at > 500) cached = { at: now, figures: broker.sessionFigures(0) };
      return cached.figures;
    };
    new Gauge({
      name: 'culex_sessions',
      help: 'sessions held: online (connected) or offline (kept for their client)',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const f = figures();
        this.set({ state: 'online' }, f.online);
        this.set({ state: 'offline' }, f.offline);
      },
    });
    readCounter(registry, 'culex_sessions_expired_total', 'offline sessions that expired', () => stats.clientsExpired);
    readGauge(registry, 'culex_subscriptions', 'subscriptions, all sessions', () => broker.subscriptionCount);
    readGauge(registry, 'culex_queued_messages', 'messages waiting in session queues', () => figures().queued);
    readGauge(registry, 'culex_queued_bytes', 'payload, topic and property bytes waiting in session queues', () => figures().queuedBytes);
    readGauge(registry, 'culex_inflight_messages', 'QoS 1/2 messages sent and not yet acknowledged', () => figures().inflight);
    readGauge(registry, 'culex_stuck_subscribers', 'sessions whose queue is full while their client takes nothing', () => figures().stuckCount);

    readGauge(registry, 'culex_retained_messages', 'retained messages', () => broker.retainedCount);
    readGauge(registry, 'culex_retained_bytes', 'payload bytes of retained messages ($SYS and topics not starting with $)', () => {
      let bytes = 0;
      const add = (message: { payload: Uint8Array }): void => void (bytes += message.payload.length);
      broker.forEachRetained('#', add);
      broker.forEachRetained('$SYS/#', add);
      return bytes;
    });

    const byQos = (name: string, help: string, read: () => readonly number[]): void => {
      new Counter({
        name,
        help,
        labelNames: ['qos'],
        registers: [registry],
        collect() {
          this.reset();
          const values = read();
          for (const qos of QOS_LABELS) this.inc({ qos }, values[Number(qos)]!);
        },
      });
    };
    byQos('culex_messages_received_total', 'PUBLISH packets received from clients, by QoS', () => stats.publishReceivedByQos);
    byQos('culex_messages_sent_total', 'PUBLISH packets sent to clients, by QoS', () => stats.publishSentByQos);
    byQos('culex_message_received_bytes_total', 'payload bytes of PUBLISH packets received, by QoS', () => stats.publishBytesReceivedByQos);
    byQos('culex_message_sent_bytes_total', 'payload bytes of PUBLISH packets sent, by QoS', () => stats.publishBytesSentByQos);
    new Counter({
      name: 'culex_messages_dropped_total',
      help: 'messages dropped, by reason (for one subscriber: queue_full, stuck_subscriber, too_large, expired; a whole PUBLISH: no_subscribers, not_authorized, rejected, store_failure)',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [reason, label] of Object.entries(dropLabels)) this.inc({ reason: label }, stats.dropped[reason as DropReason]);
      },
    });
    readCounter(registry, 'culex_packets_received_total', 'MQTT packets received, all types', () => stats.messagesReceived);
    readCounter(registry, 'culex_packets_sent_total', 'MQTT packets sent, all types', () => stats.messagesSent);
    readCounter(registry, 'culex_network_received_bytes_total', 'bytes received from clients', () => stats.bytesReceived);
    readCounter(registry, 'culex_network_sent_bytes_total', 'bytes sent to clients', () => stats.bytesSent);
    readCounter(registry, 'culex_internal_errors_total', 'exceptions caught and contained (each is logged: a bug to report)', () => stats.internalErrors);
    readGauge(registry, 'culex_store_failing', '1 while store writes fail (new QoS 1/2 messages are refused), else 0', () => (broker.storeFailing ? 1 : 0));

    this.storeLatency = new Histogram({
      name: 'culex_store_batch_duration_seconds',
      help: 'time to write one store batch (group commit)',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });
    this.storeSize = new Histogram({
      name: 'culex_store_batch_operations',
      help: 'operations in one store batch',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
      registers: [registry],
    });
    this.deliveryLatency = new Histogram({
      name: 'culex_delivery_latency_seconds',
      help: 'from a PUBLISH read to its copy written for a subscriber (one message in 16; time queued included)',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    const { storeLatency, storeSize, deliveryLatency } = this;
    this.meters = {
      storeBatch(operations, seconds) {
        storeLatency.observe(seconds);
        storeSize.observe(operations);
      },
      delivered(seconds) {
        deliveryLatency.observe(seconds);
      },
    };
  }

  /** Feeds the histograms from now on. */
  attach(): void {
    this.broker.setMeters(this.meters);
  }

  detach(): void {
    this.broker.setMeters(undefined);
  }

  route(isPublic: boolean): Route {
    return {
      method: 'GET',
      path: '/metrics',
      public: isPublic,
      handle: async () => ({ text: await this.registry.metrics(), contentType: this.registry.contentType }),
    };
  }
}
